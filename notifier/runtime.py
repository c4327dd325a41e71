"""The notifier's runtime, assembled once for `serve`, `worker`, `scheduler` and `sweep`.

The composition root (`hagukumi/`) builds it from its settings and wires it in; nothing here
reads the environment.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, tzinfo
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from notifier.channels.app import AppChannel
from notifier.channels.line import LineChannel
from notifier.jobs import JobContext, SweepFn
from notifier.queue import DeliveryQueue
from notifier.worker import bind_deliver
from registry.db import transaction
from registry.eligibility import Catalog
from registry.events import Event, FamilyChanged, ProgramChanged
from registry.urls import UrlPolicy

log = logging.getLogger(__name__)


class RuntimeSettings(Protocol):
    """The settings the runtime reads (the composition root's `Settings` has them)."""

    @property
    def zone(self) -> tzinfo: ...
    @property
    def quiet_hours(self) -> Any: ...
    @property
    def digest_at(self) -> Any: ...
    @property
    def url_policy(self) -> UrlPolicy: ...


class Notices:
    """Channels, queue, triggers and job context over one database and Redis."""

    def __init__(
        self,
        settings: RuntimeSettings,
        sessions: async_sessionmaker[AsyncSession],
        redis: Any,
        *,
        line_base_url: str | None,
        line_token: str,
        catalog: Catalog | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_quota_exhausted: Callable[[Any], Any] | None = None,
        remind: SweepFn | None = None,
    ) -> None:
        self.settings = settings
        # A reminder pass of other packages (the daycare tours' reminders), run by the
        # scheduler's reminder job; the notifier itself does not know what it reminds of.
        self.remind = remind
        self.sessions = sessions
        self.redis = redis
        self.catalog = catalog or Catalog()
        self.clock = clock
        self.line = LineChannel(line_base_url, line_token)
        self.app = AppChannel(None, sessions, policy=settings.url_policy)
        self.channels = {"line": self.line, "app": self.app}
        self.queue = DeliveryQueue(redis)
        self.deliver = bind_deliver(
            sessions, self.channels, clock=clock, on_quota_exhausted=on_quota_exhausted
        )

    async def open(self) -> None:
        """Open the channels (inside the running loop) and the stream's consumer group."""
        await self.line.open()
        await self.app.open()
        await self.queue.ensure_group()

    async def close(self) -> None:
        """Close the channels."""
        await self.line.close()
        await self.app.close()

    def job_context(self, on_low_quota: Callable[..., Any] | None = None) -> JobContext:
        """What the scheduler's jobs work with."""
        return JobContext(
            sessions=self.sessions,
            queue=self.queue,
            zone=self.settings.zone,
            quiet_hours=self.settings.quiet_hours,
            digest_at=self.settings.digest_at,
            remaining_quota=self.line.remaining_quota,
            on_low_quota=on_low_quota,
            remind=self.remind,
        )

    async def on_event(self, event: Event) -> None:
        """The subscriber to `registry.events`: run the trigger the event calls for."""
        if isinstance(event, ProgramChanged):
            await self.program_changed(event.program_id)
        elif isinstance(event, FamilyChanged):
            await self.family_changed(event.family_id, event.changed, event.told)

    async def program_changed(self, program_id: int) -> None:
        """Trigger: a program was published or its published version changed."""
        from notifier.triggers import on_program_published

        new = await on_program_published(
            self.sessions,
            program_id,
            now=self.clock(),
            zone=self.settings.zone,
            catalog=self.catalog,
        )
        log.info("program trigger", extra={"program": program_id, "new_notices": new})

    async def family_changed(
        self, family_id: int, changed: bool = True, told: bool = False
    ) -> None:
        """Trigger: a family registered or changed (and perhaps just read its programs)."""
        from notifier.ledger import mark_told_in_chat
        from notifier.triggers import on_family_changed

        now = self.clock()
        new = 0
        if changed:
            new = await on_family_changed(
                self.sessions, family_id, now=now, zone=self.settings.zone, catalog=self.catalog
            )
        told_count = 0
        if told:
            async with transaction(self.sessions) as session:
                told_count = await mark_told_in_chat(session, family_id, now)
        log.info(
            "family trigger",
            extra={"family": family_id, "new_notices": new, "told_in_chat": told_count},
        )

    @asynccontextmanager
    async def background_workers(self, *, holder: str) -> AsyncIterator[None]:
        """A delivery worker and the scheduler inside this process (the embedded shape)."""
        from notifier.scheduler import run_scheduler
        from notifier.worker import Worker

        stop = asyncio.Event()
        worker = Worker(self.queue, self.deliver, consumer=holder)
        tasks = [
            asyncio.create_task(worker.run(stop)),
            asyncio.create_task(
                run_scheduler(self.job_context(), self.redis, holder=holder, stop=stop)
            ),
        ]
        try:
            yield
        finally:
            stop.set()
            await asyncio.wait(tasks, timeout=15)
            for task in tasks:
                if not task.done():
                    task.cancel()
