"""The key vocabulary of the `.mem` language: which keys each block takes and
how each value is read.  Lowering, the schema's messages and `fmt` share it."""
from __future__ import annotations

from typing import Callable, Iterable, Optional

from hostspec.language import values as v

HOST_KEYS: dict[str, Callable] = {
    "cpu": v.word, "arch": v.word, "memory": v.size, "reserve": v.size,
    "numa-nodes": v.count, "kernel": v.version, "guest-overhead": v.size,
    "boot": v.word, "cmdline-budget": v.count,
}
HOST_BLOCKS: dict[str, dict[str, Callable]] = {
    "kvm": {"ept": v.switch, "vpid": v.switch, "npt": v.switch, "nested": v.switch},
    "hugepages": {"default-size": v.size, "pool": None},
    "thp": {"enabled": v.word, "defrag": v.word},
    "ksm": {"run": v.word, "pages-to-scan": v.count, "sleep": v.duration,
            "merge-across-nodes": v.switch, "use-zero-pages": v.switch},
    "swap": {"size": v.size, "swappiness": v.count},
    "overcommit": {"policy": v.word, "ratio": v.percent, "max-ratio": v.decimal},
    # `kernel 5.14 { ... }`: what a distribution kernel has beyond its version
    "kernel": {"per-node-hugepages": v.switch},
}
GUEST_KEYS: dict[str, Optional[Callable]] = {
    "memory": v.size, "current-memory": v.size, "vcpus": v.count, "backing": None,
    "share-pages": v.switch, "locked": v.switch, "balloon": None, "base": None,
    "guest-overhead": v.size,
}
GUEST_BLOCKS = {"balloon": {"autodeflate": v.switch, "free-page-reporting": v.switch,
                            "stats-period": v.seconds}}

def closest(word: str, choices: Iterable[str]) -> Optional[str]:
    """The choice `word` is most likely a misspelling of, or None."""
    import difflib  # only a misspelling needs it

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: str, choices: Iterable[str]) -> Optional[str]:
    close = closest(word, choices)
    return f"did you mean `{close}`?" if close else None
