"""`hagukumi points-rules`: upload a points document from a file, as an operator runs it."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

from hagukumi.cli import main


@pytest.fixture
def cli(database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("HAGUKUMI_DATABASE_URL", database_url)
    monkeypatch.setenv("HAGUKUMI_REDIS_URL", redis_url)

    def run(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_points_rules_upload_unchanged_and_invalid(
    cli: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = files("integrations.daycare") / "points_rules" / "hachioji_132012.yaml"
    good = tmp_path / "hachioji.yaml"
    text = source.read_text(encoding="utf-8")
    good.write_text(text, encoding="utf-8")

    code, out, err = cli("points-rules", str(good), "--municipality", "132012", capsys=capsys)
    assert code == 0, err
    assert out.startswith("132012 version 1 (new version) digest ")
    assert "example 1 ok: 母 週28時間・父 週40時間の就労 = 17" in out
    code, out, _ = cli("points-rules", str(good), "--municipality", "132012", capsys=capsys)
    assert code == 0 and "version 1 (unchanged)" in out

    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("expected_points: 17", "expected_points: 16"), encoding="utf-8")
    code, out, err = cli("points-rules", str(bad), "--municipality", "132012", capsys=capsys)
    assert code == 2 and out == ""
    assert "examples[1]: '母 週28時間・父 週40時間の就労': expected 16 points" in err

    code, _, err = cli("points-rules", str(good), "--municipality", "131130", capsys=capsys)
    assert code == 2 and "is for 132012, not 131130" in err
