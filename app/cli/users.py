"""flask users: create, list, change and delete accounts."""
from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import func, select

from ..extensions import db
from ..models import Photo, User
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
    counts = select(User, func.count(Photo.id)).outerjoin(Photo, Photo.owner_id == User.id)
    for user, photos in db.session.execute(counts.group_by(User.id).order_by(User.username)):
        role = "admin" if user.is_admin else "user"
        click.echo(f"{user.username}\t{role}\t{photos} photos\tcreated {user.created_at:%Y-%m-%d}")


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
    count = db.session.scalar(select(func.count(Photo.id)).where(Photo.owner_id == user.id))
    if not yes:
        click.confirm(f"Delete {username} and their {count} photos, with their files? This cannot be undone",
                      abort=True)
    deleted = user_service.delete_user(user)
    click.echo(f"Deleted {username} and {deleted} photos.")

