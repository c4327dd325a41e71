"""Applying for daycare in LINE, as a parent meets it: wishes from the search, two children in
one go, the questions (only what is not known), the summary with documents, submit; 申込状況
with change and withdraw until the deadline; re-application; the points simulator; English;
stale and forged buttons. The bot's clock is noon in Tokyo on 2026-11-26."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import col, select

from bot.handlers.applications import estimate_points
from integrations.daycare.models import Application, Facility, IntakeRound
from registry.db import transaction
from registry.models import Family
from rules.points import ApplicationFacts
from tests.bot.conftest import NOW, LineWorld
from tests.bot.parent import Parent, actions_in, carousels, texts_of
from tests.bot.test_daycare_door import (
    APRIL,
    HACHIOJI,
    add_facilities,
    check_line_limits,
    tours_clock,
    user,
)

__all__ = ["tours_clock"]

DEADLINE = NOW + timedelta(days=20)
LAST_FACTS = {
    "guardians": [
        {"relation": "other", "reason": "work", "hours_per_week": 40},
        {"relation": "other", "reason": "work", "hours_per_week": 30},
    ],
    "single_parent": False,
}


async def add_round(
    world: LineWorld,
    *,
    deadline: datetime = DEADLINE,
    opens_at: datetime | None = None,
    status: str = "open",
    entry: date = APRIL,
    name: str = "令和9年4月 一次選考",
) -> int:
    async with transaction(world.sessions) as session:
        round_ = IntakeRound(
            municipality=HACHIOJI,
            name=name,
            entry_month=entry,
            deadline=deadline,
            opens_at=opens_at,
            status=status,
        )
        session.add(round_)
        await session.flush()
        assert round_.id is not None
        return round_.id


async def family_of(world: LineWorld, parent: Parent) -> Family:
    async with world.sessions() as session:
        found = await session.exec(select(Family).where(Family.line_user_id == parent.user_id))
        family = found.first()
        assert family is not None
        return family


async def applications(world: LineWorld, family_id: int) -> list[Application]:
    async with world.sessions() as session:
        found = await session.exec(
            select(Application)
            .where(Application.family_id == family_id)
            .order_by(col(Application.child_birth_date))
        )
        return list(found.all())


def bubble_action(messages: list[dict[str, Any]], title: str, label: str) -> dict[str, Any]:
    """The button `label` of the carousel bubble titled `title`."""
    for carousel in carousels(messages):
        for bubble in carousel["contents"]:
            if bubble["body"]["contents"][0]["text"] == title:
                for action in actions_in([bubble]):
                    if action.get("label") == label:
                        return action
    raise AssertionError(f"no {label!r} on {title!r}")


async def searched(world: LineWorld, parent: Parent, child: str | None) -> None:
    """Search near 八王子駅 for April 2027 (for `child` when several)."""
    await parent.postback("a=menu.daycare")
    if child:
        await parent.tap(child)
    await parent.tap("2027年4月")
    await parent.say("八王子駅")


async def test_two_children_apply_together_with_a_sibling_mode(line_world: LineWorld) -> None:
    ids = await add_facilities(line_world)
    round_id = await add_round(line_world)
    parent = Parent(line_world, user("apply-two"))
    await parent.onboard("八王子市", births=("2024-05-10", "2026-04-01"))
    await searched(line_world, parent, "2024年5月生まれ")
    results = parent.last
    check_line_limits(results)
    answer = await parent.postback(
        bubble_action(results, "みどり保育園", "この園に申し込む")["data"]
    )
    assert "みどり保育園を2024年5月生まれの第1希望に加えました" in texts_of(answer)
    answer = await parent.postback(
        bubble_action(results, "ひかり保育園", "この園に申し込む")["data"]
    )
    said = texts_of(answer)
    assert "第2希望" in said and "1. みどり保育園" in said and "2. ひかり保育園" in said
    check_line_limits(answer)
    # The same card again: already wished.
    answer = await parent.postback(
        bubble_action(results, "ひかり保育園", "この園に申し込む")["data"]
    )
    assert "すでに第2希望です" in texts_of(answer)

    answer = await parent.tap("申し込みへ進む")
    said = texts_of(answer)
    assert (
        "2024年5月生まれのお子さんの申込です。きょうだい（2026年4月生まれ）も一緒に申し込みますか"
        in said
    )
    answer = await parent.tap("きょうだいも一緒に申し込む")
    assert "2026年4月生まれの希望園がまだありません" in texts_of(answer)
    answer = await parent.tap("同じ園を希望する")
    assert "きょうだいの入所について" in texts_of(answer)
    labels = [a["label"] for a in actions_in(answer)]
    assert "きょうだい全員入所でなければ入所しない" in labels
    check_line_limits(answer)
    # One open round: taken at once; nothing known of the household yet, so it is asked.
    answer = await parent.tap("きょうだい全員入所でなければ入所しない")
    assert "ひとり親の世帯ですか" in texts_of(answer)
    answer = await parent.tap("いいえ")
    assert "保護者1が保育を必要とする理由" in texts_of(answer)
    assert len(actions_in(answer)) <= 13
    await parent.tap("就労")
    answer = await parent.tap("40時間以上")
    assert "育児休業中" in texts_of(answer)
    answer = await parent.tap("はい")
    assert "2027年4月までに育休から復帰" in texts_of(answer)
    answer = await parent.tap("はい")
    assert "保護者2が保育を必要とする理由" in texts_of(answer)
    await parent.tap("就労")
    answer = await parent.tap("25時間未満")
    assert "数字で" in texts_of(answer)
    answer = await parent.say("週20時間")
    assert "保護者2はいま育児休業中" in texts_of(answer)
    answer = await parent.tap("いいえ")
    assert "きょうだいがいま通っている保育園" in texts_of(answer)
    answer = await parent.say("ないしょ保育園")
    assert "見つかりませんでした" in texts_of(answer)
    answer = await parent.say("そら")
    assert "そら保育室ですね" in texts_of(answer)
    answer = await parent.tap("これで全部")
    assert "育休を延長してもよいですか" in texts_of(answer)
    answer = await parent.tap("いいえ")
    said = texts_of(answer)
    assert "【申込内容の確認】" in said
    assert "令和9年4月 一次選考（締切 2026年12月16日 12:00）" in said
    assert "2024年5月生まれ（2歳児クラス）" in said and "2026年4月生まれ（1歳児クラス）" in said
    assert said.index("1. みどり保育園") < said.index("2. ひかり保育園")
    assert "きょうだい: きょうだい全員入所でなければ入所しない" in said
    assert "保護者1: 就労 週40時間（育休中、入所月までに復帰）" in said
    assert "保護者2: 就労 週20時間" in said
    assert "きょうだいの在園: そら保育室" in said
    assert "就労証明書（保護者1）" in said and "育児休業取得（予定）証明書（保護者1）" in said
    assert "就労証明書（保護者2）" in said
    check_line_limits(answer)

    submit = parent.action("申し込む")
    answer = await parent.postback(submit["data"])
    said = texts_of(answer)
    assert "「令和9年4月 一次選考」に申し込みました" in said and "受付" in said
    family = await family_of(line_world, parent)
    assert family.id is not None
    rows = await applications(line_world, family.id)
    assert len(rows) == 2
    assert all(r.round_id == round_id and r.channel == "line" for r in rows)
    assert [r.wishes for r in rows] == [[ids["みどり保育園"], ids["ひかり保育園"]]] * 2
    assert [r.class_age for r in rows] == [2, 1]
    assert rows[0].sibling_group is not None and rows[0].sibling_group == rows[1].sibling_group
    facts = ApplicationFacts.model_validate(rows[0].facts)
    assert facts.sibling_mode == "both_or_neither" and facts.siblings_applying == 1
    assert facts.guardians[0].on_leave and facts.guardians[0].returning_from_leave
    assert facts.guardians[1].hours_per_week == 20 and not facts.single_parent
    assert facts.siblings_enrolled == ["F2"] and not facts.accepts_leave_extension
    # The same summary button again: the flow is over, nothing is submitted twice.
    answer = await parent.postback(submit["data"])
    assert "このボタンは古くなったようです" in texts_of(answer)
    answer = await parent.say("申込状況")
    assert "入所申込（2件）" in texts_of(answer)
    assert len(await applications(line_world, family.id)) == 2

    # Withdraw one, with a confirm step.
    cards = carousels(answer)[0]["contents"]
    assert len(cards) == 2
    withdraw = actions_in([cards[0]])
    await parent.postback(next(a for a in withdraw if a["label"] == "取り下げる")["data"])
    assert "取り下げますか" in texts_of(parent.last)
    answer = await parent.tap("取り下げる")
    assert "申込を取り下げました" in texts_of(answer)
    rows = await applications(line_world, family.id)
    assert sorted(r.status for r in rows) == ["received", "withdrawn"]
    # 申し込む again for the child still applying: it says where to change it.
    await parent.tap("申し込む")
    answer = await parent.tap("2024年5月生まれ")
    assert "すでに申し込んでいます" in texts_of(answer)


async def _applied_once(world: LineWorld, name: str) -> tuple[Parent, dict[str, int], int]:
    """A one-child family with a decided application last year, who applies again."""
    ids = await add_facilities(world)
    old = await add_round(
        world,
        deadline=NOW - timedelta(days=200),
        status="confirmed",
        entry=date(2026, 4, 1),
        name="令和8年4月 一次選考",
    )
    round_id = await add_round(world)
    parent = Parent(world, user(name))
    await parent.onboard("八王子市", births=("2025-06-10",))
    family = await family_of(world, parent)
    async with transaction(world.sessions) as session:
        session.add(
            Application(
                round_id=old,
                municipality=HACHIOJI,
                family_id=family.id,
                child_id=None,
                child_birth_date=date(2025, 6, 10),
                class_age=0,
                status="waitlisted",
                wishes=[ids["たかお保育園"]],
                facts=LAST_FACTS,
                submitted_at=NOW - timedelta(days=300),
                updated_at=NOW - timedelta(days=250),
            )
        )
    return parent, ids, round_id


async def test_a_re_application_asks_only_what_changed(line_world: LineWorld) -> None:
    parent, ids, round_id = await _applied_once(line_world, "apply-again")
    await searched(line_world, parent, None)
    await parent.postback(bubble_action(parent.last, "みどり保育園", "この園に申し込む")["data"])
    answer = await parent.tap("申し込みへ進む")
    said = texts_of(answer)
    assert "前回の申込の内容です" in said
    assert "保護者1: 就労 週40時間" in said and "保護者2: 就労 週30時間" in said
    answer = await parent.tap("変わりない")
    said = texts_of(answer)
    assert "【申込内容の確認】" in said and "前回の申込から変わった点はありません" in said
    # Only the second guardian changed.
    await parent.tap("修正する")
    answer = await parent.tap("保護者2")
    assert "保護者2が保育を必要とする理由" in texts_of(answer)
    await parent.tap("求職中")
    answer = await parent.tap("いいえ") if "育休の延長" in texts_of(parent.last) else parent.last
    said = texts_of(answer)
    assert "前回から変わった点: 保護者の状況" in said
    assert "保護者2: 求職中" in said and "求職活動状況申告書（保護者2）" in said
    await parent.tap("申し込む")
    family = await family_of(line_world, parent)
    assert family.id is not None
    new = [a for a in await applications(line_world, family.id) if a.round_id == round_id]
    assert len(new) == 1 and new[0].wishes == [ids["みどり保育園"]]
    assert new[0].facts["guardians"][1]["reason"] == "job_seeking"
    assert new[0].sibling_group is None


async def test_change_wishes_and_withdraw_until_the_deadline_then_refused(
    line_world: LineWorld,
) -> None:
    parent, ids, round_id = await _applied_once(line_world, "apply-change")
    await searched(line_world, parent, None)
    results = parent.last
    await parent.postback(bubble_action(results, "みどり保育園", "この園に申し込む")["data"])
    await parent.postback(bubble_action(results, "そら保育室", "この園に申し込む")["data"])
    await parent.tap("申し込みへ進む")
    await parent.tap("変わりない")
    await parent.tap("申し込む")
    family = await family_of(line_world, parent)
    assert family.id is not None

    answer = await parent.tap("申込状況")
    said = texts_of(answer)
    assert "状況: 受付" in said and "締切 2026年12月16日 12:00 まで" in said
    assert "未提出の書類: 就労証明書（保護者1）" in said
    assert "状況: 保留" in said  # last year's, decided: no buttons
    cards = carousels(answer)[0]["contents"]
    open_card = next(c for c in cards if "受付" in texts_of([c]))
    edit = next(a for a in actions_in([open_card]) if a["label"] == "希望を変更")
    withdraw = next(a for a in actions_in([open_card]) if a["label"] == "取り下げる")
    answer = await parent.postback(edit["data"])
    assert "順番を入れ替えたり" in texts_of(answer)
    # Move みどり down (its ↓), then save to the application.
    down = next(a for a in actions_in(answer) if a.get("label") == "↓")
    answer = await parent.postback(down["data"])
    said = texts_of(answer)
    assert said.index("1. そら保育室") < said.index("2. みどり保育園")
    answer = await parent.tap("この希望で変更する")
    assert "希望園を変更しました" in texts_of(answer)
    new = [a for a in await applications(line_world, family.id) if a.round_id == round_id]
    assert new[0].wishes == [ids["そら保育室"], ids["みどり保育園"]]
    # Remove one and add one back from the saved/toured ones (none here: search instead).
    answer = await parent.postback(edit["data"])
    remove = [a for a in actions_in(answer) if a.get("label") == "✕"][1]
    answer = await parent.postback(remove["data"])
    assert "2. みどり保育園" not in texts_of(answer)
    await parent.tap("この希望で変更する")
    new = [a for a in await applications(line_world, family.id) if a.round_id == round_id]
    assert new[0].wishes == [ids["そら保育室"]]
    await parent.postback(edit["data"])
    answer = await parent.tap("園を追加")
    assert "保育園をさがす" in [a["label"] for a in actions_in(answer)]

    await parent.postback(withdraw["data"])
    answer = await parent.tap("やめる")
    assert "申込はそのままです" in texts_of(answer)

    async with transaction(line_world.sessions) as session:
        round_ = await session.get(IntakeRound, round_id)
        assert round_ is not None
        round_.deadline = NOW - timedelta(minutes=1)
        session.add(round_)
    answer = await parent.postback(withdraw["data"])
    assert "締切を過ぎたため" in texts_of(answer)
    answer = await parent.postback(edit["data"])
    assert "締切を過ぎたため" in texts_of(answer)
    answer = await parent.tap("申込状況")
    assert "締切を過ぎたため変更できません" in texts_of(answer)
    assert "取り下げる" not in [a["label"] for a in actions_in(answer)]
    new = [a for a in await applications(line_world, family.id) if a.round_id == round_id]
    assert new[0].status == "received"


async def test_the_result_is_shown_when_decided(line_world: LineWorld) -> None:
    parent, _ids, _round = await _applied_once(line_world, "apply-result")
    family = await family_of(line_world, parent)
    async with transaction(line_world.sessions) as session:
        found = await session.exec(select(Application).where(Application.family_id == family.id))
        row = found.one()
        row.status = "offered"
        row.result = {
            "explanation_ja": "第1希望のたかお保育園に内定しました（指数 40点）。",
            "explanation_en": "Offered a place at your first wish (40 points).",
        }
        session.add(row)
    answer = await parent.say("申込状況")
    said = texts_of(answer)
    assert "状況: 内定" in said and "第1希望のたかお保育園に内定しました" in said


async def test_no_open_round_is_said_with_the_next_one(line_world: LineWorld) -> None:
    await add_facilities(line_world)
    await add_round(line_world, opens_at=NOW + timedelta(days=5), name="令和9年4月 二次選考")
    parent = Parent(line_world, user("apply-none"))
    await parent.onboard("八王子市", births=("2026-04-01",))
    await searched(line_world, parent, None)
    await parent.postback(bubble_action(parent.last, "みどり保育園", "この園に申し込む")["data"])
    answer = await parent.tap("申し込みへ進む")
    said = texts_of(answer)
    assert "受付中の入所申込はありません" in said
    assert "次の受付「令和9年4月 二次選考」は2026年12月1日" in said


async def test_points_simulator_without_rules_shows_last_year_minimums(
    line_world: LineWorld,
) -> None:
    await add_facilities(line_world)
    await add_round(line_world)
    parent = Parent(line_world, user("apply-points"))
    await parent.onboard("八王子市", births=("2026-04-01",))
    answer = await parent.say("点数シミュレーション")
    assert "先に「申し込む」で質問に答えてください" in texts_of(answer)
    await searched(line_world, parent, None)
    results = parent.last
    await parent.postback(bubble_action(results, "みどり保育園", "この園に申し込む")["data"])
    await parent.postback(bubble_action(results, "そら保育室", "この園に申し込む")["data"])
    await parent.tap("申し込みへ進む")
    await parent.tap("はい")  # single parent: one guardian
    answer = await parent.tap("就労")
    assert "あなたは週に何時間" in texts_of(answer)
    await parent.tap("35時間")
    await parent.tap("いいえ")
    answer = await parent.tap("なし")
    assert "【申込内容の確認】" in texts_of(answer)
    assert "ひとり親であることがわかる書類" in texts_of(answer)
    answer = await parent.tap("点数シミュレーション")
    said = texts_of(answer)
    assert "この市区町村の基準はまだ登録されていません" in said
    assert "1. みどり保育園: 2021年度 最低指数 40点" in said
    assert "2. そら保育室: 2021年度 最低指数 非公開" in said
    # Still in the flow: submit from here.
    await parent.tap("申し込む")
    family = await family_of(line_world, parent)
    assert family.id is not None
    assert len(await applications(line_world, family.id)) == 1


async def test_the_adapter_says_none_without_rules(line_world: LineWorld) -> None:
    facts = ApplicationFacts.model_validate(LAST_FACTS)
    async with line_world.sessions() as session:
        assert await estimate_points(session, HACHIOJI, APRIL, facts, "ja") is None


async def test_english_parent_sees_english(line_world: LineWorld) -> None:
    await add_facilities(line_world)
    await add_round(line_world, name="")
    parent = Parent(line_world, user("apply-en"))
    await parent.onboard("八王子市", births=("2026-04-01",))
    await parent.say("English")
    await parent.postback("a=menu.daycare")
    await parent.tap("Apr 2027")
    results = await parent.say("八王子")
    answer = await parent.postback(bubble_action(results, "Nursery 1", "Add to my wishes")["data"])
    assert "Added Nursery 1 as wish no. 1" in texts_of(answer)
    await parent.tap("Go on to apply")
    answer = await parent.tap("No")
    assert "Guardian 1: why is daycare needed?" in texts_of(answer)
    # Every reason fits LINE's 20-character quick reply label whole (no "…").
    labels = [a["label"] for a in actions_in(answer)]
    assert "Pregnancy or birth" in labels and "At home, can care" in labels
    assert not [label for label in labels if label.endswith("…")]
    await parent.tap("Work")
    await parent.tap("40 h or more")
    await parent.tap("No")
    await parent.tap("Work")
    await parent.tap("30 h")
    await parent.tap("No")
    answer = await parent.tap("None")
    said = texts_of(answer)
    assert "[Your application]" in said and "Round: Entry Apr 2027" in said
    assert "Employment certificate (guardian 1)" in said
    assert "Guardian 2: Work 30 h a week" in said
    answer = await parent.tap("Submit")
    assert "Your application to Entry Apr 2027 was received" in texts_of(answer)
    answer = await parent.tap("My applications")
    said = texts_of(answer)
    assert "Status: Received" in said and "Change wishes" in [
        a["label"] for a in actions_in(answer)
    ]


async def test_stale_and_forged_buttons(line_world: LineWorld) -> None:
    ids = await add_facilities(line_world)
    await add_round(line_world)
    parent = Parent(line_world, user("apply-forged"))
    await parent.onboard("八王子市", births=("2026-04-01",))
    stale = "このボタンは古くなったようです"
    for data in (
        "a=ap.add&f=abc",
        f"a=ap.add&f={ids['みどり保育園']}&c=99999",
        "a=ap.move&c=99999&f=1&d=u",
        "a=ap.submit&s=forged",
        "a=ap.ans&s=forged&k=single&v=1",
        "a=ap.wd&p=424242",
        "a=ap.wd.ok&p=x",
        "a=ap.edit&p=2147483648",
        "a=ap.together&c=99999&o=",
    ):
        answer = await parent.postback(data)
        assert stale in texts_of(answer), data
    answer = await parent.postback("a=ap.add&f=999999")
    assert "この園の情報は見つかりませんでした" in texts_of(answer)
    # Another family's application cannot be withdrawn by naming its id.
    other = Parent(line_world, user("apply-other"))
    await other.onboard("八王子市", births=("2026-04-01",))
    await other.postback(f"a=ap.add&f={ids['みどり保育園']}")
    await other.tap("申し込みへ進む")
    await other.tap("いいえ")
    for label in ("就労", "40時間以上", "いいえ", "就労", "40時間以上", "いいえ", "なし"):
        await other.tap(label)
    await other.tap("申し込む")
    family = await family_of(line_world, other)
    assert family.id is not None
    (theirs,) = await applications(line_world, family.id)
    answer = await parent.postback(f"a=ap.wd.ok&p={theirs.id}")
    assert stale in texts_of(answer)
    assert (await applications(line_world, family.id))[0].status == "received"


async def test_wishes_from_a_booked_tour_and_from_saved_facilities(line_world: LineWorld) -> None:
    from tests.bot.test_daycare_door import add_slot

    ids = await add_facilities(line_world)
    await add_slot(line_world, ids["みどり保育園"], NOW + timedelta(days=13))
    parent = Parent(line_world, user("apply-tour"))
    await parent.onboard("八王子市", births=("2026-04-01",))
    await searched(line_world, parent, None)
    results = parent.last
    await parent.postback(bubble_action(results, "そら保育室", "保存")["data"])
    await parent.postback(bubble_action(results, "みどり保育園", "見学を予約")["data"])
    await parent.postback(actions_in(parent.last)[0]["data"])
    assert "見学を予約しました" in texts_of(parent.last)
    answer = await parent.tap("この園に申し込む")
    assert "みどり保育園を2026年4月生まれの第1希望に加えました" in texts_of(answer)
    answer = await parent.tap("園を追加")
    labels = [a["label"] for a in actions_in(answer)]
    assert "そら保育室" in labels and "みどり保育園" not in labels
    answer = await parent.tap("そら保育室")
    assert "第2希望" in texts_of(answer)
    # The daycare answers lead to 申し込む and 申込状況 too.
    answer = await parent.postback("a=dc.saved")
    assert {"申し込む", "申込状況"} <= {a["label"] for a in actions_in(answer)}
    answer = await parent.tap("申し込む")
    said = texts_of(answer)
    assert "1. みどり保育園" in said and "2. そら保育室" in said
    # Remove both: the list says how to add again.
    for _ in range(2):
        remove = next(a for a in actions_in(parent.last) if a.get("label") == "✕")
        await parent.postback(remove["data"])
    assert "希望園はまだありません" in texts_of(parent.last)
    quick = [a["label"] for a in actions_in(parent.last)]
    assert quick.count("保育園をさがす") == 1 and len(quick) == len(set(quick)), quick


def test_twenty_wishes_fit_in_one_bubble() -> None:
    from bot import messages as m
    from bot.handlers.applications import Kid, _wish_row

    kid = Kid(2**31 - 1, date(2025, 1, 1), False)
    name = "社会福祉法人はぐくみ会 しんまち第二こども園 分園（0〜2歳児）" * 2
    rows = [_wish_row(name, kid, 2**31 - 100 + i, i, 20) for i in range(20)]
    bubble = m.bubble("2025年1月生まれの希望園（20/20）", rows)
    assert m.flex_size(bubble) <= m.MAX_BUBBLE_BYTES


async def test_the_simulator_scores_with_the_municipalitys_rules(line_world: LineWorld) -> None:
    """Hachioji's shipped table (FY2025): April 2027 has no rules of its own, so the newest
    ones are used and said so; once rules valid for April 2027 exist, they are used."""
    from integrations.daycare.points import save_rules, shipped_documents

    (hachioji,) = [d for d in shipped_documents() if d.municipality == HACHIOJI]
    async with transaction(line_world.sessions) as session:
        await save_rules(session, hachioji, "test")
    await add_facilities(line_world)
    round_id = await add_round(line_world)
    parent = Parent(line_world, user("apply-engine"))
    await parent.onboard("八王子市", births=("2026-04-01",))
    await searched(line_world, parent, None)
    results = parent.last
    await parent.postback(bubble_action(results, "みどり保育園", "この園に申し込む")["data"])
    await parent.tap("申し込みへ進む")
    await parent.tap("いいえ")
    await parent.tap("就労")
    await parent.tap("35時間")
    await parent.tap("いいえ")
    await parent.tap("妊娠・出産")
    await parent.tap("なし")
    answer = await parent.tap("点数シミュレーション")
    said = texts_of(answer)
    assert f"2027年4月の基準がまだ登録されていないため、{hachioji.title}で試算" in said
    assert "就労 週35時間以上 = 9点" in said and "妊娠・出産 = 10点" in said
    assert "合計 19点" in said
    assert "1. みどり保育園: 2021年度 最低指数 40点（試算点はこれ未満）" in said

    fy2027 = hachioji.model_copy(
        update={"valid_from": date(2027, 4, 1), "valid_to": None, "title": "令和9年度 基準"}
    )
    async with transaction(line_world.sessions) as session:
        await save_rules(session, fy2027, "test")
    answer = await parent.say("点数シミュレーション")
    said = texts_of(answer)
    assert "基準: 令和9年度 基準" in said and "合計 19点" in said
    assert "まだ登録されていない" not in said
    # No round a year earlier: no odds, and the parent is told why.
    assert "データが少ないため" in said and "内定の見込み（" not in said

    await add_history(line_world, round_id)
    answer = await parent.say("点数シミュレーション")
    said = texts_of(answer)
    # Three places in the 1-year class; everyone else so far (and drawn to come) has 18 points
    # under these rules, the parent 19: first in line, whatever the volume.
    assert "内定の見込み（" in said and "1. みどり保育園: 約100%（100%〜100%）" in said


async def add_history(world: LineWorld, round_id: int) -> None:
    """Last year's round (30 applications) and 12 applications in the 1-year class so far."""
    async with transaction(world.sessions) as session:
        family = Family(state="active", municipality=HACHIOJI)
        session.add(family)
        earlier = IntakeRound(
            municipality=HACHIOJI,
            entry_month=date(2026, 4, 1),
            deadline=NOW - timedelta(days=300),
            status="confirmed",
        )
        session.add(earlier)
        await session.flush()
        midori = (
            await session.exec(select(Facility).where(Facility.name_ja == "みどり保育園"))
        ).one()
        for n in range(30):
            session.add(
                Application(
                    round_id=earlier.id,
                    municipality=HACHIOJI,
                    family_id=family.id,
                    child_id=n,
                    child_birth_date=date(2025, 4, 1),
                    class_age=1,
                    status="offered",
                )
            )
        for n in range(12):
            session.add(
                Application(
                    round_id=round_id,
                    municipality=HACHIOJI,
                    family_id=family.id,
                    child_id=100 + n,
                    child_birth_date=date(2026, 4, 1),
                    class_age=1,
                    wishes=[midori.id],
                    facts=LAST_FACTS,
                    status="received",
                )
            )


