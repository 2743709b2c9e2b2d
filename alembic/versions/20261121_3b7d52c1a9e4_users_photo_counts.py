"""users' photo counts

Each user keeps how many photos they have from each source, so the grid's "N photos" needs no
COUNT(*) over their photos; the counts of photos already in the gallery are filled in here.

Revision ID: 3b7d52c1a9e4
Revises: e2536a97fe8c
Create Date: 2026-11-21 20:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3b7d52c1a9e4'
down_revision = 'e2536a97fe8c'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('uploaded_photos', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('generated_photos', sa.Integer(), server_default='0', nullable=False))
    for source in ('uploaded', 'generated'):
        op.execute(f"UPDATE users SET {source}_photos = (SELECT COUNT(*) FROM photos "
                   f"WHERE photos.owner_id = users.id AND photos.source = '{source}')")


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('generated_photos')
        batch_op.drop_column('uploaded_photos')
