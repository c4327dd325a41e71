"""Benchmark: Tokyo-wide daycare searches over 10,000 synthetic facilities.

Builds 10,000 facilities across Tokyo's 62 municipalities (35.5-35.9 N, 139.0-139.95 E) with
classes, hours, extended care and vacancies for April entry in a migrated SQLite database (bulk
inserts), then times searches as a parent makes them: a birth date, the month of entry, a point,
only facilities with places, 10 results. Prints p50/p95 of `search` (the indexed path, after the
index is loaded once; its load time is printed too) and of `search_linear` (the plain version,
the baseline) in the same run, the ratio, and whether p50 ≤ 5 ms (the goal of issue 10).
The same searches are also timed over HTTP through the whole app (`--http`).
Usage: `python benchmarks/daycare.py [--facilities 10000] [--searches 1000] [--linear 10]
[--http 300]`.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert  # noqa: E402

from hagukumi.models import MODEL_MODULES  # noqa: E402
from hagukumi.seeddata import tokyo_codes  # noqa: E402
from integrations.daycare.models import Facility, Vacancy  # noqa: E402
from integrations.daycare.search import SearchQuery, search, search_linear  # noqa: E402
from registry.db import create_engine, session_factory  # noqa: E402
from registry.migrate import upgrade  # noqa: E402

ENTRY = date(2026, 4, 1)
GOAL_MS = 5.0
TYPES = [
    "licensed_public",
    "licensed_private",
    "small_scale",
    "certified_tokyo",
    "kodomoen_linked",
]


def synthetic_facilities(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """Plausible facilities: small-scale ones take 0-2, others 0-5 or 1-5; varied hours."""
    codes = tokyo_codes()
    now = datetime.now(UTC)
    rows = []
    for i in range(n):
        kind = rng.choice(TYPES)
        classes = (
            [0, 1, 2]
            if kind == "small_scale"
            else rng.choice([[0, 1, 2, 3, 4, 5]] * 3 + [[1, 2, 3, 4, 5]])
        )
        located = rng.random() > 0.02
        extended = rng.random() < 0.7
        rows.append(
            {
                "municipality": rng.choice(codes),
                "facility_id": f"B{i:05d}",
                "status": "active",
                "version": 1,
                "source": "import",
                "name_ja": f"ベンチ保育園{i}",
                "name_en": f"Bench Nursery {i}",
                "name_kana": f"べんちほいくえん{i:05d}",
                "type": kind,
                "type_label": "",
                "address": "東京都",
                "latitude": rng.uniform(35.5, 35.9) if located else None,
                "longitude": rng.uniform(139.0, 139.95) if located else None,
                "located": located,
                "station": "",
                "walk_minutes": rng.randint(1, 20),
                "classes": classes,
                "class_capacity": {str(a): rng.randint(3, 20) for a in classes},
                "capacity": rng.randint(12, 120),
                "min_age_months": rng.choice([None, 2, 4, 6, 12]),
                "days": ["mon", "tue", "wed", "thu", "fri", "sat"],
                "opens": rng.choice(["07:00", "07:15", "07:30", "08:00"]),
                "closes": rng.choice(["18:00", "18:15", "18:30", "19:00"]),
                "extended_care": extended,
                "extended_until": rng.choice(["19:00", "19:30", "20:00"]) if extended else None,
                "temporary_care": rng.random() < 0.3,
                "meals": "",
                "url": "",
                "phone": "",
                "notes": "",
                "body": {},
                "created_at": now,
                "updated_at": now,
            }
        )
    return rows


def synthetic_vacancies(
    rng: random.Random, facilities: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """April's places per class: mostly none, some numbers, a few "some"."""
    now = datetime.now(UTC)
    rows = []
    for pk, f in enumerate(facilities, start=1):
        for age in f["classes"]:
            level = rng.choices(["none", "number", "some"], weights=[6, 3, 1])[0]
            rows.append(
                {
                    "facility_pk": pk,
                    "class_age": age,
                    "entry_month": ENTRY,
                    "level": level,
                    "places": rng.randint(1, 5) if level == "number" else None,
                    "as_of": date(2025, 11, 1),
                    "source": "bench",
                    "updated_at": now,
                }
            )
    return rows


def queries(rng: random.Random, n: int) -> list[SearchQuery]:
    """Tokyo-wide parent searches: a child of class 0-2 in April, near a point, with places."""
    out = []
    for _ in range(n):
        born = ENTRY - timedelta(days=rng.randint(60, 3 * 365))
        out.append(
            SearchQuery(
                birth_date=born,
                entry_month=ENTRY,
                near=(rng.uniform(35.55, 35.85), rng.uniform(139.2, 139.9)),
                with_places=True,
                limit=10,
            )
        )
    return out


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of the values."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered)) - 1))]


