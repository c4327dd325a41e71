"""`import-families` holds app callbacks to the same rule as the API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlmodel import select

from integrations.importers.families import import_families
from registry.models import AppSubscription
from registry.urls import UrlPolicy
from tests.conftest import TODAY

LINE = {"municipality": "131130", "consented_at": "2026-04-01T09:00:00+09:00"}


async def test_private_callbacks_only_for_allowed_hosts(sessions: Any, tmp_path: Path) -> None:
    path = tmp_path / "families.jsonl"
    urls = ["http://127.0.0.1:9000/cb", "https://10.0.0.5/cb", "https://app.example/cb"]
    path.write_text(
        "".join(
            json.dumps({**LINE, "app": {"issuer": "131130", "callback_url": u}}) + "\n"
            for u in urls
        )
    )
    strict = await import_families(path, sessions, progress=None, today=TODAY)
    assert strict.errors == 2
    allowed = await import_families(
        path, sessions, progress=None, today=TODAY, url_policy=UrlPolicy.parse("127.0.0.1")
    )
    assert allowed.errors == 1  # the private address was not allowed
    async with sessions() as session:
        stored = (await session.exec(select(AppSubscription.callback_url))).all()
    assert set(stored) == {"http://127.0.0.1:9000/cb", "https://app.example/cb"}
