"""The import report both importers share: counts, rejected and needs-review lists."""

from __future__ import annotations

from integrations.importers.families import FamilyImportReport
from integrations.importers.report import ImportReport, capped
from integrations.importers.tokyo_registry import RegistryImportReport


def test_both_importers_report_in_the_shared_shape() -> None:
    registry, families = RegistryImportReport(created=2), FamilyImportReport(updated=1)
    assert isinstance(registry, ImportReport) and isinstance(families, ImportReport)
    registry.reject("psid-1", "issuer 999999 is not a known municipality")
    registry.review.append(("psid-2", "こんにちは赤ちゃん訪問", ["target: free text only"]))
    families.reject(4, "line_user_id: bad")
    assert registry.needs_review == 1 and families.needs_review == 0
    assert registry.total == 3
    assert families.errors == 1
    assert "  rejected psid-1: issuer 999999 is not a known municipality" in registry.render()
    assert "  line 4: line_user_id: bad" in families.render()


def test_long_lists_are_capped_with_a_count_of_the_rest() -> None:
    lines = capped(list(range(5)), 2, lambda n: f"  item {n}", "items")
    assert lines == ["  item 0", "  item 1", "  ... and 3 more items"]
    assert capped([1], 2, str, "items") == ["1"]
