"""Where diagnostics say they are: order inside included files, their names, CRLF lines."""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent


def check(*args, cwd, stdin=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hostspec", "check", *args], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def locations(run: subprocess.CompletedProcess) -> list[str]:
    return [line.split("--> ")[1] for line in run.stderr.splitlines() if "--> " in line]


def write_spec_with_a_broken_template(root: pathlib.Path) -> None:
    (root / "specs" / "t").mkdir(parents=True)
    (root / "specs" / "host.mem").write_text(
        'hostspec 1\ninclude "t/b.mem"\nhost h { cpu intel; memory 16GiB }\n'
        "guest g from b { memory 1GiB }\n")
    (root / "specs" / "t" / "b.mem").write_text(
        "hostspec 1\ntemplate b {\n    memory 1GB\n    memroy 2GiB\n}\n")


def test_diagnostics_in_an_included_file_are_in_line_order_and_named_from_here(tmp_path):
    write_spec_with_a_broken_template(tmp_path)
    run = check("specs/host.mem", cwd=tmp_path)
    assert run.returncode == 1
    assert locations(run) == ["specs/t/b.mem:3:12", "specs/t/b.mem:4:5"]
    assert locations(check("host.mem", cwd=tmp_path / "specs")) == ["t/b.mem:3:12", "t/b.mem:4:5"]
    spec = (tmp_path / "specs" / "host.mem").read_text()
    assert locations(check("-", cwd=tmp_path / "specs", stdin=spec)) == ["t/b.mem:3:12", "t/b.mem:4:5"]


def test_a_crlf_line_is_quoted_without_its_carriage_return(tmp_path):
    (tmp_path / "crlf.mem").write_bytes(b"hostspec 1\r\nhost h {\r\n\tcpu intel\r\n\tmemory 8GB\r\n}\r\n")
    run = check("crlf.mem", cwd=tmp_path)
    assert locations(run) == ["crlf.mem:4:9"]
    assert "4 | \tmemory 8GB\n" in run.stderr and "\ufffd" not in run.stderr


def test_one_gutter_for_a_diagnostic_whose_lines_differ_in_width(tmp_path):
    (tmp_path / "hall.mem").write_text(
        "hostspec 1\nhost h {\n    cpu intel\n    memory 64GiB\n    numa-nodes 2\n"
        "    hugepages { pool 1GiB count 10 node 0; pool 1GiB count 10 node 1 }\n}\n"
        "guest a { memory 12GiB; backing hugepages 1GiB node 0; balloon none }\n"
        "guest b { memory 10GiB; backing hugepages 1GiB node 1; balloon none }\n"
        "guest e { memory 1GiB; backing hugepages 1GiB; balloon none }\n")
    run = check("hall.mem", cwd=tmp_path)
    body = [line for line in run.stderr.splitlines()[1:] if line and not line.endswith("reported")]
    bars = {line.index("|") for line in body if "|" in line}
    arrows = {line.index("-") if "-->" in line else line.index(":") for line in body
              if "-->" in line or ":::" in line}
    assert bars == {3} and arrows == {2}  # lines 6..10: two-digit gutter throughout
    assert " 8 | guest a" in run.stderr and "10 | guest e" in run.stderr
    assert [line.index("=") for line in body if "= help" in line] == [3]
