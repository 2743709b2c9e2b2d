"""photos.colour (a tile's placeholder) and users.grid_layout (square or justified tiles)

photos.colour is the grid thumbnail's average colour as '#rrggbb', NULL until it is known: a new photo
gets it at ingest, the photos already stored get it from `flask --app app thumbnails colours` (it reads
each grid thumbnail, which a migration should not do for 100k files). users.grid_layout is NOT NULL with
a server default, added in place on SQLite and PostgreSQL alike.

Revision ID: f3a9c2d1b8e7
Revises: f3a9c1d27b58
Create Date: 2026-12-05 10:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f3a9c2d1b8e7'
down_revision = 'f3a9c1d27b58'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('photos', sa.Column('colour', sa.String(length=7), nullable=True))
    op.add_column('users', sa.Column('grid_layout', sa.String(length=16), server_default='square', nullable=False))


def downgrade():
    # Plain DROP COLUMN (SQLite 3.35 and later, PostgreSQL): no rebuild.
    op.execute("ALTER TABLE users DROP COLUMN grid_layout")
    op.execute("ALTER TABLE photos DROP COLUMN colour")
