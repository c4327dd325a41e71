"""The public quality dashboard (`/quality`): parents' ratings per service, the item-specific
questions, trends, "you said, we did", and the same figures as open data (CC BY 4.0); and the
console page where staff write "you said, we did"."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()
