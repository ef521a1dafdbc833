"""Run Alembic from code: ``shoa migrate``, ``shoa dev``, the tests and the benchmarks share this.

The Alembic environment (``migrations/env.py``) imports no Shoa code; this module hands it the database URL and
the models' metadata (:data:`shoa_api.tables.target_metadata`), which only autogenerate reads.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import Script, ScriptDirectory

import migrations
from shoa_api.database import async_database_url
from shoa_api.tables import target_metadata

MIGRATIONS_DIR = Path(migrations.__file__).resolve().parent
FILE_TEMPLATE = "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s"
"""``2026_11_29_0007_add_product_search_fields.py``: dated, then the revision (``%`` doubled for ConfigParser)."""


def alembic_config(database_url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", FILE_TEMPLATE)
    config.set_main_option("timezone", "UTC")
    config.attributes["target_metadata"] = target_metadata
    if database_url is not None:
        # ConfigParser treats % as interpolation; a password may contain one.
        config.set_main_option("sqlalchemy.url", async_database_url(database_url).replace("%", "%%"))
    return config


def upgrade_to_head(database_url: str) -> None:
    """Bring the database to the newest revision. Blocking: call it outside an event loop (or in a thread)."""
    command.upgrade(alembic_config(database_url), "head")


def write_revision(database_url: str, message: str) -> Path:
    """Write the next revision from what the models changed since the database's (autogenerate), numbered after
    the head and formatted by ruff. The database must be at the head; review the file before committing it."""
    config = alembic_config(database_url)
    config.set_section_option("post_write_hooks", "hooks", "ruff_format")
    config.set_section_option("post_write_hooks", "ruff_format.type", "module")
    config.set_section_option("post_write_hooks", "ruff_format.module", "ruff")
    config.set_section_option("post_write_hooks", "ruff_format.options", "format REVISION_SCRIPT_FILENAME")
    head = ScriptDirectory.from_config(config).get_current_head()
    rev_id = f"{int(head) + 1:04d}" if head is not None and head.isdigit() else None
    script = command.revision(config, message=message, autogenerate=True, rev_id=rev_id)
    assert isinstance(script, Script)  # one head: one new revision
    return Path(script.path)
