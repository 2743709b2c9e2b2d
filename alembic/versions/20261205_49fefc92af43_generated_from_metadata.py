"""photos uploaded with a generator's parameters are generated photos

Before this, an upload of an InvokeAI PNG kept its prompt, seed and model but counted as "uploaded";
from now on a file carrying a generator's parameters is stored as "generated" (services/
generator_metadata). This moves the photos already stored that way, those with a prompt, and counts
each account's uploaded and generated photos again (the library's, not the trash's, which is counted
apart), retiring its cached grid pages. No schema changes. The downgrade leaves them generated: what
an older gallery shows of them is the same, and which were uploads cannot be told apart any more.

Revision ID: 49fefc92af43
Revises: d4a7e2c81f35
Create Date: 2026-12-05 10:05:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '49fefc92af43'
down_revision = 'd4a7e2c81f35'
branch_labels = None
depends_on = None


def count(source: str) -> str:
    return (f"(SELECT count(*) FROM photos WHERE photos.owner_id = users.id AND photos.source = '{source}'"
            " AND photos.trashed_at IS NULL)")


def upgrade():
    op.execute("UPDATE photos SET source = 'generated' WHERE source = 'uploaded' AND prompt IS NOT NULL")
    op.execute(f"UPDATE users SET uploaded_photos = {count('uploaded')}, generated_photos = {count('generated')},"
               " library_version = library_version + 1"
               f" WHERE uploaded_photos <> {count('uploaded')} OR generated_photos <> {count('generated')}")


def downgrade():
    pass
