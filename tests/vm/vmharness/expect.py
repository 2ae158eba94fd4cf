"""Compare a guest state (a dict from BootResult) with what a test expects.

Each function returns a list of human-readable differences; an empty list
means the state matches.  Tests assert on that list, so a failure shows
every difference at once.

A reservation maps a page size in bytes to {node: pages}.  The node key
None stands for a pool the kernel spreads over the nodes itself, where
only the total is defined.
"""

import re

Reservation = dict[int, dict[int | None, int]]

_NODE_KEY = re.compile(r"node(\d+)\.(\d+)kB\.nr_hugepages\Z")
_SELECTED = re.compile(r"\[([^\]]+)\]")


def size_label(size: int) -> str:
    """A page size as the kernel names it in sysfs: 2097152 -> '2048kB'."""
    return f"{size // 1024}kB"


def node_pages(state: dict[str, str], size: int) -> dict[int, int]:
    """Pages of SIZE on each node, from nodeN.<kB>kB.nr_hugepages."""
    pages = {}
    for key, value in state.items():
        match = _NODE_KEY.match(key)
        if match and int(match.group(2)) * 1024 == size:
            pages[int(match.group(1))] = int(value)
    return pages


def page_sizes(state: dict[str, str]) -> set[int]:
    """Every huge page size the guest kernel registered, in bytes."""
    return {int(m.group(2)) * 1024 for m in map(_NODE_KEY.match, state) if m}


def reservation_mismatches(state: dict[str, str], expected: Reservation) -> list[str]:
    """Differences between the per-node pools and EXPECTED.

    Sizes EXPECTED does not name must hold no pages at all: "exactly the
    pages the spec reserves" includes reserving nothing else.
    """
    problems = []
    for size in sorted(set(expected) | page_sizes(state)):
        problems += _size_mismatches(size, expected.get(size, {}), node_pages(state, size))
    return problems


def _size_mismatches(size: int, want: dict[int | None, int], have: dict[int, int]) -> list[str]:
    """Differences for one page size."""
    label = size_label(size)
    if None in want:
        total = sum(have.values())
        return [] if total == want[None] else [f"{label}: {total} pages in all, expected {want[None]} ({have})"]
    nodes = sorted(set(want) | set(have))
    return [f"{label} node{n}: {have.get(n, 0)} pages, expected {want.get(n, 0)}"
            for n in nodes if have.get(n, 0) != want.get(n, 0)]


def total_pages(reservation: Reservation, size: int) -> int:
    """All pages of SIZE that RESERVATION asks for."""
    return sum(reservation.get(size, {}).values())


def meminfo_mismatches(state: dict[str, str], expected: Reservation, default_size: int) -> list[str]:
    """Check /proc/meminfo: the default size, its page count and Hugetlb (all sizes)."""
    want = {
        "meminfo.Hugepagesize": f"{default_size // 1024} kB",
        "meminfo.HugePages_Total": str(total_pages(expected, default_size)),
        "meminfo.Hugetlb": f"{sum(s // 1024 * total_pages(expected, s) for s in expected)} kB",
    }
    return value_mismatches(state, want)


def value_mismatches(state: dict[str, str], expected: dict[str, str]) -> list[str]:
    """Keys whose value differs from EXPECTED (missing keys included)."""
    return [f"{key}: {state.get(key, '<missing>')!r}, expected {want!r}"
            for key, want in expected.items() if state.get(key) != want]


def selected(value: str) -> str:
    """The bracketed choice of a sysfs enum: 'always [madvise] never' -> 'madvise'."""
    match = _SELECTED.search(value)
    return match.group(1) if match else value
