"""Schema migrations with Alembic, from the `migrations/` folder of this checkout."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolation would read '%' in passwords as a placeholder.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


def upgrade(database_url: str) -> None:
    """Takes the database to the newest schema. Must run outside an event loop."""
    command.upgrade(alembic_config(database_url), "head")


def check(database_url: str) -> None:
    """Raises when the models and the migrations disagree (`alembic check`)."""
    command.check(alembic_config(database_url))
