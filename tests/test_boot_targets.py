"""Each `boot` target read by the real boot stack: grub-mkconfig, kernel-install,
bootctl, and bootc's kargs.d format.  Nothing here touches this machine's /boot
or /etc: scratch roots, and private mount namespaces for what wants a mount."""
from __future__ import annotations

import os
import pathlib
import subprocess
import tomllib

import pytest

from boottools import (APPLY_BOOT, admin_default_grub, apply_boot, bootctl_entries, compile_tree,
                       entry_options, grub_mkconfig, kernel_install_add, kernel_install_root,
                       our_words, run, spec, tool)
from hostspec.commands import cli
from hostspec.backends.tree import MANIFEST
from hostspec.backends import apply_boot as apply_boot_backend, bootc, grub

TWO_SIZES = "pool 1GiB count 1 node 1; pool 2MiB count 64 node 0; pool 2MiB count 32 node 1"
ONE_SIZE = "pool 2MiB count 100"
ADMIN = "root=/dev/vda1 ro console=ttyS0"


def files_of(tree: pathlib.Path) -> list[str]:
    return sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file())


def snapshot(root: pathlib.Path) -> dict[str, tuple[bytes, int]]:
    return {p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mode)
            for p in sorted(root.rglob("*")) if p.is_file()}


# -- what each target writes ----------------------------------------------------------

@pytest.mark.parametrize("target, own", [
    ("grub", [grub.PATH]), ("bls", [apply_boot_backend.PATH]),
    ("kernel-install", [apply_boot_backend.PATH]), ("bootc", [bootc.PATH]), ("none", [])])
def test_each_target_writes_its_place_and_the_plain_line(tmp_path, target, own):
    tree = compile_tree(spec(target, TWO_SIZES), tmp_path)
    boot_files = [f for f in files_of(tree) if f.startswith(("etc/default", "usr/lib/bootc"))
                  or f.endswith("apply-boot")]
    assert boot_files == own
    assert "etc/hostspec/kernel-cmdline" in files_of(tree)
    manifest = (tree / MANIFEST).read_text()
    assert f'"boot": "{target}"' in manifest


def test_a_compile_removes_the_old_50_drop_in(tmp_path):
    out = tmp_path / "out"
    old = out / "hv-boot" / "etc/default/grub.d/50-hostspec.cfg"
    old.parent.mkdir(parents=True)
    old.write_text('GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX hugepages=1"\n')
    source = tmp_path / "spec.mem"
    source.write_text(spec("grub", ONE_SIZE))
    assert cli.main(["compile", "-q", str(source), "--out", str(out)]) == 0
    assert sorted(p.name for p in old.parent.iterdir()) == ["99-hostspec.cfg"]


def test_explain_and_plan_name_the_step_per_target(tmp_path, capsys):
    for target, words in (("bls", "apply-boot`, then reboot"), ("bootc", "next `bootc upgrade`"),
                          ("grub", "update-grub"), ("kernel-install", "kernel-install add")):
        source = tmp_path / f"{target}.mem"
        source.write_text(spec(target, ONE_SIZE))
        assert cli.main(["explain", str(source)]) == 0
        assert words in capsys.readouterr().out
    old, new = tmp_path / "old.mem", tmp_path / "new.mem"
    old.write_text(spec("bls", ONE_SIZE))
    new.write_text(spec("bls", "pool 2MiB count 200"))
    assert cli.main(["plan", str(old), str(new)]) == 0
    out = capsys.readouterr().out
    assert "boot: needs a reboot: run `/usr/libexec/hostspec/apply-boot`, then reboot" in out


# -- 1. grub: real grub-mkconfig ---------------------------------------------------------

