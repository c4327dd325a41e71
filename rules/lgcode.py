"""Local government codes (全国地方公共団体コード): five digits plus a check digit."""

from __future__ import annotations

NATION = "000000"
"""The code used for national programs (not a real local government code)."""

_WEIGHTS = (6, 5, 4, 3, 2)


def check_digit(five: str) -> int:
    """Return the check digit of a five-digit local government code."""
    if len(five) != 5 or not five.isascii() or not five.isdigit():
        raise ValueError(f"expected five digits, got {five!r}")
    # Modulus 11 with weights 6..2, as fixed by the 総務省 code standard (JIS X 0401/0402).
    s = sum(w * int(d) for w, d in zip(_WEIGHTS, five, strict=True))
    return (11 - s % 11) % 10


def is_valid_lgcode(code: str) -> bool:
    """Whether `code` is six digits with a correct check digit (or "000000" for the nation)."""
    if not isinstance(code, str) or len(code) != 6 or not code.isascii() or not code.isdigit():
        return False
    if code == NATION:
        return True
    return check_digit(code[:5]) == int(code[5])


def prefecture_of(code: str) -> str:
    """The six-digit code of the prefecture that `code` belongs to (131016 → 130001)."""
    if not is_valid_lgcode(code) or code == NATION:
        raise ValueError(f"not a local government code: {code!r}")
    five = code[:2] + "000"
    return five + str(check_digit(five))


def is_prefecture_code(code: str) -> bool:
    """Whether `code` is a valid prefecture-level code (digits 3-5 are zero, e.g. 130001)."""
    return is_valid_lgcode(code) and code != NATION and code[2:5] == "000"
