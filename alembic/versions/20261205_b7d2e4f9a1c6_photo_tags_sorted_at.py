"""photo_tags.sorted_at: a copy of the photo's sorted_at beside each link, under (tag_id, sorted_at, photo_id)

As album_photos has: a photo's page opened from a tag steps to its neighbours by walking the tag's own
index from the photo, one row each way, rather than testing the library's date order against every id of
the tag (which, for a tag on 70 % of 100,000 photos, read all of its ids three times: tests/benchmarks/
bench_photo_page.py). A photo's sorted_at is set at its insert and never changes, so the copy is made when
the link is (services/tags.py). Existing links are filled from their photos, then the column is NOT NULL.

Revision ID: b7d2e4f9a1c6
Revises: b7e4d2a91c60
Create Date: 2026-12-05 14:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7d2e4f9a1c6'
down_revision = 'b7e4d2a91c60'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('photo_tags', sa.Column('sorted_at', sa.DateTime(), nullable=True))
    op.execute("UPDATE photo_tags SET sorted_at = (SELECT photos.sorted_at FROM photos WHERE photos.id = photo_tags.photo_id)")
    with op.batch_alter_table('photo_tags') as batch:
        batch.alter_column('sorted_at', existing_type=sa.DateTime(), nullable=False)
    op.create_index('ix_photo_tags_tag_id_sorted_at_photo_id', 'photo_tags', ['tag_id', 'sorted_at', 'photo_id'],
                    unique=False)


def downgrade():
    op.drop_index('ix_photo_tags_tag_id_sorted_at_photo_id', table_name='photo_tags')
    with op.batch_alter_table('photo_tags') as batch:
        batch.drop_column('sorted_at')
