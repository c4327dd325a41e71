"""The Tokyo childcare support program registry importer: file shapes, quirks, real samples."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from integrations.importers.tokyo_registry import (
    EXAMPLE_DATE,
    MappedItem,
    RegistryFileError,
    Rejected,
    import_files,
    load_items,
    map_item,
)
from rules import evaluate, language
from rules.ages import age_months

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REGISTRY = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "registry"
BUNKYO = REGISTRY / "131059_bunkyo_education.json"
TOSHIMA = REGISTRY / "133621_toshima.json"


def _quirks() -> dict[str, dict[str, Any]]:
    items = load_items(FIXTURES / "quirks.json")
    return {str((i.get("basicInformation") or {}).get("psid")).strip(): i for i in items}


QUIRKS = _quirks()


def mapped(psid: str, file_area_code: str | None = "131059") -> MappedItem:
    result = map_item(QUIRKS[psid], file_area_code=file_area_code)
    assert isinstance(result, MappedItem), result
    return result


def notes_about(result: MappedItem, text: str) -> list[str]:
    return [n for n in result.review_notes if text in n]


def sample(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared registry samples sit beside the repo")
    return path


def passes_own_examples(result: MappedItem) -> list[str]:
    """The examples of a mapped program that its rule gets wrong (empty = all pass)."""
    from rules.profile import derive

    program = result.program
    rule = language.compile_rule(program.eligibility, per_child=program.per_child)
    compiled = evaluate.CompiledProgram(id="p", rule=rule, per_child=program.per_child)
    wrong = []
    for example in program.examples:
        match = evaluate.evaluate_family(derive(example.family, example.date), [compiled])[0]
        if match.eligible != example.eligible:
            wrong.append(f"{example.note}: expected {example.eligible}, got {match.eligible}")
    return wrong


# ---------------------------------------------------------------------------- file shapes


def test_object_shape_with_area_code_count_and_items() -> None:
    items = load_items(FIXTURES / "quirks.json")
    assert len(items) == json.loads((FIXTURES / "quirks.json").read_text("utf-8"))["count"]


def test_bare_array_with_a_bom() -> None:
    assert (FIXTURES / "bare_array_bom.json").read_bytes().startswith(b"\xef\xbb\xbf")
    items = load_items(FIXTURES / "bare_array_bom.json")
    assert [i["basicInformation"]["psid"] for i in items] == ["shape+1", "shape+2"]


def test_list_of_area_objects_flattens_and_keeps_each_area_code() -> None:
    items = load_items(FIXTURES / "list_of_areas.json")
    assert [i["basicInformation"]["psid"] for i in items] == ["shape+1", "shape+3"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("not_json.json", "not valid JSON"),
        ("unknown_shape.json", "unknown shape"),
        ("does_not_exist.json", "cannot read"),
    ],
)
def test_unreadable_files_raise_with_the_file_name(name: str, message: str) -> None:
    with pytest.raises(RegistryFileError) as error:
        load_items(FIXTURES / name)
    assert name in str(error.value)
    assert message in str(error.value)


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "sjis.json"
    path.write_bytes('[{"summary": "文京区"}]'.encode("shift_jis"))
    with pytest.raises(RegistryFileError, match="sjis.json: not UTF-8"):
        load_items(path)


# ---------------------------------------------------------------------------- identity


def test_psid_is_the_stripped_source_id_and_stable() -> None:
    assert mapped("test+padded-psid").source_id == "test+padded-psid"
    first, second = mapped("test+months-zero-years"), mapped("test+months-zero-years")
    assert first.source_id == second.source_id == "test+months-zero-years"
    # Mapping is deterministic, so a re-import finds nothing changed.
    assert first.program.model_dump() == second.program.model_dump()
    assert first.review_notes == second.review_notes


def test_items_that_cannot_be_imported_are_rejected() -> None:
    no_psid = next(i for i in QUIRKS.values() if not i["basicInformation"]["psid"])
    assert map_item(no_psid, file_area_code="131059") == Rejected(
        None, "basicInformation.psid is missing"
    )
    no_name = map_item(QUIRKS["test+no-name"], file_area_code="131059")
    assert isinstance(no_name, Rejected) and "name" in no_name.reason
    no_area = map_item(QUIRKS["test+no-area"], file_area_code=None)
    assert isinstance(no_area, Rejected)
    assert no_area.source_id == "test+no-area" and "issuer" in no_area.reason
    assert isinstance(map_item(["not", "an", "item"], file_area_code=None), Rejected)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- issuer


def test_area_code_with_a_tab_before_the_semicolon() -> None:
    assert QUIRKS["test+months-zero-years"]["area"]["areaCode"] == "131059\t;文京区"
    result = mapped("test+months-zero-years")
    assert result.program.issuer == "131059"
    assert result.program.eligibility.startswith('municipality == "131059"')


def test_area_code_falls_back_to_the_file_then_to_the_organization() -> None:
    result = mapped("test+area-fallback", file_area_code="131059")
    assert result.program.issuer == "131059"
    assert notes_about(result, "area.areaCode: invalid ('文京区'); the file's areaCode 131059")
    from_org = mapped("test+area-fallback", file_area_code=None)
    assert from_org.program.issuer == "131059"
    assert notes_about(from_org, "basicInformation.organization")


def tokyo_under(years: int) -> MappedItem:
    """The Tokyo item with its upper bound moved to `years`."""
    item = json.loads(json.dumps(QUIRKS["test+tokyo"]))
    item["target"]["lessThan"]["targetAge"] = years
    result = map_item(item, file_area_code=None)
    assert isinstance(result, MappedItem), result
    return result


def test_tokyo_programs_match_on_the_prefecture() -> None:
    result = mapped("test+tokyo", file_area_code=None)
    assert result.program.issuer == "130001"
    assert result.program.eligibility == 'prefecture == "130001" and child.age_months < 216'
    result = tokyo_under(6)
    assert result.program.eligibility == 'prefecture == "130001" and child.age_months < 72'
    assert result.publishable
    assert {e.family.municipality for e in result.program.examples if not e.eligible} >= {"141003"}
    assert passes_own_examples(result) == []


# ---------------------------------------------------------------------------- age bounds


@pytest.mark.parametrize(
    ("psid", "clause"),
    [
        # {0, 3} .. {0, 4}: whole months, inclusive.
        ("test+months-zero-years", "child.age_months >= 3 and child.age_months <= 4"),
        # {null, 5} .. {null, 6}: the same reading when the years are null.
        ("test+months-null-years", "child.age_months >= 5 and child.age_months <= 6"),
        # {7, 6}: 7 years 6 months = 90 months; "< 9 years" = before the 9th birthday.
        ("test+years-and-months", "child.age_months >= 90 and child.age_months < 108"),
        # "<= 6 years" (months null) = until the 7th birthday.
        ("test+le-years-only", "child.age_months >= 48 and child.age_months < 84"),
        # "> 6 years" (months null) = from the 7th birthday.
        ("test+greater-than-years", "child.age_months >= 84 and child.age_months < 216"),
        # "<= 6 years 0 months" (months given) = up to 72 full months.
        ("test+le-explicit-zero", "child.age_months >= 36 and child.age_months <= 72"),
    ],
)
def test_structured_bounds_become_a_per_child_rule(psid: str, clause: str) -> None:
    result = mapped(psid)
    assert result.program.eligibility == f'municipality == "131059" and {clause}'
    assert result.program.per_child is True
    assert notes_about(result, "target: read as ")


def test_clean_bounds_are_publishable_with_boundary_examples() -> None:
    result = mapped("test+months-zero-years")
    assert result.publishable and not result.needs_review
    examples = result.program.examples
    assert 2 <= len(examples) <= 4
    assert [e.eligible for e in examples] == [True, False, False, False]
    assert all(e.date == EXAMPLE_DATE for e in examples)
    months = [age_months(e.family.children[0].birth_date, e.date) for e in examples]
    assert months == [3, 2, 5, 3]  # at the lower bound, a day short of it, past the upper one
    assert examples[-1].family.municipality != "131059"
    assert passes_own_examples(result) == []


def test_upper_bound_only_starts_from_the_last_eligible_month() -> None:
    result = tokyo_under(6)
    births = [(e.family.children[0].birth_date, e.eligible) for e in result.program.examples]
    assert [(age_months(b, EXAMPLE_DATE), ok) for b, ok in births] == [
        (71, True),
        (72, False),
        (71, False),
    ]


def test_reversed_bounds_need_review_and_guess_no_age_clause() -> None:
    result = mapped("test+reversed")
    assert result.needs_review and not result.publishable
    assert result.program.eligibility == 'municipality == "131059"'
    assert result.program.per_child is False
    assert result.program.examples == []
    assert notes_about(
        result, "target: age bounds reversed (>= 12 years 0 months and <= 6 years 0 months)"
    )


def test_explicit_zero_months_on_an_upper_bound_is_flagged() -> None:
    result = mapped("test+le-explicit-zero")
    assert result.needs_review and not result.publishable
    assert notes_about(result, "target.lessThanOrEqualTo: <= 6 years 0 months read to the month")


def test_free_text_only_targets_are_location_rules_that_need_review() -> None:
    result = mapped("test+free-text")
    assert result.program.eligibility == 'municipality == "131059"'
    assert result.program.per_child is False
    assert result.needs_review and not result.publishable
    [note] = notes_about(result, "target: free text only")
    assert "区内在住で、生後4か月までの乳児と保護者" in note
    assert len(note.split(": ", 2)[2]) <= 80


def test_only_a_lower_bound_needs_review() -> None:
    result = mapped("test+lower-only")
    assert result.program.eligibility == 'municipality == "131059" and child.age_months >= 12'
    assert result.needs_review and not result.publishable
    assert notes_about(result, "only a lower age bound")


def test_conditions_only_in_the_text_are_flagged() -> None:
    result = mapped("test+pregnancy-text")
    assert result.program.eligibility == 'municipality == "131059" and child.age_months < 12'
    assert result.needs_review and not result.publishable
    assert notes_about(result, "restricts by pregnancy")


def test_bound_values_that_are_not_numbers() -> None:
    item = json.loads(json.dumps(QUIRKS["test+months-zero-years"]))
    item["target"]["lessThanOrEqualTo"] = {"targetAge": "abc", "targetAgeOfMonths": None}
    result = map_item(item, file_area_code="131059")
    assert isinstance(result, MappedItem)
    assert result.program.eligibility == 'municipality == "131059"'
    assert result.needs_review
    assert notes_about(result, "target.lessThanOrEqualTo.targetAge: not a whole")


# ---------------------------------------------------------------------------- other quirks


def test_tag_codes_are_normalised() -> None:
    result = mapped("test+tags")
    assert result.program.category == [
        "category:002",
        "category:003",
        "category:027",
        "target:086",
        "contents:079",
        "contents:999",
    ]
    assert notes_about(result, "tag.categoryCode: '002,003' holds several codes")
    assert notes_about(result, "tag.targetCode: '86' read as '086'")
    assert notes_about(result, "tag.contentsCode: unknown code '999'")
    assert not result.needs_review  # categories do not decide who is eligible


def test_comma_joined_values_are_flagged_and_the_first_url_used() -> None:
    result = mapped("test+multi-values")
    assert result.program.reference_url == "https://www.city.bunkyo.lg.jp/a.html"
    assert notes_about(result, "localGovernmentLink.uri: 2 URLs")
    assert notes_about(result, "contact.zipCode: 2 values joined by commas")
    assert notes_about(result, "contact.contactPhone: 2 values joined by commas")


def test_both_date_formats() -> None:
    program = mapped("test+dates").program
    assert program.application.deadline == date(2025, 3, 13)
    assert program.valid_from == date(2024, 7, 8)
    assert program.valid_to == date(2025, 3, 31)


def test_unparseable_dates_are_noted_not_fatal() -> None:
    result = mapped("test+bad-date")
    assert result.program.application.deadline is None
    assert result.program.valid_to is None
    assert result.needs_review
    assert notes_about(result, "procedurePeriod.toYMD: not a date ('随時')")
    assert notes_about(result, "implementationPeriod.toYMD: not a date ('2025-02-30')")


def test_cost_given_as_a_string() -> None:
    result = mapped("test+cost-string")
    assert "費用: 800円（「スポーツ安全保険」の掛け金800円）" in (result.program.benefit or "")
    assert notes_about(result, "cost: amount given as a string ('800')")


def test_misspelled_utilization_conditions_key() -> None:
    result = mapped("test+misspelled-key")
    assert "利用時間: 08:30〜16:50\n平日：放課後～18時00分" in (result.program.benefit or "")
    assert notes_about(result, "condiutilizationConditionstions")


def test_template_text_is_flagged_and_the_placeholder_removed() -> None:
    result = mapped("test+template")
    assert result.program.name.ja == "こども家庭センター"
    assert "※自治体で" not in result.program.summary.ja
    assert result.program.summary.ja.startswith("利島村の【こども家庭センター】")
    assert result.needs_review
    assert notes_about(result, "institutionName.shortName: template text left in ('制度なし')")
    assert notes_about(result, "summary: template text left in")


def test_the_same_long_text_in_several_fields_is_kept_once() -> None:
    result = mapped("test+repeated-text")
    benefit = result.program.benefit or ""
    assert benefit.count("妊婦健康診査受診票14枚") == 1
    assert notes_about(result, "support.monetarySupport: repeats support.description")


def test_several_application_forms_take_the_first_and_say_so() -> None:
    result = mapped("test+form-links")
    assert result.program.application.url == "https://logoform.jp/form/a"
    assert notes_about(result, "formLink: 2 application forms (会場A / 会場B)")


def test_the_name_is_the_municipality_s_own_short_name() -> None:
    assert mapped("test+plain").program.name.ja == "基本の制度"


# ---------------------------------------------------------------------------- real samples


@pytest.mark.parametrize(("path", "count"), [(BUNKYO, 10), (TOSHIMA, 29)])
def test_real_samples_map_without_rejections(path: Path, count: int) -> None:
    items = load_items(sample(path))
    area = json.loads(path.read_text("utf-8-sig"))["areaCode"]
    results = [map_item(item, file_area_code=area) for item in items]
    assert len(results) == count
    assert all(isinstance(r, MappedItem) for r in results)
    assert len({r.source_id for r in results}) == count  # type: ignore[union-attr]


def test_real_samples_rules_compile_and_examples_pass() -> None:
    publishable = []
    for path in (sample(BUNKYO), sample(TOSHIMA)):
        area = json.loads(path.read_text("utf-8-sig"))["areaCode"]
        for item in load_items(path):
            result = map_item(item, file_area_code=area)
            assert isinstance(result, MappedItem)
            language.compile_rule(result.program.eligibility, per_child=result.program.per_child)
            if result.publishable:
                publishable.append(result)
                assert result.program.examples
                assert passes_own_examples(result) == []
            else:
                assert result.needs_review
    names = sorted(r.program.name.ja for r in publishable)
    assert names == [
        "3～4カ月児検診",
        "6～7カ月児検診",
        "9～10カ月児検診",
        "ステップ・アップ！離乳食講習会（7～8か月児向け）",
    ]


# ---------------------------------------------------------------------------- who is told

DIVORCE_SEMINAR = "psid3.0+6000020131059+2+UM120"


def real_items() -> dict[str, MappedItem]:
    """Every real sample item, mapped, by psid."""
    found = {}
    for path in (sample(BUNKYO), sample(TOSHIMA)):
        area = json.loads(path.read_text("utf-8-sig"))["areaCode"]
        for item in load_items(path):
            result = map_item(item, file_area_code=area)
            assert isinstance(result, MappedItem)
            found[result.source_id] = result
    return found


def test_the_divorce_seminar_for_every_parent_of_a_minor_stays_a_draft_shown_on_request() -> None:
    # 「パパとママの離婚講座」 says "under 18": read alone it told 8,278 of 50,000 families.
    result = real_items()[DIVORCE_SEMINAR]
    assert result.program.name.ja == "パパとママの離婚講座"
    assert result.program.eligibility == 'municipality == "131059" and child.age_months < 216'
    assert result.needs_review and not result.publishable
    [why] = result.review_reasons
    assert "spans more than 6 years" in why
    assert result.program.push == "on_request"
    [note] = notes_about(result, "push: on_request")
    assert "a seminar or class ('講座')" in note and "a sensitive topic ('離婚')" in note
    assert result.program.category[0] == "classes"


def test_wide_age_ranges_need_review() -> None:
    result = mapped("test+greater-than-years")  # over 6 and under 18
    assert result.needs_review and not result.publishable
    assert notes_about(result, "spans more than 6 years")
    assert tokyo_under(6).publishable  # six years exactly is still specific enough


@pytest.mark.parametrize(
    ("name", "push", "topic"),
    [
        ("3～4カ月児検診", "proactive", "health-checkup"),
        ("出産育児一時金", "proactive", "allowance"),
        ("定期予防接種", "proactive", "vaccination"),
        ("利島村放課後子供教室", "proactive", "after-school"),  # after-school care, no class
        ("ステップ・アップ！離乳食講習会（7～8か月児向け）", "on_request", "classes"),
        ("ふたご・多胎のサロン", "on_request", "classes"),
        ("ひとり親家族等医療助成", "on_request", "medical"),
        ("自立支援医療費助成", "on_request", "medical"),  # 精神通院医療, 障害
        ("公園（児童遊園）のルール", "on_request", None),  # no topic to switch off
    ],
)
def test_push_policy_and_first_topic_of_real_items(
    name: str, push: str, topic: str | None
) -> None:
    [result] = [r for r in real_items().values() if r.program.name.ja == name][:1]
    assert result.program.push == push, result.review_notes
    topics = [c for c in result.program.category if ":" not in c]
    assert (topics[0] if topics else None) == topic


def test_every_imported_item_is_filed_under_topics_a_parent_can_switch_off() -> None:
    from registry.schemas import NOTICE_TOPICS

    for result in real_items().values():
        topics = [c for c in result.program.category if ":" not in c]
        assert set(topics) <= set(NOTICE_TOPICS), topics
        # What a parent could not switch off is never pushed.
        if not topics:
            assert result.program.push == "on_request"
        # The registry's own codes stay beside the topics.
        assert any(c.startswith("category:") for c in result.program.category)


def test_real_toshima_quirks() -> None:
    items = {i["basicInformation"]["psid"]: i for i in load_items(sample(TOSHIMA))}
    club = map_item(items["psid3.0+1000020133621+1+UM79"], file_area_code="133621")
    assert isinstance(club, MappedItem)
    assert club.program.eligibility == 'municipality == "133621"'
    assert notes_about(club, "target: age bounds reversed")
    centre = map_item(items["psid3.0+1000020133621+1+UM799"], file_area_code="133621")
    assert isinstance(centre, MappedItem)
    assert centre.program.name.ja == "こども家庭センター"
    assert centre.needs_review


# ---------------------------------------------------------------------------- saving


async def test_import_files_creates_then_finds_nothing_changed(sessions: Any) -> None:
    from sqlmodel import select

    from registry.models import Program

    lines: list[str] = []
    paths = [FIXTURES / "quirks.json", FIXTURES / "list_of_areas.json"]
    first = await import_files(paths, sessions, progress=lines.append)
    mapped_ok = [
        r
        for r in (map_item(i, file_area_code="131059") for i in load_items(paths[0]))
        if isinstance(r, MappedItem)
    ]
    assert first.created == len(mapped_ok) + 2
    assert first.updated == first.unchanged == 0
    assert len(first.rejected) == len(QUIRKS) - len(mapped_ok)
    assert first.needs_review == sum(r.needs_review for r in mapped_ok) + 2  # free text
    assert lines[0] == f"[1/2] quirks.json: {len(QUIRKS)} items"
    assert lines[1] == "[2/2] list_of_areas.json: 2 items"
    assert any("count says 2 but 1 items" in w for w in first.warnings)
    assert "rejected" in first.render()

    second = await import_files(paths, sessions)
    assert (second.created, second.updated) == (0, 0)
    assert second.unchanged == first.created

    async with sessions() as session:
        rows = (await session.exec(select(Program))).all()
    assert len(rows) == first.created
    by_id = {row.source_id: row for row in rows}
    assert by_id["test+months-zero-years"].status == "published"
    assert by_id["test+reversed"].status == "draft"
    assert by_id["test+reversed"].needs_review
    assert by_id["shape+3"].issuer == "131130"  # the area object's code, not the first file's


async def test_the_import_report_lists_the_drafts_needing_review_and_why(sessions: Any) -> None:
    report = await import_files([sample(BUNKYO)], sessions)
    assert report.needs_review == len(report.review) == 9
    by_psid = {psid: (name, why) for psid, name, why in report.review}
    name, why = by_psid[DIVORCE_SEMINAR]
    assert name == "パパとママの離婚講座" and any("spans more than 6 years" in w for w in why)
    assert report.on_request == 7
    text = report.render()
    assert "7 shown on request only (never pushed)" in text
    assert "drafts needing review (9):" in text
    assert f"review {DIVORCE_SEMINAR} パパとママの離婚講座: target: the age range" in text
    short = report.render(max_review=2)
    assert short.count("\n  review ") == 2 and "... and 7 more needing review" in short


async def test_a_broken_file_writes_nothing(sessions: Any) -> None:
    from registry import programs

    with pytest.raises(RegistryFileError):
        await import_files([FIXTURES / "quirks.json", FIXTURES / "not_json.json"], sessions)
    async with sessions() as session:
        assert await programs.count_programs(session) == 0


async def test_progress_every_hundred_items(sessions: Any, tmp_path: Path) -> None:
    base = QUIRKS["test+plain"]
    items = []
    for n in range(250):
        item = json.loads(json.dumps(base))
        item["basicInformation"]["psid"] = f"bulk+{n}"
        items.append(item)
    path = tmp_path / "bulk.json"
    path.write_text(json.dumps(items, ensure_ascii=False), "utf-8")
    lines: list[str] = []
    report = await import_files([path], sessions, progress=lines.append)
    assert lines == [
        "[1/1] bulk.json: 250 items",
        "[1/1] bulk.json: 100/250 items",
        "[1/1] bulk.json: 200/250 items",
        "[1/1] bulk.json: 250/250 items",
    ]
    assert report.created == 250
