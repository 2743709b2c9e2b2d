"""users' name key: one account per name whatever its case

users.username_key holds the name in lower case under a unique index, so "Alice" and
"alice" cannot both be created, even by two creates at the same moment. Names that already
differ only in case stop the upgrade before it changes anything, naming them, so the admin
can rename all but one first.

Revision ID: 5446deb5a8c0
Revises: 3b7d52c1a9e4
Create Date: 2026-11-21 23:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5446deb5a8c0'
down_revision = '3b7d52c1a9e4'
branch_labels = None
depends_on = None


def upgrade():
    clashes = op.get_bind().execute(sa.text(
        "SELECT id, username FROM users WHERE LOWER(TRIM(username)) IN (SELECT LOWER(TRIM(username)) FROM users "
        "GROUP BY LOWER(TRIM(username)) HAVING COUNT(*) > 1) ORDER BY LOWER(TRIM(username)), id")).all()
    if clashes:  # checked before any change, as SQLite's DDL is not undone when an upgrade stops
        named = ", ".join(f"{name!r} (id {user_id})" for user_id, name in clashes)
        raise SystemExit(f"These user names differ only in case: {named}. The gallery now takes them for one "
                         "name. Rename all but one of each, e.g. UPDATE users SET username = 'alice2' WHERE id = 7; "
                         "then run the upgrade again. Nothing was changed.")
    # Added NOT NULL with a default and keyed by a unique index, which SQLite does in place: making a
    # column NOT NULL or adding a constraint would rebuild the users table, which photos refer to.
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('username_key', sa.String(length=64), server_default='', nullable=False))
    op.execute("UPDATE users SET username_key = LOWER(TRIM(username))")
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_username_key'), ['username_key'], unique=True)


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_username_key'))
        batch_op.drop_column('username_key')
