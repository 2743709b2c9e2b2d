"""flask users: create, list, change and delete accounts."""
from __future__ import annotations

import click
from flask.cli import AppGroup
from ..models import User
from ..services import users as user_service

users_cli = AppGroup("users", help="Create, list, change and delete accounts.")


def existing_user(username: str) -> User:
    user = user_service.find_user(username)
    if user is None:
        raise click.ClickException(f"No user named {username}.")
    return user


def password_option(function):
    return click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
                        help="Asked for when not given.")(function)


@users_cli.command("create")
@click.argument("username")
@click.option("--admin", is_flag=True, help="The account manages other accounts.")
@password_option
def create(username: str, admin: bool, password: str):
    """Create an account."""
    try:
        user = user_service.create_user(username, password, is_admin=admin)
    except user_service.AccountError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Created {'admin' if user.is_admin else 'user'} {user.username}.")


@users_cli.command("list")
def list_users():
    """List accounts with their photo counts."""
    for account in user_service.accounts_with_usage():
        user = account.user
        role = "admin" if user.is_admin else "user"
        state = "\tdisabled" if user.disabled else ""
        click.echo(f"{user.username}\t{role}\t{account.photos} photos\tcreated {user.created_at:%Y-%m-%d}{state}")


@users_cli.command("set-password")
@click.argument("username")
@password_option
def set_password(username: str, password: str):
    """Set an account's password; every session of the account ends."""
    try:
        ended = user_service.set_password(existing_user(username), password)
    except user_service.AccountError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Password of {username} changed. {ended} session{'' if ended == 1 else 's'} ended.")


@users_cli.command("delete")
@click.argument("username")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete(username: str, yes: bool):
    """Delete an account and all of its photos (originals and thumbnails); its sessions end."""
    user = existing_user(username)
    try:
        user_service.check_admin_may_remove(None, user, "delete")
    except user_service.AccountError as exc:
        raise click.ClickException(exc.message) from None
    if not yes:
        click.confirm(user_service.deletion_question(user), abort=True)
    deleted = user_service.delete_user_as_admin(None, user)
    click.echo(f"Deleted {username} and {deleted} photos.")

