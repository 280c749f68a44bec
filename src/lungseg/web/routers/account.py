"""The account page: profile, password change, personal access tokens, deleting the account."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from lungseg.web.deps import SESSION_COOKIE, check_csrf, get_db, get_settings, page_user
from lungseg.web.models import AccessToken, User
from lungseg.web.routers.auth import end_sessions, start_session
from lungseg.web.security import hash_password, new_token, password_problem, token_hash, verify_password
from lungseg.web.service import delete_user
from lungseg.web.settings import Settings
from lungseg.web.templating import render

router = APIRouter(prefix="/account", dependencies=[Depends(check_csrf)], include_in_schema=False)


def _limited(request: Request, user: User) -> None:
    """The login limit also applies to password checks of a signed-in session (a stolen cookie must
    not allow unlimited guessing)."""
    if not request.app.state.limiter.allowed(f"password:user:{user.id}"):
        raise HTTPException(429, "Too many attempts; wait a few minutes and try again.")


def _page(request: Request, db: Session, user: User, status_code: int = 200, **context):
    tokens = list(
        db.scalars(select(AccessToken).where(AccessToken.user_id == user.id).order_by(AccessToken.created_at))
    )
    return render(request, "account.html", status_code=status_code, user=user, tokens=tokens, **context)


@router.get("")
def account(request: Request, changed: bool = False, user: User = Depends(page_user), db: Session = Depends(get_db)):
    return _page(request, db, user, changed=changed)


@router.post("/password")
def change_password(
    request: Request,
    current: Annotated[str, Form()] = "",
    new: Annotated[str, Form()] = "",
    user: User = Depends(page_user),
    db: Session = Depends(get_db),
):
    _limited(request, user)
    if not verify_password(user.password_hash, current):
        return _page(request, db, user, 400, errors=["The current password is wrong."])
    problem = password_problem(new, user.email, user.full_name)
    if problem:
        return _page(request, db, user, 422, errors=[problem])
    user.password_hash = hash_password(new)
    end_sessions(db, user)  # every other device is signed out; this one gets a fresh session
    db.execute(delete(AccessToken).where(AccessToken.user_id == user.id))  # and scripts need new tokens
    response = RedirectResponse("/account?changed=1", status_code=303)
    start_session(request, response, db, user)
    return response


@router.post("/tokens")
def create_token(
    request: Request,
    name: Annotated[str, Form()] = "token",
    user: User = Depends(page_user),
    db: Session = Depends(get_db),
):
    token = new_token()
    db.add(AccessToken(user_id=user.id, name=(name.strip() or "token")[:100], token_hash=token_hash(token)))
    db.commit()
    return _page(request, db, user, new_token=token)


@router.post("/tokens/{token_id}/revoke")
def revoke_token(token_id: str, user: User = Depends(page_user), db: Session = Depends(get_db)):
    access = db.get(AccessToken, token_id)
    if access is None or access.user_id != user.id:
        raise HTTPException(404)
    db.delete(access)
    db.commit()
    return RedirectResponse("/account", status_code=303)


@router.post("/delete")
def delete_account(
    request: Request,
    password: Annotated[str, Form()] = "",
    user: User = Depends(page_user),
    db: Session = Depends(get_db),
    settings: Settings = Depends(get_settings),
):
    _limited(request, user)
    if not verify_password(user.password_hash, password):
        return _page(request, db, user, 400, errors=["Enter your password to delete the account."])
    delete_user(db, settings, user)
    response = RedirectResponse("/?deleted=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
