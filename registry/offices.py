"""Tokyo's ward, city, town and village offices: where they are and how to reach them.

`registry/data/municipal_offices.csv` (code, name_ja, lat, lon, url, phone) is generated from
the CC0 list of local governments `tokyo62_localgovjp.csv` (the office's position and web site)
by `python -m registry.offices SOURCE.csv`; phone numbers already in the file are kept, so
numbers checked by hand survive a regeneration. See registry/data/README.md.
"""

from __future__ import annotations

import csv
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

OFFICES_CSV = Path(__file__).resolve().parent / "data" / "municipal_offices.csv"
FIELDS = ("code", "name_ja", "lat", "lon", "url", "phone")
EARTH_RADIUS_KM = 6371.0


@dataclass(frozen=True)
class Office:
    """A municipality's main office (区役所, 市役所, 町村役場)."""

    code: str
    name_ja: str  # the municipality's name: 渋谷区
    lat: float
    lon: float
    url: str
    phone: str

    @property
    def office_ja(self) -> str:
        """The office's name: 渋谷区役所, 八王子市役所, 奥多摩町役場."""
        return self.name_ja + ("役場" if self.name_ja.endswith(("町", "村")) else "役所")


def load_offices(path: Path = OFFICES_CSV) -> list[Office]:
    """Every office in the shipped file."""
    with path.open(encoding="utf-8") as handle:
        return [
            Office(
                code=row["code"],
                name_ja=row["name_ja"],
                lat=float(row["lat"]),
                lon=float(row["lon"]),
                url=row["url"],
                phone=row["phone"],
            )
            for row in csv.DictReader(handle)
        ]


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def nearest(
    offices: Sequence[Office], lat: float, lon: float, limit: int = 3
) -> list[tuple[Office, float]]:
    """The offices nearest to a point, nearest first, with their distance in km."""
    ranked = sorted(
        ((office, distance_km(lat, lon, office.lat, office.lon)) for office in offices),
        key=lambda pair: pair[1],
    )
    return ranked[:limit]


def generate(source: Path, target: Path = OFFICES_CSV) -> int:
    """Write the offices file from localgovjp's CSV (BOM, columns lgcode, city, lat, lng, url);
    phones already in `target` are kept. Returns the number of offices written."""
    phones: dict[str, str] = {}
    if target.exists():
        phones = {office.code: office.phone for office in load_offices(target)}
    with source.open(encoding="utf-8-sig") as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("lgcode")]
    rows.sort(key=lambda row: row["lgcode"])
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(FIELDS)
        for row in rows:
            code = row["lgcode"].strip()
            writer.writerow(
                (
                    code,
                    row["city"].strip(),
                    f"{float(row['lat']):.6f}",
                    f"{float(row['lng']):.6f}",
                    row["url"].strip(),
                    phones.get(code, ""),
                )
            )
    return len(rows)


def main(argv: Sequence[str]) -> int:
    """`python -m registry.offices SOURCE.csv [TARGET.csv]`."""
    if not 1 <= len(argv) <= 2:
        print(__doc__.splitlines()[0], file=sys.stderr)
        print("usage: python -m registry.offices SOURCE.csv [TARGET.csv]", file=sys.stderr)
        return 2
    target = Path(argv[1]) if len(argv) == 2 else OFFICES_CSV
    count = generate(Path(argv[0]), target)
    print(f"{count} offices written to {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
