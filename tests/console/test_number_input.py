"""How the console reads a number typed in a form: exactly what was typed, or refused in
words (no I/O)."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.console.domain.number_input import LIMIT, NotANumber, read_number

READ = [
    ("12.5", 12.5),
    ("12,5", 12.5),
    (" 12 ", 12.0),
    ("-3,25", -3.25),
    ("+7", 7.0),
    (".5", 0.5),
    (",5", 0.5),
    ("0,125", 0.125),
    ("1234.5", 1234.5),
    ("12.", 12.0),
    ("-0", 0.0),
    ("1000000000000000", 1e15),
    ("0.000000000000001", 1e-15),
]

REFUSED = [
    ("", "Enter a number"),
    ("   ", "Enter a number"),
    ("1,234.5", "thousands separator"),
    ("1.234.567", "thousands separator"),
    ("1,234", "could be read as 1234 or as 1.234"),
    ("12.500", "could be read as 12500 or as 12.500"),
    ("\u0661\u0662", "digits 0 to 9"),         # Arabic-Indic ١٢
    ("\uff11\uff12", "digits 0 to 9"),         # full-width one, two
    ("\u00b2", "digits 0 to 9"),               # superscript two
    ("NaN", "not-a-number and infinity"),
    ("-Infinity", "not-a-number and infinity"),
    ("inf", "not-a-number and infinity"),
    ("1e400", "without an exponent"),
    ("1E5", "without an exponent"),
    ("1,5e3", "without an exponent"),
    ("-2e-4", "without an exponent"),
    (".5E+2", "without an exponent"),
    ("yes", "not a number"),  # a boolean key result's 1 or 0 written as a word
    ("true", "not a number"),
    ("e", "not a number"),
    ("1e", "not a number"),
    ("e5", "not a number"),
    ("12 5", "not a number"),
    ("1_000", "not a number"),
    ("0x10", "not a number"),
    ("-", "not a number"),
    (".", "not a number"),
    ("--5", "not a number"),
    ("1000000000000001", "too large"),
    ("1234567890.1234567", "more than 15 significant digits"),
    ("9" * 41, "too long"),
]


@pytest.mark.parametrize(("typed", "value"), READ)
def test_a_typed_number_is_read_as_typed_with_a_point_or_a_comma(typed: str,
                                                                 value: float) -> None:
    read = read_number(typed)
    assert read == value
    assert math.copysign(1, read) == math.copysign(1, value)  # never -0.0


@pytest.mark.parametrize(("typed", "why"), REFUSED)
def test_what_is_not_plainly_a_number_is_refused_in_words(typed: str, why: str) -> None:
    with pytest.raises(NotANumber) as refusal:
        read_number(typed)
    assert why in str(refusal.value)


@given(st.decimals(-LIMIT, LIMIT, allow_nan=False, allow_infinity=False, places=4),
       st.sampled_from([".", ","]))
def test_what_is_read_is_exactly_the_number_typed(number: Decimal, separator: str) -> None:
    """The oracle: the decimal typed. Whatever the console accepts, the float it sends
    has the same decimal value; whatever it refuses, it says why."""
    typed = f"{number:f}".replace(".", separator)
    try:
        value = read_number(typed)
    except NotANumber as refusal:
        assert str(refusal)
        return
    assert Decimal(repr(value)) == number
