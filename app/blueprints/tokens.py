"""The account page's personal API tokens: make one (shown once, on the page that answers the form)
and revoke one. The page itself is auth.account."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, url_for
from flask_login import current_user

from ..access import own_token_or_404
from ..forms import PasswordChangeForm, TokenForm
from ..models import MAX_ID
from ..services import tokens
from .auth import account_page

bp = Blueprint("tokens", __name__, url_prefix="/account/tokens")


@bp.post("")
def create():
    """The token is in this answer only: not in a flash message, which would carry it in the cookie."""
    form = TokenForm()
    if not form.validate_on_submit():
        return account_page(PasswordChangeForm(formdata=None), 400, token_form=form)
    try:
        row, secret = tokens.create_token(current_user._get_current_object(), form.name.data, form.read_only.data,
                                          int(form.expires.data) if form.expires.data else None)
    except tokens.InvalidToken as exc:
        form.name.errors = [*form.name.errors, exc.message]
        return account_page(PasswordChangeForm(formdata=None), 400, token_form=form)
    return account_page(PasswordChangeForm(formdata=None), 200, token_form=TokenForm(formdata=None), new_token=secret)


@bp.post(f"/<int(max={MAX_ID}):token_id>/revoke")
def revoke(token_id: int):
    token = own_token_or_404(token_id)
    tokens.revoke_token(token)
    flash(f"Revoked the API token “{token.name}”: it no longer works.")
    return redirect(url_for("auth.account") + "#tokens-heading", 303)
