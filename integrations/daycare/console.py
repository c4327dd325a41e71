"""The console's daycare pages: facilities, vacancies, tour slots and bookings, applications
and allocation rounds, as tables that sort and filter, with CSV upload and export."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()
