"""photo_search.owner_id and .sorted_at: PostgreSQL's page of words walks the documents in date order

A page of words found its photos by walking the owner's photos in date order (owner_id, sorted_at, id)
and asking photo_search, by its key, whether each one's document has the words: for a word on 4 % of
100,000 photos, 1,311 photos, each its row and a lookup of its document (5,800 buffers, 2.4 ms warm,
more on a deep page). With a copy of the photo's owner and sorted_at beside its document, under
(owner_id, sorted_at, photo_id), the page walks the documents themselves in that order, testing each
one's words in the same row, and reads only the photos it shows (1,600 buffers, under 1 ms). The copies
never change: a photo's owner and sorted_at are set at its insert and never change (as album_photos'
and photo_tags' copies of sorted_at), and refresh_search_documents() writes them with the document.
The trash is not copied: the page's join to the photos leaves out what is in the trash.
Existing documents are filled from their photos, then the columns are NOT NULL. On SQLite nothing:
FTS5's own table keeps its shape (its words are found by the walk of the photos' index). Downgrading
drops the index and the columns.

Revision ID: c8e1f4a7d2b3
Revises: b7d2e4f9a1c6
Create Date: 2026-12-05 16:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'c8e1f4a7d2b3'
down_revision = 'b7d2e4f9a1c6'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE photo_search ADD COLUMN owner_id INTEGER, "
               "ADD COLUMN sorted_at TIMESTAMP WITHOUT TIME ZONE")
    op.execute("UPDATE photo_search SET owner_id = photos.owner_id, sorted_at = photos.sorted_at "
               "FROM photos WHERE photos.id = photo_search.photo_id")
    op.execute("ALTER TABLE photo_search ALTER COLUMN owner_id SET NOT NULL, ALTER COLUMN sorted_at SET NOT NULL")
    op.execute("CREATE INDEX ix_photo_search_owner_id_sorted_at_photo_id "
               "ON photo_search (owner_id, sorted_at, photo_id)")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_photo_search_owner_id_sorted_at_photo_id")
    op.execute("ALTER TABLE photo_search DROP COLUMN owner_id, DROP COLUMN sorted_at")
