"""Each artifact read by the real program that consumes it.

kmod's modprobe reads the modprobe.d file, dash sources the GRUB drop-in the
way Debian's grub-mkconfig does, shellcheck and dash check the scripts, and
systemd-analyze verifies the unit.  A missing tool fails the test; nothing
here is skipped.
"""
from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess

import pytest

import update_golden
from hostspec.version import __version__
from hostspec.commands import cli
from hostspec.backends import tree as emit
from hostspec.backends import apply_domains, apply_script, cmdline, grub, modprobe, preset, systemd

REPO = pathlib.Path(__file__).resolve().parent.parent
CASES = update_golden.case_dirs()
DEBIAN_DEFAULT_GRUB = pathlib.Path("/usr/share/grub/default/grub")
SYSTEM_UNITS = pathlib.Path("/usr/lib/systemd/system")


def tool(name: str, package: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        pytest.fail(f"`{name}` is not installed: apt-get install {package}")
    return found


def run(*argv, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=120, **kwargs)


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> dict[str, pathlib.Path]:
    """Every case compiled and written: case name -> DIR/<host>."""
    out, found = tmp_path_factory.mktemp("trees"), {}
    for case in CASES:
        tree = update_golden.compile_case(case)
        emit.write_trees(out / case.name, [tree])
        found[case.name] = out / case.name / tree.host
    return found


def cases_with(path: str) -> list[str]:
    return [case.name for case in CASES
            if (case / "expected").is_dir()
            and any((host / path).is_file() for host in (case / "expected").iterdir())]


# -- modprobe.d under kmod ------------------------------------------------------

def options_from_proc_cmdline(module: str) -> list[str]:
    """`param=value` words kmod adds from the running kernel's command line."""
    words = pathlib.Path("/proc/cmdline").read_text().split()
    pattern = re.compile(rf"{module.replace('_', '[-_]')}\.(\S+=\S*)")
    return [m.group(1) for m in map(pattern.fullmatch, words) if m]


def kernel_with(module: str) -> str:
    name = module.replace("_", "-") + ".ko"
    for tree in sorted(pathlib.Path("/lib/modules").glob("*/modules.dep")):
        if any(tree.parent.rglob(name + "*")):
            return tree.parent.name
    pytest.fail(f"no kernel modules with {name} in /lib/modules: apt-get install linux-image-amd64")


@pytest.mark.parametrize("case", cases_with(modprobe.PATH))
def test_kmod_reads_the_options_line_exactly(trees, case):
    conf = trees[case] / modprobe.PATH
    line = next(l for l in conf.read_text().splitlines() if l.startswith("options "))
    module = line.split()[1]
    done = run(tool("modprobe", "kmod"), "-C", conf.parent, "-c")
    assert done.returncode == 0
    assert "libkmod: ERROR" not in done.stderr and "WARNING" not in done.stderr, done.stderr
    kvm_lines = [l for l in done.stdout.splitlines() if re.match(r"options kvm[-_](intel|amd) ", l)]
    assert kvm_lines[0] == line
    # Anything after it comes from /proc/cmdline, which kmod appends.
    extra = [word for l in kvm_lines[1:] for word in l.split()[2:]]
    assert extra == [w for w in options_from_proc_cmdline(module)][:len(extra)]


@pytest.mark.parametrize("case", cases_with(modprobe.PATH))
def test_options_reach_the_insmod_line_and_are_real_parameters(trees, case):
    conf = trees[case] / modprobe.PATH
    words = next(l for l in conf.read_text().splitlines() if l.startswith("options ")).split()
    module, options = words[1], words[2:]
    version = kernel_with(module)
    done = run(tool("modprobe", "kmod"), "--show-depends", "-C", conf.parent, "-S", version, module)
    assert done.returncode == 0, done.stderr
    insmod = [l for l in done.stdout.splitlines()
              if re.search(rf"/{module.replace('_', '-')}\.ko(\.\w+)?\s", l + " ")]
    assert len(insmod) == 1 and insmod[0].split()[2:2 + len(options)] == options, done.stdout
    params = run(tool("modinfo", "kmod"), "-k", version, "-F", "parm", module).stdout
    names = {l.split(":")[0] for l in params.splitlines()}
    assert {option.split("=")[0] for option in options} <= names


# -- GRUB drop-in sourced like grub-mkconfig ---------------------------------------

SOURCE_LIKE_GRUB_MKCONFIG = ('set -e; . "$1"; for x in "$2"/*.cfg; do if [ -e "$x" ]; then . "$x"; fi; done; '
                             'printf "%s|%s" "$GRUB_CMDLINE_LINUX" "${GRUB_CMDLINE_LINUX_DEFAULT-unset}"')


@pytest.mark.parametrize("default_grub, distro_args, default_args", [
    ('GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX="root=/dev/vda ro"\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\n',
     "root=/dev/vda ro", "quiet"),
    ("", "", "unset"),
    ('GRUB_CMDLINE_LINUX=""\n', "", "unset"),
    (None, "", "quiet"),  # Debian's own default file, as grub2-common installs it
])
@pytest.mark.parametrize("case", cases_with(grub.PATH))
def test_dash_under_set_e_keeps_the_distribution_arguments(trees, tmp_path, case, default_grub,
                                                           distro_args, default_args):
    stand_in = tmp_path / "grub"
    if default_grub is None:
        if not DEBIAN_DEFAULT_GRUB.is_file():
            pytest.fail(f"{DEBIAN_DEFAULT_GRUB} missing: apt-get install grub2-common")
        shutil.copy(DEBIAN_DEFAULT_GRUB, stand_in)
    else:
        stand_in.write_text(default_grub)
    ours = (trees[case] / cmdline.PLAIN_PATH).read_text().strip()
    done = run(tool("dash", "dash"), "-c", SOURCE_LIKE_GRUB_MKCONFIG, "dash", stand_in,
               (trees[case] / grub.PATH).parent)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    expected_linux = f"{distro_args} {ours}" if distro_args else ours
    assert done.stdout == f"{expected_linux}|{default_args}"


@pytest.mark.parametrize("case", cases_with(grub.PATH))
def test_grub_drop_in_is_clean_posix_sh(trees, case):
    drop_in = trees[case] / grub.PATH
    done = run(tool("shellcheck", "shellcheck"), "-s", "sh", "-e", "SC2034", drop_in)
    assert done.returncode == 0, done.stdout
    assert drop_in.name.endswith(".cfg")  # grub-mkconfig ignores other names


@pytest.mark.parametrize("case", cases_with(cmdline.PLAIN_PATH))
def test_kernel_cmdline_is_one_line_of_safe_tokens(trees, case):
    data = (trees[case] / cmdline.PLAIN_PATH).read_bytes()
    assert data.count(b"\n") == 1 and data.endswith(b"\n")
    assert all(cmdline.SAFE_TOKEN.fullmatch(word) for word in data.decode().split())


# -- apply-memory under shellcheck --------------------------------------------------

SCRIPTS = [(case, path) for path in (apply_script.PATH, apply_domains.PATH) for case in cases_with(path)]


@pytest.mark.parametrize("case, path", SCRIPTS, ids=[f"{c}-{p.rsplit('/', 1)[-1]}" for c, p in SCRIPTS])
def test_apply_scripts_are_clean_under_shellcheck_and_dash(trees, case, path):
    script = trees[case] / path
    done = run(tool("shellcheck", "shellcheck"), "-s", "sh", script)
    assert done.returncode == 0, done.stdout
    assert run(tool("dash", "dash"), "-n", script).returncode == 0


# -- the unit under systemd-analyze verify --------------------------------------------

def system_root(tree: pathlib.Path, tmp_path: pathlib.Path) -> pathlib.Path:
    """A root holding the tree and the system's own units."""
    root = tmp_path / "root"
    shutil.copytree(tree, root, symlinks=True)
    if not SYSTEM_UNITS.is_dir():
        pytest.fail(f"{SYSTEM_UNITS} missing: apt-get install systemd")
    shutil.copytree(SYSTEM_UNITS, root / SYSTEM_UNITS.relative_to("/"), symlinks=True,
                    dirs_exist_ok=True)
    return root


def verify_unit(tree: pathlib.Path, tmp_path: pathlib.Path,
                unit: str = systemd.PATH) -> subprocess.CompletedProcess:
    """systemd-analyze verify in a root holding the tree and the system's own units."""
    root = system_root(tree, tmp_path)
    return run(tool("systemd-analyze", "systemd"), "verify", f"--root={root}", "/" + unit)


UNITS = [(case, unit) for unit in (systemd.PATH, apply_domains.UNIT_PATH) for case in cases_with(unit)]


@pytest.mark.parametrize("case, unit", UNITS, ids=[f"{c}-{u.rsplit('/', 1)[-1]}" for c, u in UNITS])
def test_systemd_analyze_verify_passes_without_a_word(trees, tmp_path, case, unit):
    done = verify_unit(trees[case], tmp_path, unit)
    assert done.returncode == 0 and done.stdout == "" and done.stderr == "", done.stderr


def test_both_units_are_verified():
    assert {unit for _, unit in UNITS} == {systemd.PATH, apply_domains.UNIT_PATH}


@pytest.mark.parametrize("case", cases_with(preset.PATH))
def test_systemctl_preset_enables_every_unit_of_the_tree(trees, tmp_path, case):
    root = system_root(trees[case], tmp_path)
    units = sorted(p.name for p in (trees[case] / "etc/systemd/system").glob("*.service"))
    assert units
    done = run(tool("systemctl", "systemd"), f"--root={root}", "preset", *units)
    assert done.returncode == 0, done.stderr
    wants = root / "etc/systemd/system/multi-user.target.wants"
    assert sorted(p.name for p in wants.iterdir()) == units
    assert all(os.readlink(p) == f"/etc/systemd/system/{p.name}" for p in wants.iterdir())


def test_systemd_analyze_verify_does_complain_about_a_broken_unit(trees, tmp_path):
    """The check above can fail: a typo and a non-executable ExecStart are reported."""
    case = cases_with(systemd.PATH)[0]
    broken = tmp_path / "broken"
    shutil.copytree(trees[case], broken)
    unit = broken / systemd.PATH
    unit.write_text(unit.read_text().replace("Type=oneshot", "Type=oneshott"))
    (broken / apply_script.PATH).chmod(0o644)
    done = verify_unit(broken, tmp_path)
    assert "oneshott" in done.stderr and "not executable" in done.stderr


def grub_mkconfig_linux_lines(drop_in: pathlib.Path, work: pathlib.Path) -> list[list[str]]:
    """Run the real grub-mkconfig in a private mount namespace; the words of each `linux` line.

    Scratch copies are bind-mounted over /etc/default (Debian's default grub
    plus the drop-in), /etc/grub.d (the packaged 00_header and 10_linux) and
    /boot (an empty kernel file), so nothing outside `work` is written.
    """
    mkconfig = tool("grub-mkconfig", "grub-common")
    for path in (DEBIAN_DEFAULT_GRUB, pathlib.Path("/etc/grub.d/10_linux")):
        if not path.is_file():
            pytest.fail(f"{path} missing: apt-get install grub2-common")
    default, scripts, boot = work / "default", work / "grub.d", work / "boot"
    shutil.copytree("/etc/default", default, symlinks=True)
    shutil.copy(DEBIAN_DEFAULT_GRUB, default / "grub")
    (default / "grub.d").mkdir(exist_ok=True)
    shutil.copy(drop_in, default / "grub.d")
    scripts.mkdir()
    for name in ("00_header", "10_linux"):
        shutil.copy2(pathlib.Path("/etc/grub.d") / name, scripts)
    boot.mkdir()
    (boot / "vmlinuz-6.1.0-0-amd64").write_bytes(b"")
    mounts = " && ".join(f'mount --bind "{src}" {dst}' for src, dst in
                         ((default, "/etc/default"), (scripts, "/etc/grub.d"), (boot, "/boot")))
    done = run(tool("unshare", "util-linux"), "-m", "sh", "-c",
               f'{mounts} && exec {mkconfig} -o "{work}/grub.cfg"')
    assert done.returncode == 0, done.stderr
    text = (work / "grub.cfg").read_text()
    return [line.split()[2:] for line in text.splitlines() if line.split()[:1] == ["linux"]]


@pytest.mark.parametrize("case", cases_with(grub.PATH))
def test_real_grub_mkconfig_puts_the_arguments_on_every_entry(trees, tmp_path, case):
    ours = (trees[case] / cmdline.PLAIN_PATH).read_text().split()
    entries = grub_mkconfig_linux_lines(trees[case] / grub.PATH, tmp_path)
    assert len(entries) >= 2  # the normal entry and the recovery entry
    for words in entries:
        start = words.index(ours[0])
        assert words[start:start + len(ours)] == ours, words
        assert "ro" in words[:start]  # after the distribution's own arguments


# -- a hostile source file name reaches no shell ------------------------------------------

@pytest.mark.parametrize("name", ["x\n$(touch PWNED).mem", "hv-münchen.mem", "a;b`touch PWNED`'\".mem"])
def test_a_source_file_name_cannot_break_out_of_a_header(tmp_path, name):
    source = tmp_path / name
    source.write_bytes((REPO / "examples" / "hv-intel-2node.mem").read_bytes())
    out, work = tmp_path / "out", tmp_path / "work"
    work.mkdir()
    assert cli.main(["compile", "-q", str(source), "--out", str(out)]) == 0
    (tree,) = out.iterdir()
    shown = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "._+,@=-") else "_" for ch in name)
    manifest = (tree / emit.MANIFEST).read_text()
    assert f'"file": "{shown}"' in manifest
    for path in (grub.PATH, apply_script.PATH, systemd.PATH, modprobe.PATH):
        data = (tree / path).read_bytes()
        data.decode("ascii")
        lines = data.decode().splitlines()
        body = lines[1:] if lines[0].startswith("#!") else lines
        assert body[0] == f"# hostspec {__version__} from {shown}: generated, do not edit"
    for script in (grub.PATH, apply_script.PATH):
        assert run(tool("shellcheck", "shellcheck"), "-s", "sh", "-e", "SC2034", tree / script).returncode == 0
    default_grub = work / "grub"
    default_grub.write_text('GRUB_CMDLINE_LINUX="ro"\n')
    done = run(tool("dash", "dash"), "-c", SOURCE_LIKE_GRUB_MKCONFIG, "dash", default_grub,
               (tree / grub.PATH).parent, cwd=work)
    assert done.returncode == 0 and done.stderr == "" and done.stdout.startswith("ro default_hugepagesz=1G ")
    assert run(tool("dash", "dash"), "-n", tree / apply_script.PATH).returncode == 0
    assert list(work.iterdir()) == [default_grub]  # nothing ran: no PWNED
    assert verify_unit(tree, tmp_path).stderr == ""
