"""Going from one topic to another by name, so that no handler module imports another.

Each topic offers its entry points with `@router.entry(name)`; the dispatcher gathers them and
hands them to every turn. The keyword intents (typed "help", "削除", ...) live here too, since
onboarding, consent and help all ask which one a text means.
"""

from __future__ import annotations

import inspect
from typing import Any

from bot.dispatch import Turn

# Tried in this order (the first keyword found wins); each names an entry.
INTENTS: list[tuple[tuple[str, ...], str]] = [
    (("english", "英語"), "english"),
    (("日本語", "japanese"), "japanese"),
    (("削除", "退会", "delete"), "delete"),
    # Before 保育園: 保育園の申込状況 asks for the applications, not a search.
    (("申込状況", "申し込み状況", "application status", "my applications"), "applications"),
    (("点数シミュレーション", "点数", "指数", "points simulator", "points"), "points"),
    (("入所申込", "申し込み", "申し込む", "申込", "apply for daycare"), "apply"),
    (("保育園", "保育所", "daycare", "nursery"), "daycare"),
    (("支援", "手当", "もらえる", "support", "benefit", "program", "allowance"), "programs"),
    (("設定", "通知", "settings", "notification"), "settings"),
    (("家族", "子ども", "子供", "こども", "family", "child"), "family"),
    (("評価", "レビュー", "review", "rating", "feedback"), "rate"),
    (("ヘルプ", "help", "使い方", "メニュー", "menu"), "help"),
]


async def go(turn: Turn, name: str, *args: Any, **kwargs: Any) -> Any:
    """Run the entry `name` another topic offers (awaited when it is a coroutine)."""
    result = turn.entries[name](turn, *args, **kwargs)
    if inspect.isawaitable(result):
        return await result
    return result


def intent_of(text: str) -> str | None:
    """The name of the intent this text asks for (help, rate, programs, ...), if any."""
    said = text.lower()
    for keywords, name in INTENTS:
        if any(k.lower() in said for k in keywords):
            return name
    return None


async def run_intent(turn: Turn) -> bool:
    """Run the keyword intent in the parent's text, if any (for steps that found no answer
    in what was typed: "削除" typed while a municipality is awaited means deletion)."""
    name = intent_of(turn.text or "")
    if name is None:
        return False
    await go(turn, name)
    return True


async def intent_instead(turn: Turn, step: str) -> bool:
    """No answer in the text: maybe the parent asked for something else ("help", "削除");
    then that is done and the step no longer awaits text."""
    turn.state.pop("await", None)
    if await run_intent(turn):
        return True
    turn.state["await"] = step
    return False
