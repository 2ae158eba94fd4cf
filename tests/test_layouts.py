"""`compile --layout mkosi|ignition`, read back by the real tools.

mkosi is Debian's mkosi 14: `mkosi summary` on a bootable project that
includes the generated `mkosi.conf.d` shows the merged kernel command line
and the extra trees.  Ignition is Debian's `ignition-validate`; every file of
the tree is then found in the config, decoded and compared byte for byte.
A missing tool fails the test.
"""
from __future__ import annotations

import base64
import json
import pathlib
import shutil
import subprocess

import pytest

from hostspec.backends import tree as emit
from hostspec.commands import cli

REPO = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO / "examples").glob("*.mem"))
PROJECT_CONF = """\
[Distribution]
Distribution=debian
Release=bookworm

[Output]
Format=gpt_ext4
Bootable=yes

[Content]
KernelCommandLine=console=ttyS0 quiet
"""
PROJECT_ARGS = ["console=ttyS0", "quiet"]
SAME_COUNT = """\
hostspec 1

host twins-01 {
    cpu intel
    memory 64GiB
    hugepages {
        pool 1GiB count 4
        pool 2MiB count 4
    }
}
"""


def tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"`{name}` is not installed: apt-get install {package}")
    return found


def run(*argv, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=300,
                          **kwargs)


def compiled(spec: pathlib.Path, layout: str, out: pathlib.Path) -> pathlib.Path:
    """DIR/<host> of `spec` compiled in `layout`."""
    assert cli.main(["compile", "-q", "--layout", layout, str(spec), "--out", str(out)]) == 0
    (host,) = out.iterdir()
    return host


def kernel_words(tree: pathlib.Path) -> list[str]:
    plain = tree / "etc/hostspec/kernel-cmdline"
    return plain.read_text().split() if plain.exists() else []


# -- mkosi ----------------------------------------------------------------------

def mkosi_summary(project: pathlib.Path) -> dict[str, str]:
    done = run(tool("mkosi", "mkosi"), "summary", cwd=project)
    assert done.returncode == 0, done.stderr
    fields = {}
    for line in (done.stdout + done.stderr).splitlines():  # mkosi 14 prints it on stderr
        key, colon, value = line.partition(":")
        if colon:
            fields.setdefault(key.strip(), value.strip())
    return fields


def mkosi_project(tmp_path: pathlib.Path, host: pathlib.Path) -> pathlib.Path:
    """A bootable project of its own that takes hostspec's two directories as they are."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "mkosi.conf").write_text(PROJECT_CONF)
    for name in ("mkosi.conf.d", "mkosi.extra"):
        shutil.copytree(host / name, project / name, symlinks=True)
    return project


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.stem)
def test_mkosi_summary_shows_our_arguments_after_the_projects_and_the_extra_tree(example, tmp_path):
    tree = compiled(example, "tree", tmp_path / "tree")
    host = compiled(example, "mkosi", tmp_path / "mkosi")
    assert sorted(p.name for p in host.iterdir()) == ["mkosi.conf.d", "mkosi.extra"]
    assert emit.read_tree(host / "mkosi.extra") == emit.read_tree(tree)
    ours = kernel_words(tree)
    assert ours, "every example sets kernel arguments"
    summary = mkosi_summary(mkosi_project(tmp_path, host))
    line = summary["Kernel Command Line"].split()
    after = line.index(PROJECT_ARGS[-1]) + 1
    assert line[after - len(PROJECT_ARGS):after] == PROJECT_ARGS
    assert line[after:after + len(ours)] == ours, line
    assert summary["Extra Trees"] == str(tmp_path / "project" / "mkosi.extra")


def test_mkosi_summary_can_tell_the_lines_apart(tmp_path):
    """The check above can fail: without hostspec's drop-in the line lacks our arguments."""
    host = compiled(REPO / "examples" / "lab.mem", "mkosi", tmp_path / "mkosi")
    project = mkosi_project(tmp_path, host)
    shutil.rmtree(project / "mkosi.conf.d")
    assert "transparent_hugepage=always" not in mkosi_summary(project)["Kernel Command Line"]


def test_a_spec_without_arguments_gives_a_drop_in_without_a_command_line(tmp_path):
    spec = tmp_path / "bare.mem"
    spec.write_text("hostspec 1\n\nhost bare-01 {\n    cpu intel\n    memory 16GiB\n}\n")
    host = compiled(spec, "mkosi", tmp_path / "out")
    drop_in = (host / "mkosi.conf.d/50-hostspec.conf").read_text()
    assert not [line for line in drop_in.splitlines() if not line.startswith("#")]
    line = mkosi_summary(mkosi_project(tmp_path, host))["Kernel Command Line"].split()
    assert line[line.index("quiet") + 1:] == ["rw"]  # mkosi's own, added last


# -- Ignition -------------------------------------------------------------------

def ignition_path(path: str) -> str:
    """/usr is read-only while Ignition runs on CoreOS: usr/... goes to /usr/local/..."""
    return "/usr/local/" + path[len("usr/"):] if path.startswith("usr/") else "/" + path


def decode(source: str) -> bytes:
    prefix = "data:;base64,"
    assert source.startswith(prefix), source[:40]
    return base64.b64decode(source[len(prefix):], validate=True)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.stem)
