"""The model modules: each package owns its tables, and this list is where they all meet.

Alembic (`registry.migrate`, `hagukumi migrate`) and every process load the tables from here,
so a new package's tables (e.g. `integrations.daycare.models`) are added to this list.
"""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData
from sqlmodel import SQLModel

MODEL_MODULES: tuple[str, ...] = (
    "registry.models",
    "notifier.models",
    "bot.models",
    "integrations.daycare.models",
)


def load_models() -> MetaData:
    """Import every model module; the metadata then holds every table."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
    return SQLModel.metadata
