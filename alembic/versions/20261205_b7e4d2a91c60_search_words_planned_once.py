"""PostgreSQL's words search: gallery_unaccent(text), and the document index without a pending list

Two costs of a page of words at 100,000 photos (tests/benchmarks/bench_search.py), PostgreSQL only:
- unaccent() is STABLE, so a search's to_tsquery('simple', unaccent(:words)) ran again for every row
  the plan tested it on: a page that walks the photos in date order (1,311 of them for a word on 4 % of
  the photos) paid for it on each. gallery_unaccent() is the same call declared IMMUTABLE, so to_tsquery
  of it is computed once, when the statement is planned, and the planner sees the query itself (its
  selectivity): that page's SQL 4.3 -> 3.1 ms, a prefix's 6.2 -> 4.0 ms. The promise
  IMMUTABLE makes is the usual one about the unaccent dictionary: it does not change under a running
  gallery (were it edited, `flask search rebuild` makes the documents anew).
- the GIN index's pending list (fastupdate): new entries wait in a list that every search reads from
  end to end until a vacuum merges them, up to 4 MB; after a rebuild it held 14,000 documents and a
  search for a word on one photo took 6 ms in it, 0.25 ms without it. A gallery writes a few documents
  at a time (an upload, a tag), so entries go straight into the index; the list there now is merged.
On SQLite nothing: FTS5 removes accents itself and has no pending list. Downgrading undoes both.

Revision ID: b7e4d2a91c60
Revises: c41e7a2b9d03
Create Date: 2026-12-05 14:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'b7e4d2a91c60'
down_revision = 'c41e7a2b9d03'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    op.execute("CREATE OR REPLACE FUNCTION gallery_unaccent(text) RETURNS text "
               "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE "
               "AS $$ SELECT unaccent(regdictionary 'unaccent', $1) $$")
    op.execute("ALTER INDEX ix_photo_search_document SET (fastupdate = off)")
    op.execute("SELECT gin_clean_pending_list('ix_photo_search_document'::regclass)")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER INDEX ix_photo_search_document RESET (fastupdate)")
    op.execute("DROP FUNCTION IF EXISTS gallery_unaccent(text)")
