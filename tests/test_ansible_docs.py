"""docs/ansible.md's inventory: its spec and shared template compile as the
role compiles them, with the templates directory passed as the role passes
`hostspec_include_path` (`--include-path=DIR`), and without it the include
outside the spec's directory is refused."""
from __future__ import annotations

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "ansible.md"
FILES = re.findall(r"^```mem (\S+)\n(.*?)^```", PAGE.read_text(), re.S | re.M)


def hostspec(*argv, cwd):
    return subprocess.run([sys.executable, "-m", "hostspec", *argv], capture_output=True,
                          text=True, cwd=cwd)


def lay_out(tmp_path: pathlib.Path) -> pathlib.Path:
    for relative, text in FILES:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_the_page_shows_a_spec_and_its_shared_templates():
    assert sorted(path for path, _ in FILES) == ["specs/hv-07.mem", "templates/web.mem"]


def test_the_spec_compiles_with_the_templates_on_the_include_path(tmp_path):
    fleet = lay_out(tmp_path)
    done = hostspec("compile", "specs/hv-07.mem", "--out", "out", f"--include-path={fleet / 'templates'}",
                    cwd=fleet)
    assert done.returncode == 0 and not done.stdout + done.stderr, done.stdout + done.stderr
    domains = sorted(p.name for p in (fleet / "out" / "hv-07" / "etc" / "hostspec" / "domains").iterdir())
    assert domains == ["web-1.xml", "web-2.xml", "web-3.xml", "web-4.xml"]
    xml = (fleet / "out" / "hv-07" / "etc" / "hostspec" / "domains" / "web-1.xml").read_text()
    assert "<vcpu" in xml and ">2</vcpu>" in xml        # from the shared template


def test_without_the_include_path_the_include_is_refused(tmp_path):
    fleet = lay_out(tmp_path)
    done = hostspec("check", "specs/hv-07.mem", cwd=fleet)
    assert done.returncode == 1
    assert "HS0224" in done.stdout + done.stderr
