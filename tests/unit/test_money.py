from decimal import Decimal

import pytest

from surecapture.money import exponent, to_major, to_minor


@pytest.mark.parametrize(
    ("minor", "currency", "major"),
    [
        (1999, "usd", 19.99),
        (2000, "usd", 20),
        (0, "usd", 0),
        (500, "jpy", 500),
        (1234, "kwd", 1.234),
        (1000, "KWD", 1),
        (5, "eur", 0.05),
    ],
)
def test_minor_to_major_and_back(minor: int, currency: str, major: float) -> None:
    assert to_major(minor, currency) == major
    assert to_minor(str(major), currency) == minor


def test_exponents_follow_iso_4217() -> None:
    assert (exponent("usd"), exponent("jpy"), exponent("kwd")) == (2, 0, 3)


@pytest.mark.parametrize(
    ("major", "currency"), [("19.999", "usd"), ("1.5", "jpy"), ("0.0001", "kwd")]
)
def test_more_decimals_than_the_currency_has_are_refused(major: str, currency: str) -> None:
    with pytest.raises(ValueError, match="more decimals"):
        to_minor(Decimal(major), currency)


def test_whole_numbers_are_json_integers() -> None:
    assert isinstance(to_major(2000, "usd"), int)
    assert isinstance(to_major(1999, "usd"), float)
