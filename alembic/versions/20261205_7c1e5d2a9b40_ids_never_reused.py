"""ids never given twice; what a generation image's download needs to resume

Photos, generation sessions and generation images get AUTOINCREMENT on SQLite, which otherwise
hands the id of the newest deleted row to the next one: a stale tab's keep could then act on
another picture under the same URL. SQLite cannot add it to a table in place, so the three tables
are rebuilt (reflected, so columns other migrations add come along); alembic/env.py turns foreign
keys off around the run and checks them before it commits. PostgreSQL's sequences never go back:
there only the columns are added.

generation_images.download_attempts counts downloads broken off mid-transfer (tried again a few
times), and generation_images.invokeai_session_id is InvokeAI's session of the image's queue item,
by which its image is found once InvokeAI has forgotten the item (Prune, Clear).

Revision ID: 7c1e5d2a9b40
Revises: c05c7dfff764
Create Date: 2026-12-05 07:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7c1e5d2a9b40'
down_revision = 'c05c7dfff764'
branch_labels = None
depends_on = None

TABLES = ("photos", "generation_sessions", "generation_images")  # parents first


def rebuild(table: str, autoincrement: bool):
    """A batch that rebuilds `table` on SQLite (with or without AUTOINCREMENT), or alters it in place."""
    if op.get_bind().dialect.name != "sqlite":
        return op.batch_alter_table(table, schema=None)
    return op.batch_alter_table(table, schema=None, recreate="always",
                                table_kwargs={"sqlite_autoincrement": autoincrement})


def upgrade():
    for table in TABLES:
        with rebuild(table, autoincrement=True) as batch_op:
            if table == "generation_images":
                batch_op.add_column(sa.Column('download_attempts', sa.Integer(), server_default='0', nullable=False))
                batch_op.add_column(sa.Column('invokeai_session_id', sa.String(length=64), nullable=True))


def downgrade():
    for table in TABLES:
        with rebuild(table, autoincrement=False) as batch_op:
            if table == "generation_images":
                batch_op.drop_column('invokeai_session_id')
                batch_op.drop_column('download_attempts')
