"""Reading the value words of statements: sizes, counts, switches, durations, node sets.

Each reader returns the document value, or raises `BadValue` with a code,
message and hint.  A word whose kind cannot be decided here is passed on as a
string so that the schema, the one structural authority, reports it.
"""
from __future__ import annotations

import re

from hostspec import records

UNITS = {"K": 1, "KiB": 1, "M": 2, "MiB": 2, "G": 3, "GiB": 3, "T": 4, "TiB": 4}
DECIMAL_UNITS = {"kb": "KiB", "mb": "MiB", "gb": "GiB", "tb": "TiB"}
SWITCHES = {"on": True, "off": False, "yes": True, "no": False, "true": True, "false": False}
MAX_NODE = 1023
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_SIZE_RE = re.compile(r"([0-9]+)([A-Za-z]*)")
_DURATION_RE = re.compile(r"([0-9]+)(ms|s)")
_NODESET_RE = re.compile(r"[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*")
_DECIMAL_RE = re.compile(r"[0-9]+(\.[0-9]+)?")


@records.frozen
class BadValue(Exception):
    code: str
    message: str
    hint: str | None = None


# 2**64 has 20 digits: a longer number is past every limit of the language.
# It is refused here, before int() or str() meets it (Python refuses both
# past 4300 digits).
MAX_DIGITS = 24


def _whole(digits: str, key: str) -> int:
    if len(digits.lstrip("0")) > MAX_DIGITS:
        shown = digits if len(digits) <= 20 else f"{digits[:12]}...({len(digits)} digits)"
        raise BadValue("HS0210", f"`{key}` is far too large: `{shown}`",
                       "no value is wrapped or truncated: write a smaller number")
    return int(digits)


def size(word: str, key: str):
    match = _SIZE_RE.fullmatch(word)
    if not match:
        raise BadValue("HS0209", f"`{key}` expects a size, not `{word}`",
                       "write a number and a binary unit, e.g. `4GiB` or `2MiB`")
    number, unit = _whole(match.group(1), key), match.group(2)
    if unit in UNITS:
        return number * 1024 ** UNITS[unit]
    if unit == "":
        raise BadValue("HS0208", f"`{key}` expects a size with a unit, not the bare number `{word}`",
                       f"write `{number}GiB`, `{number}MiB` or `{number}KiB`")
    if unit.lower() in DECIMAL_UNITS:
        binary = DECIMAL_UNITS[unit.lower()]
        raise BadValue("HS0207", f"`{unit}` is a decimal unit; hostspec sizes are binary",
                       f"write `{number}{binary}` (powers of 1024, as the kernel reads sizes)")
    raise BadValue("HS0209", f"`{unit}` is not a size unit",
                   "use K/KiB, M/MiB, G/GiB or T/TiB")


def count(word: str, key: str):
    return _whole(word, key) if word.isdigit() and word.isascii() else word


def switch(word: str, key: str):
    return SWITCHES.get(word, word)


def word(word: str, key: str):
    return word


def version(word: str, key: str):
    return word


def decimal(word: str, key: str):
    if _DECIMAL_RE.fullmatch(word):
        return float(word) if "." in word else _whole(word, key)
    return word


def percent(word: str, key: str):
    return count(word[:-1] if word.endswith("%") else word, key)


def duration(word: str, key: str, whole_seconds: bool = False):
    match = _DURATION_RE.fullmatch(word)
    if not match:
        example = "`10s`" if whole_seconds else "`20ms` or `1s`"
        raise BadValue("HS0211", f"`{key}` expects a duration, not `{word}`",
                       f"write a whole number and `ms` or `s`, e.g. {example}")
    number = _whole(match.group(1), key)
    return number * 1000 if match.group(2) == "s" else number


def seconds(word: str, key: str):
    return duration(word, key, whole_seconds=True)


def nodeset(word: str, key: str) -> list[int]:
    if not _NODESET_RE.fullmatch(word):
        raise BadValue("HS0212", f"`{word}` is not a NUMA node set",
                       "write a node number, a list or a range: `0`, `0,1`, `0-3`")
    nodes: set[int] = set()
    for part in word.split(","):
        low, _, high = part.partition("-")
        first, last = _whole(low, key), _whole(high or low, key)
        if first > last or last > MAX_NODE:
            raise BadValue("HS0212", f"`{part}` is not a valid node range",
                           f"node numbers run upwards from 0 to at most {MAX_NODE}")
        nodes.update(range(first, last + 1))
    return sorted(nodes)


def repeated_nodes(word: str) -> list[int]:
    """The nodes a valid node set names more than once (`0,0,1-2,2` -> [0, 2])."""
    seen: set[int] = set()
    again: set[int] = set()
    for part in word.split(","):
        low, _, high = part.partition("-")
        for node in range(int(low), int(high or low) + 1):
            (again if node in seen else seen).add(node)
    return sorted(again)


def format_nodeset(nodes: list[int]) -> str:
    """Sorted nodes as the shortest node set: [0, 1, 2, 5] -> `0-2,5`."""
    parts, run = [], []
    for node in nodes:
        if run and node == run[-1] + 1:
            run.append(node)
            continue
        if run:
            parts.append(f"{run[0]}-{run[-1]}" if len(run) > 2 else ",".join(map(str, run)))
        run = [node]
    if run:
        parts.append(f"{run[0]}-{run[-1]}" if len(run) > 2 else ",".join(map(str, run)))
    return ",".join(parts)


def string(token_text: str) -> str:
    """The value of a STRING token: `\\"` and `\\\\` are the only escapes."""
    body, out, i = token_text[1:-1], [], 0
    while i < len(body):
        if body[i] == "\\":
            nxt = body[i + 1] if i + 1 < len(body) else ""
            if nxt not in '"\\':
                raise BadValue("HS0106", f"`\\{nxt}` is not an escape",
                               'only `\\"` and `\\\\` may be escaped in strings')
            out.append(nxt)
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


def check_name(name: str, what: str) -> None:
    if not NAME_RE.fullmatch(name):
        raise BadValue("HS0213", f"`{name}` is not a valid {what} name",
                       "names are 1-63 letters, digits, `_`, `.` or `-`, starting with a letter or digit")
