"""Registration, login and logout (server-side sessions, argon2id, rate limits, CSRF)."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from lungseg.web.deps import SESSION_COOKIE, check_csrf, current_session, get_db
from lungseg.web.models import User, UserSession
from lungseg.web.schemas import Registration, normal_email
from lungseg.web.security import hash_password, needs_rehash, new_token, password_problem, token_hash, verify_password
from lungseg.web.service import register_user
from lungseg.web.templating import render

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)
log = logging.getLogger("lungseg.web.auth")
WRONG = "The email or password is wrong."
TOO_MANY = "Too many attempts; wait a few minutes and try again."


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _limited(request: Request, action: str, email: str) -> None:
    """429 after too many attempts of ``action`` (registration) from this address or for this email."""
    if not request.app.state.limiter.allowed(
        f"{action}:ip:{client_address(request)}", f"{action}:account:{normal_email(email)}"
    ):
        raise HTTPException(429, TOO_MANY)


@router.get("/register")
def register_form(request: Request):
    return render(request, "register.html", form={})


@router.post("/register")
def register(
    request: Request,
    full_name: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    age: Annotated[str, Form()] = "",
    gender: Annotated[str, Form()] = "",
    mobile: Annotated[str, Form()] = "",
    db: Session = Depends(get_db),
):
    form = {"full_name": full_name, "email": email, "age": age, "gender": gender, "mobile": mobile}
    _limited(request, "register", email)
    try:
        data = Registration.model_validate({**form, "password": password})  # the form's strings, validated
    except ValidationError as exc:
        errors = [
            f"{str(e['loc'][0]).replace('_', ' ')}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()
        ]
        return render(request, "register.html", status_code=422, form=form, errors=errors)
    problem = password_problem(data.password, data.email, data.full_name)
    if problem:
        return render(request, "register.html", status_code=422, form=form, errors=[problem])
    hashed = hash_password(data.password)  # before touching the database: no connection held while hashing
    register_user(db, data, hashed)
    # the same answer whether or not the email was already registered
    return render(
        request,
        "login.html",
        form={"email": data.email},
        notice="Registration received. Sign in with your email and password.",
    )


@router.get("/login")
def login_form(request: Request, next: str = "/analyses"):
    return render(request, "login.html", form={}, next=_safe_next(next))


@router.post("/login")
def login(
    request: Request,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/analyses",
    db: Session = Depends(get_db),
):
    email = normal_email(email)
    limiter = request.app.state.limiter
    address, account = f"login:ip:{client_address(request)}", f"login:account:{email}"
    # an address is limited by its failures only (a clinic behind one NAT signs in all day); an account
    # by all its attempts, until one succeeds
    if not limiter.within(address) or not limiter.allowed(account):
        raise HTTPException(429, TOO_MANY)
    user = db.scalar(select(User).where(User.email == email))
    db.commit()  # release the connection while argon2 runs
    matches = verify_password(user.password_hash if user else None, password)  # as slow for an unknown email
    if user is None or not matches or user.is_disabled:
        limiter.hit(address)
        return render(
            request, "login.html", status_code=401, form={"email": email}, errors=[WRONG], next=_safe_next(next)
        )
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    limiter.clear(account)
    response = RedirectResponse(_safe_next(next), status_code=303)
    start_session(request, response, db, user)
    return response


@router.post("/logout")
def logout(request: Request, session: UserSession | None = Depends(current_session), db: Session = Depends(get_db)):
    if session is not None:
        db.delete(session)
        db.commit()
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


def start_session(request: Request, response, db: Session, user: User) -> None:
    """A new session (never a reused token) and its cookie."""
    token = new_token()
    db.add(UserSession(token_hash=token_hash(token), user_id=user.id, csrf_token=new_token()))
    db.commit()
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        max_age=request.app.state.settings.session_absolute_hours * 3600,
    )


def end_sessions(db: Session, user: User) -> None:
    db.execute(delete(UserSession).where(UserSession.user_id == user.id))


def _safe_next(target: str) -> str:
    """Only local paths: an open redirect to another site is not allowed."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/analyses"