def test_grub_mkconfig_keeps_the_admin_arguments_and_replaces_ours(tmp_path):
    admin = "console=ttyS0 hugepagesz=2M hugepages=16"
    default = admin_default_grub(admin)
    admin_drop_in = {"10-admin.cfg": b'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX mitigations=auto"\n'}

    def linux_lines(spec_text: str, name: str) -> tuple[list[list[str]], list[str]]:
        tree = compile_tree(spec_text, tmp_path / name)
        ours = {p.name: p.read_bytes() for p in (tree / "etc/default/grub.d").glob("*")} \
            if (tree / "etc/default/grub.d").is_dir() else {}
        return grub_mkconfig(tmp_path / f"mk-{name}", default, {**admin_drop_in, **ours}), our_words(tree)

    def ours_after_admin(line: list[str]) -> list[str]:
        """The words after `root=`, less GRUB's own `single` and the DEFAULT's `quiet`."""
        return [word for word in line[1:] if word not in ("single", "quiet")]

    first, words = linux_lines(spec("grub", TWO_SIZES), "first")
    assert len(first) >= 2  # the normal entry and the recovery entry
    for line in first:
        assert ours_after_admin(line) == ["ro", *admin.split(), "mitigations=auto", *words]
        assert line.count("hugepagesz=1G") == 1
    changed, new_words = linux_lines(spec("grub", ONE_SIZE, thp="never"), "changed")
    assert new_words != words
    for line in changed:
        assert ours_after_admin(line) == ["ro", *admin.split(), "mitigations=auto", *new_words]
    bare, none_words = linux_lines(spec("grub", "pool 2MiB count 8 at runtime").replace(
        "    thp { enabled madvise }\n", ""), "bare")
    assert none_words == []
    for line in bare:
        assert ours_after_admin(line) == ["ro", *admin.split(), "mitigations=auto"]


# -- 2. kernel-install: real kernel-install and bootctl --------------------------------

def test_kernel_install_entries_get_the_admin_line_then_ours(tmp_path):
    root = tmp_path / "root"
    kernel_install_root(root, ADMIN, versions=("6.1.0-90-amd64", "6.1.0-91-amd64"))
    kernel_install_add(root)  # the admin's entries, before hostspec
    assert set(bootctl_entries(root).values()) == {ADMIN}
    tree = compile_tree(spec("kernel-install", TWO_SIZES), tmp_path / "first")
    words = our_words(tree)
    done = apply_boot(root, tree)
    assert done.returncode == 0, done.stderr
    assert "etc/kernel/cmdline: " + ADMIN + " -> " + ADMIN + " " + " ".join(words) in done.stdout
    listed = bootctl_entries(root)
    assert len(listed) == 2 and set(listed.values()) == {ADMIN + " " + " ".join(words)}
    state = (root / "var/lib/hostspec/boot-args").read_text()
    assert state == "args " + " ".join(words) + "\n"

    changed = compile_tree(spec("kernel-install", ONE_SIZE, thp="never"), tmp_path / "changed")
    new_words = our_words(changed)
    assert apply_boot(root, changed, "--check").returncode == 1
    done = apply_boot(root, changed)
    assert done.returncode == 0, done.stderr
    assert set(bootctl_entries(root).values()) == {ADMIN + " " + " ".join(new_words)}
    assert (root / "etc/kernel/cmdline").read_text() == ADMIN + " " + " ".join(new_words) + "\n"
    before = snapshot(root)
    third = apply_boot(root, changed)
    assert third.returncode == 0 and third.stdout == ""
    assert snapshot(root) == before  # a third run changes nothing
    check = apply_boot(root, changed, "--check")
    assert check.returncode == 0 and check.stdout == ""


# -- 3. bls: entries as kernel-install writes them, plus the two other places -------------

def bls_root(tmp_path: pathlib.Path, admin: str) -> pathlib.Path:
    root = tmp_path / "root"
    kernel_install_root(root, admin, versions=("5.14.0-500.el9.x86_64", "5.14.0-501.el9.x86_64"))
    kernel_install_add(root)
    (root / "etc/default").mkdir(parents=True)
    (root / "etc/default/grub").write_text(
        'GRUB_TIMEOUT=5\nGRUB_DISTRIBUTOR="$(sed \'s, release .*$,,g\' /etc/system-release)"\n'
        f'GRUB_CMDLINE_LINUX="{admin}"\nGRUB_ENABLE_BLSCFG=true\n')
    os.chmod(root / "etc/default/grub", 0o600)
    return root


