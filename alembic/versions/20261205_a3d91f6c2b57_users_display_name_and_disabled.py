"""users.display_name and users.disabled: a name shown instead of the user name, and accounts an admin
turned off

display_name is NULL until a person sets one (the header then shows the user name). disabled is false
for every account there is; a disabled account cannot log in. Both are added in place (ALTER TABLE ...
ADD COLUMN, which SQLite and PostgreSQL do without rebuilding the table users is referred to by).

Revision ID: a3d91f6c2b57
Revises: f3a9c6d1b270
Create Date: 2026-12-05 10:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a3d91f6c2b57'
down_revision = 'f3a9c6d1b270'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('users', sa.Column('display_name', sa.String(length=64), nullable=True))
    op.add_column('users', sa.Column('disabled', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35 and later): a batch rebuild would drop and re-create
    # the table photos and login_sessions refer to.
    op.execute("ALTER TABLE users DROP COLUMN disabled")
    op.execute("ALTER TABLE users DROP COLUMN display_name")
