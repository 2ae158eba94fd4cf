"""apply-memory: a POSIX sh script that sets KSM, THP and runtime huge pages.

The script is generated as a fixed prologue of shell functions followed by
one call per value.  Every path and value it writes comes from the model's
validated numbers and enumerations; `_word` refuses anything else.
"""
from __future__ import annotations

import re
from typing import Iterator

from hostspec.diagnostics import Diagnostic
from hostspec.model import KiB, Spec
from hostspec.backends import MODE_EXECUTABLE, Artifact, Context, header

PATH = "usr/libexec/hostspec/apply-memory"
INSTALLED_PATH = "/" + PATH
KSM_RUN = {"off": 0, "on": 1, "unmerge": 2}
KSM = "kernel/mm/ksm/"
THP = "kernel/mm/transparent_hugepage/"
KSM_FIELDS = ("run", "pages_to_scan", "sleep_ms", "merge_across_nodes", "use_zero_pages")
_SAFE_WORD = re.compile(r"[A-Za-z0-9_./+-]+")

PROLOGUE = r"""#
# Sets the spec's KSM, transparent huge page and runtime huge page values
# through sysfs.  A value that already holds is left alone; each change is
# printed as `PATH: old -> new` and read back after writing.
#
#   apply-memory           exit 0 when every value holds, 1 when one failed
#   apply-memory --check   change nothing, print each difference, exit 1 if any
#
# Exit 2 (nothing written): a usage error, or a file it needs is missing.
# HOSTSPEC_SYSFS replaces /sys, so the script can run against a scratch tree.
set -u
# A reader that goes away (`| head`) must not stop it halfway, with KSM
# unmerged: report lines then just fail to print.
trap '' PIPE

root=${HOSTSPEC_SYSFS:-/sys}
status=0
case $# in
0) mode=apply ;;
1) [ "$1" = --check ] || { echo "usage: apply-memory [--check]" >&2; exit 2; }
   mode=check ;;
*) echo "usage: apply-memory [--check]" >&2; exit 2 ;;
esac

fail() {
    echo "apply-memory: $*" >&2
    status=1
}

# Refuse to start, before writing anything, unless every file is there.
require() {
    missing=0
    for file in "$@"; do
        if [ ! -f "$root/$file" ]; then
            echo "apply-memory: $root/$file is missing" >&2
            missing=1
        fi
    done
    if [ "$missing" = 1 ]; then
        echo "apply-memory: this host lacks a kernel feature or a NUMA node the spec sets; nothing was changed" >&2
        exit 2
    fi
}

# The value a file holds: the bracketed choice of `always [madvise] never`,
# else the whole text.  $(cat) and not `read`: dash reads one byte at a time
# and /proc/sys files give end of file past the first read.
current() {
    value=$(cat "$root/$1") || return 1
    case $value in
    *\[*\]*) value=${value#*\[}; value=${value%%\]*} ;;
    esac
    printf '%s\n' "$value"
}

# set_value FILE VALUE: write VALUE unless FILE holds it, then read it back;
# the kernel may accept a write and give less (huge pages).
set_value() {
    old=$(current "$1") || { fail "cannot read $root/$1"; return 1; }
    [ "$old" = "$2" ] && return 0
    if [ "$mode" = check ]; then
        echo "$root/$1: is $old, want $2"
        status=1
        return 0
    fi
    if ! printf '%s\n' "$2" >"$root/$1"; then
        fail "cannot write $2 to $root/$1 (was $old)"
        return 1
    fi
    new=$(current "$1") || { fail "cannot read $root/$1 back"; return 1; }
    if [ "$new" != "$2" ]; then
        case $1 in
        *nr_hugepages) fail "$root/$1: the kernel gave $new huge pages of $2 asked (was $old)" ;;
        *) fail "$root/$1: wrote $2 but it reads $new (was $old)" ;;
        esac
        return 1
    fi
    echo "$root/$1: $old -> $new" || true  # the write decided; a closed stdout does not
}
"""

# Only written when the spec sets merge_across_nodes: shellcheck flags
# functions that are never called.
MERGE_FUNCTION = r"""
# set_merge_across_nodes VALUE [RUN]: the kernel refuses the change (EBUSY)
# while pages are merged, so unmerge first (run=2), change it, then set run
# to RUN, or back to the value it had.
set_merge_across_nodes() {
    old=$(current kernel/mm/ksm/merge_across_nodes) || { fail "cannot read merge_across_nodes"; return 1; }
    if [ "$old" = "$1" ] || [ "$mode" = check ]; then
        set_value kernel/mm/ksm/merge_across_nodes "$1"
        return
    fi
    run=${2:-$(current kernel/mm/ksm/run)}
    if set_value kernel/mm/ksm/run 2; then
        set_value kernel/mm/ksm/merge_across_nodes "$1"
    fi
    set_value kernel/mm/ksm/run "$run"  # also after a failed change: never leave run at 2
}
"""

