"""A number as a person types it in a form, read exactly or refused in words.

The rule: ASCII digits ``0``-``9``, an optional sign, and at most one decimal separator,
a point or a comma (``12.5`` and ``12,5`` are both twelve and a half). Refused, each with
a sentence saying why: thousands separators (``1,234.5``, ``1.234.567``, and a lone comma
or point followed by exactly three digits, ``1,234``, which some read as 1234 and others
as 1.234), other digits (Arabic-Indic, full-width, superscripts), spaces inside,
exponents, ``NaN`` and ``Infinity``, and numbers a float cannot carry exactly as typed
(more than 15 significant digits, or beyond ``LIMIT``). What is read is what was typed:
the float's shortest decimal form equals the typed number.
"""

from __future__ import annotations

import re
from decimal import Decimal

#: The largest magnitude a form takes (the API's figures are finite floats; this keeps
#: sums of them far from overflow).
LIMIT = Decimal("1e15")
SIGNIFICANT_DIGITS = 15
MAX_LENGTH = 40

#: A number written with an exponent (``1.5e3``, ``2E-4``, ``1,5e3``): told apart from a
#: word that merely holds an "e" (``yes``, ``true``), which is simply not a number.
_EXPONENT = re.compile(r"[+-]?(?:[0-9]+[.,]?[0-9]*|[.,][0-9]+)[eE][+-]?[0-9]+")
_PLAIN = re.compile(r"(?P<sign>[+-]?)(?P<whole>[0-9]*)(?:(?P<separator>[.,])(?P<fraction>[0-9]*))?")


class NotANumber(ValueError):
    """The text is not a number the console will send; ``str()`` says why, in words."""


def read_number(text: str) -> float:
    """The number typed in ``text`` (surrounding spaces ignored), or :class:`NotANumber`."""
    typed = text.strip()
    if not typed:
        raise NotANumber("Enter a number, such as 12 or 12.5.")
    if len(typed) > MAX_LENGTH:
        raise NotANumber(f"That number is too long: at most {SIGNIFICANT_DIGITS} digits.")
    if not typed.isascii():
        raise NotANumber("Write the number with the digits 0 to 9, such as 12 or 12.5.")
    if typed.lstrip("+-").lower() in {"nan", "inf", "infinity"}:
        raise NotANumber("Enter a number: not-a-number and infinity are not values.")
    if _EXPONENT.fullmatch(typed):
        raise NotANumber("Write the number in full, without an exponent (1500, not 1.5e3).")
    if (typed.count(".") + typed.count(",")) > 1:
        raise NotANumber("Write the number without a thousands separator, with one point or "
                         "comma for decimals: 1234.5 or 1234,5.")
    found = _PLAIN.fullmatch(typed)
    if found is None or not (found["whole"] or found["fraction"]):
        raise NotANumber("That is not a number: use digits, with a point or a comma for "
                         "decimals, such as 12.5 or 12,5.")
    whole, fraction = found["whole"], found["fraction"] or ""
    if found["separator"] and len(fraction) == 3 and whole.lstrip("0"):
        raise NotANumber(f"“{typed}” could be read as {whole}{fraction} or as {whole}.{fraction}:"
                         f" write {whole}{fraction} without a separator, or give the decimals "
                         f"with fewer or more digits.")
    exact = Decimal(f"{found['sign']}{whole or '0'}.{fraction or '0'}")
    if abs(exact) > LIMIT:
        raise NotANumber("That number is too large: at most 1,000,000,000,000,000.")
    digits = (whole + fraction).strip("0")  # the significant ones: 1500 has two
    if len(digits) > SIGNIFICANT_DIGITS:
        raise NotANumber(f"That number has more than {SIGNIFICANT_DIGITS} significant digits;"
                         " it cannot be kept exactly as typed.")
    value = float(exact)
    if Decimal(repr(value)) != exact:  # cannot happen within 15 digits; a guard, not a rule
        raise NotANumber("That number cannot be kept exactly as typed.")
    return value + 0.0  # -0.0 is 0
