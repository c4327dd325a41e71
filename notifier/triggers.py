"""Event triggers: the sweep's own path, narrowed to one program or one family.

Both are idempotent (the ledger's unique key) and open their own sessions, one transaction per
batch: call them after the transaction that published the program or changed the family has
committed (on SQLite the engine has a single connection, so calling them inside it would wait
for itself).
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from notifier.sweep import Sessions, run
from registry.eligibility import Catalog


async def on_program_published(
    sessions: Sessions,
    program_id: int,
    *,
    now: datetime,
    zone: tzinfo,
    catalog: Catalog | None = None,
) -> int:
    """A program was published or changed: tell the families of its scope that now match it;
    how many notices are new. Nothing happens for a program that is not published and in force.

    A change keeps the cycle (the fiscal year), so families already told this year are not told
    again; families that match only since the change are.
    """
    report = await run(sessions, now=now, zone=zone, program_ids={program_id}, catalog=catalog)
    return report.new


async def on_family_changed(
    sessions: Sessions,
    family_id: int,
    *,
    now: datetime,
    zone: tzinfo,
    catalog: Catalog | None = None,
) -> int:
    """A family registered or changed its profile: match it against every program of its scope;
    how many notices are new. Nothing happens for a family without consent, blocked or deleted.
    """
    report = await run(sessions, now=now, zone=zone, family_id=family_id, catalog=catalog)
    return report.new
