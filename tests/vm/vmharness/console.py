"""Read the guest's serial console back into states and step results."""

import re
from dataclasses import dataclass, field

from .guest import MARK
from .result import StepResult, key_values

_MARKER = re.compile(re.escape(MARK) + r"-(STATE-BEGIN|STATE-END|STEP-BEGIN|STEP-END|DONE)\b ?(\S*)(?: rc=(\d+))?")


@dataclass
class Console:
    """Everything parsed from one console log."""

    states: dict[str, dict[str, str]] = field(default_factory=dict)
    steps: dict[str, StepResult] = field(default_factory=dict)
    done: bool = False


def clean(raw: bytes) -> str:
    """Console bytes as text: the serial line ends lines with CR LF."""
    return raw.decode("utf-8", errors="replace").replace("\r", "")


def parse(text: str) -> Console:
    """Split the log at the markers /init prints."""
    console, section, lines = Console(), None, []
    for line in text.splitlines():
        match = _MARKER.match(line)
        if match is None:
            lines.append(line)
            continue
        if section is not None:
            _close(console, section, lines, match)
        section, lines = _open(match), []
        console.done = console.done or match.group(1) == "DONE"
    return console


def _open(match) -> tuple[str, str] | None:
    """The section a BEGIN marker starts, or None outside any section."""
    kind, name = match.group(1), match.group(2)
    return (kind.split("-")[0], name) if kind.endswith("BEGIN") else None


def _close(console: Console, section, lines: list[str], end) -> None:
    """Store a finished section; an END marker carries the step's exit code."""
    kind, name = section
    if kind == "STATE":
        console.states[name] = key_values(lines)
    elif end.group(1) == "STEP-END" and end.group(2) == name:
        rc = int(end.group(3)) if end.group(3) is not None else -1
        console.steps[name] = StepResult(name, rc, "\n".join(lines).rstrip("\n"))


def tail(text: str, count: int = 40) -> str:
    """The last COUNT lines of TEXT, for error messages."""
    return "\n".join(text.splitlines()[-count:])
