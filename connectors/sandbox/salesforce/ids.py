"""Salesforce record ids: key prefix, instance, fixed-width base-62 number, case-safety suffix.

A 15-character id is ``prefix(3) + pod(2) + "0" + number(9)``; the number is written in
base 62 with the ASCII-ordered digits ``0-9A-Za-z`` at a fixed width, so the string order
of ids equals the order in which records were created (as in a real org, where ``ORDER BY
Id`` is a stable tiebreaker for records sharing a ``SystemModstamp`` second). The 18-character
form appends three characters that encode which of the first 15 are upper case, so an id
survives case-insensitive handling (spreadsheets, some databases).
"""

from __future__ import annotations

DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
POD = "5g"  # the instance part of every id the sandbox org hands out
NUMBER_WIDTH = 9
_VALUE = {ch: i for i, ch in enumerate(DIGITS)}

# sObject key prefixes (and the other id kinds the API shows).
PREFIXES = {
    "Account": "001",
    "Contact": "003",
    "Lead": "00Q",
    "Opportunity": "006",
    "OpportunityContactRole": "00K",
    "Campaign": "701",
    "CampaignMember": "00v",
    "CampaignMemberStatus": "01Y",
    "User": "005",
    "Profile": "00e",
    "PermissionSet": "0PS",
    "PermissionSetAssignment": "0Pa",
    "FieldPermissions": "01k",
    "Organization": "00D",
    "CustomField": "00N",
    "BulkJob": "750",
}


def base62(number: int, width: int = NUMBER_WIDTH) -> str:
    """``number`` in fixed-width base 62 (ValueError when it does not fit)."""
    if number < 0:
        raise ValueError("ids are not negative")
    out = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        out.append(DIGITS[digit])
    if number:
        raise ValueError(f"id number does not fit in {width} base-62 digits")
    return "".join(reversed(out))


def suffix(id15: str) -> str:
    """The three case-safety characters of a 15-character id."""
    out = []
    for chunk in range(3):
        bits = 0
        for i, ch in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        out.append(SUFFIX_ALPHABET[bits])
    return "".join(out)


def make_id(prefix: str, number: int) -> str:
    """The 18-character id of record ``number`` under a key prefix."""
    id15 = f"{prefix}{POD}0{base62(number)}"
    return id15 + suffix(id15)


def to15(text: str) -> str | None:
    """The case-sensitive 15-character form of a 15- or 18-character id, None if malformed.

    An 18-character id may arrive in any case: its suffix restores the original one.
    """
    if len(text) == 15:
        return text if all(ch in _VALUE for ch in text) else None
    if len(text) != 18:
        return None
    head, tail = text[:15], text[15:].upper()
    if any(ch not in SUFFIX_ALPHABET for ch in tail) or any(ch not in _VALUE for ch in head):
        return None
    restored = []
    for chunk in range(3):
        bits = SUFFIX_ALPHABET.index(tail[chunk])
        for i, ch in enumerate(head[chunk * 5 : chunk * 5 + 5]):
            upper = bool(bits & (1 << i))
            if ch.isalpha():
                restored.append(ch.upper() if upper else ch.lower())
            elif upper:
                return None  # the suffix claims a capital where there is a digit
            else:
                restored.append(ch)
    return "".join(restored)


FOREIGN = -1  # the number of a well-formed id this org never issued (another instance)


def parse_id(text: str, prefix: str | None = None) -> tuple[str, int] | None:
    """``(prefix, number)`` of an id; None if malformed or not of ``prefix``.

    A well-formed id of another instance parses to :data:`FOREIGN`, which no record has.
    """
    id15 = to15(text)
    if id15 is None or (prefix is not None and id15[:3] != prefix):
        return None
    if id15[3:6] != f"{POD}0":
        return id15[:3], FOREIGN
    number = 0
    for ch in id15[6:]:
        number = number * 62 + _VALUE[ch]
    return id15[:3], number


def canonical(text: str) -> str | None:
    """The 18-character id for any accepted spelling of an id, None if malformed."""
    id15 = to15(text)
    return None if id15 is None else id15 + suffix(id15)
