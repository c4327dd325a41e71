"""The console's program pages: list, search, the form with its live rule check, the "who
would be told" preview, publish, archive, and versions side by side."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()
