"""The demo gives a newcomer console users to sign in with (`make serve`)."""

from __future__ import annotations

import stat
from typing import Any

from tests.conftest import TODAY
from tests.web.conftest import csrf_of


async def test_the_demo_writes_console_users_that_can_sign_in(
    client: Any, sessions: Any, tmp_path: Any
) -> None:
    from hagukumi.demo import load_demo

    quiet = {"key_file": tmp_path / "key.txt", "registry_dir": None, "progress": lambda _: None}
    assert await load_demo(sessions, **quiet, today=TODAY)
    users_file = tmp_path / "demo-console-users.txt"
    assert stat.S_IMODE(users_file.stat().st_mode) == 0o600
    lines = [line.split() for line in users_file.read_text().splitlines()[1:]]
    users = {fields[0]: fields[1] for fields in lines}
    assert set(users) == {
        "hachioji@demo.hagukumi.example",
        "minato@demo.hagukumi.example",
        "viewer@demo.hagukumi.example",
        "ops@demo.hagukumi.example",
    }
    # A second start neither adds users nor changes their passwords.
    assert not await load_demo(sessions, **quiet, today=TODAY)
    assert users_file.read_text().count("@") == 4

    page = await client.get("/console/signin")
    answer = await client.post(
        "/console/signin",
        data={
            "email": "hachioji@demo.hagukumi.example",
            "password": users["hachioji@demo.hagukumi.example"],
            "_csrf": csrf_of(await page.text()),
        },
    )
    assert answer.status == 200
    assert "<h1>八王子市</h1>" in await answer.text()
