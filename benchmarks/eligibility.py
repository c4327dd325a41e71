"""Benchmark: synthetic Tokyo families against the demo programs, per family.

Prints evaluations per second through the per-family path (rules.evaluate_family, the
baseline a later vectorized population path must beat) and the median time to answer one
`POST /api/v1/eligibility` over real HTTP. Usage:
`python benchmarks/eligibility.py [--families 100000] [--requests 500] [--seed 1]`.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hagukumi.demo import demo_programs  # noqa: E402
from hagukumi.seeddata import tokyo_codes  # noqa: E402
from registry.eligibility import issuers_for  # noqa: E402
from rules.evaluate import CompiledProgram, evaluate_family  # noqa: E402
from rules.language import compile_rule  # noqa: E402
from rules.profile import FamilyInput, derive  # noqa: E402

ON = date(2026, 11, 26)


def synthetic_family(rng: random.Random, codes: list[str]) -> dict[str, object]:
    """A plausible Tokyo household: 0-4 children, some unknowns, some pregnancies."""
    children = []
    for _ in range(rng.choices([0, 1, 2, 3, 4], weights=[10, 40, 35, 12, 3])[0]):
        born = ON - timedelta(days=rng.randint(0, 19 * 365))
        children.append(
            {
                "birth_date": born.isoformat(),
                "disability": rng.random() < 0.03,
                "daycare": rng.choice(["none", "applying", "enrolled"]),
            }
        )
    pregnant = rng.random() < 0.08
    return {
        "municipality": rng.choice(codes),
        "children": children,
        "pregnant": pregnant,
        "due_date": (ON + timedelta(days=rng.randint(10, 250))).isoformat() if pregnant else None,
        "single_parent": rng.choice([True, False, False, False, None]),
        "household_income": rng.choice([None, rng.randint(1_000_000, 15_000_000)]),
        "resident_tax_exempt": rng.choice([None, False, False, True]),
        "public_assistance": rng.choice([None, False, False, False, True]),
        "language": rng.choice(["ja", "ja", "ja", "en"]),
    }


def per_family_path(families: list[FamilyInput]) -> tuple[float, int, int]:
    """(seconds, program evaluations, eligible matches) through evaluate_family."""
    compiled = []
    for index, data in enumerate(demo_programs()):
        rule = compile_rule(data.eligibility, per_child=data.per_child)
        compiled.append((data.issuer, CompiledProgram(str(index), rule, data.per_child)))
    evaluations = matches = 0
    started = time.perf_counter()
    for family in families:
        context = derive(family, ON)
        issuers = issuers_for(context)
        applicable = [program for issuer, program in compiled if issuer in issuers]
        for match in evaluate_family(context, applicable):
            matches += match.eligible
        evaluations += len(applicable)
    return time.perf_counter() - started, evaluations, matches


async def http_median(requests: int, families: list[dict[str, object]]) -> tuple[float, float]:
    """Median and p95 milliseconds of POST /api/v1/eligibility against a live server."""
    import aiohttp
    from aiohttp import web

    from hagukumi.app import create_app
    from hagukumi.demo import load_demo
    from hagukumi.models import MODEL_MODULES
    from hagukumi.settings import Settings
    from registry.db import create_engine, session_factory
    from registry.migrate import upgrade

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.sqlite3"
        await upgrade(url, models=MODEL_MODULES)
        engine = create_engine(url)
        await load_demo(
            session_factory(engine),
            key_file=Path(folder) / "key.txt",
            registry_dir=None,
            progress=lambda _l: None,
        )
        await engine.dispose()
        settings = Settings(  # type: ignore[call-arg]
            HAGUKUMI_DATABASE_URL=url, HAGUKUMI_API_RATE_LIMIT="100000/100000"
        )
        runner = web.AppRunner(create_app(settings, settle_gc=True))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        timings = []
        async with aiohttp.ClientSession() as http:
            for index in range(requests + 20):
                body = {"family": families[index % len(families)], "date": ON.isoformat()}
                started = time.perf_counter()
                async with http.post(
                    f"http://127.0.0.1:{port}/api/v1/eligibility", json=body
                ) as r:
                    await r.read()
                    assert r.status == 200, await r.text()
                if index >= 20:  # the first requests warm the catalog cache
                    timings.append((time.perf_counter() - started) * 1000)
        await runner.cleanup()
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.95) - 1]


def main() -> int:
    """Run both measurements and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--families", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    codes = tokyo_codes()
    raw = [synthetic_family(rng, codes) for _ in range(args.families)]
    families = [FamilyInput.model_validate(f) for f in raw]
    print(
        f"eligibility benchmark: {len(families):,} synthetic Tokyo families, "
        f"{len(demo_programs())} demo programs, date {ON}",
        flush=True,
    )
    seconds, evaluations, matches = per_family_path(families)
    print(
        f"per-family path: {seconds:.2f} s, {evaluations:,} program evaluations, "
        f"{matches:,} eligible"
    )
    print(f"  families/s:     {len(families) / seconds:,.0f}")
    print(f"  evaluations/s:  {evaluations / seconds:,.0f}   (baseline for the population path)")
    median, p95 = asyncio.run(http_median(args.requests, raw))
    print(
        f"POST /api/v1/eligibility over HTTP ({args.requests} sequential requests): "
        f"median {median:.2f} ms, p95 {p95:.2f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
