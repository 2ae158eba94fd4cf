"""Exit statuses and streams CLI.md promises, command by command."""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent
WARNED = "hostspec 1\nhost h {\n    cpu intel\n    memory 16GiB\n    kvm { ept off }\n}\n"  # HS0303


def hostspec(*args, cwd=REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hostspec", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def test_unreadable_input_is_exit_2_for_export_and_explain(tmp_path):
    for command in ("export", "explain"):
        for target in (tmp_path / "missing.mem", tmp_path):
            run = hostspec(command, target)
            assert run.returncode == 2 and "HS0902" in run.stderr, (command, target)


def test_export_prints_the_document_whatever_the_diagnostic_format(tmp_path):
    spec = tmp_path / "w.mem"
    spec.write_text(WARNED)
    text = hostspec("export", spec)
    for form in ("json", "sarif"):
        run = hostspec("export", "--format", form, spec)
        assert run.returncode == 0 and run.stdout == text.stdout
        assert json.loads(run.stdout)["host"]["kvm"] == {"ept": False}
    broken = tmp_path / "b.mem"
    broken.write_text(WARNED.replace("kvm {", "kvmm {"))
    run = hostspec("export", "--format", "json", broken)
    assert run.returncode == 1 and run.stdout == ""  # no document, and stdout stays clean
    assert json.loads(run.stderr.splitlines()[0])["code"] == "HS0201"


def test_quiet_strict_still_shows_the_warnings_that_fail_it(tmp_path):
    spec = tmp_path / "w.mem"
    spec.write_text(WARNED)
    quiet = hostspec("check", "-q", spec)
    assert quiet.returncode == 0 and quiet.stderr == ""
    strict = hostspec("check", "-q", "--strict", spec)
    assert strict.returncode == 1 and "warning[HS0303]" in strict.stderr
    out = tmp_path / "out"
    compiled = hostspec("compile", "-q", "--strict", spec, "--out", out)
    assert compiled.returncode == 1 and "warning[HS0303]" in compiled.stderr and not out.exists()


def test_explain_shows_ksm_values_of_zero(tmp_path):
    spec = tmp_path / "k.mem"
    spec.write_text("hostspec 1\nhost h {\n    cpu intel\n    memory 16GiB\n"
                    "    ksm { run on; pages-to-scan 0; sleep 0ms }\n}\n")
    run = hostspec("explain", spec)
    assert run.returncode == 0, run.stderr
    assert "KSM: running; scans 0 pages, every 0ms" in run.stdout


def test_check_modes_keep_stdout_for_the_diff_in_every_format(tmp_path):
    spec = tmp_path / "w.mem"
    spec.write_text(WARNED)
    run = hostspec("compile", "--check", "--format", "json", spec, "--out", tmp_path / "out")
    assert run.returncode == 1 and run.stdout.startswith("--- /dev/null\n")
    assert json.loads(run.stderr.splitlines()[0])["code"] == "HS0303"
    broken = tmp_path / "b.mem"
    broken.write_text("hostspec 1\nhost h {\n")
    run = hostspec("fmt", "--check", "--format", "sarif", broken)
    assert run.returncode == 1 and run.stdout == ""
    assert json.loads(run.stderr)["runs"][0]["results"][0]["ruleId"] == "HS0104"


def test_version_and_a_missing_audit_root(tmp_path):
    for argv in (["--version"], ["check", "--version"]):
        run = hostspec(*argv)
        assert run.returncode == 0 and run.stdout.startswith("hostspec ")
    run = hostspec("audit", "examples/lab.mem", "--root", tmp_path / "absent")
    assert run.returncode == 2
    assert run.stderr == f"hostspec: cannot read `{tmp_path / 'absent'}`: no such directory\n"
