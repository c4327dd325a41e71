"""Draw `bot/assets/richmenu.png`: the bot's rich menu, 2500×1686, two rows of three.

A developer tool, not imported at runtime: run `.venv/bin/python bot/assets/draw_richmenu.py`
after changing the menu, then bump `bot.richmenu.MENU_NAME` so every server uploads the new
image (LINE never replaces the image of an existing rich menu). Needs Pillow and the Noto CJK
font (Debian: fonts-noto-cjk); the cell order must match `bot.richmenu.AREAS`.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 2500, 1686
COLUMNS, ROWS = 3, 2
OUT = Path(__file__).resolve().parent / "richmenu.png"
FONT_BOLD = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc")
FONT_REGULAR = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
JP_INDEX = 0  # in the .ttc collections, face 0 is "Noto Sans CJK JP"

INK = (74, 63, 53)
SUBTLE = (120, 108, 96)
LINE = (255, 255, 255)
# (Japanese label, English label, background, accent, icon) in the order of bot.richmenu.AREAS
CELLS = [
    ("受けられる支援", "My support", (255, 236, 214), (240, 140, 60), "coin"),
    ("保育園をさがす", "Daycare", (226, 242, 221), (92, 170, 90), "house"),
    ("通知設定", "Settings", (222, 236, 250), (80, 140, 210), "bell"),
    ("家族の情報", "Family", (252, 228, 236), (226, 110, 150), "family"),
    ("評価する", "Rate us", (255, 246, 210), (230, 180, 40), "star"),
    ("ヘルプ", "Help", (234, 230, 246), (130, 110, 200), "help"),
]


def font(path: Path, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The Noto CJK face, or Pillow's default font when it is not installed (said on stderr)."""
    if path.exists():
        return ImageFont.truetype(str(path), size, index=JP_INDEX)
    print(f"warning: {path} missing; Japanese labels will not render", file=sys.stderr)
    return ImageFont.load_default(size)


def icon(
    draw: ImageDraw.ImageDraw, kind: str, cx: int, cy: int, r: int, color: tuple[int, ...]
) -> None:
    """A simple flat icon centred on (cx, cy) with radius r."""
    white = (255, 255, 255)
    if kind == "coin":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=color)
        draw.ellipse((cx - r + 22, cy - r + 22, cx + r - 22, cy + r - 22), outline=white, width=10)
        yen = font(FONT_BOLD, int(r * 1.1))
        draw.text((cx, cy), "¥", font=yen, fill=white, anchor="mm")
    elif kind == "house":
        draw.polygon([(cx - r, cy - 5), (cx, cy - r), (cx + r, cy - 5)], fill=color)
        draw.rectangle((cx - r + 35, cy - 10, cx + r - 35, cy + r - 10), fill=color)
        draw.rectangle((cx - 28, cy + 25, cx + 28, cy + r - 10), fill=white)
        # a magnifier at the lower right: "search"
        mx, my, mr = cx + r - 10, cy + r - 40, 48
        draw.ellipse((mx - mr, my - mr, mx + mr, my + mr), fill=white, outline=INK, width=14)
        draw.line((mx + 30, my + 30, mx + 80, my + 80), fill=INK, width=22)
    elif kind == "bell":
        draw.pieslice((cx - r + 20, cy - r, cx + r - 20, cy + r - 30), 180, 360, fill=color)
        draw.rectangle((cx - r + 20, cy - 16, cx + r - 20, cy + r - 60), fill=color)
        draw.rounded_rectangle((cx - r, cy + r - 75, cx + r, cy + r - 35), 18, fill=color)
        draw.ellipse((cx - 28, cy + r - 45, cx + 28, cy + r + 10), fill=color)
        draw.ellipse((cx - 18, cy - r - 22, cx + 18, cy - r + 14), fill=color)
    elif kind == "family":
        for dx, size in ((-int(r * 0.62), 1.0), (int(r * 0.62), 1.0), (0, 0.7)):
            head = int(r * 0.3 * size)
            hx, hy = cx + dx, cy - int(r * 0.35) + int((1 - size) * r * 0.9)
            draw.ellipse((hx - head, hy - head, hx + head, hy + head), fill=color)
            body_w, body_h = int(r * 0.42 * size), int(r * 0.75 * size)
            top = hy + head + 8
            draw.pieslice((hx - body_w, top, hx + body_w, top + body_h * 2), 180, 360, fill=color)
    elif kind == "star":
        points = []
        for i in range(10):
            angle = -math.pi / 2 + i * math.pi / 5
            radius = r if i % 2 == 0 else r * 0.45
            points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
        draw.polygon(points, fill=color)
    elif kind == "help":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=color)
        mark = font(FONT_BOLD, int(r * 1.4))
        draw.text((cx, cy + 8), "?", font=mark, fill=white, anchor="mm")


def fitted(
    draw: ImageDraw.ImageDraw, label: str, width: int
) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The largest bold face (up to 112 px) in which the label fits the width."""
    for size in range(112, 40, -4):
        face = font(FONT_BOLD, size)
        if draw.textlength(label, font=face) <= width:
            return face
    return font(FONT_BOLD, 40)


def main() -> None:
    """Draw the six cells with their icons and labels, and save a small PNG."""
    image = Image.new("RGB", (WIDTH, HEIGHT), LINE)
    draw = ImageDraw.Draw(image)
    cell_w, cell_h = WIDTH // COLUMNS, HEIGHT // ROWS
    subtitle = font(FONT_REGULAR, 70)
    for index, (ja, en, background, accent, kind) in enumerate(CELLS):
        col, row = index % COLUMNS, index // COLUMNS
        x0, y0 = col * cell_w, row * cell_h
        x1 = WIDTH if col == COLUMNS - 1 else x0 + cell_w
        y1 = HEIGHT if row == ROWS - 1 else y0 + cell_h
        draw.rounded_rectangle((x0 + 10, y0 + 10, x1 - 10, y1 - 10), 48, fill=background)
        cx = (x0 + x1) // 2
        icon(draw, kind, cx, y0 + 290, 165, accent)
        draw.text((cx, y0 + 590), ja, font=fitted(draw, ja, cell_w - 140), fill=INK, anchor="mm")
        draw.text((cx, y0 + 715), en, font=subtitle, fill=SUBTLE, anchor="mm")
    # A palette keeps the flat drawing small (LINE takes at most 1 MB).
    image.quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(OUT, optimize=True)
    print(f"{OUT} written: {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
