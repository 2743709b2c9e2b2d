"""photos uploaded with a generator's parameters are generated photos

Before this, an upload of an InvokeAI PNG kept its prompt, seed and model but counted as "uploaded";
from now on a file carrying a generator's parameters is stored as "generated" (services/
generator_metadata). This moves the photos already stored that way, those with a prompt, from each
account's uploaded count to its generated count (the trash is counted apart), retiring its cached
grid pages. No schema changes. The downgrade leaves them generated: an older gallery shows them the
same, and which were uploads cannot be told apart any more.

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


# An account's photos in the library that move: counted out of its uploaded photos and into its generated
# ones (the trash is counted apart, whatever the source), so a count already off stays as far off as it was.
MOVING = ("(SELECT count(*) FROM photos WHERE photos.owner_id = users.id AND photos.source = 'uploaded'"
          " AND photos.prompt IS NOT NULL AND photos.trashed_at IS NULL)")


def upgrade():
    op.execute(f"UPDATE users SET uploaded_photos = uploaded_photos - {MOVING}, generated_photos = generated_photos"
               f" + {MOVING}, library_version = library_version + 1 WHERE {MOVING} > 0")
    op.execute("UPDATE photos SET source = 'generated' WHERE source = 'uploaded' AND prompt IS NOT NULL")


def downgrade():
    pass
