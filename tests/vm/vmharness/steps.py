"""What the guest runs between its two state dumps.

A step is a named shell snippet.  The guest runs each one with dash (as
/bin/sh on Debian), after sourcing its helper library, so a snippet can
call ``kv KEY FILE`` or ``state`` to report values as KEY=VALUE lines.
The host records each step's exit code and output.
"""

import re
import shlex
from dataclasses import dataclass

from .guest import MERGEABLE

ARTIFACTS = "/artifacts"
APPLY_MEMORY = f"{ARTIFACTS}/usr/libexec/hostspec/apply-memory"
SYSCTL_CONF = f"{ARTIFACTS}/etc/sysctl.d/90-hostspec.conf"

# Step names become file names in the guest and console markers.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\Z")


@dataclass(frozen=True)
class Step:
    """One shell snippet, run in the guest under NAME."""

    name: str
    script: str

    def __post_init__(self):
        """Names become guest file names and console markers: keep them plain."""
        if not _NAME.match(self.name):
            raise ValueError(f"step name {self.name!r} must match {_NAME.pattern}")


def run(name: str, *argv: str) -> Step:
    """Run one program with arguments, quoted for the guest shell."""
    return Step(name, shlex.join(argv))


def write(name: str, path: str, value: str) -> Step:
    """Write VALUE to a sysfs or procfs file, as an administrator would."""
    return Step(name, f"printf '%s\\n' {shlex.quote(value)} >{shlex.quote(path)}")


def state(name: str) -> Step:
    """Dump the full state mid-way; it lands in the step's KEY=VALUE values."""
    return Step(name, "state")


def apply_memory(name: str, *args: str) -> Step:
    """Run the compiled apply-memory script (through its own #! line)."""
    return run(name, APPLY_MEMORY, *args)


def apply_sysctl(name: str = "sysctl", path: str = SYSCTL_CONF) -> Step:
    """Apply a sysctl.d file the way the host will: with systemd-sysctl.

    The initramfs carries systemd-sysctl when the host has it; otherwise
    busybox's sysctl -p stands in.  Neither proves a value was set (an
    unknown key only logs "ignoring"), so tests read every value back.
    """
    quoted = shlex.quote(path)
    return Step(name, (
        "if [ -x /usr/lib/systemd/systemd-sysctl ]; then\n"
        f"  /usr/lib/systemd/systemd-sysctl {quoted}\n"
        "else\n"
        f"  sysctl -p {quoted}\n"
        "fi"
    ))


def check_names_unique(steps) -> None:
    """Refuse two steps with one name: results are keyed by name."""
    names = [s.name for s in steps]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"duplicate step names: {', '.join(duplicates)}")


def merge_pages(name: str = "merge-pages", timeout_s: int = 60) -> Step:
    """Start a process with 256 identical mergeable pages; wait until KSM shares some.

    KSM must already be running (write 1 to ksm/run in an earlier step).
    Prints ksm.pages_shared and ksm.pages_sharing; exits 1 if nothing was
    shared within TIMEOUT_S seconds.
    """
    return Step(name, (
        f"/{MERGEABLE} </dev/null >/dev/null 2>&1 &\n"
        f"i=0; while [ \"$(cat /sys/kernel/mm/ksm/pages_shared)\" = 0 ] && [ $i -lt {timeout_s * 10} ]; do\n"
        "  sleep 0.1; i=$((i + 1))\n"
        "done\n"
        "kv ksm.pages_shared /sys/kernel/mm/ksm/pages_shared\n"
        "kv ksm.pages_sharing /sys/kernel/mm/ksm/pages_sharing\n"
        "[ \"$(cat /sys/kernel/mm/ksm/pages_shared)\" != 0 ]"
    ))


def read_values(name: str, files: dict[str, str]) -> Step:
    """Print KEY=<contents of FILE> for each KEY: FILE, read with cat."""
    lines = [f"kv {shlex.quote(key)} {shlex.quote(path)}" for key, path in files.items()]
    return Step(name, "\n".join(lines) or "true")
