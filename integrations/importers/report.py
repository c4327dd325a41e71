"""What every import reports: counts, what was rejected and why, what a person should review."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Entry = TypeVar("Entry")
"""How an import names one input entry: a registry psid, a line number of a file..."""

T = TypeVar("T")


@dataclass
class ImportReport(Generic[Entry]):
    """Counts and needs-review lists of one import; each importer adds its own counts."""

    created: int = 0
    updated: int = 0
    rejected: list[tuple[Entry, str]] = field(default_factory=list)
    """(entry, why) of each input entry that was not saved."""
    review: list[tuple[Entry, str, list[str]]] = field(default_factory=list)
    """(entry, name, why) of each entry saved but needing a person's review."""
    warnings: list[str] = field(default_factory=list)
    unreadable: list[tuple[Entry, str, str]] = field(default_factory=list)
    """(entry, column, raw value) of each value that could not be read: the entry was saved
    with that field left as it was (or empty when new), never with a guess."""

    @property
    def needs_review(self) -> int:
        """Entries saved that a person should check."""
        return len(self.review)

    def reject(self, entry: Entry, reason: str) -> None:
        """Remember one entry that was not saved, and why."""
        self.rejected.append((entry, reason))


def capped(items: Sequence[T], limit: int, line: Callable[[T], str], more: str) -> list[str]:
    """A CLI line per item, at most `limit`, then "... and N more <more>"."""
    lines = [line(item) for item in items[:limit]]
    if len(items) > limit:
        lines.append(f"  ... and {len(items) - limit} more {more}")
    return lines