def test_ignition_validate_accepts_the_config_and_it_holds_the_whole_tree(example, tmp_path):
    tree = emit.read_tree(compiled(example, "tree", tmp_path / "tree"))
    host = compiled(example, "ignition", tmp_path / "ignition")
    config_path = host / "config.ign"
    assert sorted(p.name for p in host.iterdir()) == ["config.ign"]
    done = run(tool("ignition-validate", "ignition"), config_path)
    assert done.returncode == 0 and done.stdout == "" and done.stderr == "", done.stderr
    config = json.loads(config_path.read_text())
    assert config["ignition"]["version"] == "3.3.0"
    files = {entry["path"]: entry for entry in config["storage"]["files"]}
    units = {unit["name"]: unit for unit in config["systemd"]["units"]}
    for path, file in tree.items():
        if path.startswith("etc/systemd/system/"):
            unit = units.pop(path.rsplit("/", 1)[-1])
            assert unit["enabled"] is True and unit["contents"].encode() == file.data
            for drop_in in unit.get("dropins", []):
                starts = [line.split("=", 1)[1] for line in drop_in["contents"].splitlines()
                          if line.startswith("ExecStart=")]
                assert starts[0] == "" and all(files[s]["mode"] == 0o755 for s in starts[1:])
            continue
        entry = files.pop(ignition_path(path))
        assert entry["mode"] == file.mode and entry["overwrite"] is True
        assert decode(entry["contents"]["source"]) == file.data, path
    assert files == {} and units == {}, "the config holds only the tree"
    ours = kernel_words(compiled(example, "tree", tmp_path / "again"))
    assert config["kernelArguments"]["shouldExist"] == ours


def test_units_that_run_a_moved_script_are_pointed_at_it(tmp_path):
    host = compiled(REPO / "examples" / "lab.mem", "ignition", tmp_path / "ignition")
    units = {u["name"]: u for u in json.loads((host / "config.ign").read_text())["systemd"]["units"]}
    assert sorted(units) == ["hostspec-domains.service", "hostspec-memory.service"]
    for name, script in (("hostspec-memory.service", "apply-memory"),
                         ("hostspec-domains.service", "apply-domains")):
        (drop_in,) = units[name]["dropins"]
        assert drop_in["contents"] == (
            f"[Service]\nExecStart=\nExecStart=/usr/local/libexec/hostspec/{script}\n")


def test_ignition_validate_does_refuse_a_repeated_argument(tmp_path):
    """Why HS0409 exists, and proof the validation above can fail."""
    config = {"ignition": {"version": "3.3.0"},
              "kernelArguments": {"shouldExist": ["hugepagesz=1G", "hugepages=4",
                                                  "hugepagesz=2M", "hugepages=4"]}}
    path = tmp_path / "config.ign"
    path.write_text(json.dumps(config))
    done = run(tool("ignition-validate", "ignition"), path)
    assert done.returncode != 0 and "duplicate" in done.stderr + done.stdout


# -- what a layout cannot carry -----------------------------------------------------

@pytest.mark.parametrize("layout", ["mkosi", "ignition"])
def test_a_repeated_argument_is_hs0409_and_writes_nothing(layout, tmp_path, capsys):
    spec = tmp_path / "twins.mem"
    spec.write_text(SAME_COUNT)
    out = tmp_path / "out"
    assert cli.main(["compile", "--color", "never", "--layout", layout, str(spec),
                     "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "error[HS0409]" in err and "`hugepages=4`" in err
    assert f"{spec}:7:9" in err and "first here" in err and "help:" in err
    assert not out.exists() or list(out.iterdir()) == []
    assert cli.main(["compile", "-q", str(spec), "--out", str(out)]) == 0  # the tree carries it
    assert kernel_words(out / "twins-01") == ["hugepagesz=2M", "hugepages=4",
                                              "hugepagesz=1G", "hugepages=4"]


def test_mkosi_does_drop_the_repeated_argument(tmp_path):
    """Why HS0409 exists: mkosi 14 removes duplicates from KernelCommandLine=."""
    project = tmp_path / "project"
    (project / "mkosi.conf.d").mkdir(parents=True)
    (project / "mkosi.conf").write_text(PROJECT_CONF)
    (project / "mkosi.conf.d/50-hostspec.conf").write_text(
        "[Content]\nKernelCommandLine=hugepagesz=2M hugepages=4 hugepagesz=1G hugepages=4\n")
    line = mkosi_summary(project)["Kernel Command Line"].split()
    assert line.count("hugepages=4") == 1


# -- --check and determinism ----------------------------------------------------------

@pytest.mark.parametrize("layout", ["mkosi", "ignition"])
def test_check_compares_the_packed_tree(layout, tmp_path, capsys):
    example = str(REPO / "examples" / "hv-intel-2node.mem")
    out = tmp_path / "out"
    assert cli.main(["compile", "-q", "--layout", layout, example, "--out", str(out)]) == 0
    first = emit.read_tree(out / "hv-intel-07")
    assert cli.main(["compile", "-q", "--check", "--layout", layout, example, "--out", str(out)]) == 0
    assert cli.main(["compile", "-q", "--check", example, "--out", str(out)]) == 1
    assert "+++" in capsys.readouterr().out
    assert cli.main(["compile", "-q", "--layout", layout, example, "--out", str(out)]) == 0
    assert emit.read_tree(out / "hv-intel-07") == first


def test_the_images_page_shows_what_its_spec_compiles_to(tmp_path):
    page = (REPO / "docs" / "images.md").read_text()
    spec = tmp_path / "hv-img-01.mem"
    spec.write_text(page.split("```mem\n", 1)[1].split("```", 1)[0])
    host = compiled(spec, "mkosi", tmp_path / "mkosi")
    line = (host / "mkosi.conf.d/50-hostspec.conf").read_text().splitlines()[-1]
    assert f"[Content]\n{line}\n" in page
    for layout in ("ignition", "tree"):
        compiled(spec, layout, tmp_path / layout)
