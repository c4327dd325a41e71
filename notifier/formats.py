"""How dates read in LINE texts, in one style for the bot and for pushes.

Japanese: 2027年3月31日, English: 31 Mar 2027. A child is named by birth month only
(2025年6月 / Jun 2025), never by the full birth date.
"""

from __future__ import annotations

from datetime import date

MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_date(day: date, lang: str | None) -> str:
    """2027年3月31日 / 31 Mar 2027."""
    if lang == "en":
        return f"{day.day} {MONTHS_EN[day.month - 1]} {day.year}"
    return f"{day.year}年{day.month}月{day.day}日"


def format_month(day: date, lang: str | None) -> str:
    """2025年6月 / Jun 2025."""
    if lang == "en":
        return f"{MONTHS_EN[day.month - 1]} {day.year}"
    return f"{day.year}年{day.month}月"
