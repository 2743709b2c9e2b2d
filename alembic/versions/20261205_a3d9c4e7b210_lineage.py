"""lineage: which photo a generation started from, and which photo a kept image was made from

Image to image starts a generation session from one of the owner's photos (generation_sessions.
source_photo_id, with its strength), and an image kept from that session remembers the photo it was made from
(photos.derived_from_id), so a photo's page can list its ancestors and what was made from it. Both
are set NULL when that photo is deleted for good: what was made from it stays, without the link.
Every existing row starts without a source. SQLite adds and drops a foreign key only by
rebuilding the table, so photos is rebuilt with its rating CHECK kept on the column, where the marks
migration's plain DROP COLUMN rating expects it. Downgrading drops the columns and their indexes.

Revision ID: a3d9c4e7b210
Revises: e5b1c7a3f902
Create Date: 2026-12-05 10:45:00.000000

"""
from contextlib import contextmanager

from alembic import op
import sqlalchemy as sa
from sqlalchemy.sql.elements import conv


# revision identifiers, used by Alembic.
revision = 'a3d9c4e7b210'
down_revision = 'e5b1c7a3f902'
branch_labels = None
depends_on = None

NEVER_REUSED_IDS = {"sqlite_autoincrement": True}
# A rebuild of photos on SQLite would make the rating's column CHECK a table CHECK, which the marks
# migration's plain DROP COLUMN rating cannot drop: the column is given as it was made, CHECK and all.
RATING_CHECK = conv('ck_photos_rating_range')  # the name as it is, not run through the naming convention again


def kept_columns(table: str) -> list[sa.Column]:
    if table != 'photos':
        return []
    return [sa.Column('rating', sa.Integer(), sa.CheckConstraint('rating BETWEEN 0 AND 5', name=RATING_CHECK),
                      nullable=False, server_default='0')]
COLUMNS = (('generation_sessions', 'source_photo_id'), ('photos', 'derived_from_id'))


@contextmanager
def rebuilding(table: str):
    """A batch (a rebuild on SQLite, which cannot add or drop a foreign key in place) that keeps what it reflects."""
    with op.batch_alter_table(table, schema=None, table_kwargs=NEVER_REUSED_IDS,
                              reflect_args=kept_columns(table)) as batch_op:
        if table == 'photos' and op.get_bind().dialect.name == 'sqlite':
            batch_op.drop_constraint(RATING_CHECK, type_='check')  # its reflected table CHECK
        yield batch_op


def upgrade():
    for table, column in COLUMNS:
        with rebuilding(table) as batch_op:
            batch_op.add_column(sa.Column(column, sa.Integer(), nullable=True))
            batch_op.create_foreign_key(f'fk_{table}_{column}_photos', 'photos', [column], ['id'],
                                        ondelete='SET NULL')
            batch_op.create_index(f'ix_{table}_{column}', [column], unique=False)
    op.execute("ALTER TABLE generation_sessions ADD COLUMN strength FLOAT")


def downgrade():
    op.execute("ALTER TABLE generation_sessions DROP COLUMN strength")
    for table, column in reversed(COLUMNS):
        with rebuilding(table) as batch_op:
            batch_op.drop_index(f'ix_{table}_{column}')
            batch_op.drop_constraint(f'fk_{table}_{column}_photos', type_='foreignkey')
            batch_op.drop_column(column)
