"""tags and photo_tags: free-text tags of an account's photos

Two new tables, so nothing already there changes: tags (one account's, its name as typed and a
case-folded name_key unique per owner) and photo_tags (which photo carries which tag; both foreign
keys cascade, so a photo deleted for good or a tag deleted takes its links along, and a deleted
account its tags). Downgrading drops both tables: an older gallery knows no tags.

Revision ID: d4a7e2c81f35
Revises: b7f3c91d2e64
Create Date: 2026-12-05 08:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd4a7e2c81f35'
down_revision = 'b7f3c91d2e64'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'tags',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('owner_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('name_key', sa.String(length=400), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_tags_owner_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_tags')),
        sa.UniqueConstraint('owner_id', 'name_key', name='uq_tags_owner_id_name_key'),
        sqlite_autoincrement=True,
    )
    op.create_table(
        'photo_tags',
        sa.Column('photo_id', sa.Integer(), nullable=False),
        sa.Column('tag_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['photo_id'], ['photos.id'], name=op.f('fk_photo_tags_photo_id_photos'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['tag_id'], ['tags.id'], name=op.f('fk_photo_tags_tag_id_tags'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('photo_id', 'tag_id', name=op.f('pk_photo_tags')),
    )
    op.create_index('ix_photo_tags_tag_id_photo_id', 'photo_tags', ['tag_id', 'photo_id'], unique=False)


def downgrade():
    op.drop_index('ix_photo_tags_tag_id_photo_id', table_name='photo_tags')
    op.drop_table('photo_tags')
    op.drop_table('tags')
