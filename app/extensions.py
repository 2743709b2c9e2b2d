"""Extensions, unbound; create_app binds them."""
from flask_caching import Cache
from flask_login import LoginManager
from flask_migrate import Config as AlembicConfig
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from .config import ROOT

# Named constraints let SQLite batch migrations drop and alter them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Model(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Model)
migrate = Migrate()
cache = Cache()
csrf = CSRFProtect()
login_manager = LoginManager()


@migrate.configure
def use_root_alembic_ini(config: AlembicConfig) -> AlembicConfig:
    """Read the single alembic.ini at the repository root (Flask-Migrate looks in alembic/)."""
    root_config = AlembicConfig(str(ROOT / "alembic.ini"), cmd_opts=config.cmd_opts)
    root_config.set_main_option("script_location", str(ROOT / "alembic"))
    return root_config
