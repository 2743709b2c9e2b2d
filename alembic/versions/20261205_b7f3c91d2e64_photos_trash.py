"""photos.trashed_at and users.trashed_photos: the trash

A deleted photo now goes to the trash for GALLERY_TRASH_DAYS: photos.trashed_at says since when
(NULL: in the library), and users.trashed_photos counts an account's trash apart from its two
library counts, as the header shows both without a COUNT(*). Both columns are added in place
(ALTER TABLE ... ADD COLUMN, which SQLite and PostgreSQL do without rebuilding the table); no
photo is in the trash before this upgrade, so the counts already there stay right.

Downgrading deletes nothing: the photos in the trash go back to the library and the counts are
recounted from the rows, since an older gallery knows no trash.

Revision ID: b7f3c91d2e64
Revises: b7e3f0c2d915
Create Date: 2026-12-05 08:05:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7f3c91d2e64'
down_revision = 'b7e3f0c2d915'
branch_labels = None
depends_on = None

RECOUNT = ("UPDATE users SET {source}_photos = (SELECT count(*) FROM photos "
           "WHERE photos.owner_id = users.id AND photos.source = '{source}'), "
           "library_version = library_version + 1")


def upgrade():
    op.add_column('photos', sa.Column('trashed_at', sa.DateTime(), nullable=True))
    op.add_column('users', sa.Column('trashed_photos', sa.Integer(), server_default='0', nullable=False))
    op.create_index('ix_photos_owner_id_trashed_at_id', 'photos', ['owner_id', 'trashed_at', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_photos_owner_id_trashed_at_id', table_name='photos')
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35 and later): a batch rebuild of photos would drop
    # and re-create the table that generation_images refers to.
    op.execute("ALTER TABLE photos DROP COLUMN trashed_at")
    op.execute("ALTER TABLE users DROP COLUMN trashed_photos")
    for source in ("uploaded", "generated"):
        op.execute(RECOUNT.format(source=source))
