"""docs/architecture.md stays true: the modules it names exist, and it lists every table under
the module that owns it."""

from __future__ import annotations

import re
from pathlib import Path

from sqlmodel import SQLModel

from hagukumi.models import MODEL_MODULES, load_models

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
PACKAGES = ("rules", "registry", "notifier", "integrations", "bot", "hagukumi")


def named_paths(text: str) -> set[str]:
    """Backticked paths like `notifier/sweep.py` or `integrations/daycare/`, made absolute from
    the package they start in (a bare `ages.py` in a package's row is relative to it)."""
    found: set[str] = set()
    for line in text.splitlines():
        row = re.match(r"\| `(\w+)/` \|", line)
        base = row.group(1) if row else None
        for name in re.findall(r"`([\w./]+(?:\.py|/))`", line):
            if name.startswith("../"):
                continue
            if name.split("/")[0] in PACKAGES or name.split("/")[0] == "tests":
                found.add(name)
            elif base is not None:
                found.add(f"{base}/{name}")
    return found


def test_every_module_the_doc_names_exists() -> None:
    paths = named_paths(DOC.read_text(encoding="utf-8"))
    assert len(paths) > 30
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert missing == []


def test_the_doc_lists_every_table_under_its_owner() -> None:
    text = DOC.read_text(encoding="utf-8")
    rows = {
        m.group(1): set(re.findall(r"`(\w+)`", m.group(2)))
        for m in re.finditer(r"^\| `([\w/]+)\.py` \| (.+) \|$", text, flags=re.M)
    }
    metadata = load_models()
    owners: dict[str, set[str]] = {}
    for mapper in SQLModel._sa_registry.mappers:  # type: ignore[attr-defined]
        table = getattr(mapper.class_, "__tablename__", None)
        if table in metadata.tables:
            owners.setdefault(mapper.class_.__module__.replace(".", "/"), set()).add(table)
    assert set(owners) == {m.replace(".", "/") for m in MODEL_MODULES}
    assert {module: rows.get(module, set()) for module in owners} == owners
