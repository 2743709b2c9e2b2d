"""Login, logout, first-run admin setup, the account page, and the gate that keeps anonymous visitors out."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from ..errors import wants_json
from ..extensions import login_manager
from ..forms import DisplayNameForm, LoginForm, PasswordChangeForm, SetupForm, TokenForm
from ..models import User
from ..services import tokens, users

bp = Blueprint("auth", __name__)

# The only endpoints an anonymous visitor reaches: the way in, and the pages and files a share link
# opens (blueprints/shares.py, which checks the link's token on each).
PUBLIC_ENDPOINTS = {"auth.login", "auth.setup", "static", "shares.public_page", "shares.unlock",
                    "shares.public_photo", "shares.public_thumbnail", "shares.public_original"}
SESSION_TOKEN = "_login"  # the key of the login session's token in Flask's signed session cookie


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The user, while the session's row is there: a logout, a password change, "log out everywhere"
    or the account's delete took it away, for this cookie and every copy of it."""
    token = session.get(SESSION_TOKEN)
    if not user_id.isdigit() or not isinstance(token, str):
        return None
    return users.signed_in_user(int(user_id), token)


def start_session(user: User) -> None:
    """A fresh session for `user`: nothing from before the login survives it (session fixation), nor
    does the session this browser had before, if any."""
    previous = session.get(SESSION_TOKEN)
    token = users.start_login_session(user, request.user_agent.string, request.remote_addr or "unknown",
                                      replaces=previous if isinstance(previous, str) else None)
    session.clear()
    login_user(user)
    session[SESSION_TOKEN] = token


def end_session() -> None:
    logout_user()
    session.clear()


@bp.before_app_request
def require_login():
    if request.blueprint == "api":
        return None  # the API signs its requests in itself, by bearer token or cookie (blueprints/api)
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
        try:
            user = users.authenticate(form.username.data, form.password.data)
        except users.AccountDisabled as exc:
            flash(exc.message)
            return render_template("auth/login.html", form=form), exc.status
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
    users.end_login_session(session.get(SESSION_TOKEN))
    end_session()
    flash("You are logged out.")
    return redirect(url_for("auth.login"))


# How the account page names a session's browser: the first of each list that its User-Agent matches
# (Edge and Chrome say "Safari" too, and Chrome on Android says "Linux").
BROWSERS = [("Edge", r"Edg/"), ("Firefox", r"Firefox/"), ("Chrome", r"Chrome/|CriOS/"), ("Safari", r"Safari/")]
SYSTEMS = [("iPhone", r"iPhone"), ("iPad", r"iPad"), ("Android", r"Android"), ("Windows", r"Windows"),
           ("macOS", r"Macintosh"), ("Linux", r"Linux")]


@bp.app_template_filter("browser_name")
def browser_name(user_agent: str) -> str:
    """ "Firefox on Linux", from a User-Agent string; the string itself when it names none of those."""
    browser = next((name for name, pattern in BROWSERS if re.search(pattern, user_agent)), None)
    system = next((name for name, pattern in SYSTEMS if re.search(pattern, user_agent)), None)
    if browser is None:
        return user_agent or "An unnamed browser"
    return f"{browser} on {system}" if system else browser


@bp.get("/account")
def account():
    return account_page(PasswordChangeForm())


def account_page(form: PasswordChangeForm | None = None, status: int = 200,
                 name_form: DisplayNameForm | None = None, token_form: TokenForm | None = None,
                 new_token: str | None = None):
    current = users.token_hash(session.get(SESSION_TOKEN, ""))
    name_form = name_form or DisplayNameForm(display_name=current_user.display_name or "")
    return render_template("auth/account.html", form=form or PasswordChangeForm(formdata=None),
                           name_form=name_form, current=current,
                           sessions=users.login_sessions_of(current_user.id),
                           api_tokens=tokens.tokens_of(current_user.id), token_form=token_form or TokenForm(),
                           new_token=new_token), status


@bp.post("/account/name")
def change_display_name():
    """display_name: shown in the header instead of the user name; empty shows the user name again."""
    form = DisplayNameForm()
    if not form.validate_on_submit():
        return account_page(status=400, name_form=form)
    try:
        users.set_display_name(current_user._get_current_object(), form.display_name.data)
    except users.AccountError as exc:
        form.display_name.errors = [exc.message]
        return account_page(status=400, name_form=form)
    flash(f"You show as {current_user.shown_name}." if current_user.display_name else
          "Your display name is cleared: you show as your user name.")
    return redirect(url_for("auth.account"), 303)


@bp.post("/account/password")
def change_password():
    """The other sessions end with the old password; this browser goes on in a fresh session."""
    form = PasswordChangeForm()
    if not form.validate_on_submit():
        return account_page(form, 400)
    user = current_user._get_current_object()
    try:
        users.change_own_password(user, form.current_password.data, form.new_password.data,
                                  request.remote_addr or "unknown")
    except users.WrongPassword as exc:
        form.current_password.errors = [exc.message]
        return account_page(form, 400)
    except users.AccountError as exc:
        form.new_password.errors = [*form.new_password.errors, exc.message]
        return account_page(form, 400)
    start_session(user)
    flash("Your password is changed. Every other session of your account has ended.")
    return redirect(url_for("auth.account"))


@bp.post("/account/logout-everywhere")
def logout_everywhere():
    users.log_out_everywhere(current_user._get_current_object())
    end_session()
    flash("You are logged out everywhere: every session of your account has ended.")
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
