from datetime import date

import pytest
from pydantic import ValidationError

from rules import VOCABULARY, ChildInput, FamilyInput, derive

ON = date(2026, 5, 1)


def family(**kwargs: object) -> FamilyInput:
    return FamilyInput.model_validate({"municipality": "131130", **kwargs})


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("131131", "check digit"),
        ("13113", "six-digit"),
        ("13113a", "six-digit"),
        ("130001", "not a municipality"),  # Tokyo Metropolis itself
        ("000000", "not a municipality"),
    ],
)
def test_municipality_must_be_a_valid_municipality_code(code: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        family(municipality=code)


@pytest.mark.parametrize(
    "payload",
    [
        {"child_count": 2},
        {"prefecture": "130001"},
        {"children": [{"birth_date": "2024-01-01", "age": 2}]},
        {"children": [{"birth_date": "2024-01-01", "birth_order": 1}]},
    ],
)
def test_derived_fields_cannot_be_input(payload: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        family(**payload)


def test_input_limits() -> None:
    with pytest.raises(ValidationError):
        family(household_income=-1)
    with pytest.raises(ValidationError):
        family(children=[{"birth_date": "2020-01-01"}] * 21)
    with pytest.raises(ValidationError):
        family(children=[{"birth_date": "2020-01-01", "daycare": "waiting"}])
    with pytest.raises(ValidationError, match="pregnant"):
        family(due_date="2026-09-01")
    assert len(family(children=[{"birth_date": "2020-01-01"}] * 20).children) == 20


def test_json_schema_documents_every_field() -> None:
    for model in (FamilyInput, ChildInput):
        properties = model.model_json_schema()["properties"]
        assert all(p.get("description") for p in properties.values()), model.__name__
    assert FamilyInput.model_json_schema()["additionalProperties"] is False


def test_derive_household_fields() -> None:
    ctx = derive(family(municipality="131016", household_income=4_000_000), ON)
    assert ctx["municipality"] == "131016"
    assert ctx["prefecture"] == "130001"
    assert ctx["today"] == ON
    assert ctx["fiscal_year"] == 2026
    assert ctx["children"] == []
    assert ctx["child_count"] == 0
    assert ctx["youngest_age"] is None and ctx["oldest_age"] is None
    assert ctx["household_income"] == 4_000_000
    assert ctx["single_parent"] is None  # not told stays unknown, never False
    assert derive(family(municipality="271004"), ON)["prefecture"] == "270008"


def test_derive_children_in_input_order_with_birth_order_by_date() -> None:
    f = family(
        children=[
            {"birth_date": "2024-04-02", "daycare": "applying"},  # third child
            {"birth_date": "2015-05-01"},  # first child
            {"birth_date": "2020-04-01", "disability": True},  # second child
        ]
    )
    ctx = derive(f, ON)
    assert [c["index"] for c in ctx["children"]] == [0, 1, 2]
    assert [c["birth_order"] for c in ctx["children"]] == [3, 1, 2]
    youngest, oldest, middle = ctx["children"]
    assert (youngest["age"], youngest["age_months"], youngest["class_age"]) == (2, 24, 1)
    assert youngest["grade"] is None and youngest["daycare"] == "applying"
    assert (middle["age"], middle["class_age"], middle["grade"]) == (6, 6, 1)
    assert middle["disability"] is True
    assert (oldest["age"], oldest["class_age"], oldest["grade"]) == (11, 10, 5)  # birthday
    assert ctx["child_count"] == 3
    assert (ctx["youngest_age"], ctx["oldest_age"]) == (2, 11)


def test_twins_get_consecutive_birth_orders_in_input_order() -> None:
    f = family(children=[{"birth_date": "2022-01-01"}] * 2 + [{"birth_date": "2019-01-01"}])
    assert [c["birth_order"] for c in derive(f, ON)["children"]] == [2, 3, 1]


def test_child_born_on_the_evaluation_day_is_zero() -> None:
    child = derive(family(children=[{"birth_date": ON}]), ON)["children"][0]
    assert (child["age"], child["age_months"]) == (0, 0)


def test_unborn_child_is_rejected() -> None:
    f = family(children=[{"birth_date": "2020-01-01"}, {"birth_date": "2026-05-02"}])
    with pytest.raises(ValueError, match=r"children\[1\]\.birth_date 2026-05-02 is after"):
        derive(f, ON)


def test_vocabulary_describes_exactly_what_derive_produces() -> None:
    ctx = derive(family(children=[{"birth_date": "2020-01-01"}]), ON)
    household = {k for k in VOCABULARY if "." not in k}
    child = {k.removeprefix("child.") for k in VOCABULARY if k.startswith("child.")}
    assert household == set(ctx)
    assert child == set(ctx["children"][0])
    for term in VOCABULARY.values():
        assert term.type in {"STRING", "FLOAT", "DATETIME", "BOOLEAN", "ARRAY"}
        assert term.ja and term.en
