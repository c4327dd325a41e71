"""Imported registry items show parents https links only."""

from __future__ import annotations

import copy

from integrations.importers.tokyo_registry import MappedItem, map_item
from tests.integrations.importers.test_tokyo_registry import QUIRKS


def test_plain_http_links_are_left_out_with_a_note() -> None:
    item = copy.deepcopy(QUIRKS["test+plain"])
    item["localGovernmentLink"]["uri"] = "http://www.rikon-terrace.com/"
    item["formLink"] = [{"uri": "javascript:alert(1)"}, {"uri": "http://form.example/a"}]
    result = map_item(item, file_area_code="131059")
    assert isinstance(result, MappedItem), result
    assert result.program.reference_url is None
    assert result.program.application.url is None
    assert any("not an https URL" in note for note in result.review_notes)
