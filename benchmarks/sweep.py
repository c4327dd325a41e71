"""Benchmark: `hagukumi sweep` end to end over synthetic families, in one run.

Imports N synthetic Tokyo families (the generator of `benchmarks/eligibility.py`, consented and
active, inserted in bulk) into a fresh SQLite file, or a fresh PostgreSQL database with `--pg`
(created and dropped here), publishes the demo programs, then times, each in a child process of
its own (`SCENARIOS`): the dry run on columns (database reads, columns, evaluation, drafting,
the ledger's "already told" check) and the same with the per-family evaluation forced
(`per_family=True`, as before columns; the ratio of the two); the first real sweep, which
records every notice; the daily sweep once the ledger holds them (a fresh process reads every
family, as `hagukumi sweep` does); and the scheduler's daily sweep with the families kept from
its last sweep (`notifier.sweep.Population`) after 1 % of them changed. Prints seconds (and the
process's CPU seconds, steadier on a shared machine), families/s and peak RSS of each.
Issue 13's goals: 100,000 families on SQLite <= 8 s; 1,000,000 on PostgreSQL <= 60 s and
<= 4 GB RSS (the dry run and the daily sweep).
Usage: `python benchmarks/sweep.py [--families 100000] [--pg] [--reference 100000] [--seed 1]`
(`--reference 0` skips the per-family run, which takes about 30 s per 100,000 families).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from datetime import time as clock
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.eligibility import ON, synthetic_family  # noqa: E402
from hagukumi.seeddata import tokyo_codes  # noqa: E402

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime.combine(ON, clock(9), TOKYO)
CHUNK = 10_000


async def populate(url: str, families: int, seed: int) -> int:
    """Migrate, publish the demo programs and insert the families; how many children."""
    from sqlalchemy import insert

    from hagukumi.demo import demo_programs
    from hagukumi.models import MODEL_MODULES
    from registry import programs as repo
    from registry.db import create_engine, session_factory, transaction
    from registry.migrate import upgrade
    from registry.models import Child, Family

    await upgrade(url, models=MODEL_MODULES)
    engine = create_engine(url)
    sessions = session_factory(engine)
    async with transaction(sessions) as session:
        for data in demo_programs():
            row = await repo.create_program(session, data, source="demo")
            await repo.set_status(session, row, "published")
    rng = random.Random(seed)
    codes = tokyo_codes()
    consented = datetime(2026, 1, 1, tzinfo=UTC)
    children = 0
    for start in range(0, families, CHUNK):
        rows: list[dict[str, Any]] = []
        kids: list[dict[str, Any]] = []
        for fid in range(start + 1, min(start + CHUNK, families) + 1):
            f: dict[str, Any] = synthetic_family(rng, codes)
            rows.append(
                {
                    "id": fid,
                    "line_user_id": f"U{fid:032x}",
                    "state": "active",
                    "consented_at": consented,
                    "municipality": f["municipality"],
                    "pregnant": f["pregnant"],
                    "due_date": date.fromisoformat(f["due_date"]) if f["due_date"] else None,
                    "single_parent": f["single_parent"],
                    "household_income": f["household_income"],
                    "resident_tax_exempt": f["resident_tax_exempt"],
                    "public_assistance": f["public_assistance"],
                    "language": f["language"],
                    "preferences": {},
                    "created_at": consented,
                    "updated_at": consented,
                }
            )
            for c in f["children"]:
                kids.append(
                    {
                        "family_id": fid,
                        "birth_date": date.fromisoformat(c["birth_date"]),
                        "disability": c["disability"],
                        "daycare": c["daycare"],
                        "created_at": consented,
                    }
                )
        async with engine.begin() as connection:
            await connection.execute(insert(Family.__table__), rows)  # type: ignore[attr-defined]
            await connection.execute(insert(Child.__table__), kids)  # type: ignore[attr-defined]
        children += len(kids)
    if engine.dialect.name == "postgresql":
        async with engine.begin() as connection:
            from sqlalchemy import text

            await connection.execute(
                text("SELECT setval(pg_get_serial_sequence('family', 'id'), :n)"), {"n": families}
            )
            await connection.execute(text("ANALYZE"))
    await engine.dispose()
    return children


SCENARIOS = ("dry", "per-family", "first", "daily", "kept")
"""What a child process times: a dry run on columns (the ledger empty), the same forced per
family, the first real sweep (recording every notice), a daily sweep (the ledger holds them:
nothing new; a fresh process reads everyone, as `hagukumi sweep` does), and the scheduler's
daily sweep with the families kept from its last sweep after 1 % of them changed."""
CHANGED_EVERY = 100


async def timed_sweep(url: str, scenario: str) -> dict[str, Any]:
    """One sweep of `scenario` (in this process): seconds and what it found."""
    from sqlalchemy import text

    from notifier.sweep import Population, sweep
    from registry.db import create_engine, session_factory

    engine = create_engine(url)
    sessions = session_factory(engine)
    population = None
    if scenario == "kept":
        population = Population()
        await sweep(sessions, now=NOW, zone=TOKYO, population=population)
        async with engine.begin() as connection:
            # 1 % of the families change (a new income), stamped now, as the registry does.
            await connection.execute(
                text(
                    "UPDATE family SET household_income = COALESCE(household_income, 0) + 1,"
                    " updated_at = :now WHERE id % :every = 0"
                ),
                {"now": datetime.now(UTC), "every": CHANGED_EVERY},
            )
    started, cpu = time.perf_counter(), time.process_time()
    report = await sweep(
        sessions,
        now=NOW,
        zone=TOKYO,
        dry_run=scenario in ("dry", "per-family"),
        per_family=scenario == "per-family",
        population=population,
    )
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    await engine.dispose()
    return {
        "seconds": seconds,
        "cpu": cpu,
        "families": report.families_scanned,
        "read": report.families_read,
        "kept": report.families_kept,
        "matches": report.matches,
        "reminders": report.reminders,
        "new": report.new,
        "by_program": {t.id: (t.matches, t.reminders, t.new) for t in report.programs.values()},
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "fallback_line": report.fallback_line(),
    }


def in_child(url: str, scenario: str) -> dict[str, Any]:
    """`timed_sweep` in a fresh process, so that its peak RSS is the sweep's own."""
    command = [sys.executable, __file__, "--child", url, "--scenario", scenario]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


