"""通知設定: which program categories to hear about, quiet hours, and the channel.

Stored in `family.preferences`: {"categories_off": [...], "quiet_hours": "20:00-08:00",
"channel": "line"}; "none" as quiet hours means notices may come at any time.
"""

from __future__ import annotations

from typing import Any

from bot import messages as m
from bot.dispatch import Router, Turn
from bot.handlers.common import lang_of, save_preferences
from bot.texts import join, t
from notifier import postbacks as pb
from registry import subscriptions
from registry.schemas import NOTICE_TOPICS

router = Router("settings")

CATEGORIES = NOTICE_TOPICS  # twelve toggles and a back button: LINE's 13 quick replies
DEFAULT_QUIET = "20:00-08:00"  # HAGUKUMI_QUIET_HOURS' default
QUIET_PRESETS = ("20:00-08:00", "21:00-07:00", "22:00-07:00", "22:00-06:00", "none")
CHANNELS = ("line", "app")


def preferences(turn: Turn) -> dict[str, Any]:
    """The family's preferences with defaults filled in."""
    stored = turn.family.preferences or {}
    off = stored.get("categories_off")
    return {
        "categories_off": [c for c in off if isinstance(c, str)] if isinstance(off, list) else [],
        "quiet_hours": stored.get("quiet_hours") or DEFAULT_QUIET,
        "channel": stored.get("channel") if stored.get("channel") in CHANNELS else "line",
    }


def _quiet_label(value: str, lang: str) -> str:
    return t("settings.quiet.none", lang) if value == "none" else value


def _menu_actions(lang: str) -> list[Any]:
    return [
        m.postback(t("settings.categories.label", lang), pb.SETTINGS_CATEGORIES),
        m.postback(t("settings.quiet.label", lang), pb.SETTINGS_QUIET),
        m.postback(t("settings.channel.label", lang), pb.SETTINGS_CHANNEL),
    ]


@router.entry("settings")
def show_settings(turn: Turn, lead: str | None = None) -> None:
    """The current settings and what can be changed."""
    lang = lang_of(turn)
    prefs = preferences(turn)
    off = [t(f"category.{c}", lang) for c in prefs["categories_off"] if c in CATEGORIES]
    categories = (
        t("settings.off_list", lang, off=join(off, lang)) if off else t("settings.all_on", lang)
    )
    body = t(
        "settings.show",
        lang,
        categories=categories,
        quiet=_quiet_label(prefs["quiet_hours"], lang),
        channel=t(f"channel.{prefs['channel']}", lang),
    )
    turn.say(m.text(f"{lead}\n\n{body}" if lead else body, _menu_actions(lang)))


@router.postback(pb.MENU_SETTINGS)
async def on_menu_settings(turn: Turn) -> None:
    """Rich menu 通知設定."""
    show_settings(turn)


def _category_toggles(turn: Turn, lead: str) -> None:
    lang = lang_of(turn)
    off = set(preferences(turn)["categories_off"])
    actions: list[Any] = [
        m.postback(
            ("✕ " if c in off else "✓ ") + t(f"category.{c}", lang), pb.SETTINGS_CATEGORY, c=c
        )
        for c in CATEGORIES
    ]
    actions.append(m.postback(t("label.back", lang), pb.MENU_SETTINGS))
    turn.say(m.text(lead, actions))


@router.postback(pb.SETTINGS_CATEGORIES)
async def on_categories(turn: Turn) -> None:
    """Category toggles (✓ on, ✕ off)."""
    _category_toggles(turn, t("settings.categories.ask", lang_of(turn)))


@router.postback(pb.SETTINGS_CATEGORY)
async def on_category_toggle(turn: Turn) -> None:
    """Turn one category on or off."""
    lang = lang_of(turn)
    category = turn.postback.get("c")
    if category not in CATEGORIES:
        show_settings(turn, t("settings.invalid", lang))
        return
    off = preferences(turn)["categories_off"]
    if category in off:
        off = [c for c in off if c != category]
        said = "settings.category.on"
    else:
        off = [*off, category]
        said = "settings.category.off"
    await save_preferences(turn, categories_off=off)
    _category_toggles(turn, t(said, lang, category=t(f"category.{category}", lang)))


@router.postback(pb.SETTINGS_QUIET)
async def on_quiet(turn: Turn) -> None:
    """Quiet-hours presets."""
    lang = lang_of(turn)
    actions = [
        m.postback(
            _quiet_label(v, lang), pb.SETTINGS_QUIET_SET, v=v, display=_quiet_label(v, lang)
        )
        for v in QUIET_PRESETS
    ]
    turn.say(m.text(t("settings.quiet.ask", lang), actions))


@router.postback(pb.SETTINGS_QUIET_SET)
async def on_quiet_set(turn: Turn) -> None:
    """Store the chosen quiet hours (only a preset is accepted)."""
    lang = lang_of(turn)
    value = turn.postback.get("v")
    if value not in QUIET_PRESETS:
        show_settings(turn, t("settings.invalid", lang))
        return
    await save_preferences(turn, quiet_hours=value)
    show_settings(turn, t("settings.quiet.set", lang, quiet=_quiet_label(value, lang)))


@router.postback(pb.SETTINGS_CHANNEL)
async def on_channel(turn: Turn) -> None:
    """LINE or the municipality app."""
    lang = lang_of(turn)
    actions = [
        m.postback(
            t(f"channel.{c}", lang), pb.SETTINGS_CHANNEL_SET, v=c, display=t(f"channel.{c}", lang)
        )
        for c in CHANNELS
    ]
    turn.say(
        m.text(
            t("settings.channel.ask", lang) + "\n" + t("settings.channel.app_note", lang), actions
        )
    )


@router.postback(pb.SETTINGS_CHANNEL_SET)
async def on_channel_set(turn: Turn) -> None:
    """Store the channel (line or app)."""
    lang = lang_of(turn)
    value = turn.postback.get("v")
    if value not in CHANNELS:
        show_settings(turn, t("settings.invalid", lang))
        return
    family_id = turn.family.id
    if value == "app" and (
        family_id is None or not await subscriptions.has_subscription(turn.session, family_id)
    ):
        # Nothing could reach the family through an app: stay on LINE and say why.
        await save_preferences(turn, channel="line")
        show_settings(turn, t("settings.channel.no_app", lang))
        return
    await save_preferences(turn, channel=value)
    show_settings(turn, t("settings.channel.set", lang, channel=t(f"channel.{value}", lang)))
