"""Login, logout, first-run admin setup, and the gate that keeps anonymous visitors out."""
from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from ..errors import wants_json
from ..extensions import db, login_manager
from ..forms import LoginForm, SetupForm
from ..models import User
from ..services import users

bp = Blueprint("auth", __name__)

# The only endpoints an anonymous visitor reaches.
PUBLIC_ENDPOINTS = {"auth.login", "auth.setup", "static"}


def account_mark(user: User) -> str:
    """Changes when the password does, and differs for a new account that reuses a deleted id."""
    return hashlib.sha256(f"{user.id}:{user.password_hash}".encode()).hexdigest()[:16]


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    user = db.session.get(User, int(user_id)) if user_id.isdigit() else None
    if user is None or session.get("_account") != account_mark(user):
        return None  # the account was deleted, or its password changed, since this session began
    return user


def start_session(user: User) -> None:
    """A fresh session for `user`: nothing from before the login survives it (session fixation)."""
    session.clear()
    login_user(user)
    session["_account"] = account_mark(user)


@bp.before_app_request
def require_login():
    if request.endpoint in PUBLIC_ENDPOINTS or current_user.is_authenticated:
        return None
    if request.endpoint is None:
        return None  # an unknown URL: let it answer 404 (it shows nothing of any library)
    if wants_json() or request.method != "GET":
        abort(401, "Log in first.")
    if not users.has_users():
        return redirect(url_for("auth.setup"))
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def safe_next(target: str | None) -> str | None:
    """`target` when it is a path on this site; None for anything that could leave it."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    if "\\" in target or any(ch < " " for ch in target):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


@bp.route("/login", methods=["GET", "POST"])
def login():
    if not users.has_users():
        return redirect(url_for("auth.setup"))
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        address = request.remote_addr or "unknown"
        users.count_login_attempt(form.username.data, address)  # TooManyLogins: the 429 page
        user = users.authenticate(form.username.data, form.password.data)
        if user is None:
            users.record_failed_login(form.username.data, address)
            flash("Unknown user name or wrong password.")
            return render_template("auth/login.html", form=form), 401
        users.forget_failed_logins(form.username.data, address)
        start_session(user)
        return redirect(safe_next(form.next.data) or url_for("photos.index"))
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
def logout():
    logout_user()
    session.clear()
    flash("You are logged out.")
    return redirect(url_for("auth.login"))


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    if users.has_users():
        return redirect(url_for("auth.login"))
    form = SetupForm()
    if form.validate_on_submit():
        try:
            user = users.create_first_admin(form.username.data, form.password.data)
        except users.SetupDone as exc:  # another browser's setup came first
            flash(exc.message)
            return redirect(url_for("auth.login"))
        except users.AccountError as exc:
            form.username.errors.append(exc.message)
        else:
            start_session(user)
            flash(f"Welcome, {user.username}. Your gallery is ready.")
            return redirect(url_for("photos.index"))
    return render_template("auth/setup.html", form=form)
