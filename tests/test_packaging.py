"""The wheel carries what an installed, non-editable hostspec needs: the
grammar and the schemas, found without the source tree."""
from __future__ import annotations

import pathlib
import subprocess
import sys
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                    "-q", "-w", str(out), str(ROOT)], check=True, capture_output=True)
    (built,) = out.glob("hostspec-*.whl")
    return built


def test_wheel_ships_grammar_and_schemas(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "hostspec/language/grammar.lark" in names
    assert "hostspec/schemas/hostspec-v1.schema.json" in names
    assert "hostspec/schemas/explain-v1.schema.json" in names


def test_unpacked_wheel_checks_and_exports_away_from_the_source_tree(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    spec = tmp_path / "h.mem"
    spec.write_text("hostspec 1\nhost h { cpu intel; memory 8GiB; numa-nodes two }\n")
    run = subprocess.run([sys.executable, "-m", "hostspec", "check", str(spec)], cwd=tmp_path,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True)
    # The schema reported the bad value: it was found inside the unpacked wheel.
    assert run.returncode == 1 and "HS0203" in run.stderr, run.stderr
    where = subprocess.run([sys.executable, "-c", "import hostspec; print(hostspec.__file__)"],
                           cwd=tmp_path, env={"PYTHONPATH": str(site)}, capture_output=True, text=True)
    assert where.stdout.startswith(str(site))
