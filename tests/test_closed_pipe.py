"""A closed output pipe (`hostspec ... | head -1`) ends the output, never the verdict.

Each command runs with its stdout and stderr on a real pipe whose reading end
is already closed, so every write fails with EPIPE; its exit status must be
the one it gives when the output is read to the end.
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
HOSTSPEC = [sys.executable, "-m", "hostspec"]

CLEAN = "hostspec 1\nhost h {\n    cpu intel\n    memory 64GiB\n}\n" + "".join(
    f"guest g-{i:03d} {{ memory 1GiB }}\n" for i in range(200))
# Semantic errors (HS0301) with a long explanation: explain still prints it.
BROKEN = ("hostspec 1\nhost h {\n    cpu intel\n    memory 64GiB\n"
          "    hugepages { pool 2MiB count 16 }\n}\n" + "".join(
              f"guest g-{i:03d} {{ memory 1GiB; backing hugepages 2MiB; balloon none }}\n"
              for i in range(200)))


def _commands(tmp_path: pathlib.Path, spec: pathlib.Path) -> dict[str, list[str]]:
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    return {
        "check-json": ["check", "--format", "json", str(spec)],
        "check-text": ["check", str(spec)],
        "export": ["export", str(spec)],
        "explain": ["explain", str(spec)],
        "explain-json": ["explain", "--format", "json", str(spec)],
        "compile": ["compile", str(spec), "--out", str(tmp_path / "out")],
        "plan": ["plan", str(spec), str(spec)],
        "fmt": ["fmt", "--check", str(spec)],
        "audit": ["audit", str(spec), "--root", str(root)],
    }


def _status_read_to_the_end(argv: list[str]) -> int:
    return subprocess.run(HOSTSPEC + argv, capture_output=True, env=ENV, timeout=120).returncode


def _status_with_closed_pipe(argv: list[str]) -> int:
    """Exit status with stdout and stderr on a pipe nobody reads any more."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        run = subprocess.run(HOSTSPEC + argv, stdout=write_end, stderr=write_end, env=ENV, timeout=120)
    finally:
        os.close(write_end)
    return run.returncode


@pytest.mark.parametrize("text", [CLEAN, BROKEN], ids=["clean", "broken"])
def test_every_command_keeps_its_verdict_when_the_pipe_closes(tmp_path, text):
    spec = tmp_path / "h.mem"
    spec.write_text(text)
    for name, argv in _commands(tmp_path, spec).items():
        shutil.rmtree(tmp_path / "out", ignore_errors=True)
        expected = _status_read_to_the_end(argv)
        if text is BROKEN and name in ("check-json", "check-text", "explain", "compile"):
            assert expected == 1, name
        shutil.rmtree(tmp_path / "out", ignore_errors=True)
        got = _status_with_closed_pipe(argv)
        assert got == expected, f"{name}: {got} with a closed pipe, {expected} without"


def test_explain_piped_into_head_fails_on_a_broken_spec(tmp_path):
    """The shell's own pipe, as an operator types it: `hostspec explain bad.json 2>&1 | head -1`."""
    document = {"hostspec": 1,
                "host": {"name": "h", "cpu": "intel", "memory": 64 << 30,
                         "hugepages": {"pools": [{"size": 2 << 20, "count": 16}]}},
                "guests": [{"name": f"g-{i:03d}", "memory": 1 << 30, "balloon": {"model": "none"},
                            "backing": {"type": "hugepages", "size": 2 << 20}} for i in range(2000)]}
    bad_json = tmp_path / "bad.json"
    bad_json.write_text(json.dumps(document))
    bash = shutil.which("bash")
    assert bash, "bash is needed for PIPESTATUS"
    script = ('"$@" explain "$SPEC" 2>&1 | head -1 >/dev/null; '
              'echo "${PIPESTATUS[0]}"')
    for _ in range(3):  # the race between head's exit and the writes goes either way: both must fail
        run = subprocess.run([bash, "-c", script, "bash", *HOSTSPEC], capture_output=True, text=True,
                             env={**ENV, "SPEC": str(bad_json)}, timeout=120)
        assert run.stdout.strip() == "1", run.stdout + run.stderr
