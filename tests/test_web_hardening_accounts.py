"""Hardening of accounts (issue 29, "Security and data"), each test a failure of the code before it:

- of simultaneous first registrations on a new site exactly one becomes administrator (SQLite, MariaDB);
- successful logins do not count against an address's limit (a clinic behind one NAT), failures do, and
  an account is still limited from any address;
- an email address is the same address in composed and decomposed Unicode form (and any case).
"""

from __future__ import annotations

import threading
import unicodedata

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, insert, select, text

from lungseg.web import migrate
from lungseg.web.app import create_app
from lungseg.web.db import make_engine
from lungseg.web.models import User
from lungseg.web.schemas import normal_email
from lungseg.web.security import hash_password
from lungseg.web.settings import Settings
from webclient import BASE, PASSWORD, WebClient


def _empty_mariadb(url: str) -> None:
    """The MariaDB server lives for the session: start from an empty schema."""
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("SET FOREIGN_KEY_CHECKS=0"))
        for table in ("jobs", "nodules", "analyses", "access_tokens", "sessions", "users", "alembic_version"):
            connection.execute(text(f"DROP TABLE IF EXISTS {table}"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.slow)])
def settings(request, tmp_path) -> Settings:
    if request.param == "sqlite":
        return Settings(data_dir=tmp_path / "data", workers=0, secret_key="s")
    url = request.getfixturevalue("mariadb_url")
    _empty_mariadb(url)
    return Settings(data_dir=tmp_path / "data", workers=0, secret_key="s", database_url=url)


# --- 4. "the first user is the administrator" is atomic ---------------------------------------------------


def test_simultaneous_first_registrations_make_one_administrator(settings):
    """Four registrations on a new site, held at the door of their INSERT until all four have looked at
    the empty users table (the race, made certain): exactly one becomes administrator, all four exist."""
    app = create_app(settings)
    count = 4
    door, held = threading.Barrier(count, timeout=30), set()

    @event.listens_for(app.state.engine, "before_cursor_execute")
    def together(_connection, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("INSERT INTO USERS") and threading.get_ident() not in held:
            held.add(threading.get_ident())
            try:
                door.wait()
            except threading.BrokenBarrierError:
                pass

    answers = [None] * count

    def register(index: int) -> None:
        answers[index] = WebClient(app).register(f"founder{index}@example.org").status_code

    threads = [threading.Thread(target=register, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert answers == [200] * count and not door.broken, answers
    with app.state.sessions() as db:
        users = list(db.scalars(select(User)))
    assert len(users) == count
    assert sum(user.is_admin for user in users) == 1, [(u.email, u.is_admin) for u in users]
    app.state.engine.dispose()


def test_the_first_account_is_administrator_and_the_second_not(settings):
    app = create_app(settings)
    with WebClient(app) as client:
        client.register("first@example.org")
        client.register("second@example.org")
    with app.state.sessions() as db:
        admins = {user.email: user.is_admin for user in db.scalars(select(User))}
    assert admins == {"first@example.org": True, "second@example.org": False}


# --- 5. only failures count against an address ------------------------------------------------------------


@pytest.fixture
def clinic(tmp_path):
    """An app with 25 registered clinicians (made directly: registration is limited per address too)."""
    app = create_app(Settings(data_dir=tmp_path / "data", workers=0, secret_key="s"))
    hashed = hash_password(PASSWORD)
    with app.state.sessions() as db:
        for index in range(25):
            db.add(
                User(
                    email=f"clinician{index}@hospital.org",
                    full_name=f"Clinician {index}",
                    password_hash=hashed,
                    age=40,
                    gender="other",
                    mobile="+441234567890",
                )
            )
        db.commit()
    return app


def test_successful_logins_behind_one_address_never_lock_it_out(clinic):
    with WebClient(clinic) as ward:  # every request comes from one address, as from behind a NAT
        for index in range(25):
            assert ward.login(f"clinician{index}@hospital.org").status_code == 303, index
        ward.get("/login")
        for index in range(20):  # 20 failures, on 20 different accounts
            wrong = ward.post("/login", {"email": f"clinician{index}@hospital.org", "password": "not the password"})
            assert wrong.status_code == 401
        assert ward.post("/login", {"email": "clinician20@hospital.org", "password": "wrong again"}).status_code == 429
        assert ward.post("/login", {"email": "clinician21@hospital.org", "password": PASSWORD}).status_code == 429


def test_an_account_is_still_limited_from_any_address(clinic):
    """20 wrong passwords for one account from 20 addresses: the 21st attempt, from a 21st address and
    with the right password, is refused."""
    for index in range(21):
        client = WebClient(clinic)
        client.http = TestClient(clinic, base_url=BASE, client=(f"10.0.0.{index}", 40000))
        client.get("/login")
        password = PASSWORD if index == 20 else f"wrong {index}"
        answer = client.post("/login", {"email": "clinician0@hospital.org", "password": password})
        assert answer.status_code == (429 if index == 20 else 401), index


# --- 7. email addresses in one Unicode form -------------------------------------------------------------

COMPOSED = unicodedata.normalize("NFC", "josé@example.org")
DECOMPOSED = unicodedata.normalize("NFD", "José@Example.org")


def test_an_address_in_composed_and_decomposed_form_is_one_account(tmp_path):
    assert COMPOSED != DECOMPOSED.lower() and normal_email(DECOMPOSED) == normal_email(COMPOSED) == COMPOSED
    app = create_app(Settings(data_dir=tmp_path / "data", workers=0, secret_key="s"))
    with WebClient(app) as client:
        client.register(COMPOSED)
        client.register(DECOMPOSED, password="a different passphrase")
        with app.state.sessions() as db:
            assert list(db.scalars(select(User.email))) == [COMPOSED]
        assert client.login(DECOMPOSED).status_code == 303
        assert client.login(unicodedata.normalize("NFD", "JOSÉ@EXAMPLE.ORG")).status_code == 303
        assert client.login(COMPOSED, password="a different passphrase").status_code == 401


def test_full_width_letters_are_the_same_address():
    assert normal_email(" ＪＯＳＥ@example.org ") == "jose@example.org"


def test_the_upgrade_normalises_stored_addresses(tmp_path):
    from alembic import command
    from alembic.config import Config

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        users = User.__table__
        for index, email in enumerate((DECOMPOSED, "plain@example.org")):
            connection.execute(
                insert(users).values(
                    id=f"user-{index}",
                    email=email,
                    full_name="Old User",
                    password_hash="x",
                    age=50,
                    gender="other",
                    mobile="+441234567890",
                    is_admin=False,
                    is_disabled=False,
                    created_at=text("CURRENT_TIMESTAMP"),
                )
            )
    migrate.upgrade(engine)
    with engine.connect() as connection:
        emails = sorted(connection.scalars(text("SELECT email FROM users")))
    assert emails == [COMPOSED, "plain@example.org"]
    engine.dispose()
