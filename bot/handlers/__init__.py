"""The bot's conversation handlers, one module per topic, assembled in order by `dispatcher()`.

Order matters (first match wins within each route kind): `follow` first, since before consent
it answers everything with the privacy notice; `help` last, with the keyword intents, the
fallback and the catch-all for unknown postbacks.
"""

from __future__ import annotations

from bot.dispatch import Dispatcher
from bot.handlers.common import SafeDispatcher


def dispatcher() -> Dispatcher:
    """Every topic's router, in the order they are tried."""
    # Imported here, not above: the topics import shared modules (`bot.municipalities`) that
    # import `bot.handlers.common`, which runs this package's __init__ first.
    from bot.handlers import (
        applications,
        daycare,
        delete,
        family,
        follow,
        help,
        onboarding,
        programs,
        review,
        settings,
    )

    return SafeDispatcher(
        [
            follow.router,
            onboarding.router,
            programs.router,
            daycare.router,
            applications.router,
            settings.router,
            family.router,
            review.router,
            delete.router,
            help.router,
        ]
    )


__all__ = ["dispatcher"]
