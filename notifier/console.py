"""The console's delivery pages (this municipality's notices as charts, the LINE budget) and
the operator's view (`/console/ops`)."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()