EPILOGUE = 'exit "$status"\n'


def _word(text: str) -> str:
    """A path or value known safe in shell without quoting (validated upstream)."""
    if not _SAFE_WORD.fullmatch(text) or ".." in text:
        raise ValueError(f"unsafe word for apply-memory: {text!r}")
    return text


def _hugepage_dir(size: int) -> str:
    return f"hugepages/hugepages-{size // KiB}kB/nr_hugepages"


def hugepage_values(spec: Spec) -> Iterator[tuple[str, int]]:
    """(file under /sys, count) for every runtime pool: spread ones per size, else per node."""
    for pool in sorted(spec.host.hugepages.pools, key=lambda p: (p.size, p.nodes or ())):
        if pool.at_boot:
            continue
        if pool.nodes is None:
            yield "kernel/mm/" + _hugepage_dir(pool.size), pool.count
        else:
            for node in pool.nodes:
                yield f"devices/system/node/node{node}/" + _hugepage_dir(pool.size), pool.count


def simple_values(spec: Spec) -> list[tuple[str, object]]:
    """(file under /sys, value) set one by one, in the order they are written."""
    thp, ksm = spec.host.thp, spec.host.ksm
    values: list[tuple[str, object]] = []
    values += [(THP + key, getattr(thp, key)) for key in ("enabled", "defrag")
               if getattr(thp, key) is not None]
    values += list(hugepage_values(spec))
    values += [(KSM + name, int(getattr(ksm, field))) for field, name in
               (("pages_to_scan", "pages_to_scan"), ("sleep_ms", "sleep_millisecs"),
                ("use_zero_pages", "use_zero_pages")) if getattr(ksm, field) is not None]
    return values


def script_lines(spec: Spec) -> list[str]:
    """The calls after the prologue: require, then one per value, KSM run last."""
    ksm = spec.host.ksm
    calls = [f"set_value {_word(path)} {_word(str(value))}" for path, value in simple_values(spec)]
    needed = [path for path, _ in simple_values(spec)]
    run = str(KSM_RUN[ksm.run]) if ksm.run is not None else ""
    if ksm.merge_across_nodes is not None:
        calls.append(f"set_merge_across_nodes {int(ksm.merge_across_nodes)} {run}".rstrip())
        needed += [KSM + "merge_across_nodes", KSM + "run"]
    if run:
        calls.append(f"set_value {KSM}run {run}")
        needed.append(KSM + "run")
    if not calls:
        return []
    unique = list(dict.fromkeys(_word(path) for path in needed))
    return ["require \\\n    " + " \\\n    ".join(unique), *calls]


def sets_ksm(spec: Spec) -> bool:
    """True when the spec sets any KSM value."""
    return any(getattr(spec.host.ksm, field) is not None for field in KSM_FIELDS)


def needs_apply_script(spec: Spec) -> bool:
    """True when the spec sets anything apply-memory writes."""
    return bool(script_lines(spec))


def apply_memory(spec: Spec, ctx: Context) -> tuple[list[Artifact], list[Diagnostic]]:
    """The apply-memory script, when the spec sets KSM, THP or a runtime pool."""
    lines = script_lines(spec)
    if not lines:
        return [], []
    merge = MERGE_FUNCTION if spec.host.ksm.merge_across_nodes is not None else ""
    text = ("#!/bin/sh\n" + header(ctx) + PROLOGUE + merge + "\n" + "\n".join(lines) + "\n"
            + EPILOGUE)
    return [Artifact(PATH, text.encode("ascii"), "apply-script", "runtime", MODE_EXECUTABLE,
                     summary="sets " + _topics(spec) + " through sysfs; when run "
                             "(at every boot by hostspec-memory.service)")], []


def _topics(spec: Spec) -> str:
    host, topics = spec.host, []
    if host.thp.enabled is not None or host.thp.defrag is not None:
        topics.append("THP")
    if any(not pool.at_boot for pool in host.hugepages.pools):
        topics.append("runtime huge page pools")
    if sets_ksm(spec):
        topics.append("KSM")
    return " and ".join(topics) if len(topics) < 3 else f"{topics[0]}, {topics[1]} and {topics[2]}"
