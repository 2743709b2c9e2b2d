"""generation per model base: guidance beside CFG, CFG optional, a photo's model base

FLUX models take distilled guidance instead of a CFG scale (FLUX.2 Klein takes neither), so a
generation session's cfg_scale may now be empty and it gains a guidance column; a photo kept from one
keeps its model's base (sd-1, sdxl, flux, ...) and its guidance. Every existing row keeps its values:
sessions and photos made so far were SD-1 or SD-2 with a CFG scale. Downgrading drops the new columns
and makes cfg_scale required again, giving a session without one the old default of 7.5.

Revision ID: e5b19c3f7a02
Revises: 49fefc92af43
Create Date: 2026-12-05 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e5b19c3f7a02'
down_revision = '49fefc92af43'
branch_labels = None
depends_on = None

# Altering a column makes SQLite's batch mode rebuild the table: keep its AUTOINCREMENT (ids never reused).
NEVER_REUSED_IDS = {"sqlite_autoincrement": True}


def upgrade():
    with op.batch_alter_table('generation_sessions', schema=None, table_kwargs=NEVER_REUSED_IDS) as batch_op:
        batch_op.add_column(sa.Column('guidance', sa.Float(), nullable=True))
        batch_op.alter_column('cfg_scale', existing_type=sa.Float(), nullable=True)
    # Plain ADD / DROP COLUMN on photos: a rebuild would turn the rating's column CHECK into a table CHECK,
    # which the marks migration's plain DROP COLUMN rating could then not drop.
    op.add_column('photos', sa.Column('model_base', sa.String(length=32), nullable=True))
    op.add_column('photos', sa.Column('guidance', sa.Float(), nullable=True))


def downgrade():
    op.execute("ALTER TABLE photos DROP COLUMN guidance")
    op.execute("ALTER TABLE photos DROP COLUMN model_base")
    op.execute("UPDATE generation_sessions SET cfg_scale = 7.5 WHERE cfg_scale IS NULL")
    with op.batch_alter_table('generation_sessions', schema=None, table_kwargs=NEVER_REUSED_IDS) as batch_op:
        batch_op.alter_column('cfg_scale', existing_type=sa.Float(), nullable=False)
        batch_op.drop_column('guidance')
