"""The bot's public `/api/v1` route: the summary of parents' ratings."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel

from bot import reviews
from registry.http import SESSIONS, RouteTable, json_model

routes = RouteTable()


class ServiceRating(BaseModel):
    """Average rating and count of one service."""

    service: str
    average: float
    count: int


class ReviewSummary(BaseModel):
    """Ratings per service; no personal data."""

    services: list[ServiceRating]


@routes.add(
    "GET",
    "/api/v1/reviews/summary",
    summary="Average rating and count per service (no personal data)",
    tag="reviews",
    responses={200: ReviewSummary},
)
async def review_summary(request: web.Request) -> web.Response:
    """Public summary of the ratings parents gave."""
    async with request.app[SESSIONS]() as session:
        rows = await reviews.review_summary(session)
    return json_model(
        ReviewSummary(
            services=[
                ServiceRating(service=s, average=round(avg, 2), count=n) for s, avg, n in rows
            ]
        )
    )
