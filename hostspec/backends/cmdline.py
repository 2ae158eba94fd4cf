"""The kernel command line: a GRUB drop-in and a plain one-line file.

Arguments, in order: `default_hugepagesz=`, then per boot pool size
(ascending) `hugepagesz=SIZE hugepages=COUNT` (or the per-node form
`hugepages=0:64,1:64`), then `transparent_hugepage=MODE`.  The GRUB drop-in
is shell, so every argument must match a strict token pattern first.
"""
from __future__ import annotations

import re
from typing import Iterator

from hostspec.diagnostics.codes import diag
from hostspec.diagnostics import Diagnostic
from hostspec.model import KiB, Pool, Spec
from hostspec.backends import Artifact, Context, header

GRUB_PATH = "etc/default/grub.d/50-hostspec.cfg"
PLAIN_PATH = "etc/hostspec/kernel-cmdline"
SAFE_TOKEN = re.compile(r"[A-Za-z0-9_.-]+(=[A-Za-z0-9_.,:+-]+)?")

_UNITS = (("G", 1024 ** 3), ("M", 1024 ** 2), ("K", KiB))


def kernel_size(size: int) -> str:
    """A page size the way the kernel documents it: 64K, 2M, 32M, 1G."""
    for suffix, unit in _UNITS:
        if size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)


def boot_pools(spec: Spec) -> dict[int, list[Pool]]:
    """Boot pools grouped by page size, sizes ascending."""
    grouped: dict[int, list[Pool]] = {}
    for pool in sorted(spec.host.hugepages.pools, key=lambda p: p.size):
        if pool.at_boot:
            grouped.setdefault(pool.size, []).append(pool)
    return grouped


def _count_argument(pools: list[Pool]) -> str:
    """`hugepages=N` for a spread pool, `hugepages=0:N,1:M` for per-node pools."""
    spread = [pool for pool in pools if pool.nodes is None]
    if spread:
        return f"hugepages={sum(pool.count for pool in spread)}"
    per_node = {node: pool.count for pool in pools for node in pool.nodes}
    return "hugepages=" + ",".join(f"{node}:{count}" for node, count in sorted(per_node.items()))


def arguments(spec: Spec) -> Iterator[tuple[str, tuple]]:
    """(argument, document path that asked for it), in command line order."""
    hugepages = spec.host.hugepages
    if hugepages.default_size is not None:
        yield (f"default_hugepagesz={kernel_size(hugepages.default_size)}",
               hugepages.path + ("default-size",))
    for size, pools in boot_pools(spec).items():
        yield f"hugepagesz={kernel_size(size)}", pools[0].path
        yield _count_argument(pools), pools[0].path
    if spec.host.thp.enabled is not None:
        yield f"transparent_hugepage={spec.host.thp.enabled}", spec.host.thp.path + ("enabled",)


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


def kernel_cmdline(spec: Spec, ctx: Context) -> tuple[list[Artifact], list[Diagnostic]]:
    """The GRUB drop-in and the plain argument file, when there are arguments."""
    words, problems = checked_arguments(spec, ctx)
    if problems or not words:
        return [], problems
    line = " ".join(words)
    # `${VAR:+$VAR }` keeps the distribution's arguments and adds no stray
    # leading space; plain POSIX sh, since grub-mkconfig sources this with
    # dash under `set -e`.
    grub = (header(ctx) + '# read by Debian/Ubuntu grub-mkconfig after /etc/default/grub; '
            'run update-grub\n'
            f'GRUB_CMDLINE_LINUX="${{GRUB_CMDLINE_LINUX:+$GRUB_CMDLINE_LINUX }}{line}"\n')
    summary = "kernel arguments (" + _topics(words) + "); next boot"
    return [
        Artifact(GRUB_PATH, grub.encode("ascii"), "grub", "boot",
                 summary=summary + " after update-grub"),
        Artifact(PLAIN_PATH, (line + "\n").encode("ascii"), "kernel-cmdline", "boot",
                 summary=summary + " once handed to grubby, kernel-install or the boot loader"),
    ], []


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
