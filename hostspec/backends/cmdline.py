"""The kernel command line: the safe-token guard and the plain one-line file.

Arguments, in order: `default_hugepagesz=`, then per boot pool size
(ascending) `hugepagesz=SIZE hugepages=COUNT` (or the per-node form
`hugepages=0:64,1:64`), then `transparent_hugepage=MODE`.  Every argument
must match a strict token pattern first: some targets write shell.  The boot
targets (`boot` key, backends/boot.py) only place this list, which
`hostspec.model.kernel_arguments` builds (so that the checks, which import no
backend, see the same list: checks/boot.py).
"""
from __future__ import annotations

import re

from hostspec.diagnostics.codes import diag
from hostspec.diagnostics import Diagnostic
from hostspec.model import Spec, boot_pools, kernel_size  # noqa: F401 (kept importable here)
from hostspec.model import kernel_arguments as arguments  # the one list; see model.py
from hostspec.backends import Artifact, Context

PLAIN_PATH = "etc/hostspec/kernel-cmdline"
SAFE_TOKEN = re.compile(r"[A-Za-z0-9_.-]+(=[A-Za-z0-9_.,:+-]+)?")


def checked_arguments(spec: Spec, ctx: Context) -> tuple[list[str], list[Diagnostic]]:
    """The arguments, and an HS0401 error for any outside the safe token pattern."""
    words, problems = [], []
    for word, path in arguments(spec):
        if SAFE_TOKEN.fullmatch(word):
            words.append(word)
        else:
            problems.append(diag("HS0401", f"kernel argument `{ascii(word)[1:-1]}` is not a safe token",
                                 ctx.index.at(path),
                                 hint="report this: every argument hostspec writes should be "
                                      "a validated number, size or choice"))
    return words, problems


def line_of(words: list[str]) -> str:
    """The arguments as one command line fragment, the way every target writes them."""
    return " ".join(words)


def kernel_cmdline(spec: Spec, ctx: Context) -> tuple[list[Artifact], list[Diagnostic]]:
    """The plain argument file (every boot target gets it), or HS0401."""
    words, problems = checked_arguments(spec, ctx)
    if problems or not words:
        return [], problems
    return [Artifact(PLAIN_PATH, (line_of(words) + "\n").encode("ascii"), "kernel-cmdline", "boot",
                     summary=summary_of(words) + "; the plain line, for any boot tool")], []


def words_of(plain: list[Artifact]) -> list[str]:
    """The arguments back from the plain file (none when it was not written)."""
    return plain[0].data.decode("ascii").split() if plain else []


def summary_of(words: list[str]) -> str:
    """`kernel arguments (reserves huge pages at boot, ...); next boot`."""
    return "kernel arguments (" + _topics(words) + "); next boot"


def _topics(words: list[str]) -> str:
    """What the arguments do, in words: `reserves huge pages at boot, sets THP`."""
    topics = []
    if any(word.startswith("hugepages=") for word in words):
        topics.append("reserves huge pages at boot")
    if any(word.startswith("default_hugepagesz=") for word in words):
        topics.append("sets the default huge page size")
    if any(word.startswith("transparent_hugepage=") for word in words):
        topics.append("sets the boot THP mode")
    return ", ".join(topics)
