"""photos: a favourite mark and a 0-5 star rating; indexes for the grid's other orders

photos.favourite and photos.rating are added in place (NOT NULL with a server default, which SQLite
and PostgreSQL both do without rebuilding the table). The rating's CHECK goes into the column's own
definition: SQLite cannot add a table constraint without a rebuild, but takes one on ADD COLUMN.

The grid pages by keyset on (sorted_at, id) or, sorted by the date added, on (uploaded_at, id), with
or without a source, and a favourites-only grid on either: one index for each, so every page is an
index range whatever the sort and filter.

Revision ID: b7e3f0c2d915
Revises: a0a558dcea18
Create Date: 2026-12-05 08:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7e3f0c2d915'
down_revision = 'a0a558dcea18'
branch_labels = None
depends_on = None

INDEXES = {
    "ix_photos_owner_id_uploaded_at_id": ["owner_id", "uploaded_at", "id"],
    "ix_photos_owner_id_source_uploaded_at_id": ["owner_id", "source", "uploaded_at", "id"],
    "ix_photos_owner_id_favourite_sorted_at_id": ["owner_id", "favourite", "sorted_at", "id"],
    "ix_photos_owner_id_favourite_uploaded_at_id": ["owner_id", "favourite", "uploaded_at", "id"],
}


def upgrade():
    op.add_column('photos', sa.Column('favourite', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.execute("ALTER TABLE photos ADD COLUMN rating INTEGER DEFAULT '0' NOT NULL "
               "CONSTRAINT ck_photos_rating_range CHECK (rating BETWEEN 0 AND 5)")
    for name, columns in INDEXES.items():
        op.create_index(name, 'photos', columns, unique=False)


def downgrade():
    for name in INDEXES:
        op.drop_index(name, table_name='photos')
    # Plain DROP COLUMN (SQLite 3.35 and later, PostgreSQL): no rebuild, and the rating's own CHECK goes with it.
    op.execute("ALTER TABLE photos DROP COLUMN rating")
    op.execute("ALTER TABLE photos DROP COLUMN favourite")
