"""Read-only views of the registry's seed data for tools (benchmarks, demo)."""

from __future__ import annotations

from registry.seed import municipality_rows


def tokyo_codes() -> list[str]:
    """The codes of Tokyo's 62 municipalities (wards, cities, towns, villages)."""
    return [
        str(row["code"])
        for row in municipality_rows()
        if row["kind"] in {"ward", "city", "town", "village"}
    ]
