"""login sessions on the server, and each user's library version

login_sessions holds one row per signed-in browser (the SHA-256 of the random token its session
cookie carries), so logging out, a password change and an account's delete end a session for good.
It replaces the mark of the password hash the cookie carried before: sessions signed in before
this upgrade have no row, so everyone logs in once more.

users.library_version is part of the key of every cached read of a library, bumped by every write
to it, so every process's cache follows a write made by any other.

Revision ID: c05c7dfff764
Revises: 5446deb5a8c0
Create Date: 2026-12-05 07:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c05c7dfff764'
down_revision = '5446deb5a8c0'
branch_labels = None
depends_on = None


def upgrade():
    # Added NOT NULL with a server default, which SQLite does in place (no rebuild of users).
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('library_version', sa.Integer(), server_default='0', nullable=False))
    op.create_table(
        'login_sessions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('user_agent', sa.String(length=255), nullable=False),
        sa.Column('address', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_login_sessions_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_login_sessions')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_login_sessions_token_hash')),
    )
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_sessions_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_sessions_user_id'))
    op.drop_table('login_sessions')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('library_version')
