"""The layering: import-linter's contracts (pyproject.toml) hold, and the cheap
commands stay cheap: `check` imports no backend and no lxml."""
from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_import_contracts_hold():
    linter = shutil.which("lint-imports", path=str(pathlib.Path(sys.executable).parent)) \
        or shutil.which("lint-imports")
    assert linter, "lint-imports (PyPI import-linter) is not installed"
    run = subprocess.run([linter, "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def _imported(*words: str) -> set[str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    run = subprocess.run([sys.executable, "-X", "importtime", "-m", "hostspec", *words],
                         cwd=ROOT, capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    return {line.rsplit("|", 1)[1].strip() for line in run.stderr.splitlines()
            if line.startswith("import time:") and "|" in line}


def test_check_imports_no_backend_and_no_lxml():
    modules = _imported("check", "examples/lab.mem")
    assert "hostspec.api" in modules  # the measurement saw hostspec's own imports
    assert not {m for m in modules if m == "lxml" or m.startswith("lxml.")}
    assert not {m for m in modules if m.startswith("hostspec.backends")}


def test_version_imports_no_stage():
    modules = _imported("--version")
    assert "hostspec.commands.cli" in modules
    assert not {m for m in modules if m.split(".")[:2] in (["hostspec", "api"], ["hostspec", "language"])}
    assert "jsonschema" not in modules and "lxml" not in modules

