"""Deletion, block and re-follow, many programs, privacy of logs."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlmodel import select

from bot.models import Review
from bot.state import ConversationStore, user_key
from hagukumi.app import REDIS
from registry import families
from registry import programs as repo
from registry.db import transaction
from registry.models import Child, Family
from registry.schemas import ProgramIn
from tests.bot.conftest import LineWorld
from tests.bot.parent import Parent, actions_in, bubble_titles, carousels, texts_of
from tests.factories import program_body

PARENT = "U" + "d4" * 16


async def family_row(world: LineWorld) -> Any:
    async with world.sessions() as session:
        return await families.by_line_user(session, PARENT)


async def test_deletion_erases_personal_data_and_starts_afresh(line_world: LineWorld) -> None:
    parent = Parent(line_world, PARENT)
    await parent.onboard()
    await parent.postback("a=menu.rate")
    await parent.tap("5 ★★★★★")
    await parent.say("とても便利です")
    await parent.postback("a=menu.settings")
    await parent.tap("通知しない時間")
    await parent.tap("21:00-07:00")
    await parent.postback("a=menu.family")
    await parent.tap("市区町村を変更")  # leaves a step awaiting typed text in the state
    family_id = (await family_row(line_world)).id
    store = ConversationStore(line_world.app[REDIS])
    assert (await store.load(PARENT))["await"] == "fam.muni"
    answer = await parent.say("削除")  # not a municipality: the deletion intent
    assert [a["label"] for a in actions_in(answer)] == ["削除する", "やめる"]
    answer = await parent.tap("やめる")
    assert "削除をやめました" in texts_of(answer)
    assert await family_row(line_world) is not None
    await parent.say("データを削除したい")
    answer = await parent.tap("削除する")
    assert "削除しました" in texts_of(answer)
    assert await family_row(line_world) is None
    async with line_world.sessions() as session:
        tombstone = await session.get(Family, family_id)
        children = (await session.exec(select(Child).where(Child.family_id == family_id))).all()
        reviews = (await session.exec(select(Review))).all()
    assert tombstone is not None and tombstone.state == "deleted"
    assert tombstone.line_user_id is None and tombstone.municipality is None
    assert tombstone.preferences == {} and tombstone.consented_at is None
    assert children == []
    assert [(r.rating, r.comment, r.family_id) for r in reviews] == [(5, None, None)]
    assert not await line_world.app[REDIS].exists(f"hagukumi:conv:{user_key(PARENT)}")
    # A later message: a new user, asked for consent again; nothing but the ID stored.
    answer = await parent.say("こんにちは")
    assert "同意" in texts_of(answer)
    fresh = await family_row(line_world)
    assert fresh.id != family_id and fresh.consented_at is None and fresh.municipality is None
    assert await line_world.rejected() == []


async def test_deletion_answers_in_english_for_an_english_family(line_world: LineWorld) -> None:
    parent = Parent(line_world, PARENT)
    await parent.onboard()
    await parent.say("English")
    answer = await parent.say("delete")
    assert "cannot be undone" in texts_of(answer)
    answer = await parent.tap("Delete")
    assert "Everything has been deleted" in texts_of(answer)
    assert await line_world.rejected() == []


async def test_block_and_follow_again_keeps_the_data(line_world: LineWorld) -> None:
    parent = Parent(line_world, PARENT)
    await parent.onboard(births=("2025-06-10", "2021-01-15"))
    answer = await parent.unfollow()
    assert answer == []  # nothing is sent to a family that blocked the account
    row = await family_row(line_world)
    assert row.state == "blocked" and row.blocked_at is not None
    answer = await parent.follow()
    assert "おかえりなさい" in texts_of(answer)
    row = await family_row(line_world)
    assert row.state == "active" and row.blocked_at is None and row.municipality == "131130"
    async with line_world.sessions() as session:
        assert len(await families.children_of(session, row.id)) == 2
    answer = await parent.postback("a=menu.programs")
    assert "児童手当" in bubble_titles(answer)
    assert await line_world.rejected() == []


async def test_block_before_consent_then_follow_greets_again(line_world: LineWorld) -> None:
    parent = Parent(line_world, PARENT)
    await parent.follow()
    await parent.unfollow()
    answer = await parent.follow()
    assert "はじめまして" in texts_of(answer)
    row = await family_row(line_world)
    assert row.state == "new" and row.consented_at is None
    assert await line_world.rejected() == []


async def test_many_programs_fit_in_carousels_of_twelve(line_world: LineWorld) -> None:
    async with transaction(line_world.sessions) as session:
        for n in range(50):
            body = program_body(
                name={"ja": f"渋谷区テスト制度{n:02d}", "en": f"Shibuya test program {n:02d}"},
                eligibility='municipality == "131130"',
                per_child=False,
                examples=[],
                application={
                    "url": "https://www.city.shibuya.tokyo.jp/",
                    "deadline": f"2027-{1 + n % 12:02d}-{1 + n // 12:02d}",
                },
            )
            row = await repo.create_program(session, ProgramIn.model_validate(body))
            await repo.set_status(session, row, "published")
    parent = Parent(line_world, PARENT)
    answer = await parent.onboard()
    assert len(answer) <= 5
    boxes = carousels(answer)
    assert boxes and all(1 <= len(c["contents"]) <= 12 for c in boxes)
    titles = bubble_titles(answer)
    assert titles[0] == "渋谷区テスト制度00"  # nearest deadline first (2027-01-01)
    assert titles[-1].startswith("ほかに")
    shown = len(titles) - 1
    # 5 demo programs: 児童手当, 018サポート, 医療費助成, MR第1期, 出産育児一時金 (17 months)
    assert titles[-1] == f"ほかに{50 + 5 - shown}件"
    assert await line_world.rejected() == []


async def test_logs_carry_no_user_ids_or_birth_dates(
    line_world: LineWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    parent = Parent(line_world, PARENT)
    await parent.onboard(births=("2025-06-10",))
    await parent.postback("a=menu.family")
    await parent.tap("子どもを追加", date="2023-04-02")
    await parent.postback("a=forged")
    ours = [r for r in caplog.records if r.name.split(".")[0] in {"bot", "registry", "hagukumi"}]
    assert ours  # the bot does log what it does, under pseudonyms
    for record in ours:
        dumped = repr(record.__dict__) + record.getMessage()
        assert PARENT not in dumped, record
        assert "2025-06-10" not in dumped and "2023-04-02" not in dumped, record
