"""Demo data for an empty database: hand-written programs, registry samples and a demo key."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import yaml
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from registry import programs as repo
from registry.auth import create_key
from registry.db import transaction
from registry.schemas import ProgramIn
from registry.validation import validate_program

DEMO_PROGRAMS = Path(__file__).resolve().parent / "demo" / "programs.yaml"


def demo_programs() -> list[ProgramIn]:
    """The hand-written programs of `hagukumi/demo/programs.yaml`."""
    items = yaml.safe_load(DEMO_PROGRAMS.read_text(encoding="utf-8"))
    return [ProgramIn.model_validate(item) for item in items]


async def load_demo(
    sessions: async_sessionmaker[AsyncSession],
    *,
    key_file: Path,
    registry_dir: Path | None,
    progress: Callable[[str], None] = print,
) -> bool:
    """Load the demo data when no program exists yet; True when it loaded something."""
    async with sessions() as session:
        if await repo.count_programs(session) > 0:
            return False
    programs = demo_programs()
    async with transaction(sessions) as session:
        for data in programs:
            report = validate_program(data)
            if not report.valid:
                raise RuntimeError(f"demo program {data.name.ja} fails: {report.errors}")
            row = await repo.create_program(session, data, source="demo")
            await repo.set_status(session, row, "published")
    progress(f"demo: {len(programs)} hand-written programs published")
    if registry_dir is not None and registry_dir.is_dir():
        from integrations.importers.tokyo_registry import import_files

        files = sorted(registry_dir.glob("*.json"))
        imported = await import_files(files, sessions, progress=progress)
        progress("demo: " + imported.render(max_review=0).replace("\n", "\n      "))
    else:
        progress("demo: registry samples not found (../shared/data/registry); skipped")
    async with transaction(sessions) as session:
        _, text = await create_key(session, issuer="000000", role="operator", name="demo")
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.write_text(text + "\n", encoding="utf-8")
    os.chmod(key_file, 0o600)
    progress(f"demo: operator API key written to {key_file}")
    return True
