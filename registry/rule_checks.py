"""Rules and examples sent by callers are checked off the event loop: in worker processes, each
check under a hard time limit, so that one costly rule can neither freeze the server nor hold a
worker for long (a worker that runs out of time is killed and replaced)."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from collections.abc import Callable
from typing import Any, TypeVar

from pebble import ProcessPool

from registry.schemas import ProgramIn, ValidationReport
from registry.validation import validate_program
from rules.language import RuleTooCostly, compile_rule

log = logging.getLogger(__name__)
T = TypeVar("T")
WAITING_PER_WORKER = 4
"""Checks that may wait per worker before more are answered 503 (busy)."""
WORKER_NICENESS = 10


class RuleChecksBusy(Exception):
    """Every worker is busy and the waiting line is full: try again shortly."""


class RuleCheckTimeout(Exception):
    """A check ran out of its time limit (the worker running it was killed)."""


class RuleChecker:
    """A pool of worker processes that validate programs with a hard time limit."""

    def __init__(self, workers: int, time_limit: float) -> None:
        self.workers = max(1, workers)
        self.time_limit = time_limit
        self.capacity = self.workers * (1 + WAITING_PER_WORKER)
        self._pool: ProcessPool | None = None
        self._starting = asyncio.Lock()
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        """Checks running or waiting now."""
        return self._in_flight

    def _start(self) -> ProcessPool:
        # forkserver: workers fork from a clean process that imported the rules once, never
        # from this one with its threads and event loop.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["registry.validation"])
        pool = ProcessPool(
            max_workers=self.workers, context=context, initializer=_yield_to_the_server
        )
        # pebble starts its workers on the first schedule, in the caller's thread, waiting for
        # the fork server to import the rules: do it here, never on the event loop.
        pool.schedule(os.getpid)
        return pool

    async def _started(self) -> ProcessPool:
        async with self._starting:
            if self._pool is None:
                self._pool = await asyncio.to_thread(self._start)
        return self._pool

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)` in a worker; RuleChecksBusy or RuleCheckTimeout when it cannot."""
        if self._in_flight >= self.capacity:
            raise RuleChecksBusy
        self._in_flight += 1
        try:
            pool = await self._started()
            future = pool.schedule(function, args=args, timeout=self.time_limit)
            try:
                return await asyncio.wrap_future(future)
            except TimeoutError:
                raise RuleCheckTimeout from None
        finally:
            self._in_flight -= 1

    async def check(self, program: ProgramIn) -> ValidationReport:
        """Compile the program's rule and run its examples in a worker (`validate_program`).

        Raises RuleTooCostly naming the clause when the rule is refused or runs out of time.
        """
        try:
            answer = await self.run(_check_json, program.model_dump_json())
            return ValidationReport.model_validate_json(answer)
        except RuleCheckTimeout:
            log.warning("a rule check ran out of time", extra={"limit_s": self.time_limit})
            raise RuleTooCostly(
                _costliest_clause(program),
                f"checking it with its {len(program.examples)} examples took longer than "
                f"{self.time_limit:g} s",
                "simplify the rule or give fewer examples",
            ) from None

    async def close(self) -> None:
        """Stop the workers (a running check is abandoned)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(_stop, pool)


def _check_json(program_json: str) -> str:
    # JSON both ways: pickling pydantic models costs the server far more time (and GIL).
    report = validate_program(ProgramIn.model_validate_json(program_json))
    return report.model_dump_json()


def _stop(pool: ProcessPool) -> None:
    pool.stop()
    pool.join(5)


def _yield_to_the_server() -> None:
    # A flood of checks must not starve the web process of CPU: workers run at low priority.
    os.nice(WORKER_NICENESS)


def _costliest_clause(program: ProgramIn) -> str:
    try:
        return compile_rule(program.eligibility, per_child=program.per_child).costliest_clause
    except Exception:  # the rule compiled in the worker; this is only for naming the clause
        return program.eligibility.strip()
