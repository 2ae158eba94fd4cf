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


def test_a_long_line_is_shown_as_a_window_around_the_caret(tmp_path):
    """50,000 braces on one line: one diagnostic, a few hundred bytes, caret under the culprit."""
    spec = tmp_path / "braces.mem"
    spec.write_text("hostspec 1\nhost h { cpu intel; memory 4GiB }\nguest g " + "{" * 50000 + "\n")
    run = check(str(spec), cwd=tmp_path)
    assert run.returncode == 1 and "error[HS0102]" in run.stderr
    assert len(run.stderr) < 1000, len(run.stderr)
    shown = [line for line in run.stderr.splitlines() if line.startswith("3 | ")][0]
    assert shown.startswith("3 | guest g {{{") and shown.endswith("{...")
    caret = run.stderr.splitlines()[run.stderr.splitlines().index(shown) + 1]
    assert caret.index("^") == shown.index("{") + 1  # the second `{` is the unexpected one


def test_the_window_follows_a_caret_far_into_a_long_line(tmp_path):
    filler = "kvm { ept on };" * 300
    spec = tmp_path / "long.mem"
    spec.write_text(f"hostspec 1\nhost h {{ cpu intel; memory 4GiB; {filler} memroy 5GiB }}\n")
    run = check("--format", "text", str(spec), cwd=tmp_path)
    lines = run.stderr.splitlines()
    at = lines.index(next(line for line in lines if line.startswith("error[HS0201]")))
    source, caret = lines[at + 3], lines[at + 4]
    assert source.startswith("2 | ...") and len(source) < 140
    assert source[caret.index("^"):].startswith("memroy") and caret.count("^") == len("memroy")
    assert len(run.stderr) < 300 * 1000  # 300 HS0206, each a few lines, not a copy of the line


def test_window_cuts_and_clamps():
    from hostspec.diagnostics.render import window

    assert window("short", 1, 3) == ("short", 1, 3)
    text = "".join(chr(ord("a") + i % 26) for i in range(1000))
    shown, start, end = window(text, 500, 505)
    assert shown.startswith("...") and shown.endswith("...")
    assert shown[start:end] == text[500:505]
    shown, start, end = window(text, 10, 990)  # a span wider than the window: carets stop at its edge
    assert not shown.startswith("...") and shown[start:end] == text[10:120]
    shown, start, end = window(text, 999, 1000)  # at the very end
    assert shown.endswith(text[-1]) and shown[start:end] == text[999]
