"""`check` reaches the verdict `compile` does: every backend's validation runs,
only the artifacts are skipped.  CI gates on `check`, so a spec it passes must
compile."""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

from hostspec import api
from hostspec.commands.compile import compile_file

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = sorted([*ROOT.glob("tests/errors/*.mem"), *ROOT.glob("examples/*.mem"),
                 *ROOT.glob("tests/cases/*/input.*")])


def _found(result) -> list[tuple]:
    return sorted((d.code, d.span.line if d.span else 0, d.message) for d in result.diagnostics)


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: str(p.relative_to(ROOT)))
def test_check_and_compile_report_the_same_diagnostics(path):
    checked = api.check(str(path))
    compiled = compile_file(str(path)).result
    assert _found(checked) == _found(compiled)
    assert checked.failed() == compiled.failed()


DOMAIN = "<domain type='kvm'><name>{name}</name><memory unit='KiB'>1048576</memory></domain>"


def _hostile_specs(tmp: pathlib.Path) -> dict[str, tuple[pathlib.Path, str]]:
    """Specs that compile refuses only after reading a base file or a JSON number."""
    (tmp / "wrong-name.xml").write_text(DOMAIN.format(name="other"))
    (tmp / "not-xml.xml").write_text("this is not XML\n")
    os.mkfifo(tmp / "fifo.xml")  # not a regular file: HS0402 (a FIFO must not hang the reader)
    host = "hostspec 1\nhost h { cpu intel; memory 64GiB }\n"
    cases = {
        "base-fifo": (host + 'guest vm { memory 4GiB; base "fifo.xml" }\n', "HS0402"),
        "base-dev-zero": (host + 'guest vm { memory 4GiB; base "/dev/zero" }\n', "HS0224"),
        "base-not-xml": (host + 'guest vm { memory 4GiB; base "not-xml.xml" }\n', "HS0403"),
        "base-wrong-name": (host + 'guest vm { memory 4GiB; base "wrong-name.xml" }\n', "HS0405"),
        "locked-without-overhead": (
            "hostspec 1\nhost h { cpu intel; memory 64GiB; guest-overhead 0KiB }\n"
            "guest db { memory 8GiB; locked on; balloon none }\n", "HS0407"),
    }
    specs = {}
    for name, (text, code) in cases.items():
        (tmp / f"{name}.mem").write_text(text)
        specs[name] = (tmp / f"{name}.mem", code)
    document = {"hostspec": 1, "host": {"name": "h", "cpu": "intel", "memory": 64 * 2 ** 30},
                "guests": [{"name": "vm", "memory": 1.5e9}]}
    (tmp / "fractional.json").write_text(json.dumps(document))
    specs["json-memory-1.5e9"] = (tmp / "fractional.json", "HS0407")
    return specs


@pytest.mark.parametrize("case", ["base-fifo", "base-dev-zero", "base-not-xml", "base-wrong-name",
                                  "locked-without-overhead", "json-memory-1.5e9"])
def test_check_fails_where_compile_fails(case, tmp_path):
    path, code = _hostile_specs(tmp_path)[case]

    def run(*words):
        return subprocess.run([sys.executable, "-m", "hostspec", *words], cwd=tmp_path,
                              capture_output=True, text=True)

    checked = run("check", path.name)
    compiled = run("compile", path.name, "--out", "out")
    assert checked.returncode == compiled.returncode == 1, (checked.stderr, compiled.stderr)
    assert f"[{code}]" in checked.stderr and f"[{code}]" in compiled.stderr
    assert "Traceback" not in checked.stderr + compiled.stderr
    assert not (tmp_path / "out").exists()