def sourced_grub_line(root: pathlib.Path) -> str:
    done = run(tool("dash", "dash"), "-c", '. "$1" 2>/dev/null; printf %s "$GRUB_CMDLINE_LINUX"',
               "dash", root / "etc/default/grub")
    return done.stdout


def test_bls_edits_every_place_and_keeps_the_admin_pair(tmp_path):
    admin = "root=/dev/mapper/rhel-root ro crashkernel=1G-4G:192M hugepagesz=2M hugepages=16 rhgb quiet"
    root = bls_root(tmp_path, admin)
    tree = compile_tree(spec("bls", TWO_SIZES), tmp_path / "first")
    words = our_words(tree)
    assert [w for w in words if w.startswith("hugepagesz=")] == ["hugepagesz=2M", "hugepagesz=1G"]
    done = apply_boot(root, tree)
    assert done.returncode == 0, done.stderr
    want = admin + " " + " ".join(words)
    assert set(entry_options(root).values()) == {want}
    assert (root / "etc/kernel/cmdline").read_text() == want + "\n"
    assert sourced_grub_line(root) == want
    assert (root / "etc/default/grub").stat().st_mode & 0o777 == 0o600  # mode kept
    listed = bootctl_entries(root)
    assert len(listed) == 2 and set(listed.values()) == {want}

    changed = compile_tree(spec("bls", "pool 1GiB count 2 node 1; pool 2MiB count 10"), tmp_path / "b")
    new_words = our_words(changed)
    assert apply_boot(root, changed).returncode == 0
    want = admin + " " + " ".join(new_words)
    assert set(entry_options(root).values()) == {want}
    assert sourced_grub_line(root) == want and "hugepagesz=2M hugepages=16" in want
    assert (root / "etc/kernel/cmdline").read_text() == want + "\n"
    before = snapshot(root)
    assert apply_boot(root, changed).stdout == "" and snapshot(root) == before
    assert len(bootctl_entries(root)) == 2


def test_bls_refuses_kernelopts_before_writing_anything(tmp_path):
    root = bls_root(tmp_path, "root=/dev/vda1 ro")
    entries = sorted((root / "boot/loader/entries").glob("*.conf"))
    text = entries[-1].read_text()
    entries[-1].write_text(text.replace("options    root=/dev/vda1 ro", "options    $kernelopts"))
    before = snapshot(root)
    tree = compile_tree(spec("bls", ONE_SIZE), tmp_path / "t")
    done = apply_boot(root, tree)
    assert done.returncode == 2
    assert "$kernelopts" in done.stderr and "nothing was changed" in done.stderr
    assert snapshot(root) == before


# -- 4. bootc: kargs.d as bootc reads it ---------------------------------------------------

def validate_kargs_d(text: str) -> dict:
    """bootc's `Config` (crates/lib/src/bootc_kargs.rs): serde kebab-case with
    deny_unknown_fields; `kargs` a list of strings (required), and
    `match-architectures` an optional list of strings."""
    document = tomllib.loads(text)
    assert set(document) <= {"kargs", "match-architectures"}, "deny_unknown_fields"
    assert isinstance(document["kargs"], list) and all(isinstance(k, str) for k in document["kargs"])
    arches = document.get("match-architectures")
    assert arches is None or (isinstance(arches, list) and all(isinstance(a, str) for a in arches))
    return document


@pytest.mark.parametrize("arch, rust_arch", [("x86_64", "x86_64"), ("aarch64", "aarch64")])
def test_bootc_kargs_hold_exactly_the_list_in_order(tmp_path, arch, rust_arch):
    text = spec("bootc", "pool 1GiB count 2; pool 2MiB count 64", extra=f"    arch {arch}\n")
    tree = compile_tree(text, tmp_path)
    document = validate_kargs_d((tree / bootc.PATH).read_text())
    assert document["kargs"] == our_words(tree)
    assert document["match-architectures"] == [rust_arch]
    assert bootc.PATH.endswith(".toml")  # bootc reads only *.toml


def test_bootc_keeps_an_empty_file_when_no_argument_remains(tmp_path):
    text = spec("bootc", "pool 2MiB count 8 at runtime").replace("    thp { enabled madvise }\n", "")
    tree = compile_tree(text, tmp_path)
    assert validate_kargs_d((tree / bootc.PATH).read_text())["kargs"] == []


