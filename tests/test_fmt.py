"""`hostspec fmt`: canonical, idempotent, keeps meaning and comments."""
from __future__ import annotations

import pathlib
import subprocess
import sys

from hypothesis import HealthCheck, given, settings, strategies as st

from hostspec import api
from hostspec.language.fmt import format_source
from hostspec.diagnostics.source import SourceFile

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").rglob("*.mem"))
ALL_SPECS = EXAMPLES + sorted((ROOT / "tests" / "errors").rglob("*.mem"))


def fmt(text: str, name: str = "t.mem") -> str:
    formatted, problems = format_source(SourceFile.from_text(name, text))
    assert formatted is not None, problems
    return formatted


def document(text: str, name: str):
    result = api.load(name, stdin=text.encode())
    return result.document, sorted((d.code, d.message) for d in result.diagnostics)


def comments(text: str) -> list[str]:
    """Every comment's text, as the lexer sees them."""
    from hostspec.language.fmt import _parser

    parser, collected = _parser()
    collected.clear()
    parser.parse(text)
    return sorted(str(c).rstrip() for c in collected)


def hostspec(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "hostspec", *args], cwd=ROOT, input=stdin,
                          capture_output=True, text=True)


def test_examples_are_canonical():
    run = hostspec("fmt", "--check", *map(str, EXAMPLES))
    assert (run.returncode, run.stdout) == (0, "")


def test_canonical_spelling():
    text = ('hostspec 1\nhost "h1" { cpu intel; memory 4096MiB; kvm { ept yes; vpid false } \n'
            "  ksm { sleep 2000ms; run on }\n}\nguest g { memory 1048576KiB\n\n\n  balloon virtio { stats-period 10s } }\n")
    assert fmt(text) == (
        "hostspec 1\n\nhost h1 {\n    cpu intel\n    memory 4GiB\n    kvm {\n        ept on\n"
        "        vpid off\n    }\n    ksm {\n        sleep 2s\n        run on\n    }\n}\n\n"
        "guest g {\n    memory 1GiB\n\n    balloon virtio {\n        stats-period 10s\n    }\n}\n")


def test_comments_stay_with_their_statements():
    text = "# top\nhostspec 1\nhost h {\n  # about cpu\n  cpu intel # trailing\n  memory 4GiB\n  # last\n}\n# end\n"
    assert fmt(text) == ("# top\nhostspec 1\n\nhost h {\n    # about cpu\n    cpu intel  # trailing\n"
                         "    memory 4GiB\n    # last\n}\n\n# end\n")


def test_values_that_do_not_read_are_kept():
    text = "hostspec 1\n\nhost h {\n    cpu intel\n    memory 4GB\n    kvm {\n        ept maybe\n    }\n}\n"
    assert fmt(text) == text


def test_check_prints_a_diff_and_exits_1(tmp_path):
    spec = tmp_path / "h.mem"
    spec.write_text("hostspec 1\nhost h { cpu intel; memory 4GiB }\n")
    run = hostspec("fmt", "--check", str(spec))
    assert run.returncode == 1 and "+    cpu intel" in run.stdout
    assert spec.read_text() == "hostspec 1\nhost h { cpu intel; memory 4GiB }\n"


def test_rewrites_in_place_and_stdin_to_stdout(tmp_path):
    spec = tmp_path / "h.mem"
    spec.write_text("hostspec 1\nhost h { cpu intel; memory 4GiB }\n")
    assert hostspec("fmt", str(spec)).returncode == 0
    assert spec.read_text() == "hostspec 1\n\nhost h {\n    cpu intel\n    memory 4GiB\n}\n"
    run = hostspec("fmt", "-", stdin="hostspec 1\nhost h { cpu amd; memory 4GiB }\n")
    assert run.stdout == "hostspec 1\n\nhost h {\n    cpu amd\n    memory 4GiB\n}\n"


def test_syntax_error_is_reported_and_nothing_written(tmp_path):
    spec = tmp_path / "h.mem"
    spec.write_text("hostspec 1\nhost h { cpu intel\n")
    run = hostspec("fmt", str(spec))
    assert run.returncode == 1 and "HS0104" in run.stderr
    assert spec.read_text() == "hostspec 1\nhost h { cpu intel\n"


def assert_keeps_meaning(text: str, name: str) -> None:
    source = SourceFile.from_text(name, text)
    formatted, problems = format_source(source)
    if formatted is None:
        return
    assert fmt(formatted, name) == formatted
    assert comments(formatted) == comments(text)
    assert document(formatted, name)[0] == document(text, name)[0]


def test_every_spec_in_the_repository_keeps_meaning_when_formatted():
    for path in ALL_SPECS:
        assert_keeps_meaning(path.read_bytes().decode("utf-8", "replace"), str(path))


@st.composite
def edited_example(draw):
    path = draw(st.sampled_from(EXAMPLES))
    text = path.read_text()
    at = draw(st.integers(0, len(text)))
    piece = draw(st.sampled_from([";", "\n", " ", "{ }", "# c\n", "yes", "2048MiB", "\n\n", "\t", "}"]))
    return str(path), text[:at] + piece + text[at + draw(st.integers(0, 3)):]


@settings(max_examples=400, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(edited_example())
def test_fmt_is_idempotent_and_keeps_meaning(case):
    name, text = case
    assert_keeps_meaning(text, name)


UGLY, CANONICAL = ("hostspec 1\nhost h { cpu intel; memory 4GiB }\n",
                   "hostspec 1\n\nhost h {\n    cpu intel\n    memory 4GiB\n}\n")


def test_a_linked_spec_is_formatted_through_the_link(tmp_path):
    real, link = tmp_path / "real.mem", tmp_path / "link.mem"
    real.write_text(UGLY)
    link.symlink_to(real.name)
    assert hostspec("fmt", str(link)).returncode == 0
    assert link.is_symlink() and real.read_text() == CANONICAL


def test_a_spec_in_a_folder_it_cannot_write_is_exit_2_with_one_line(tmp_path):
    import os
    import shutil

    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "h.mem").write_text(UGLY)
    folder.chmod(0o555)
    # root writes anywhere; without CAP_DAC_OVERRIDE it meets the mode like anyone
    setpriv = shutil.which("setpriv") or shutil.which("setpriv", path="/usr/bin:/bin")
    assert os.geteuid() != 0 or setpriv, "setpriv is not installed: apt-get install util-linux"
    prefix = [setpriv, "--bounding-set", "-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
    try:
        run = subprocess.run([*prefix, sys.executable, "-m", "hostspec", "fmt", str(folder / "h.mem")],
                             cwd=ROOT, capture_output=True, text=True)
    finally:
        folder.chmod(0o755)
    assert run.returncode == 2, run.stderr
    assert run.stderr == f"hostspec: cannot write `{folder / 'h.mem'}`: Permission denied\n"
    assert (folder / "h.mem").read_text() == UGLY and os.listdir(folder) == ["h.mem"]