async def _pg_admin(statement: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(PG_URL)
    connection = await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, database=url.database
    )
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def pg_reachable() -> bool:
    """Whether the PostgreSQL server of the benchmark answers."""
    try:
        asyncio.run(_pg_admin("SELECT 1"))
    except (OSError, Exception):  # noqa: BLE001 - any failure means "not here"
        return False
    return True


def report(label: str, result: dict[str, Any]) -> None:
    """Print one run's figures."""
    rate = result["families"] / result["seconds"]
    print(
        f"{label:<34} {result['seconds']:8.2f} s (CPU {result.get('cpu', 0):6.2f} s)"
        f"  {rate:>10,.0f} families/s  peak RSS {result['rss_mb']:,.0f} MB"
        f"  ({result['matches']:,} matches, {result['reminders']:,} reminders,"
        f" {result['new']:,} new)",
        flush=True,
    )


def run(url: str, families: int, reference: int, seed: int, where: str, goal: float) -> None:
    """Populate `url`, then time the sweeps and print the figures."""
    started = time.perf_counter()
    children = asyncio.run(populate(url, families, seed))
    print(
        f"sweep benchmark on {where}: {families:,} families, {children:,} children, demo"
        f" programs, as of {ON} (inserted in {time.perf_counter() - started:.1f} s)",
        flush=True,
    )
    dry = in_child(url, "dry")
    report("dry run, columns", dry)
    print(f"  {dry['fallback_line']}")
    if reference and families <= reference:
        slow = in_child(url, "per-family")
        report("dry run, per family (forced)", slow)
        same = {k: slow[k] for k in ("matches", "reminders", "new", "by_program")} == {
            k: dry[k] for k in ("matches", "reminders", "new", "by_program")
        }
        print(
            f"  ratio {slow['seconds'] / dry['seconds']:.1f}x end to end"
            f" ({slow['cpu'] / dry['cpu']:.1f}x in CPU time);"
            f" same figures: {'yes' if same else 'NO'}"
        )
        if not same:
            raise SystemExit("the two evaluations disagree")
    else:
        print(f"  per-family run skipped ({families:,} families > --reference {reference:,})")
    first = in_child(url, "first")
    report("first sweep (records every notice)", first)
    daily = in_child(url, "daily")
    report("daily sweep (reads everyone)", daily)
    kept = in_child(url, "kept")
    report("daily sweep, families kept", kept)
    print(
        f"  kept from the last sweep {kept['kept']:,}, re-read {kept['read']:,}"
        f" (1 in {CHANGED_EVERY} changed); {daily['seconds'] / kept['seconds']:.1f}x the"
        " sweep that reads everyone"
    )
    if dry["new"] != first["new"] or daily["new"] != 0:
        raise SystemExit("the dry run, the first and the daily sweep disagree")
    print(
        f"  goal <= {goal:.0f} s: dry run {dry['seconds']:.1f} s, daily {daily['seconds']:.1f} s,"
        f" kept {kept['seconds']:.1f} s"
        f" ({'met' if max(dry['seconds'], daily['seconds']) <= goal else 'NOT met'});"
        f" peak RSS {max(r['rss_mb'] for r in (dry, first, daily, kept)):,.0f} MB"
    )


def main() -> int:
    """Run the benchmark (or, with --child, one timed sweep)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--families", type=int, default=100_000)
    parser.add_argument("--pg", action="store_true", help="on PostgreSQL instead of SQLite")
    parser.add_argument(
        "--reference",
        type=int,
        default=100_000,
        help="time the per-family sweep too up to this many families (0: never)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--scenario", choices=SCENARIOS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(timed_sweep(args.child, args.scenario))))
        return 0
    if args.pg:
        if not pg_reachable():
            print(f"PostgreSQL at {PG_URL} is not reachable: nothing measured")
            return 1
        name = f"hagukumi_bench_{uuid.uuid4().hex[:8]}"
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
        try:
            url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
            run(url, args.families, args.reference, args.seed, "PostgreSQL", 60.0)
        finally:
            asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        return 0
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "sweep.sqlite3")
        run(f"sqlite:///{path}", args.families, args.reference, args.seed, "SQLite", 8.0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