async def timed(sessions: Any, fn: Any, batch: list[SearchQuery]) -> list[float]:
    """Milliseconds of each search, a session per search as the API opens one."""
    times = []
    for query in batch:
        started = time.perf_counter()
        async with sessions() as session:
            await fn(session, query)
        times.append((time.perf_counter() - started) * 1000)
    return times


async def http_times(url: str, batch: list[SearchQuery]) -> list[float]:
    """Milliseconds of `GET /api/v1/facilities/search` against the app served on a port."""
    import aiohttp
    from aiohttp import web

    from hagukumi.app import create_app
    from hagukumi.settings import Settings

    settings = Settings(  # type: ignore[call-arg]
        HAGUKUMI_DATABASE_URL=url, HAGUKUMI_API_RATE_LIMIT="100000/100000"
    )
    runner = web.AppRunner(create_app(settings, settle_gc=True))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    times = []
    async with aiohttp.ClientSession() as http:
        for n, query in enumerate([batch[0]] * 5 + batch):
            assert query.birth_date is not None and query.near is not None
            params = {
                "birth_date": query.birth_date.isoformat(),
                "entry_month": ENTRY.strftime("%Y-%m"),
                "lat": str(query.near[0]),
                "lon": str(query.near[1]),
                "with_places": "true",
                "limit": "10",
            }
            started = time.perf_counter()
            async with http.get(
                f"http://127.0.0.1:{port}/api/v1/facilities/search", params=params
            ) as response:
                await response.read()
                assert response.status == 200, await response.text()
            if n >= 5:  # the first requests load the index
                times.append((time.perf_counter() - started) * 1000)
    await runner.cleanup()
    return times


async def run(args: argparse.Namespace) -> int:
    """Build the database, time both paths, print the figures."""
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/daycare.sqlite3"
        await upgrade(url, models=MODEL_MODULES)
        engine = create_engine(url)
        facilities = synthetic_facilities(rng, args.facilities)
        vacancies = synthetic_vacancies(rng, facilities)
        started = time.perf_counter()
        async with engine.begin() as connection:
            await connection.execute(insert(Facility.__table__), facilities)  # type: ignore[attr-defined]
            await connection.execute(insert(Vacancy.__table__), vacancies)  # type: ignore[attr-defined]
        print(
            f"daycare search benchmark: {len(facilities):,} facilities in "
            f"{len(tokyo_codes())} municipalities, {len(vacancies):,} vacancies "
            f"(built in {time.perf_counter() - started:.1f} s)",
            flush=True,
        )
        sessions = session_factory(engine)
        batch = queries(rng, args.searches)
        started = time.perf_counter()
        async with sessions() as session:
            first = await search(session, batch[0])
        print(f"index load (first search): {(time.perf_counter() - started) * 1000:.0f} ms")
        async with sessions() as session:
            assert [r.facility.id for r in first] == [
                r.facility.id for r in await search_linear(session, batch[0])
            ], "the two paths disagree"
        await timed(sessions, search, batch[:20])  # warm-up
        indexed = await timed(sessions, search, batch)
        linear = await timed(sessions, search_linear, batch[: args.linear])
        await engine.dispose()
        over_http = await http_times(url, batch[: args.http]) if args.http else []
    p50, p95 = statistics.median(indexed), percentile(indexed, 95)
    l50, l95 = statistics.median(linear), percentile(linear, 95)
    print(
        f"search (index), {len(indexed)} Tokyo-wide searches: p50 {p50:.2f} ms, p95 {p95:.2f} ms"
    )
    print(f"search_linear (baseline), {len(linear)} searches: p50 {l50:.1f} ms, p95 {l95:.1f} ms")
    print(f"speed-up at p50: {l50 / p50:.0f}x")
    if over_http:
        print(
            f"GET /api/v1/facilities/search over HTTP, {len(over_http)} sequential requests: "
            f"p50 {statistics.median(over_http):.2f} ms, p95 {percentile(over_http, 95):.2f} ms"
        )
    verdict = "yes" if p50 <= GOAL_MS else "NO"
    print(f"p50 <= {GOAL_MS:.0f} ms: {verdict}")
    return 0 if p50 <= GOAL_MS else 1


def main() -> int:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--facilities", type=int, default=10_000)
    parser.add_argument("--searches", type=int, default=1_000)
    parser.add_argument("--linear", type=int, default=10)
    parser.add_argument("--http", type=int, default=300, help="requests over HTTP (0: none)")
    parser.add_argument("--seed", type=int, default=1)
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
