"""albums and album_photos: nested albums of an account's photos

Two new tables, so nothing already there changes: albums (one account's, nested by parent_id, with
the materialised path of ids from the top down, "/1/7/12/", an optional chosen cover that is set
NULL when that photo is deleted for good) and album_photos (which photo is in which album; both
foreign keys cascade, so a photo deleted for good or an album deleted takes its links along, and a
deleted account its albums; each row keeps a copy of its photo's sorted_at, which never changes, so
an album's count and newest photo come from this table's own index). Downgrading drops both tables:
an older gallery knows no albums.

Revision ID: e5b1c7a3f902
Revises: e5b19c3f7a02
Create Date: 2026-12-05 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e5b1c7a3f902'
down_revision = 'e5b19c3f7a02'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'albums',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('owner_id', sa.Integer(), nullable=False),
        sa.Column('parent_id', sa.Integer(), nullable=True),
        sa.Column('path', sa.Text(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('description', sa.Text(), server_default='', nullable=False),
        sa.Column('cover_photo_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_albums_owner_id_users'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['parent_id'], ['albums.id'], name=op.f('fk_albums_parent_id_albums'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['cover_photo_id'], ['photos.id'], name=op.f('fk_albums_cover_photo_id_photos'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_albums')),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f('ix_albums_owner_id'), 'albums', ['owner_id'], unique=False)
    op.create_index(op.f('ix_albums_parent_id'), 'albums', ['parent_id'], unique=False)
    op.create_table(
        'album_photos',
        sa.Column('album_id', sa.Integer(), nullable=False),
        sa.Column('photo_id', sa.Integer(), nullable=False),
        sa.Column('sorted_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['album_id'], ['albums.id'], name=op.f('fk_album_photos_album_id_albums'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['photo_id'], ['photos.id'], name=op.f('fk_album_photos_photo_id_photos'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('album_id', 'photo_id', name=op.f('pk_album_photos')),
    )
    op.create_index(op.f('ix_album_photos_photo_id'), 'album_photos', ['photo_id'], unique=False)
    op.create_index('ix_album_photos_album_id_sorted_at_photo_id', 'album_photos', ['album_id', 'sorted_at', 'photo_id'],
                    unique=False)


def downgrade():
    op.drop_index('ix_album_photos_album_id_sorted_at_photo_id', table_name='album_photos')
    op.drop_index(op.f('ix_album_photos_photo_id'), table_name='album_photos')
    op.drop_table('album_photos')
    op.drop_index(op.f('ix_albums_parent_id'), table_name='albums')
    op.drop_index(op.f('ix_albums_owner_id'), table_name='albums')
    op.drop_table('albums')
