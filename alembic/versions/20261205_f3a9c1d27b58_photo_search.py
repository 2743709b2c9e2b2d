"""photo_search: the full-text index of the photos' words (services/search.py)

One document a photo, from its file name, camera make and model, lens, prompt, negative prompt, tag
names and album names, in each database's own engine:
- SQLite: an FTS5 table photo_search(words), rowid = the photo's id, tokenized by unicode61 without
  diacritics, with prefix indexes of 2 and 3 characters (so "ca*" is a lookup, not a scan); a trigger
  deletes a photo's document with its row (a virtual table has no foreign keys).
- PostgreSQL: a table photo_search(photo_id, document tsvector) under a GIN index; photo_id cascades
  from photos. The 'simple' configuration (no stemming, no stop words: prefixes and prompts in any
  language find what was typed) over the text with accents removed (the unaccent extension) and
  split at anything not a letter or digit, as unicode61 splits it.
The documents of the photos already there are made here. Downgrading drops the index.

Revision ID: f3a9c1d27b58
Revises: a3d91f6c2b57
Create Date: 2026-12-05 10:55:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'f3a9c1d27b58'
down_revision = 'a3d91f6c2b57'
branch_labels = None
depends_on = None


def _words(aggregate: str) -> str:
    """The document's text, as services/search.py _document() makes it (written out here: a migration
    keeps the meaning it had when it was written)."""
    tags = (f"(SELECT {aggregate}(tags.name, ' ') FROM tags JOIN photo_tags ON photo_tags.tag_id = tags.id "
            "WHERE photo_tags.photo_id = photos.id)")
    albums = (f"(SELECT {aggregate}(albums.name, ' ') FROM albums JOIN album_photos ON album_photos.album_id = "
              "albums.id WHERE album_photos.photo_id = photos.id)")
    parts = ["original_name", "camera_make", "camera_model", "lens", "prompt", "negative_prompt", tags, albums]
    return " || ' ' || ".join(f"coalesce({part}, '')" for part in parts)


def upgrade():
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE photo_search USING fts5(words, "
                   "tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3')")
        op.execute("CREATE TRIGGER photo_search_photo_deleted AFTER DELETE ON photos "
                   "BEGIN DELETE FROM photo_search WHERE rowid = old.id; END")
        op.execute(f"INSERT INTO photo_search (rowid, words) SELECT id, {_words('group_concat')} FROM photos")
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    op.execute("CREATE TABLE photo_search (photo_id INTEGER NOT NULL PRIMARY KEY "
               "CONSTRAINT fk_photo_search_photo_id_photos REFERENCES photos (id) ON DELETE CASCADE, "
               "document tsvector NOT NULL)")
    op.execute("CREATE INDEX ix_photo_search_document ON photo_search USING gin (document)")
    op.execute("INSERT INTO photo_search (photo_id, document) SELECT id, to_tsvector('simple'::regconfig, "
               f"regexp_replace(unaccent({_words('string_agg')}), '[^[:alnum:]]+', ' ', 'g')) FROM photos")


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS photo_search_photo_deleted")
    op.execute("DROP TABLE IF EXISTS photo_search")
