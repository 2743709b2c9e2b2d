"""share_links and share_link_photos: links that show a photo, an album or a selection without an account

Two new tables, so nothing already there changes: share_links (one account's, the SHA-256 of its
token unique, what it shows, its expiry, password and what its files carry, its views) and
share_link_photos (the photos of a selection's link). Every foreign key cascades: a deleted account,
album or photo takes its links along. Downgrading drops both tables: an older gallery shares nothing.

Revision ID: f3a9c6d1b270
Revises: a3d9c4e7b210
Create Date: 2026-12-05 10:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f3a9c6d1b270'
down_revision = 'a3d9c4e7b210'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'share_links',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('owner_id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('photo_id', sa.Integer(), nullable=True),
        sa.Column('album_id', sa.Integer(), nullable=True),
        sa.Column('with_sub_albums', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=True),
        sa.Column('password_hash', sa.String(length=255), nullable=True),
        sa.Column('allow_originals', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('strip_gps', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('strip_exif', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('strip_generation', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('views', sa.Integer(), server_default='0', nullable=False),
        sa.Column('last_used_at', sa.DateTime(), nullable=True),
        sa.Column('revoked_at', sa.DateTime(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('photo', 'album', 'selection')", name=op.f('ck_share_links_kind_known')),
        sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_share_links_owner_id_users'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['photo_id'], ['photos.id'], name=op.f('fk_share_links_photo_id_photos'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['album_id'], ['albums.id'], name=op.f('fk_share_links_album_id_albums'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_share_links')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_share_links_token_hash')),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f('ix_share_links_owner_id'), 'share_links', ['owner_id'], unique=False)
    op.create_table(
        'share_link_photos',
        sa.Column('share_link_id', sa.Integer(), nullable=False),
        sa.Column('photo_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['share_link_id'], ['share_links.id'],
                                name=op.f('fk_share_link_photos_share_link_id_share_links'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['photo_id'], ['photos.id'], name=op.f('fk_share_link_photos_photo_id_photos'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('share_link_id', 'photo_id', name=op.f('pk_share_link_photos')),
    )
    op.create_index(op.f('ix_share_link_photos_photo_id'), 'share_link_photos', ['photo_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_share_link_photos_photo_id'), table_name='share_link_photos')
    op.drop_table('share_link_photos')
    op.drop_index(op.f('ix_share_links_owner_id'), table_name='share_links')
    op.drop_table('share_links')
