"""Rich menus as LINE keeps them: objects, their one image, the default and per-user links."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

MAX_IMAGE_BYTES = 1024 * 1024  # LINE: "Max file size: 1 MB"
IMAGE_TYPES = {"image/png", "image/jpeg"}
_JPEG_FRAMES = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG or JPEG, read from its header; None if it is neither."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if not data.startswith(b"\xff\xd8"):
        return None
    offset = 2
    while offset + 9 <= len(data):
        if data[offset] != 0xFF:
            return None
        marker = data[offset + 1]
        if marker == 0xFF:  # fill byte before a marker
            offset += 1
            continue
        if marker in _JPEG_FRAMES:
            height, width = struct.unpack(">HH", data[offset + 5 : offset + 9])
            return width, height
        if marker in {0x01, *range(0xD0, 0xD8)}:  # markers without a length
            offset += 2
            continue
        (length,) = struct.unpack(">H", data[offset + 2 : offset + 4])
        offset += 2 + length
    return None


@dataclass
class RichMenu:
    """One rich menu object and its image."""

    rich_menu_id: str
    body: dict[str, Any]
    image: bytes | None = None
    content_type: str | None = None

    def as_response(self) -> dict[str, Any]:
        """The RichMenuResponse shape."""
        return {"richMenuId": self.rich_menu_id, **self.body}


@dataclass
class RichMenuStore:
    """Every rich menu of the channel, the default one and the per-user links."""

    menus: dict[str, RichMenu] = field(default_factory=dict)
    default_id: str | None = None
    links: dict[str, str] = field(default_factory=dict)

    def delete(self, rich_menu_id: str) -> None:
        """Remove a menu and everything that pointed at it."""
        self.menus.pop(rich_menu_id, None)
        if self.default_id == rich_menu_id:
            self.default_id = None
        for user_id in [u for u, linked in self.links.items() if linked == rich_menu_id]:
            del self.links[user_id]

    def menu_for(self, user_id: str) -> str | None:
        """The menu a user sees: their own link, else the default."""
        return self.links.get(user_id, self.default_id)
