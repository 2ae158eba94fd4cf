"""How messages and explanations write sizes, node sets and ratios."""
from __future__ import annotations

from typing import Optional

from fractions import Fraction

_UNITS = (("TiB", 1024 ** 4), ("GiB", 1024 ** 3), ("MiB", 1024 ** 2), ("KiB", 1024))


def format_size(value: int) -> str:
    """A byte count in the largest exact binary unit (`1GiB`, `1536MiB`, `-2GiB`)."""
    sign, magnitude = ("-", -value) if value < 0 else ("", value)
    for unit, factor in _UNITS:
        if magnitude and magnitude % factor == 0:
            return f"{sign}{magnitude // factor}{unit}"
    return f"{sign}{magnitude}B"


def format_amount(value: int) -> str:
    """A byte count for capacity figures: `13.5GiB` where that is exact, else `format_size`."""
    for unit, factor in _UNITS[:2]:
        scaled = Fraction(value, factor)
        if abs(value) >= factor and (scaled * 1000).denominator == 1:
            return f"{float(scaled):.3f}".rstrip("0").rstrip(".") + unit  # exact: at most 3 decimals
    return format_size(value)


def format_nodes(nodes) -> str:
    """`node 0`, `nodes 0-3` or `nodes 0,2`: how messages name a node set."""
    nodes = sorted(nodes)
    if len(nodes) == 1:
        return f"node {nodes[0]}"
    if nodes == list(range(nodes[0], nodes[-1] + 1)):
        return f"nodes {nodes[0]}-{nodes[-1]}"
    return "nodes " + ",".join(str(n) for n in nodes)


def format_ratio(ratio: Fraction, *limits: Fraction) -> str:
    """A ratio with two decimals, or more when two would round onto a limit."""
    for digits in range(2, 7):
        text = f"{float(ratio):.{digits}f}"
        if ratio in limits or Fraction(text) not in limits:
            break
    return text.rstrip("0").rstrip(".") if "." in text and digits > 2 else text


def size_text(size: int) -> str:
    """A size in its largest exact binary unit (`4GiB`, `1536MiB`)."""
    for unit, scale in (("TiB", 1024 ** 4), ("GiB", 1024 ** 3), ("MiB", 1024 ** 2), ("KiB", 1024)):
        if size % scale == 0:
            return f"{size // scale}{unit}"
    return f"{size}B"


def shown(text: Optional[str], limit: int = 64) -> str:
    """Text from a file, made safe to print in one line of a message."""
    cleaned = "".join(ch if ch.isprintable() and ch != "`" else "?" for ch in (text or ""))
    return cleaned if len(cleaned) <= limit else cleaned[:limit] + "..."
