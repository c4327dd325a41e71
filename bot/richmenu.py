"""The bot's rich menu: six postback areas over `assets/richmenu.png`, set as the default.

`ensure_rich_menu` is idempotent: it reuses the menu named `MENU_NAME` when one exists
(uploading its image if an earlier start stopped half-way), else creates it. LINE never
replaces a rich menu's image, so a new drawing needs a new name (bump the version); menus of
older versions are deleted once the new one is the default.
"""

from __future__ import annotations

import logging
from pathlib import Path

from linebot.v3.messaging import (
    PostbackAction,
    RichMenuArea,
    RichMenuBounds,
    RichMenuRequest,
    RichMenuSize,
)
from linebot.v3.messaging.exceptions import ApiException

from bot.dispatch import postback_data
from notifier import postbacks as pb
from notifier.channels.line_api import LineApi

log = logging.getLogger(__name__)

MENU_PREFIX = "hagukumi-main-"
MENU_NAME = MENU_PREFIX + "v1"
IMAGE = Path(__file__).resolve().parent / "assets" / "richmenu.png"
WIDTH, HEIGHT = 2500, 1686
CHAT_BAR_TEXT = "メニュー"  # LINE: at most 14 characters

# (postback action, label read out by screen readers), left to right, top row first; the
# drawing in assets/draw_richmenu.py has the same order.
AREAS = (
    (pb.MENU_PROGRAMS, "受けられる支援"),
    (pb.MENU_DAYCARE, "保育園をさがす"),
    (pb.MENU_SETTINGS, "通知設定"),
    (pb.MENU_FAMILY, "家族の情報"),
    (pb.MENU_RATE, "評価する"),
    (pb.MENU_HELP, "ヘルプ"),
)


def menu_request() -> RichMenuRequest:
    """The rich menu object: 2 rows × 3 columns of postback areas."""
    columns, rows = 3, 2
    cell_w, cell_h = WIDTH // columns, HEIGHT // rows
    areas = []
    for index, (action, label) in enumerate(AREAS):
        col, row = index % columns, index // columns
        x, y = col * cell_w, row * cell_h
        width = WIDTH - x if col == columns - 1 else cell_w
        height = HEIGHT - y if row == rows - 1 else cell_h
        areas.append(
            RichMenuArea(
                bounds=RichMenuBounds(x=x, y=y, width=width, height=height),
                action=PostbackAction(label=label, data=postback_data(action)),
            )
        )
    return RichMenuRequest(
        size=RichMenuSize(width=WIDTH, height=HEIGHT),
        selected=True,
        name=MENU_NAME,
        chat_bar_text=CHAT_BAR_TEXT,
        areas=areas,
    )


async def _has_image(line: LineApi, rich_menu_id: str) -> bool:
    try:
        await line.blob.get_rich_menu_image(rich_menu_id)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


async def _upload(line: LineApi, rich_menu_id: str) -> None:
    await line.blob.set_rich_menu_image(
        rich_menu_id, body=IMAGE.read_bytes(), _headers={"Content-Type": "image/png"}
    )


async def ensure_rich_menu(line: LineApi) -> str:
    """Make sure the current rich menu exists, has its image and is the default; its id."""
    listing = await line.messaging.get_rich_menu_list()
    menus = list(listing.richmenus or [])
    current = next((menu for menu in menus if menu.name == MENU_NAME), None)
    if current is not None:
        rich_menu_id = current.rich_menu_id
        if not await _has_image(line, rich_menu_id):
            await _upload(line, rich_menu_id)
        log.info("rich menu reused", extra={"rich_menu": rich_menu_id})
    else:
        created = await line.messaging.create_rich_menu(menu_request())
        rich_menu_id = created.rich_menu_id
        await _upload(line, rich_menu_id)
        log.info("rich menu created", extra={"rich_menu": rich_menu_id})
    await line.messaging.set_default_rich_menu(rich_menu_id)
    for menu in menus:
        if menu.name.startswith(MENU_PREFIX) and menu.name != MENU_NAME:
            await line.messaging.delete_rich_menu(menu.rich_menu_id)
            log.info("old rich menu deleted", extra={"rich_menu": menu.rich_menu_id})
    return rich_menu_id
