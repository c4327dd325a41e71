"""`/metrics` tells an operator what the notifier is doing, read from the database and Redis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from hagukumi.app import REDIS, create_app
from hagukumi.settings import Settings
from notifier import jobs
from notifier.jobs import JobContext
from notifier.lease import Lease
from notifier.models import Notice, SendRequest
from notifier.ops import record_heartbeat
from notifier.queue import DeliveryQueue
from registry.db import transaction
from registry.models import Family
from tests.conftest import TODAY

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def _ledger(sessions: Any) -> int:
    """Notices in every state, and one send request waiting for 10 minutes; its id."""
    async with transaction(sessions) as session:
        family = Family(state="active", municipality="131130", consented_at=NOW)
        session.add(family)
        await session.flush()
        request = SendRequest(
            channel="line",
            retry_key="k-1",
            status="pending",
            created_at=NOW - timedelta(minutes=10),
        )
        session.add(request)
        await session.flush()
        rows = [
            ("pending", "line", None, None),
            ("scheduled", "line", None, request.id),
            ("sent", "line", None, None),
            ("sent", "app", None, None),
            ("sent", "line", "shown in chat", None),
            ("failed", "line", "400 The request body has 1 error(s) at messages[0]", None),
            ("suppressed", "line", "quota", None),
            ("suppressed", "line", "quota", None),
            ("suppressed", "app", "preference", None),
        ]
        for i, (status, channel, reason, send_id) in enumerate(rows):
            session.add(
                Notice(
                    family_id=family.id,
                    subject=f"program:{i + 1}",
                    kind="eligible",
                    cycle="2026",
                    issuer="131130",
                    status=status,
                    channel=channel,
                    reason=reason,
                    send_id=send_id,
                )
            )
        assert request.id is not None
        return request.id


async def test_metrics_count_notices_backlog_leader_and_quota(
    settings: Settings, sessions: Any, aiohttp_client: Any
) -> None:
    client = await aiohttp_client(create_app(settings, today=lambda: TODAY, clock=lambda: NOW))
    redis = client.server.app[REDIS]
    send_id = await _ledger(sessions)
    queue = DeliveryQueue(redis)
    await queue.ensure_group()
    await queue.enqueue([send_id])
    assert await Lease(redis, holder="sched-host-42").acquire()
    ctx = JobContext(
        sessions=sessions, queue=queue, zone=UTC, remaining_quota=lambda: (1234, 5000)
    )
    await jobs.quota_check(ctx, NOW - timedelta(minutes=1))
    await record_heartbeat(redis, "worker", "worker-host-7", NOW - timedelta(seconds=30))

    response = await client.get("/metrics")
    assert response.status == 200
    got = _samples(await response.text())

    def notices(state: str, channel: str, reason: str = "") -> float | None:
        key = (("channel", channel), ("reason", reason), ("state", state))
        return got.get(("hagukumi_notices", key))

    assert notices("planned", "line") == 2  # pending and scheduled
    assert notices("sent", "line") == 1
    assert notices("sent", "app") == 1
    assert notices("sent", "line", "shown_in_chat") == 1
    # A failure's free text becomes a bounded label: its HTTP status.
    assert notices("failed", "line", "http_400") == 1
    assert notices("suppressed", "line", "quota") == 2
    assert notices("suppressed", "app", "preference") == 1
    assert got[("hagukumi_delivery_backlog", (("where", "queued"),))] == 1
    assert got[("hagukumi_delivery_backlog", (("where", "retrying"),))] == 0
    assert got[("hagukumi_delivery_pending_requests", ())] == 1
    assert got[("hagukumi_delivery_oldest_pending_seconds", ())] == 600
    assert got[("hagukumi_scheduler_leader", (("holder", "sched-host-42"),))] == 1
    assert got[("hagukumi_scheduler_leader_present", ())] == 1
    assert 0 < got[("hagukumi_scheduler_lease_seconds_left", ())] <= 30
    assert got[("hagukumi_line_quota_remaining", ())] == 1234
    assert got[("hagukumi_line_quota_limit", ())] == 5000
    assert (
        got[("hagukumi_line_quota_checked_timestamp_seconds", ())]
        == (NOW - timedelta(minutes=1)).timestamp()
    )
    assert got[("hagukumi_metrics_source_up", (("source", "database"),))] == 1
    heartbeat = (("process", "worker-host-7"), ("role", "worker"))
    assert got[("hagukumi_heartbeat_age_seconds", heartbeat)] == 30


async def test_metrics_of_an_idle_service_say_nothing_waits_and_nobody_leads(
    settings: Settings, aiohttp_client: Any
) -> None:
    client = await aiohttp_client(create_app(settings, today=lambda: TODAY, clock=lambda: NOW))
    got = _samples(await (await client.get("/metrics")).text())
    assert got[("hagukumi_delivery_oldest_pending_seconds", ())] == 0
    assert got[("hagukumi_delivery_pending_requests", ())] == 0
    assert got[("hagukumi_scheduler_leader_present", ())] == 0
    assert not any(name == "hagukumi_scheduler_leader" for name, _ in got)
    # Never read yet: no quota number rather than a made-up one.
    assert ("hagukumi_line_quota_remaining", ()) not in got


async def test_an_unlimited_line_quota_is_infinite(
    settings: Settings, aiohttp_client: Any
) -> None:
    client = await aiohttp_client(create_app(settings, today=lambda: TODAY, clock=lambda: NOW))
    queue = DeliveryQueue(client.server.app[REDIS])
    ctx = JobContext(sessions=None, queue=queue, zone=UTC, remaining_quota=lambda: None)  # type: ignore[arg-type]
    await jobs.quota_check(ctx, NOW)
    got = _samples(await (await client.get("/metrics")).text())
    assert got[("hagukumi_line_quota_remaining", ())] == float("inf")
