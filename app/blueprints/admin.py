"""The admin's accounts page: every account with its photos and storage, and what an admin does to an
account (create, disable, enable, reset the password, delete with its photos) through the services the
`flask users` commands use. For anyone who is not an admin these pages do not exist: a 404, as for an
unknown id."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..access import account_or_404
from ..forms import AccountCreateForm, PasswordResetForm
from ..models import MAX_ID
from ..services import users

bp = Blueprint("admin", __name__, url_prefix="/admin")

ACCOUNT_ID = f"<int(max={MAX_ID}):account_id>"


@bp.before_request
def admins_only():
    if current_user.is_authenticated and not current_user.is_admin:
        abort(404)  # the login gate already sent anyone anonymous to the login page


@bp.get("/accounts")
def accounts():
    return accounts_page(AccountCreateForm())


def accounts_page(form: AccountCreateForm, status: int = 200):
    return render_template("admin/accounts.html", form=form, accounts=users.accounts_with_usage(),
                           reset_form=PasswordResetForm()), status


def refused(exc: users.AccountError):
    """The accounts page again, with what was refused and why, and nothing changed."""
    flash(exc.message)
    return accounts_page(AccountCreateForm(formdata=None), exc.status)


@bp.post("/accounts")
def create():
    form = AccountCreateForm()
    if not form.validate_on_submit():
        return accounts_page(form, 400)
    try:
        user = users.create_user(form.username.data, form.password.data, is_admin=form.is_admin.data)
    except users.AccountError as exc:
        form.username.errors = [exc.message]
        return accounts_page(form, 400)
    flash(f"Created the {'administrator' if user.is_admin else 'account'} {user.username}.")
    return redirect(url_for("admin.accounts"), 303)


@bp.post(f"/accounts/{ACCOUNT_ID}/disable")
def disable(account_id: int):
    account = account_or_404(account_id)
    try:
        users.disable_user(current_user._get_current_object(), account)
    except users.AccountError as exc:
        return refused(exc)
    flash(f"Disabled {account.username}: they cannot log in, and every session of theirs has ended.")
    return redirect(url_for("admin.accounts"), 303)


@bp.post(f"/accounts/{ACCOUNT_ID}/enable")
def enable(account_id: int):
    account = account_or_404(account_id)
    users.enable_user(current_user._get_current_object(), account)
    flash(f"Enabled {account.username}: they can log in again.")
    return redirect(url_for("admin.accounts"), 303)


@bp.post(f"/accounts/{ACCOUNT_ID}/password")
def reset_password(account_id: int):
    """password and confirm: the new password, which the admin passes on to the account's owner."""
    account = account_or_404(account_id)
    form = PasswordResetForm()
    try:
        if not form.validate_on_submit():
            raise users.AccountError(" ".join(form.password.errors + form.confirm.errors) or "Type the new password.")
        ended = users.set_password(account, form.password.data)
    except users.AccountError as exc:
        return refused(users.AccountError(f"The password of {account.username} was not changed: {exc.message}"))
    flash(f"Set a new password for {account.username}; {ended} session{'' if ended == 1 else 's'} of theirs ended.")
    return redirect(url_for("admin.accounts"), 303)


@bp.get(f"/accounts/{ACCOUNT_ID}/delete")
def confirm_delete(account_id: int):
    """The question `flask users delete` asks, with the photo count, before anything goes."""
    account = account_or_404(account_id)
    return render_template("admin/delete.html", account=account, question=users.deletion_question(account))


@bp.post(f"/accounts/{ACCOUNT_ID}/delete")
def delete(account_id: int):
    """confirm=1: the answer to the question; without it the question is asked again."""
    account = account_or_404(account_id)
    if request.form.get("confirm") != "1":
        return render_template("admin/delete.html", account=account, question=users.deletion_question(account)), 400
    name = account.username
    try:
        photos = users.delete_user_as_admin(current_user._get_current_object(), account)
    except users.AccountError as exc:
        return refused(exc)
    flash(f"Deleted {name} and {photos} photo{'' if photos == 1 else 's'}, with their files.")
    return redirect(url_for("admin.accounts"), 303)
