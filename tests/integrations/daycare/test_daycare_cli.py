"""The daycare import commands, as an operator runs them: reports, exit codes, one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    vacancies.write_bytes(
        "【令和8年3月1日時点】\r\n保育園名,０歳児,１歳児\r\n芝保育園,2,×\r\n".encode("cp932")
    )
    code, out, _ = cli(
        "import-vacancies", str(vacancies), "--municipality", "131032", capsys=capsys
    )
    assert code == 0 and "entry in 2026-04" in out and "1 newly open" in out


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
