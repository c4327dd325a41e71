"""Finding a municipality from what a parent types: 渋谷区, しぶや, シブヤ, Shibuya, Shibya."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

Municipality = tuple[str, str, str, str]  # code, name_ja, name_en, kana

# The most populous (and a few other) municipalities, offered as one-tap answers.
COMMON = (
    "世田谷区",
    "練馬区",
    "大田区",
    "江戸川区",
    "足立区",
    "杉並区",
    "板橋区",
    "江東区",
    "品川区",
    "渋谷区",
    "八王子市",
    "町田市",
)

ACCEPT_SCORE = 85.0  # a single fuzzy match this good is taken without asking
MARGIN = 10.0  # ... when the runner-up is at least this much worse
CANDIDATE_SCORE = 72.0
PREFIX_SCORE = 80.0  # what a parent typed is the start of a name ("中" → 中央区, 中野区)
# One kanji wrong in a name of two or more (渋屋区 for 渋谷区, 八王寺 for 八王子): short kanji
# names score low on ratio (2 of 3 characters is 67), yet one slip is the commonest typo.
ONE_SLIP_SCORE = 86.0
MAX_CANDIDATES = 12  # quick replies: 12 candidates + "type again" stay within LINE's 13

_KANJI_SUFFIXES = ("区", "市", "町", "村")
_KANA_SUFFIXES = ("ちょう", "まち", "むら", "そん", "く", "し")
_EN_SUFFIXES = (" ward", " city", " town", " village", "-ku", "-shi", "-machi", "-mura")
_PREFIXES = ("東京都", "とうきょうと", "tokyo-to", "tokyo ", "tokyo,")
# A prefecture named in an address: 東京都 or another one (then the place is not in Tokyo).
_PREFECTURE = re.compile(r"東京都|北海道|京都府|大阪府|[\u4e00-\u9fff]{2,3}県")


@dataclass
class Found:
    """The outcome of a search: a sure match, or candidates to choose from."""

    code: str | None = None
    exact: bool = False
    candidates: list[str] = field(default_factory=list)


def normalize(value: str) -> str:
    """NFKC, lower case, katakana as hiragana, no spaces, no leading 東京都 / Tokyo."""
    text = unicodedata.normalize("NFKC", value).strip().lower()
    text = "".join(chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" else c for c in text)
    for prefix in _PREFIXES:
        if text.startswith(prefix) and len(text) > len(prefix):
            text = text[len(prefix) :]
    return re.sub(r"[\s\u3000・,、。.!！?？]+", " ", text).strip()


def _strip(text: str, suffixes: Sequence[str]) -> str:
    for suffix in suffixes:
        if text.endswith(suffix) and len(text) > len(suffix):
            return text[: -len(suffix)].strip()
    return text


def aliases(entry: Municipality) -> set[str]:
    """Every way a parent may write this municipality (normalized)."""
    _code, name_ja, name_en, kana = entry
    forms = {normalize(name_ja), normalize(name_en), normalize(kana)} - {""}
    forms |= {_strip(normalize(name_ja), _KANJI_SUFFIXES)}
    if kana:
        forms |= {_strip(normalize(kana), _KANA_SUFFIXES)}
    forms |= {_strip(normalize(name_en), _EN_SUFFIXES)}
    return {f.replace(" ", "") for f in forms if f}


def other_prefecture(address: str) -> bool:
    """The address names a prefecture other than Tokyo (the place is outside Tokyo)."""
    found = _PREFECTURE.search(unicodedata.normalize("NFKC", address))
    return found is not None and found.group() != "東京都"


class Gazetteer:
    """Tokyo's municipalities, searchable by any name."""

    def __init__(self, municipalities: Sequence[Municipality]) -> None:
        self.entries = list(municipalities)
        self._alias_code: list[tuple[str, str]] = [
            (alias, entry[0]) for entry in self.entries for alias in sorted(aliases(entry))
        ]
        self._exact: dict[str, set[str]] = {}
        for alias, code in self._alias_code:
            self._exact.setdefault(alias, set()).add(code)

    def common(self) -> list[str]:
        """Codes of the municipalities offered as one-tap answers."""
        by_name = {entry[1]: entry[0] for entry in self.entries}
        return [by_name[name] for name in COMMON if name in by_name]

    def find(self, query: str) -> Found:
        """A sure match, candidates, or nothing."""
        text = normalize(query)
        bare = text.replace(" ", "")
        if not bare:
            return Found()
        for form in (
            bare,
            _strip(bare, _KANJI_SUFFIXES),
            _strip(text, _EN_SUFFIXES).replace(" ", ""),
        ):
            codes = self._exact.get(form)
            if codes and len(codes) == 1:
                return Found(code=next(iter(codes)), exact=True)
            if codes:
                return Found(candidates=sorted(codes))
        # A full name inside a sentence ("渋谷区に住んでいます").
        inside = sorted({e[0] for e in self.entries if len(e[1]) >= 2 and e[1] in text})
        if len(inside) == 1:
            return Found(code=inside[0], exact=True)
        scores: dict[str, float] = {}
        for alias, score, index in process.extract(
            bare, [a for a, _ in self._alias_code], scorer=fuzz.ratio, limit=60
        ):
            code = self._alias_code[index][1]
            scores[code] = max(scores.get(code, 0.0), float(score))
            del alias
        for code in inside:
            scores[code] = max(scores.get(code, 0.0), 90.0)
        if not bare.isascii():
            typed = _strip(bare, _KANJI_SUFFIXES)
            for entry in self.entries:
                name = _strip(normalize(entry[1]), _KANJI_SUFFIXES)
                if (
                    len(typed) >= 2
                    and len(name) == len(typed)
                    and Levenshtein.distance(name, typed) == 1
                ):
                    scores[entry[0]] = max(scores.get(entry[0], 0.0), ONE_SLIP_SCORE)
        if len(bare) >= (1 if not bare.isascii() else 3):
            for alias, code in self._alias_code:
                if alias.startswith(bare):
                    scores[code] = max(scores.get(code, 0.0), PREFIX_SCORE)
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
        if not ranked or ranked[0][1] < CANDIDATE_SCORE:
            return Found()
        best_code, best = ranked[0]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        if best >= ACCEPT_SCORE and runner_up <= best - MARGIN:
            return Found(code=best_code)
        return Found(candidates=[c for c, s in ranked if s >= CANDIDATE_SCORE][:MAX_CANDIDATES])

    def in_address(self, address: str) -> Found:
        """The municipality an address (as LINE gives with a location) names, e.g.
        "〒150-0042 東京都渋谷区宇田川町1-1": sure when the name follows 東京都 (or begins the
        address); nothing for an address in another prefecture (大阪府大阪市北区 is not 北区)."""
        text = unicodedata.normalize("NFKC", address)
        prefecture = _PREFECTURE.search(text)
        if other_prefecture(text):
            return Found()
        rest = text[prefecture.end() :] if prefecture is not None else text
        rest = re.sub(r"^[\s　]*(?:\S{1,4}郡|\S{1,4}支庁)?", "", rest)
        if prefecture is None:
            rest = re.sub(r"^(?:日本[、,]?\s*)?(?:〒?\s*\d{3}-?\d{4}\s*)?", "", rest.strip())
        # The longest name at the start: 東村山市 rather than a shorter name inside it.
        starting = [e for e in self.entries if e[1] and rest.startswith(e[1])]
        if not starting:
            return Found()
        best = max(starting, key=lambda e: len(e[1]))
        return Found(code=best[0], exact=True)
