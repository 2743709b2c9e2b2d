"""flask tokens: make, list and revoke an account's personal API tokens."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from ..services import tokens as token_service
from .users import existing_user

tokens_cli = AppGroup("tokens", help="Make, list and revoke personal API tokens.")


def user_option(function):
    return click.option("--user", "username", required=True, help="The account the token belongs to.")(function)


@tokens_cli.command("create")
@click.argument("name")
@user_option
@click.option("--read-only", is_flag=True, help="The token can read but change nothing.")
@click.option("--expires", "days", type=int, default=None, help="Days until it stops working (default: never).")
def create(name: str, username: str, read_only: bool, days: int | None):
    """Make a token and print it, once: only its hash is kept."""
    try:
        row, secret = token_service.create_token(existing_user(username), name, read_only, days)
    except token_service.InvalidToken as exc:
        raise click.ClickException(exc.message) from None
    until = f"until {row.expires_at:%Y-%m-%d %H:%M} UTC" if row.expires_at else "until revoked"
    click.echo(f"Made the {'read-only' if read_only else 'read-write'} token {row.name!r} (id {row.id}), {until}.")
    click.echo("Copy it now; it is not shown again:", err=True)
    click.echo(secret)


@tokens_cli.command("list")
@user_option
def list_tokens(username: str):
    """The account's tokens (never the tokens themselves)."""
    for row in token_service.tokens_of(existing_user(username).id):
        access = "read-only" if row.read_only else "read-write"
        until = "expired" if row.expired else f"until {row.expires_at:%Y-%m-%d}" if row.expires_at else "no expiry"
        click.echo(f"{row.id}\t{row.name}\t{access}\tcreated {row.created_at:%Y-%m-%d}\t{until}")


@tokens_cli.command("revoke")
@click.argument("token_id", type=int)
@user_option
def revoke(token_id: int, username: str):
    """Revoke a token by its id (from `flask tokens list`)."""
    row = token_service.find_token(existing_user(username).id, token_id)
    if row is None:
        raise click.ClickException(f"{username} has no token with id {token_id}.")
    token_service.revoke_token(row)
    click.echo(f"Revoked the token {row.name!r}.")
