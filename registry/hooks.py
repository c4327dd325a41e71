"""How tables owned by other packages take part in registry operations.

`registry` imports no notifier and no bot (see docs), yet deleting a family's personal data must
reach its notices and reviews, a program that families were told about is kept for history, and
old rows of other tables expire on the purge. The package that owns such a table declares what
to do as classmethods on the table class; registry finds them through SQLModel's mapper registry,
which every process fills by importing the model modules the composition root lists
(`hagukumi.models.MODEL_MODULES`).

The hooks, each optional:

- `forget_family(session, family_id) -> None`: strip a deleted family's personal data from the
  table's rows (the family row itself stays as a tombstone).
- `has_program_history(session, program_id) -> bool`: whether rows keep the program for history
  (then it cannot be deleted).
- `forget_before(session, before) -> int`: delete or empty rows whose retention ended before
  `before`; how many rows changed.
"""

from __future__ import annotations

from typing import Any

from sqlmodel.main import default_registry

FORGET_FAMILY = "forget_family"
HAS_PROGRAM_HISTORY = "has_program_history"
FORGET_BEFORE = "forget_before"


def tables_with(hook: str) -> list[Any]:
    """The table classes that declare `hook`, in table-name order (a stable, repeatable order)."""
    found = [
        mapper.class_
        for mapper in default_registry.mappers
        if callable(getattr(mapper.class_, hook, None))
    ]
    return sorted(found, key=lambda cls: str(cls.__tablename__))
