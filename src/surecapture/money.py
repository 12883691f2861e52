"""Money: integer minor units inside, Medusa's major units (JSON numbers) at the API boundary."""

from __future__ import annotations

from decimal import Decimal

# ISO 4217 exponents that differ from the default of 2.
_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(
        [
            "bif",
            "clp",
            "djf",
            "gnf",
            "isk",
            "jpy",
            "kmf",
            "krw",
            "pyg",
            "rwf",
            "ugx",
            "vnd",
            "vuv",
            "xaf",
            "xof",
            "xpf",
        ],
        0,
    ),
    **dict.fromkeys(["bhd", "iqd", "jod", "kwd", "lyd", "omr", "tnd"], 3),
}


def exponent(currency_code: str) -> int:
    return _EXPONENTS.get(currency_code.lower(), 2)


def to_major(minor: int, currency_code: str) -> int | float:
    """Minor units → a JSON number in major units (`1999` USD → `19.99`, `500` JPY → `500`)."""
    value = Decimal(minor).scaleb(-exponent(currency_code))
    return int(value) if value == value.to_integral_value() else float(value)


def to_minor(major: Decimal | int | float | str, currency_code: str) -> int:
    """Major units → minor units; refuses values with more decimals than the currency has."""
    value = Decimal(str(major)).scaleb(exponent(currency_code))
    if value != value.to_integral_value():
        raise ValueError(f"{major} has more decimals than {currency_code.upper()} allows")
    return int(value)
