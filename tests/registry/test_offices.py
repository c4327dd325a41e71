"""The shipped municipal offices file and its generator (no network)."""

from __future__ import annotations

import csv
from pathlib import Path

from registry.offices import OFFICES_CSV, generate, load_offices, nearest
from registry.seed import MUNICIPALITIES_CSV


def test_every_tokyo_municipality_has_an_office_with_a_site() -> None:
    offices = {office.code: office for office in load_offices()}
    with MUNICIPALITIES_CSV.open(encoding="utf-8") as handle:
        municipalities = {
            row["code"]: row["name_ja"]
            for row in csv.DictReader(handle)
            if row["kind"] in {"ward", "city", "town", "village"}
        }
    assert set(offices) == set(municipalities) and len(offices) == 62
    for code, office in offices.items():
        assert office.name_ja == municipalities[code]
        assert office.url.startswith("https://"), office
        assert 20.0 < office.lat < 36.0 and 136.0 < office.lon < 154.0, office
    assert offices["131130"].office_ja == "渋谷区役所"
    assert offices["133086"].office_ja == "奥多摩町役場"


def test_nearest_offices() -> None:
    offices = load_offices()
    near = nearest(offices, 35.6625, 139.6990)  # Jinnan, Shibuya
    assert [office.name_ja for office, _ in near][0] == "渋谷区"
    assert near[0][1] < 1.0 and len(near) == 3
    assert nearest(offices, 27.09, 142.19, 1)[0][0].name_ja == "小笠原村"


def test_generator_keeps_hand_checked_phones(tmp_path: Path) -> None:
    source = tmp_path / "localgovjp.csv"
    source.write_text(
        "\ufeffpid,pref,cid,city,citykana,lat,lng,url,phrase,lgcode\n"
        "13,東京都,13113,渋谷区,しぶやく,35.66388889,139.6980556,https://www.city.shibuya.tokyo.jp/,,131130\n"
        "13,東京都,13101,千代田区,ちよだく,35.69388889,139.7536111,https://www.city.chiyoda.lg.jp/,,131016\n",
        encoding="utf-8",
    )
    target = tmp_path / "offices.csv"
    assert generate(source, target) == 2
    rows = target.read_text(encoding="utf-8").splitlines()
    assert rows[0] == "code,name_ja,lat,lon,url,phone"
    assert rows[1].startswith("131016,千代田区,35.693889,139.753611,")
    target.write_text(
        target.read_text(encoding="utf-8").replace(
            "https://www.city.shibuya.tokyo.jp/,",
            "https://www.city.shibuya.tokyo.jp/,03-0000-0000",
        ),
        encoding="utf-8",
    )
    generate(source, target)
    assert {o.code: o.phone for o in load_offices(target)}["131130"] == "03-0000-0000"
    assert OFFICES_CSV.exists()
