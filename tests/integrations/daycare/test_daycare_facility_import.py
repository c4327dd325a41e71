"""Facility lists in: the real open-data files and the forms other municipalities publish."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from integrations.daycare.facilities import (
    current_vacancies,
    derived_facility_id,
    facilities_by_id,
    list_versions,
    patch_facility,
)
from integrations.daycare.models import Facility
from integrations.importers.facilities import (
    ages,
    import_facilities,
    load_file,
    open_days,
    station,
)
from integrations.importers.tabular import DataFileError, parse_date, parse_time
from registry.db import transaction
from registry.models import Municipality
from tests.conftest import TODAY, shared_path

HACHIOJI, MINATO, SAPPORO = "132012", "131032", "011002"

HEADER = (
    "都道府県コード又は市区町村コード,NO,都道府県名,市区町村名,名称,名称_カナ,種別,住所,方書,緯度,経度,"
    "アクセス方法,駐車場情報,電話番号,内線番号,FAX番号,法人番号,団体名,認可等年月日,収容定員,受入年齢,"
    "利用可能曜日,開始時間,終了時間,利用可能日時特記事項,一時預かりの有無,URL,備考"
)
ROWS = [
    "131130,1,東京都,渋谷区,渋谷はぐくみ保育園,シブヤハグクミ,認可私立保育所,東京都渋谷区宇田川町1-1,,"
    "35.6618,139.6980,JR山手線「渋谷駅」から徒歩5分,,03-0000-0001,,,,法人A,2019-04-01,60,"
    "生後57日,月;火;水;木;金;土,7:30,18:30,延長保育19:30まで,有,https://example.jp/1,",
    # Blank coordinates: kept, flagged.
    "131130,2,東京都,渋谷区,代々木小規模保育室,,小規模保育事業,東京都渋谷区代々木1-2,,,,"
    ",,03-0000-0002,,,,法人B,2021-04-01,19,産休明け～2歳児,月;火;水;木;金,8:00,18:00,,無,,",
    # A code with a wrong check digit: the row is reported, not saved.
    "131131,3,東京都,渋谷区,ささづか保育園,,認可私立保育所,東京都渋谷区笹塚1-3,,35.67,139.66,"
    ",,,,,,,,,1歳クラスから,月,7:00,19:00,,,,",
    "131130,4,東京都,渋谷区,恵比寿キッズ,,その他の施設,東京都渋谷区恵比寿1-4,,35.64,139.71,"
    ",,,,,,,,,,,,,,,,",
]


def write_csv(path: Path, *, encoding: str, title: bool, crlf: bool, bom: bool = False) -> Path:
    lines = (["渋谷区 子育て施設一覧", "【令和7年4月1日時点】"] if title else []) + [HEADER, *ROWS]
    text = ("\r\n" if crlf else "\n").join(lines) + ("\r\n" if crlf else "\n")
    data = text.encode(encoding)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


async def facilities(sessions: Any, code: str) -> dict[str, Facility]:
    async with sessions() as session:
        return await facilities_by_id(session, code)


async def test_hachioji_real_file_every_row_with_times_dates_and_coordinates(
    sessions: Any,
) -> None:
    path = shared_path("data", "facilities", "hachioji_kosodate_shisetsu.csv")
    report = await import_facilities([path], sessions, today=TODAY)
    assert report.rows == 172 and report.created == 172 and report.skipped == 0
    found = await facilities(sessions, HACHIOJI)
    assert len(found) == 172
    koyasu = found["1"]
    assert koyasu.name_ja == "八王子市立子安保育園"
    assert (koyasu.opens, koyasu.closes) == ("07:30", "18:30")  # 0.3125 and 0.7708…
    assert koyasu.latitude == pytest.approx(35.652889) and koyasu.located
    assert (koyasu.station, koyasu.walk_minutes) == ("八王子駅", 7)
    assert koyasu.type == "licensed_public" and koyasu.type_label == "認定公立保育所"
    assert koyasu.classes == [1, 2, 3, 4, 5]  # 1歳クラスから
    assert koyasu.days == ["mon", "tue", "wed", "thu", "fri", "sat"]
    assert koyasu.temporary_care is True and koyasu.extended_until == "19:00"
    assert koyasu.body["licensed_on"] == "1950-07-10"  # Excel serial 18454
    assert {f.type for f in found.values()} >= {"kindergarten", "family_daycare", "small_scale"}
    assert all(f.located for f in found.values())


async def test_reimport_is_unchanged_and_a_change_makes_a_version(
    sessions: Any, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "shibuya.csv", encoding="utf-8", title=False, crlf=False)
    first = await import_facilities([path], sessions)
    assert (first.created, first.updated, first.unchanged) == (3, 0, 0)
    again = await import_facilities([path], sessions)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    path.write_text(path.read_text().replace(",60,", ",65,"), encoding="utf-8")
    changed = await import_facilities([path], sessions)
    assert (changed.updated, changed.unchanged) == (1, 2)
    row = (await facilities(sessions, "131130"))["1"]
    assert row.capacity == 65 and row.version == 2
    async with sessions() as session:
        assert [v.body["capacity"] for v in await list_versions(session, row.id)] == [60, 65]


@pytest.mark.parametrize(
    ("encoding", "title", "crlf", "bom"),
    [
        ("cp932", True, True, False),
        ("utf-8", True, True, True),
        ("utf-8", False, False, True),
        ("utf-8", True, False, False),
    ],
)
async def test_encodings_title_rows_and_line_ends(
    sessions: Any, tmp_path: Path, encoding: str, title: bool, crlf: bool, bom: bool
) -> None:
    path = write_csv(tmp_path / "f.csv", encoding=encoding, title=title, crlf=crlf, bom=bom)
    report = await import_facilities([path], sessions)
    assert report.created == 3
    # The bad row is named by its line in the file, and why.
    bad_line = 5 if title else 3
    assert report.rejected == [
        (f"f.csv:{bad_line + 1}", "'131131' is not a local government code")
    ]
    found = await facilities(sessions, "131130")
    first = found["1"]
    assert first.name_ja == "渋谷はぐくみ保育園"
    assert (first.opens, first.closes, first.extended_until) == ("07:30", "18:30", "19:30")
    assert first.min_age_months == 2 and first.classes == [0, 1, 2, 3, 4, 5]  # 生後57日
    assert first.body["licensed_on"] == "2019-04-01"
    assert (first.station, first.walk_minutes) == ("渋谷駅", 5)
    # Blank coordinates: kept, not located, and listed in the report.
    second = found["2"]
    assert second.latitude is None and not second.located and second.classes == [0, 1, 2]
    assert [u[1] for u in report.unlocated] == ["代々木小規模保育室"]
    assert "without coordinates" in report.render()
    # An unknown 種別 is "other", with the text kept.
    assert (found["4"].type, found["4"].type_label) == ("other", "その他の施設")


async def test_minato_needs_its_municipality_and_reads_its_own_columns(sessions: Any) -> None:
    path = shared_path("data", "facilities", "minato_hoikuen.csv")
    with pytest.raises(DataFileError, match="--municipality"):
        await import_facilities([path], sessions)
    report = await import_facilities([path], sessions, municipality=MINATO)
    assert report.created == 111 and report.skipped == 0  # the footer row is no facility
    assert len(report.unlocated) == 3  # home-visit care: 利用者自宅, no coordinates
    found = await facilities(sessions, MINATO)
    shiba = found[derived_facility_id("芝保育園")]
    assert (shiba.opens, shiba.closes) == ("07:15", "18:15")  # 標準時間
    assert shiba.min_age_months == 3 and shiba.classes == [0, 1, 2, 3, 4, 5]  # 3か月
    assert (shiba.extended_care, shiba.extended_until) == (True, "22:00")  # 22:00まで
    assert shiba.days == ["mon", "tue", "wed", "thu", "fri", "sat"]  # 休園日 日・祝・年末年始
    assert shiba.type == "licensed_public" and shiba.type_label == "認可保育園（区立）"
    again = await import_facilities([path], sessions, municipality=MINATO)
    assert again.unchanged == 111 and again.created == 0


async def test_sapporo_geojson_with_vacancies(sessions: Any) -> None:
    path = shared_path("data", "facilities", "sapporo_nurseries.geojson")
    report = await import_facilities(
        [path], sessions, today=date(2026, 11, 26), entry_month=date(2026, 3, 1)
    )
    assert report.created == 528 and report.skipped == 0 and report.warnings == []
    async with sessions() as session:
        assert (await session.get(Municipality, SAPPORO)) is not None
    found = await facilities(sessions, SAPPORO)
    yamahana = found["1009"]
    assert yamahana.name_ja == "山鼻華園保育園" and yamahana.type == "licensed_private"
    assert (yamahana.opens, yamahana.closes) == ("07:00", "19:00")
    assert yamahana.latitude == pytest.approx(43.036068)
    async with sessions() as session:
        cells = await current_vacancies(session, yamahana.id)
    # Vacancy "Y", VacancyDate "2/1現在": some places in each class for the month given.
    assert {(c.class_age, c.level) for c in cells} == {(a, "some") for a in yamahana.classes}
    assert {c.as_of for c in cells} == {date(2026, 2, 1)}
    assert {c.entry_month for c in cells} == {date(2026, 3, 1)}
    features = json.loads(path.read_text(encoding="utf-8"))["features"]
    with_places = [f for f in features if f["properties"]["Vacancy"] == "Y"]
    assert len({seat.facility_pk for seat in report.opened}) == len(with_places) > 0
    assert len(report.opened) == report.vacancies  # none were open before
    akebono = found["1001"]
    assert akebono.type == "licensed_public" and akebono.min_age_months == 22  # 1歳10か月
    async with sessions() as session:
        assert await current_vacancies(session, akebono.id) == []  # no Vacancy: unknown


async def test_bad_files_give_a_clear_error_and_bad_rows_a_report(
    sessions: Any, tmp_path: Path
) -> None:
    garbage = tmp_path / "book.csv"
    garbage.write_bytes(b"PK\x03\x04\x00\x00binary")
    with pytest.raises(DataFileError, match="not a text file"):
        await import_facilities([garbage], sessions)
    no_header = tmp_path / "other.csv"
    no_header.write_text("a,b,c\n1,2,3\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="no header row"):
        await import_facilities([no_header], sessions)
    broken = tmp_path / "broken.csv"
    broken.write_text(
        HEADER + "\n"
        "131130,,東京都,渋谷区,名無しの行,,,,,,,,,,,,,,,,,,,,,,,\n"
        "131130,7,東京都,渋谷区,位置のおかしな園,,,,,95.0,200.0,,,,,,,,,,,,,,,,,\n"
        "131130,8,東京都,渋谷区,短い行\n",
        encoding="utf-8",
    )
    report = await import_facilities([broken], sessions)
    assert report.rejected == [("broken.csv:2", "no facility id (NO)")]
    assert report.created == 2
    assert [(u[1], u[2]) for u in report.unlocated] == [
        ("位置のおかしな園", "coordinates out of range (95.0, 200.0)"),
        ("短い行", "no coordinates"),
    ]


async def test_dry_run_saves_nothing(sessions: Any, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "f.csv", encoding="utf-8", title=False, crlf=False)
    report = await import_facilities([path], sessions, dry_run=True)
    assert report.created == 3 and "dry run" in report.render()
    async with sessions() as session:
        assert (await session.exec(select(Facility))).all() == []


def test_cell_readers() -> None:
    assert parse_time("0.3125") == "07:30" and parse_time("0.77083333333333337") == "18:30"
    assert parse_time("7:30") == "07:30" and parse_time("１９時") == "19:00"
    assert parse_date("42095") == date(2015, 4, 1) and parse_date("2015-04-01") == date(2015, 4, 1)
    assert parse_date("令和元年5月1日") == date(2019, 5, 1)
    assert ages("1歳クラスから") == ([1, 2, 3, 4, 5], None)
    assert ages("産休明けから") == ([0, 1, 2, 3, 4, 5], 2)
    assert ages("生後57日") == ([0, 1, 2, 3, 4, 5], 2)
    assert ages("6か月から") == ([0, 1, 2, 3, 4, 5], 6)
    assert ages("３歳～５歳") == ([3, 4, 5], 36)
    assert ages("産休明け～2歳児") == ([0, 1, 2], 2)
    assert ages("よくわからない") is None
    assert open_days("月;火;水;木;金;土") == ["mon", "tue", "wed", "thu", "fri", "sat"]
    assert open_days("月～金") == ["mon", "tue", "wed", "thu", "fri"]
    assert station("JR中央線「八王子駅」から徒歩7分") == ("八王子駅", 7)
    assert station(
        "京王バス「中央図書館前」停留所から徒歩5分、JR中央線「西八王子駅」から徒歩6分"
    ) == (
        "西八王子駅",
        6,
    )
    assert station("西東京バス「上川原宿」停留所から徒歩5分") is None


async def test_coordinates_found_later_and_closing_survive_a_reimport(
    sessions: Any, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "f.csv", encoding="utf-8", title=False, crlf=False)
    await import_facilities([path], sessions)
    async with transaction(sessions) as session:
        row = (await facilities_by_id(session, "131130"))["2"]
        await patch_facility(session, row, {"latitude": 35.683, "longitude": 139.702})
        first = (await facilities_by_id(session, "131130"))["1"]
        await patch_facility(session, first, {"status": "closed"})
    report = await import_facilities([path], sessions)
    assert report.unchanged == 3 and report.unlocated == []
    found = await facilities(sessions, "131130")
    assert found["2"].located and found["2"].latitude == pytest.approx(35.683)
    assert found["1"].status == "closed"  # files have no status: closed stays closed


async def test_a_reimport_keeps_the_fields_the_file_does_not_fill_in(
    sessions: Any, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "f.csv", encoding="utf-8", title=False, crlf=False)
    await import_facilities([path], sessions)
    async with transaction(sessions) as session:
        found = await facilities_by_id(session, "131130")
        await patch_facility(
            session,
            found["1"],
            {"name_en": "Shibuya Hagukumi Nursery", "class_capacity": {"0": 6, "1": 12}},
        )
        await patch_facility(
            session, found["4"], {"meals": "給食", "extended_care": True, "notes": "園庭あり"}
        )
    report = await import_facilities([path], sessions)
    assert (report.updated, report.unchanged) == (0, 3)
    found = await facilities(sessions, "131130")
    assert found["1"].name_en == "Shibuya Hagukumi Nursery"
    assert found["1"].class_capacity == {"0": 6, "1": 12}
    assert (found["4"].meals, found["4"].extended_care, found["4"].notes) == (
        "給食",
        True,
        "園庭あり",
    )
    # What the file does fill in still wins.
    path.write_text(path.read_text().replace(",60,", ",65,"), encoding="utf-8")
    changed = await import_facilities([path], sessions)
    assert (changed.updated, changed.unchanged) == (1, 2)
    first = (await facilities(sessions, "131130"))["1"]
    assert first.capacity == 65 and first.name_en == "Shibuya Hagukumi Nursery"


def test_under_two_is_the_0_and_1_year_classes(tmp_path: Path) -> None:
    assert ages("2歳未満") == ([0, 1], None)
    assert ages("0歳~2歳未満") == ([0, 1], 0)
    assert ages("産休明け～満2歳未満") == ([0, 1], 2)
    assert ages("満1歳～満5歳") == ([1, 2, 3, 4, 5], 12)
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [141.35, 43.06]},
        "properties": {
            "HID": "9001",
            "Name": "小さな保育室",
            "Type": "小規模保育事業",
            "Add1": "札幌市中央区北1条西1丁目",
            "AgeS": "0歳",
            "AgeE": "2歳未満",
        },
    }
    path = tmp_path / "s.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}), "utf-8")
    loaded = load_file(path, today=date(2026, 11, 26))
    assert loaded.mapped[0].data.classes == [0, 1]


async def test_the_youngest_age_in_days_is_kept(sessions: Any, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "f.csv", encoding="utf-8", title=False, crlf=False)
    path.write_text(path.read_text().replace(",19,産休明け～2歳児,", ",19,生後43日～2歳児,"))
    await import_facilities([path], sessions)
    found = await facilities(sessions, "131130")
    assert (found["1"].min_age_days, found["1"].min_age_months) == (57, 2)  # 生後57日
    assert found["2"].min_age_days == 43
    assert found["4"].min_age_days is None
    minato = shared_path("data", "facilities", "minato_hoikuen.csv")
    await import_facilities([minato], sessions, municipality=MINATO)
    shiba = (await facilities(sessions, MINATO))[derived_facility_id("芝保育園")]
    assert (shiba.min_age_days, shiba.min_age_months) == (None, 3)  # 3か月 stays months
    from integrations.importers.facilities import min_age_days

    assert min_age_days("産休明けから") == 57 and min_age_days("生後6か月") is None


async def test_sapporo_vacancies_without_a_year_need_a_month(sessions: Any) -> None:
    path = shared_path("data", "facilities", "sapporo_nurseries.geojson")
    report = await import_facilities([path], sessions, today=date(2026, 11, 26))
    assert report.created == 528 and report.vacancies == 0 and report.opened == []
    [warning] = report.warnings
    assert "has no year" in warning and "--month YYYY-MM" in warning
    assert "has no year" in report.render()
    yamahana = (await facilities(sessions, SAPPORO))["1009"]
    async with sessions() as session:
        assert await current_vacancies(session, yamahana.id) == []


async def test_bare_years_excel_date_times_and_utf16_files(sessions: Any, tmp_path: Path) -> None:
    assert parse_date("2025") is None  # a year, not Excel's day 2025 (1905-07-17)
    assert parse_date("45536") == date(2024, 9, 1)
    assert parse_date("45536.3125") == date(2024, 9, 1)
    assert parse_date("18454") == date(1950, 7, 10)  # Hachioji's oldest licence
    assert parse_time("45536.3125") == "07:30"  # an Excel date and time: the time
    assert parse_time("45536.770833333336") == "18:30"
    path = tmp_path / "unicode.csv"
    text = "\r\n".join([HEADER, *ROWS]) + "\r\n"
    path.write_bytes(text.encode("utf-16"))  # Excel's "Unicode text": UTF-16 with a BOM
    report = await import_facilities([path], sessions)
    assert report.created == 3
    assert (await facilities(sessions, "131130"))["1"].name_ja == "渋谷はぐくみ保育園"