async def test_english_simulator_lines(line_world: LineWorld) -> None:
    from integrations.daycare.points import save_rules, shipped_documents

    (hachioji,) = [d for d in shipped_documents() if d.municipality == HACHIOJI]
    async with transaction(line_world.sessions) as session:
        await save_rules(session, hachioji, "test")
    await add_facilities(line_world)
    await add_round(line_world)
    parent = Parent(line_world, user("apply-engine-en"))
    await parent.onboard("八王子市", births=("2026-04-01",))
    await parent.say("English")
    await parent.postback("a=menu.daycare")
    await parent.tap("Apr 2027")
    results = await parent.say("八王子")
    await parent.postback(bubble_action(results, "Nursery 1", "Add to my wishes")["data"])
    await parent.tap("Go on to apply")
    await parent.tap("Yes")
    await parent.tap("Work")
    await parent.tap("40 h or more")
    await parent.tap("No")
    await parent.tap("None")
    answer = await parent.tap("Points simulator")
    said = texts_of(answer)
    assert "The rules for Apr 2027 are not registered yet" in said
    assert "Total 10 points" in said
    assert "1. Nursery 1: FY2021 lowest points admitted: 40 (your estimate is lower)" in said


async def test_several_open_rounds_are_asked_and_a_baby_on_the_way_waits(
    line_world: LineWorld,
) -> None:
    ids = await add_facilities(line_world)
    await add_round(line_world)
    may = await add_round(line_world, entry=date(2027, 5, 1), name="令和9年5月入所")
    parent = Parent(line_world, user("apply-rounds"))
    await parent.onboard("八王子市", births=("2026-04-01",))
    answer = await parent.postback(f"a=ap.add&f={ids['みどり保育園']}&c=due")
    assert "生まれてから" in texts_of(answer)
    await parent.postback(f"a=ap.add&f={ids['みどり保育園']}")
    answer = await parent.tap("申し込みへ進む")
    assert "どの申込に申し込みますか" in texts_of(answer)
    labels = [a["label"] for a in actions_in(answer)]
    assert labels[:2] == ["令和9年4月 一次選考", "令和9年5月入所"]
    await parent.tap("令和9年5月入所")
    await parent.tap("いいえ")
    for label in ("就労", "40時間以上", "はい", "はい", "就労", "30時間", "いいえ", "なし"):
        await parent.tap(label)
    answer = await parent.tap("はい")  # accepts a longer leave
    said = texts_of(answer)
    assert "申込: 令和9年5月入所" in said and "育休延長を許容: はい" in said
    await parent.tap("申し込む")
    family = await family_of(line_world, parent)
    assert family.id is not None
    (row,) = await applications(line_world, family.id)
    assert row.round_id == may and row.facts["accepts_leave_extension"] is True
