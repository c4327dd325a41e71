"""Helpers shared by the benchmarks that run the service and the emulator as processes."""

from __future__ import annotations

import asyncio
import socket
import time

import aiohttp


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_until_up(http: aiohttp.ClientSession, url: str, seconds: float = 60) -> None:
    """Poll until the URL answers."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            async with http.get(url) as response:
                if response.status < 500:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")
