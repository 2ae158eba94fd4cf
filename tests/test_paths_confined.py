"""One rule for the files a spec names: `include` and `base` paths stay in the
spec's directory tree, and `--include-path DIR` extends it for both."""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent
DOMAIN = "<domain type='kvm'><name>vm</name><memory unit='KiB'>1048576</memory></domain>\n"
TEMPLATE = "hostspec 1\ntemplate small {\n    vcpus 2\n}\n"


def hostspec(*args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hostspec", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def layout(tmp_path: pathlib.Path, include: str = "", base: str = "vm.xml") -> pathlib.Path:
    """specs/h.mem naming `include` and `base`; shared/ beside specs/ holds a template and a domain."""
    for folder in ("specs", "shared"):
        (tmp_path / folder).mkdir(exist_ok=True)
    (tmp_path / "shared" / "t.mem").write_text(TEMPLATE)
    (tmp_path / "shared" / "vm.xml").write_text(DOMAIN)
    (tmp_path / "specs" / "vm.xml").write_text(DOMAIN)
    (tmp_path / "specs" / "t.mem").write_text(TEMPLATE)
    spec = tmp_path / "specs" / "h.mem"
    spec.write_text("hostspec 1\n" + (f'include "{include}"\n' if include else "")
                    + "host h { cpu intel; memory 16GiB }\n"
                    + f'guest vm {{\n    memory 1GiB\n    base "{base}"\n}}\n')
    return spec


def test_a_base_leaving_the_tree_is_hs0224_at_its_path_and_nothing_is_read(tmp_path):
    secret = tmp_path / "secret.xml"
    secret.write_text(DOMAIN)
    spec = layout(tmp_path, base="../../" * 8 + str(secret).lstrip("/"))
    run = hostspec("compile", spec, "--out", tmp_path / "out", cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    assert "error[HS0224]: `base` file `" in run.stderr and "h.mem:5:10" in run.stderr
    assert "--include-path DIR" in run.stderr
    assert not (tmp_path / "out").exists()
    checked = hostspec("check", spec, cwd=tmp_path)  # the same verdict without compiling
    assert checked.returncode == 1 and "error[HS0224]" in checked.stderr


def test_the_same_rule_and_the_same_code_for_include_and_base(tmp_path):
    for include, base, line in (("../shared/t.mem", "vm.xml", 2), ("t.mem", "../shared/vm.xml", 6)):
        spec = layout(tmp_path, include, base)
        run = hostspec("compile", spec, "--out", tmp_path / "out", cwd=tmp_path)
        assert run.returncode == 1 and f"h.mem:{line}:" in run.stderr, run.stderr
        assert run.stderr.count("error[HS0224]") == 1
        allowed = hostspec("compile", spec, "--out", tmp_path / "out", "--include-path",
                           tmp_path / "shared", cwd=tmp_path)
        assert allowed.returncode == 0, allowed.stderr
        assert (tmp_path / "out" / "h" / "etc/hostspec/domains/vm.xml").is_file()


def test_a_link_inside_the_tree_to_a_file_outside_is_refused_for_both(tmp_path):
    spec = layout(tmp_path, "link.mem", "link.xml")
    (tmp_path / "specs" / "link.mem").symlink_to(tmp_path / "shared" / "t.mem")
    (tmp_path / "specs" / "link.xml").symlink_to(tmp_path / "shared" / "vm.xml")
    run = hostspec("compile", spec, "--out", tmp_path / "out", cwd=tmp_path)
    assert run.returncode == 1 and "h.mem:2:9" in run.stderr, run.stderr
    layout(tmp_path, "t.mem", "link.xml")
    run = hostspec("compile", spec, "--out", tmp_path / "out", cwd=tmp_path)
    assert run.returncode == 1 and run.stderr.count("error[HS0224]") == 1 and "h.mem:6:10" in run.stderr


def test_an_absolute_base_inside_the_tree_is_allowed(tmp_path):
    spec = layout(tmp_path, base=str(tmp_path / "specs" / "vm.xml"))
    run = hostspec("compile", spec, "--out", tmp_path / "out", cwd=tmp_path)
    assert run.returncode == 0, run.stderr


def test_both_readers_use_the_one_rule():
    """The language layer holds the rule; lowering (includes) and base loading call it."""
    import inspect

    from hostspec.checks import bases
    from hostspec.language import lower, paths

    assert lower.confined is paths.confined and bases.confined is paths.confined
    assert "confined(" in inspect.getsource(lower.Lowerer.include)
    assert "confined(" in inspect.getsource(bases.load_base)
