"""Rich menus through line-bot-sdk v3: create, upload (blob API), default, link, list, delete."""

from __future__ import annotations

import struct
import zlib
from typing import Any

import pytest
from linebot.v3.messaging import (
    PostbackAction,
    RichMenuArea,
    RichMenuBounds,
    RichMenuRequest,
    RichMenuSize,
)
from linebot.v3.messaging.exceptions import ApiException

from tests.integrations.line_emulator.conftest import Line, user_id


def png(width: int, height: int) -> bytes:
    """A valid, tiny PNG header and one IDAT chunk: enough for LINE's size check."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00"))
        + chunk(b"IEND", b"")
    )


def jpeg(width: int, height: int) -> bytes:
    """A JPEG's markers up to its frame header (what the size check reads)."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


def menu_request(width: int = 2500, height: int = 843) -> RichMenuRequest:
    return RichMenuRequest(
        size=RichMenuSize(width=width, height=height),
        selected=True,
        name="はぐくみメニュー",
        chat_bar_text="メニュー",
        areas=[
            RichMenuArea(
                bounds=RichMenuBounds(x=0, y=0, width=1250, height=843),
                action=PostbackAction(label="保育園", data="menu=daycare", display_text="保育園"),
            ),
            RichMenuArea(
                bounds=RichMenuBounds(x=1250, y=0, width=1250, height=843),
                action=PostbackAction(label="設定", data="menu=settings"),
            ),
        ],
    )


async def test_rich_menu_lifecycle(line: Line) -> None:
    parent = user_id(1)
    async with line.api() as api, line.blob() as blob:
        created = await api.create_rich_menu(menu_request())
        menu_id = created.rich_menu_id
        assert menu_id.startswith("richmenu-")
        with pytest.raises(ApiException) as no_image:
            await api.set_default_rich_menu(menu_id)
        assert no_image.value.status == 400

        image = png(2500, 843)
        await blob.set_rich_menu_image(menu_id, image, _headers={"Content-Type": "image/png"})
        assert bytes(await blob.get_rich_menu_image(menu_id)) == image

        await api.set_default_rich_menu(menu_id)
        assert (await api.get_default_rich_menu_id()).rich_menu_id == menu_id

        await api.link_rich_menu_id_to_user(parent, menu_id)
        assert (await api.get_rich_menu_id_of_user(parent)).rich_menu_id == menu_id

        listed = await api.get_rich_menu_list()
        assert [m.rich_menu_id for m in listed.richmenus] == [menu_id]
        fetched = await api.get_rich_menu(menu_id)
        assert fetched.chat_bar_text == "メニュー" and len(fetched.areas) == 2

        await api.unlink_rich_menu_id_from_user(parent)
        with pytest.raises(ApiException) as unlinked:
            await api.get_rich_menu_id_of_user(parent)
        assert unlinked.value.status == 404

        await api.delete_rich_menu(menu_id)
        assert (await api.get_rich_menu_list()).richmenus == []
        with pytest.raises(ApiException) as no_default:
            await api.get_default_rich_menu_id()
        assert no_default.value.status == 404


async def test_cancel_default_and_validate(line: Line) -> None:
    async with line.api() as api, line.blob() as blob:
        await api.validate_rich_menu_object(menu_request())
        menu_id = (await api.create_rich_menu(menu_request())).rich_menu_id
        await blob.set_rich_menu_image(
            menu_id, jpeg(2500, 843), _headers={"Content-Type": "image/jpeg"}
        )
        await api.set_default_rich_menu(menu_id)
        await api.cancel_default_rich_menu()
        with pytest.raises(ApiException):
            await api.get_default_rich_menu_id()


@pytest.mark.parametrize(
    ("image", "content_type", "status"),
    [
        (png(2500, 1686), "image/png", 400),  # not the menu's size
        (png(2500, 843), "image/gif", 415),
        (b"not an image", "image/png", 400),
        (png(2500, 843) + b"\x00" * (1024 * 1024), "image/png", 413),
    ],
    ids=["wrong-size", "wrong-type", "unreadable", "over-1mb"],
)
async def test_bad_images_are_refused(
    line: Line, image: bytes, content_type: str, status: int
) -> None:
    async with line.api() as api, line.blob() as blob:
        menu_id = (await api.create_rich_menu(menu_request())).rich_menu_id
        with pytest.raises(ApiException) as refused:
            await blob.set_rich_menu_image(menu_id, image, _headers={"Content-Type": content_type})
    assert refused.value.status == status


async def test_second_upload_is_refused(line: Line) -> None:
    async with line.api() as api, line.blob() as blob:
        menu_id = (await api.create_rich_menu(menu_request())).rich_menu_id
        headers = {"Content-Type": "image/png"}
        await blob.set_rich_menu_image(menu_id, png(2500, 843), _headers=headers)
        with pytest.raises(ApiException) as again:
            await blob.set_rich_menu_image(menu_id, png(2500, 843), _headers=headers)
    assert again.value.status == 400


@pytest.mark.parametrize(
    ("change", "prop"),
    [
        ({"size": {"width": 2500, "height": 2500}}, "size.height"),
        ({"chatBarText": "あ" * 15}, "chatBarText"),
        ({"name": None}, "name"),
        (
            {
                "areas": [
                    {
                        "bounds": {"x": 2000, "y": 0, "width": 1000, "height": 843},
                        "action": {"type": "postback", "data": "x"},
                    }
                ]
            },
            "areas[0].bounds",
        ),
    ],
    ids=["aspect-ratio", "chat-bar-text", "missing-name", "area-outside"],
)
async def test_rich_menu_objects_line_refuses(line: Line, change: Any, prop: str) -> None:
    body = {**menu_request().to_dict(), **change}
    body = {k: v for k, v in body.items() if v is not None}
    status, answer, _ = await line.post("/v2/bot/richmenu", body)
    assert status == 400, answer
    assert prop in [d["property"] for d in answer["details"]]


async def test_unknown_menu_is_404(line: Line) -> None:
    async with line.api() as api:
        with pytest.raises(ApiException) as missing:
            await api.link_rich_menu_id_to_user(user_id(1), "richmenu-" + "0" * 32)
    assert missing.value.status == 404
