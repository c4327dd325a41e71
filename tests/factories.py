"""Builders of test data, in one place."""

from __future__ import annotations

from typing import Any


def program_body(**overrides: Any) -> dict[str, Any]:
    """A valid program input (Shibuya, per child, under 3) with passing examples."""
    body: dict[str, Any] = {
        "issuer": "131130",
        "name": {"ja": "テスト乳幼児手当", "en": "Test infant allowance"},
        "summary": {"ja": "3歳未満の子がいる渋谷区の家庭に", "en": "For Shibuya families"},
        "category": ["allowance"],
        "eligibility": 'municipality == "131130" and child.age < 3',
        "per_child": True,
        "benefit": "月額5,000円",
        "reference_url": "https://www.city.shibuya.tokyo.jp/",
        "application": {"url": "https://www.city.shibuya.tokyo.jp/", "deadline": "2027-03-31"},
        "valid_from": "2026-04-01",
        "valid_to": None,
        "examples": [
            {
                "family": {"municipality": "131130", "children": [{"birth_date": "2025-01-01"}]},
                "date": "2026-11-26",
                "eligible": True,
            },
            {
                "family": {"municipality": "131130", "children": [{"birth_date": "2020-01-01"}]},
                "date": "2026-11-26",
                "eligible": False,
            },
        ],
    }
    body.update(overrides)
    return body


def family(municipality: str = "131130", *births: str, **fields: Any) -> dict[str, Any]:
    """A family profile in the API's input form."""
    return {
        "municipality": municipality,
        "children": [{"birth_date": b} for b in births],
        **fields,
    }