def test_the_bootc_validator_rejects_what_bootc_rejects():
    for bad in ('kargs = ["a"]\nfoo = "bar"\n', 'foo = "bar"\n', "kargs = [1]\n"):
        with pytest.raises((AssertionError, KeyError)):
            validate_kargs_d(bad)


# -- the apply-boot script itself ------------------------------------------------------------

@pytest.mark.parametrize("target", ["bls", "kernel-install"])
def test_apply_boot_is_clean_posix_sh(tmp_path, target):
    tree = compile_tree(spec(target, TWO_SIZES), tmp_path)
    script = tree / APPLY_BOOT
    assert run(tool("shellcheck", "shellcheck"), "-s", "sh", script).returncode == 0
    assert run(tool("dash", "dash"), "-n", script).returncode == 0
    assert os.access(script, os.X_OK)


def test_apply_boot_usage_error_exits_2(tmp_path):
    tree = compile_tree(spec("bls", ONE_SIZE), tmp_path)
    done = subprocess.run(["sh", str(tree / APPLY_BOOT), "--frobnicate"], capture_output=True,
                          text=True, env=dict(os.environ, HOSTSPEC_ROOT=str(tmp_path / "none")))
    assert done.returncode == 2 and "usage" in done.stderr


# -- the budget, and the key in every front door -----------------------------------------------

def budget_spec(extra: str) -> str:
    return ("hostspec 1\nhost big-01 {\n    cpu amd\n    memory 8192GiB\n    numa-nodes 128\n"
            f"{extra}    hugepages {{ pool 2MiB count 1000 node 0-127 }}\n}}\n")


def test_the_budget_is_1024_bytes_unless_the_spec_raises_it(tmp_path, capsys):
    source = tmp_path / "big.mem"
    source.write_text(budget_spec(""))
    assert cli.main(["check", str(source)]) == 1
    err = capsys.readouterr().err
    assert "HS0410" in err and "over the 1024-byte budget" in err
    assert "`pool 2MiB count 128000`" in err  # names the pool to merge, and how
    assert cli.main(["compile", "-q", str(source), "--out", str(tmp_path / "out")]) == 1
    assert not (tmp_path / "out" / "big-01").exists()
    source.write_text(budget_spec("    cmdline-budget 2048\n"))
    assert cli.main(["compile", "-q", str(source), "--out", str(tmp_path / "out")]) == 0
    line = (tmp_path / "out/big-01/etc/hostspec/kernel-cmdline").read_text().strip()
    assert 1024 < len(line) <= 2048


def test_boot_round_trips_through_json_and_fmt(tmp_path, capsys):
    source = tmp_path / "h.mem"
    source.write_text(spec("kernel-install", ONE_SIZE, extra="    cmdline-budget 300\n"))
    assert cli.main(["export", str(source)]) == 0
    exported = capsys.readouterr().out
    assert '"boot": "kernel-install"' in exported and '"cmdline-budget": 300' in exported
    as_json = tmp_path / "h.json"
    as_json.write_text(exported)
    assert cli.main(["compile", "-q", str(as_json), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out/hv-boot" / APPLY_BOOT).is_file()
    assert cli.main(["fmt", str(source)]) == 0
    assert cli.main(["fmt", "--check", str(source)]) == 0
    formatted = source.read_text()
    assert "    boot kernel-install\n" in formatted and "    cmdline-budget 300\n" in formatted


@pytest.mark.parametrize("target", ["grub", "bls", "kernel-install", "bootc", "none"])
def test_audit_names_the_targets_step_when_the_arguments_drifted(tmp_path, capsys, target):
    from hostspec.backends.boot import STEPS

    source = tmp_path / "h.mem"
    source.write_text(spec(target, ONE_SIZE))
    root = tmp_path / "root"
    (root / "proc").mkdir(parents=True)
    (root / "proc/cmdline").write_text("root=/dev/vda1 ro quiet\n")  # booted without them
    assert cli.main(["audit", str(source), "--root", str(root)]) == 1
    out = capsys.readouterr().out
    assert f"kernel arguments drifted (boot {target}): {STEPS[target]}" in out
