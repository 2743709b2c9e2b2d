"""photos and generation images: rendition_ext is thumbnail_ext

The gallery calls its small images thumbnails everywhere now, in code as in URLs and folders.
Renamed in place with ALTER TABLE ... RENAME COLUMN, which SQLite (3.25 and later) and PostgreSQL
both do without rebuilding the table: no row is copied and the indexes stay as they are.

Revision ID: a0a558dcea18
Revises: 7c1e5d2a9b40
Create Date: 2026-12-05 07:30:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'a0a558dcea18'
down_revision = '7c1e5d2a9b40'
branch_labels = None
depends_on = None

TABLES = ("photos", "generation_images")


def upgrade():
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} RENAME COLUMN rendition_ext TO thumbnail_ext")


def downgrade():
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} RENAME COLUMN thumbnail_ext TO rendition_ext")
