"""generation_sessions: send_state and send_claimed_at, for generations saved while InvokeAI was down

A session saved while InvokeAI could not be reached is "pending" until a later request finds the server up
and sends it; the request sending it claims it ("sending", since send_claimed_at) so that two never do.
Every existing session was sent: the column's default says so. An index on (send_state, owner_id) finds an
owner's unsent sessions among thousands. Downgrading drops both columns (and with them any pending
session's meaning: they read as sent sessions without queue items, which end failed in words).

Revision ID: c41e7a2b9d03
Revises: 5e5a1d7c0b93
Create Date: 2026-12-05 13:05:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c41e7a2b9d03'
down_revision = '5e5a1d7c0b93'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN with its CHECK inline (SQLite and PostgreSQL alike, no table rebuild), as the ratings did.
    op.execute("ALTER TABLE generation_sessions ADD COLUMN send_state VARCHAR(16) DEFAULT 'sent' NOT NULL "
               "CONSTRAINT ck_generation_sessions_send_state CHECK (send_state IN ('pending', 'sending', 'sent'))")
    op.add_column('generation_sessions', sa.Column('send_claimed_at', sa.DateTime(), nullable=True))
    op.create_index('ix_generation_sessions_send_state_owner_id', 'generation_sessions', ['send_state', 'owner_id'],
                    unique=False)


def downgrade():
    op.drop_index('ix_generation_sessions_send_state_owner_id', table_name='generation_sessions')
    op.execute("ALTER TABLE generation_sessions DROP COLUMN send_claimed_at")
    op.execute("ALTER TABLE generation_sessions DROP COLUMN send_state")
