"""Fixtures of the VM test layer: boot a real kernel, compile and export specs.

Nothing here skips.  A host without QEMU, busybox-static, cpio or a kernel
in /boot fails the tests with the missing package's name, and so does a
tree without a working ``python -m hostspec compile``.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

VM_DIR = Path(__file__).resolve().parent
REPO = VM_DIR.parents[1]

# The harness package sits beside this file; make it importable whatever
# import mode pytest runs in.
if str(VM_DIR) not in sys.path:
    sys.path.insert(0, str(VM_DIR))

import vmharness  # noqa: E402
from vmharness.hosttools import missing_tools  # noqa: E402


@pytest.fixture(scope="session")
def vm_tools():
    """Fail (never skip) when the host lacks something the VM layer needs."""
    missing = missing_tools()
    if missing:
        pytest.fail("the VM test layer cannot run:\n  " + "\n  ".join(missing), pytrace=False)


@pytest.fixture(scope="session")
def vm_log_dir(tmp_path_factory) -> Path:
    """Where each boot's raw console log is kept for a look after a failure."""
    return tmp_path_factory.mktemp("vm-console")


@pytest.fixture(scope="session")
def boot_vm(vm_tools, vm_log_dir):
    """boot_vm(label, cmdline, steps, artifacts, machine) -> vmharness.BootResult.

    Harness failures (timeout, guest crash) fail the test with the console
    tail instead of a traceback; the full log lands in vm_log_dir/LABEL.log.
    """
    def boot(label, cmdline="", steps=(), artifacts=None, machine=vmharness.Machine()):
        """Boot once; LABEL names the log file and prefixes any failure."""
        try:
            result = vmharness.boot(cmdline, steps, artifacts, machine)
        except vmharness.HarnessError as err:
            pytest.fail(f"{label}: {err}", pytrace=False)
        (vm_log_dir / f"{label}.log").write_text(result.log)
        return result
    return boot


def run_hostspec(*args: str) -> subprocess.CompletedProcess:
    """`python -m hostspec ARGS` from this checkout, installed or not."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return subprocess.run([sys.executable, "-m", "hostspec", *args], cwd=REPO,
                          env=dict(os.environ, PYTHONPATH=path),
                          capture_output=True, text=True, timeout=300, check=False)


def _spec_file(spec: "Path | str", work: Path) -> Path:
    """SPEC as a file: a Path is used as it is, text is written to WORK/spec.mem."""
    if isinstance(spec, Path):
        return spec
    path = work / "spec.mem"
    path.write_text(spec)
    return path


def _hostspec_or_fail(*args: str) -> str:
    """Run hostspec; fail the test with its output unless it exits 0."""
    proc = run_hostspec(*args)
    if proc.returncode != 0:
        pytest.fail(f"`hostspec {' '.join(args)}` exited {proc.returncode} (the spec-driven "
                    f"VM tests need the compiler):\n{proc.stdout}{proc.stderr}", pytrace=False)
    return proc.stdout


@pytest.fixture(scope="session")
def compile_spec(tmp_path_factory):
    """compile_spec(spec) -> Path of DIR/<host>/, the tree `hostspec compile` wrote.

    SPEC is a Path to a .mem file or the text of one.  Runs
    `python -m hostspec compile SPEC --out DIR` and expects exactly one
    host directory in DIR.
    """
    def compile_(spec):
        """Compile SPEC into a fresh DIR and return DIR/<host>/."""
        work = tmp_path_factory.mktemp("compiled")
        out = work / "out"
        _hostspec_or_fail("compile", str(_spec_file(spec, work)), "--out", str(out))
        hosts = sorted(p for p in out.iterdir() if p.is_dir()) if out.is_dir() else []
        if len(hosts) != 1:
            pytest.fail(f"`hostspec compile` wrote {len(hosts)} host trees in {out}, expected 1", pytrace=False)
        return hosts[0]
    return compile_


@pytest.fixture(scope="session")
def export_spec(tmp_path_factory):
    """export_spec(spec) -> dict, the JSON form `hostspec export` prints
    (schemas/hostspec-v1.schema.json: sizes in bytes, durations in ms)."""
    def export(spec):
        """The parsed JSON form of SPEC."""
        work = tmp_path_factory.mktemp("exported")
        text = _hostspec_or_fail("export", str(_spec_file(spec, work)))
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            pytest.fail(f"`hostspec export` printed no JSON ({err}):\n{text[:2000]}", pytrace=False)
    return export
