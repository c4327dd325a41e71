"""The daycare import commands, as an operator runs them: reports, exit codes, one-line errors."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hagukumi.cli import main
from tests.conftest import shared_path


@pytest.fixture
def cli(database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("HAGUKUMI_DATABASE_URL", database_url)
    monkeypatch.setenv("HAGUKUMI_REDIS_URL", redis_url)

    def run(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's own refusals
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_import_facilities_results_and_vacancies(
    cli: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    minato = shared_path("data", "facilities", "minato_hoikuen.csv")
    points = shared_path("data", "facilities", "minato_min_points_2021.csv")
    code, out, err = cli("import-facilities", str(minato), capsys=capsys)
    assert code == 2 and "--municipality" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1

    code, out, _ = cli(
        "import-facilities", str(minato), "--municipality", "131032", "--dry-run", capsys=capsys
    )
    assert code == 0 and "dry run" in out and "111 created" in out
    code, out, err = cli(
        "import-facilities", str(minato), "--municipality", "131032", capsys=capsys
    )
    assert code == 0 and "111 created" in out and "3 without coordinates" in out
    assert "[1/1] minato_hoikuen.csv" in err  # progress goes to stderr
    code, out, _ = cli("import-facilities", str(minato), "--municipality", "131032", capsys=capsys)
    assert code == 0 and "111 unchanged" in out

    code, out, _ = cli("import-results", str(points), "--municipality", "131032", capsys=capsys)
    assert code == 0 and "0 facilities not found" in out

    vacancies = tmp_path / "aki.csv"
    as_of = datetime.now(ZoneInfo("Asia/Tokyo")).date().replace(day=1)
    entry = date(as_of.year + (as_of.month == 12), as_of.month % 12 + 1, 1)
    title = f"【{as_of.year}年{as_of.month}月1日時点】"
    vacancies.write_bytes(f"{title}\r\n保育園名,０歳児,１歳児\r\n芝保育園,2,×\r\n".encode("cp932"))
    code, out, _ = cli(
        "import-vacancies", str(vacancies), "--municipality", "131032", capsys=capsys
    )
    assert code == 0 and f"entry in {entry:%Y-%m}" in out and "1 newly open" in out
    # A list of last year: its month of entry has passed; the report says so.
    last_year = f"【{as_of.year - 1}年{as_of.month}月1日時点】"
    vacancies.write_bytes(
        f"{last_year}\r\n保育園名,０歳児,１歳児\r\n芝保育園,0,0\r\n".encode("cp932")
    )
    code, out, err = cli(
        "import-vacancies", str(vacancies), "--municipality", "131032", capsys=capsys
    )
    assert code == 1, (out, err)  # every row skipped
    assert f"month of entry {entry.year - 1}-{entry.month:02d} has passed; pass --month" in out
    assert "0 cells saved" in out


def test_bad_arguments_exit_2_in_one_line(
    cli: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = cli("import-facilities", str(tmp_path / "missing.csv"), capsys=capsys)
    assert code == 2 and "no such file" in err
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\x00\x01\x02")
    code, _, err = cli("import-facilities", str(bad), capsys=capsys)
    assert code == 2 and "not a text file" in err and "Traceback" not in err
    code, _, err = cli("import-facilities", str(bad), "--municipality", "131031", capsys=capsys)
    assert code == 2 and "not a local government code" in err
    code, _, err = cli("import-vacancies", str(bad), "--month", "2026-13", capsys=capsys)
    assert code == 2 and "YYYY-MM" in err
    code, _, err = cli("import-results", str(bad), capsys=capsys)
    assert code == 2 and "--municipality" in err
    points = tmp_path / "points.csv"
    points.write_text("保育園名,0歳,1歳\nA園,30,31\n", encoding="utf-8")
    code, _, err = cli("import-results", str(points), "--municipality", "131032", capsys=capsys)
    assert code == 2 and "--year" in err


def test_a_wrong_or_unknown_municipality_and_files_with_nothing_saved(
    cli: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    minato = shared_path("data", "facilities", "minato_hoikuen.csv")
    # Osaka's code is valid, but this service does not know Osaka: one line, before any row.
    code, out, err = cli(
        "import-facilities", str(minato), "--municipality", "271004", capsys=capsys
    )
    assert code == 2 and out == "" and "skipped" not in err
    assert err.strip().splitlines() == [
        "hagukumi: municipality 271004 is not one this service knows: nothing imported "
        "(is --municipality right?)"
    ]
    # Minato's list filed under Hachioji: refused without --force.
    code, out, err = cli(
        "import-facilities", str(minato), "--municipality", "132012", capsys=capsys
    )
    assert code == 2 and "addresses name 港区, not 八王子市" in err
    assert "is --municipality right?" in err and len(err.strip().splitlines()) == 1
    code, out, err = cli(
        "import-facilities", str(minato), "--municipality", "132012", "--force", capsys=capsys
    )
    assert (
        code == 0
        and "warning: minato_hoikuen.csv: 111 of 111 addresses name 港区, not 八王子市" in out
    )
    # A file none of whose rows could be saved: exit 1 with the report.
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "都道府県コード又は市区町村コード,NO,名称,住所,緯度,経度\n"
        "131131,1,ささづか保育園,東京都渋谷区笹塚1-3,35.67,139.66\n"
        "131131,2,はたがや保育園,東京都渋谷区幡ヶ谷1-1,35.67,139.67\n",
        encoding="utf-8",
    )
    code, out, _ = cli("import-facilities", str(bad), capsys=capsys)
    assert code == 1 and "2 skipped" in out and "every row of bad.csv was skipped" in out
