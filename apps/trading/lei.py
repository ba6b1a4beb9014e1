"""Legal Entity Identifier (ISO 17442) checks. Pure: imports nothing from Django.

An LEI is 20 characters: 18 upper-case letters or digits, then two check digits chosen so that
the whole code, with letters read as numbers (A=10 … Z=35), is 1 modulo 97 (ISO 7064 MOD 97-10,
as for IBANs).
"""

import re

_SHAPE = re.compile(r"^[0-9A-Z]{18}[0-9]{2}$")


def _as_number(code: str) -> int:
    return int("".join(str(int(ch, 36)) for ch in code))


def lei_is_valid(code: str) -> bool:
    return bool(_SHAPE.match(code)) and _as_number(code) % 97 == 1


def lei_check_digits(base: str) -> str:
    """The two check digits for an 18-character LEI base."""
    if not re.match(r"^[0-9A-Z]{18}$", base):
        raise ValueError("an LEI base is 18 upper-case letters or digits")
    return f"{98 - _as_number(base + '00') % 97:02d}"
