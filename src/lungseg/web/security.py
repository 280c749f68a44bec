"""Passwords, tokens and login rate limits.

- Passwords: argon2id (argon2-cffi's defaults, RFC 9106 low-memory profile); a hash made with older
  parameters is replaced at the next successful login. At least ``MIN_PASSWORD`` characters, not one of
  Django's 19,640 common passwords (``data/common-passwords.txt.gz``, see ``data/NOTICE.txt``), not the
  user's email or name; no composition rules (NIST SP 800-63B).
- Session and access tokens: 32 random bytes, URL-safe; only their SHA-256 is stored.
- Login rate limits: a moving window (``limits``) over the failed logins of a client address and over
  all login attempts of an account (cleared by a successful one), so the 21st wrong attempt inside the
  window is refused with 429 whoever makes it, while successful logins of many people behind one
  address (a hospital's NAT) never count against it.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import secrets
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

MIN_PASSWORD = 8
MAX_PASSWORD = 256
COMMON_PASSWORDS = Path(__file__).with_name("data") / "common-passwords.txt.gz"
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("never a real password: evens out login timing for unknown emails")


@lru_cache(maxsize=1)
def _common() -> frozenset[str]:
    with gzip.open(COMMON_PASSWORDS, "rt", encoding="utf-8") as handle:
        return frozenset(line.strip().lower() for line in handle if line.strip())


def password_problem(password: str, email: str = "", full_name: str = "") -> str | None:
    """Why ``password`` cannot be used, in one sentence, or None."""
    if len(password) < MIN_PASSWORD:
        return f"The password must have at least {MIN_PASSWORD} characters."
    if len(password) > MAX_PASSWORD:
        return f"The password must have at most {MAX_PASSWORD} characters."
    lowered = password.lower()
    if lowered in _common():
        return "This password is one of the most common passwords; choose another."
    if email and (lowered == email.lower() or lowered == email.split("@")[0].lower()):
        return "The password must not be your email address."
    if full_name and lowered.replace(" ", "") == full_name.lower().replace(" ", ""):
        return "The password must not be your name."
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; an unknown user (None) costs the same time as a wrong password."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same_secret(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    return hmac.compare_digest(a, b)


class LoginLimiter:
    """Moving-window limits on login and registration attempts, per client address and per account
    (which attempts count is the caller's choice: ``allowed`` counts one, ``hit`` counts a failure)."""

    def __init__(self, rate: str):
        self.rate = parse(rate)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def allowed(self, *keys: str) -> bool:
        """Count one attempt against every key; False when any of them is over the limit."""
        return all([self.limiter.hit(self.rate, key) for key in keys if key])  # list: hit every key

    def within(self, *keys: str) -> bool:
        """Whether every key may make one more attempt, counting none (``hit`` counts the failures)."""
        return all(self.limiter.test(self.rate, key) for key in keys if key)

    def hit(self, *keys: str) -> None:
        """Count one attempt (a failure) against every key."""
        for key in keys:
            if key:
                self.limiter.hit(self.rate, key)

    def clear(self, key: str) -> None:
        self.limiter.clear(self.rate, key)
