"""Benchmark: what the costliest accepted rules cost, and whether checking rules holds the server.

1. Rules shaped to come as close to `rules.cost.MAX_WORK` as the checks allow (nested
   comprehensions, per-child comprehensions, long conjunctions, regexes) are evaluated for a
   family of 20 children, as `POST /api/v1/eligibility` does; prints each one's median time and
   the worst. Goal: the worst under 50 ms (the longest a request may hold the event loop).
2. `hagukumi serve` as a process, flooded with `POST /api/v1/programs/validate` of the heaviest
   accepted rule with 50 examples of 20 children; prints the median and p99 `/healthz` latency
   before and during the flood, and the validate outcomes (200, 422 too costly, 503 busy).
   Goal: the median `/healthz` during the flood stays within a few ms of the one before.
Usage: `python benchmarks/rule_cost.py [--seconds 10] [--clients 8]`.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.processes import free_port, wait_until_up  # noqa: E402
from rules.cost import MAX_WORK  # noqa: E402
from rules.evaluate import CompiledProgram, evaluate_family  # noqa: E402
from rules.language import RuleError, compile_rule  # noqa: E402
from rules.profile import FamilyInput, derive  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HAGUKUMI = [sys.executable, "-m", "hagukumi.cli"]
ON = date(2026, 11, 26)
_PAIR = "b.age >= a.age - 99"
_CHILD = "c.age >= child.age - 99 and c.daycare == child.daycare"
CANDIDATES: list[tuple[str, bool]] = [
    # two comprehensions deep over 20 children, filters that never short-circuit
    (f"[a for a in children if [b for b in children if {_PAIR}].length > 99].length > 0", False),
    (
        "[a for a in children if [b for b in children if b.age >= 0 and b.age_months >= 0]"
        ".length > 99].length > 0",
        False,
    ),
    # per child: a comprehension over the siblings, once per child
    (f"[c for c in children if {_CHILD}].length > 99", True),
    ("[c for c in children if c.age >= 0].length > 99", True),
    # long flat rules
    (" and ".join(["child.age >= 0"] * 70), True),
    (" and ".join(["(household_income ?? 0) >= 0"] * 110), False),
    (" and ".join(["municipality =~ '^13[0-9]+$'"] * 120), False),
]


def family_of_20() -> dict[str, object]:
    """A household of 20 children (the most a profile may hold) of every age."""
    children = [{"birth_date": date(2008 + i % 18, 1 + i % 12, 1)} for i in range(20)]
    family = FamilyInput(municipality="131130", household_income=1, children=children)
    return derive(family, ON)


def evaluation_costs(repeat: int = 15) -> tuple[str, float]:
    """Print each accepted candidate's median evaluation time; return the worst."""
    context = family_of_20()
    worst = ("", 0.0)
    print(f"accepted rules near MAX_WORK={MAX_WORK}, one family of 20 children (median):")
    for expression, per_child in CANDIDATES:
        try:
            rule = compile_rule(expression, per_child=per_child)
        except RuleError as exc:
            print(f"  refused  {expression[:70]}: {exc.message[-60:]}")
            continue
        program = CompiledProgram(id="bench", rule=rule, per_child=per_child)
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            evaluate_family(context, [program])
            times.append(time.perf_counter() - started)
        median = statistics.median(times)
        kind = "per-child" if per_child else "household"
        print(f"  {median * 1000:7.2f} ms  work {rule.work:5d}  {kind:9s}  {expression[:60]}")
        if median > worst[1]:
            worst = (expression, median)
    print(f"worst accepted rule: {worst[1] * 1000:.2f} ms per family (goal < 50 ms)")
    return worst


def program_body(expression: str) -> dict[str, object]:
    """A program with the expression and 50 examples of 20 children each."""
    births = [f"{2008 + i % 18}-{1 + i % 12:02d}-01" for i in range(20)]
    example = {
        "family": {"municipality": "131130", "children": [{"birth_date": b} for b in births]},
        "date": ON.isoformat(),
        "eligible": False,
    }
    return {
        "issuer": "131130",
        "name": {"ja": "負荷試験", "en": "Load test"},
        "summary": {"ja": "負荷試験", "en": "Load test"},
        "eligibility": expression,
        "per_child": False,
        "examples": [example] * 50,
    }


async def healthz_latencies(http: aiohttp.ClientSession, base: str, seconds: float) -> list[float]:
    """/healthz answer times, one request every 50 ms."""
    latencies = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        async with http.get(f"{base}/healthz") as response:
            await response.read()
        latencies.append(time.perf_counter() - started)
        await asyncio.sleep(0.05)
    return latencies


async def flood(
    http: aiohttp.ClientSession, base: str, key: str, body: dict[str, object], until: float
) -> collections.Counter[int]:
    """POST validate back to back until the deadline; count the statuses."""
    statuses: collections.Counter[int] = collections.Counter()
    headers = {"Authorization": f"Bearer {key}"}
    while time.monotonic() < until:
        async with http.post(f"{base}/api/v1/programs/validate", json=body, headers=headers) as r:
            await r.read()
            statuses[r.status] += 1
        if statuses[503] and r.status == 503:
            await asyncio.sleep(0.1)
    return statuses


def _summary(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * len(ordered)))]
    return f"median {statistics.median(ordered) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"


async def server_under_flood(expression: str, seconds: float, clients: int) -> None:
    """Start the server, measure /healthz alone and during a validate flood."""
    folder = tempfile.mkdtemp(prefix="hagukumi-bench-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "HAGUKUMI_DATABASE_URL": f"sqlite:///{folder}/bench.sqlite3",
        "HAGUKUMI_REDIS_URL": "memory://",
        "HAGUKUMI_PUBLIC_URL": base,
        "HAGUKUMI_LOG_LEVEL": "WARNING",
        "HAGUKUMI_API_RATE_LIMIT": "10000/10000",
    }
    run = {"env": env, "cwd": ROOT, "check": True, "capture_output": True, "text": True}
    subprocess.run([*HAGUKUMI, "migrate"], **run)  # type: ignore[call-overload]
    created = subprocess.run(  # type: ignore[call-overload]
        [*HAGUKUMI, "keys", "create", "--issuer", "131130"], **run
    )
    key = created.stdout.strip().splitlines()[-1]
    logs = open(Path(folder) / "server.log", "w")  # noqa: SIM115
    server = subprocess.Popen(
        [*HAGUKUMI, "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=logs,
        stderr=subprocess.STDOUT,
    )
    try:
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            await wait_until_up(http, f"{base}/healthz")
            quiet = await healthz_latencies(http, base, 3)
            body = program_body(expression)
            until = time.monotonic() + seconds
            floods = [flood(http, base, key, body, until) for _ in range(clients)]
            busy, *counts = await asyncio.gather(healthz_latencies(http, base, seconds), *floods)
        statuses: collections.Counter[int] = collections.Counter()
        for count in counts:
            statuses.update(count)
        print(f"/healthz alone:                          {_summary(quiet)}")
        print(f"/healthz during {clients} validate floods: {_summary(busy)}")
        print("validate answers: " + ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items())))
    finally:
        server.terminate()
        server.wait(10)
        logs.close()


def main() -> int:
    """Run both parts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    worst, _ = evaluation_costs()
    asyncio.run(server_under_flood(worst, args.seconds, args.clients))
    return 0


if __name__ == "__main__":
    sys.exit(main())
