import pytest

from rules import check_digit, is_valid_lgcode
from rules.lgcode import prefecture_of


@pytest.mark.parametrize("code", ["130001", "131016", "131130", "132012", "000000", "270008"])
def test_domain_examples_are_valid(code: str) -> None:
    assert is_valid_lgcode(code)


@pytest.mark.parametrize(
    "code",
    ["131017", "131131", "13101", "1310160", "13101a", "", "１３１０１６", " 131016"],
)
def test_wrong_check_digit_or_shape_is_rejected(code: str) -> None:
    assert not is_valid_lgcode(code)


def test_check_digit_formula() -> None:
    # s = 6*1 + 5*3 + 4*1 + 3*1 + 2*3 = 34; (11 - 34 % 11) % 10 = 0 → Shibuya 131130.
    assert check_digit("13113") == 0
    # (11 - 0) % 10 = 1 for s ≡ 0 (mod 11): the "10 → 0, 11 → 1" wrap of the standard.
    assert check_digit("13000") == 1


def test_every_five_digit_prefix_has_exactly_one_check_digit() -> None:
    for five in ("13101", "27100", "01100", "47000"):
        valid = [d for d in "0123456789" if is_valid_lgcode(five + d)]
        assert valid == [str(check_digit(five))]


def test_prefecture_of() -> None:
    assert prefecture_of("131016") == "130001"
    assert prefecture_of("132012") == "130001"
    assert prefecture_of("271004") == "270008"  # Osaka city → Osaka prefecture
    with pytest.raises(ValueError):
        prefecture_of("131017")
