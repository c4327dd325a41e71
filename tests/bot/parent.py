"""A parent in a LINE world: sends events through the emulator and reads the bot's answers.

`tap(label)` presses a button the bot actually sent (quick reply, template or Flex button), so
tests follow the paths a parent can take, not postback strings made up by the test.
"""

from __future__ import annotations

from typing import Any

from tests.bot.conftest import LineWorld


def actions_in(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every action in these messages: quick replies, template actions, Flex buttons."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            action = node.get("action")
            if isinstance(action, dict) and "type" in action:
                found.append(action)
            for key, value in node.items():
                if key != "action":
                    walk(value)
            if node.get("type") in {"confirm", "buttons"}:
                found.extend(node.get("actions", []))
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(messages)
    return found


def texts_of(messages: list[dict[str, Any]]) -> str:
    """All readable text of these messages (texts, template texts, Flex texts and altTexts)."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("text", "altText"):
                if isinstance(node.get(key), str) and node.get("type") != "postback":
                    parts.append(node[key])
            for value in node.values():
                if isinstance(value, dict | list):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(messages)
    return "\n".join(parts)


def carousels(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Flex carousels among these messages."""
    return [
        msg["contents"]
        for msg in messages
        if msg.get("type") == "flex" and msg["contents"].get("type") == "carousel"
    ]


def bubble_titles(messages: list[dict[str, Any]]) -> list[str]:
    """The first (bold) text of every bubble of every carousel."""
    return [
        bubble["body"]["contents"][0]["text"]
        for carousel in carousels(messages)
        for bubble in carousel["contents"]
    ]


class Parent:
    """One LINE user talking to the bot."""

    def __init__(self, world: LineWorld, user_id: str) -> None:
        self.world = world
        self.user_id = user_id
        self.seen = 0
        self.last: list[dict[str, Any]] = []

    async def _answer(self) -> list[dict[str, Any]]:
        messages = await self.world.messages(self.user_id)
        self.last = messages[self.seen :]
        self.seen = len(messages)
        return self.last

    async def follow(self) -> list[dict[str, Any]]:
        await self.world.follow(self.user_id)
        return await self._answer()

    async def unfollow(self) -> list[dict[str, Any]]:
        await self.world.unfollow(self.user_id)
        return await self._answer()

    async def say(self, text: str) -> list[dict[str, Any]]:
        await self.world.text(self.user_id, text)
        return await self._answer()

    async def postback(
        self, data: str, params: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        await self.world.postback(self.user_id, data, params)
        return await self._answer()

    def action(self, label: str) -> dict[str, Any]:
        """The action labelled so in the bot's last answer (exact label, else a prefix)."""
        actions = actions_in(self.last)
        for action in actions:
            if action.get("label") == label:
                return action
        for action in actions:
            if str(action.get("label", "")).startswith(label):
                return action
        labels = [a.get("label") for a in actions]
        raise AssertionError(f"no button {label!r} in the last answer; buttons: {labels}")

    async def tap(self, label: str, *, date: str | None = None) -> list[dict[str, Any]]:
        """Press a button of the last answer (a date picker needs the date chosen)."""
        action = self.action(label)
        if action["type"] == "datetimepicker":
            assert date is not None, f"{label!r} is a date picker: give date="
            return await self.postback(action["data"], {"date": date})
        if action["type"] == "message":
            return await self.say(action["text"])
        assert action["type"] == "postback", action
        return await self.postback(action["data"])

    async def onboard(
        self, municipality: str = "渋谷区", births: tuple[str, ...] = ("2025-06-10",)
    ) -> list[dict[str, Any]]:
        """Follow, agree, and answer every onboarding question; the answer with the programs."""
        await self.follow()
        await self.tap("同意して始める")
        await self.say(municipality)
        for index, birth in enumerate(births):
            await self.tap("生年月日を選ぶ" if index == 0 else "もう1人追加", date=birth)
        await self.tap("これで全部")
        await self.tap("答えない")
        await self.tap("答えない")
        return await self.tap("登録する")
