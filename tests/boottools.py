"""Scratch boot stacks driven by the real tools, for the `boot` target tests.

Everything happens under a scratch root: `kernel-install` is pointed at it
with KERNEL_INSTALL_CONF_ROOT, BOOT_ROOT, MACHINE_ID and KERNEL_INSTALL_PLUGINS;
`bootctl` and `grub-mkconfig` run in a private mount namespace (`unshare -m`)
with bind mounts, so this machine's /boot and /etc are never written.
"""
from __future__ import annotations

import os
import pathlib
import shlex
import shutil
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
MACHINE_ID = "0123456789abcdef0123456789abcdef"
TOKEN = "hostspec-test"  # etc/kernel/entry-token: entries named TOKEN-VERSION.conf
LOADER_ENTRY = pathlib.Path("/usr/lib/kernel/install.d/90-loaderentry.install")
DEBIAN_DEFAULT_GRUB = pathlib.Path("/usr/share/grub/default/grub")
APPLY_BOOT = "usr/libexec/hostspec/apply-boot"


def tool(name: str, package: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin")
    if found is None:
        pytest.fail(f"`{name}` is not installed: apt-get install {package}")
    return found


def run(*argv, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=180,
                          **kwargs)


def compile_tree(spec_text: str, work: pathlib.Path) -> pathlib.Path:
    """`hostspec compile` the spec into work/out; the host's tree."""
    work.mkdir(parents=True, exist_ok=True)
    source = work / "spec.mem"
    source.write_text(spec_text)
    done = run(sys.executable, "-m", "hostspec", "compile", "-q", source, "--out", work / "out",
               cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert done.returncode == 0, done.stdout + done.stderr
    (tree,) = (work / "out").iterdir()
    return tree


def spec(boot: str, pools: str, thp: str = "madvise", extra: str = "") -> str:
    """A small host with `boot BOOT` and the given `hugepages` body."""
    return (f"hostspec 1\nhost hv-boot {{\n    cpu intel\n    memory 4GiB\n    reserve 1GiB\n"
            f"    numa-nodes 2\n    boot {boot}\n{extra}"
            f"    hugepages {{ {pools} }}\n    thp {{ enabled {thp} }}\n}}\n")


def our_words(tree: pathlib.Path) -> list[str]:
    plain = tree / "etc/hostspec/kernel-cmdline"
    return plain.read_text().split() if plain.is_file() else []


# -- kernel-install and bootctl ----------------------------------------------------

def kernel_install_root(root: pathlib.Path, admin: str, versions=("6.1.0-90-amd64",)) -> None:
    """A scratch root whose boot entries kernel-install makes (layout bls)."""
    if not LOADER_ENTRY.is_file():
        pytest.fail(f"{LOADER_ENTRY} missing: apt-get install systemd")
    (root / "etc/kernel").mkdir(parents=True)
    (root / "etc/kernel/install.conf").write_text("layout=bls\n")
    (root / "etc/kernel/entry-token").write_text(TOKEN + "\n")
    (root / "etc/kernel/cmdline").write_text(admin + "\n")
    (root / "boot" / TOKEN).mkdir(parents=True)
    (root / "boot/loader/entries").mkdir(parents=True)
    for version in versions:  # the image is only copied, never run
        (root / "boot" / f"vmlinuz-{version}").write_bytes(b"\x7fkernel image " + version.encode())


def kernel_install_env(root: pathlib.Path) -> dict[str, str]:
    return dict(os.environ, HOSTSPEC_ROOT=str(root),
                KERNEL_INSTALL_CONF_ROOT=str(root / "etc/kernel"),
                BOOT_ROOT=str(root / "boot"), MACHINE_ID=MACHINE_ID,
                KERNEL_INSTALL_PLUGINS=str(LOADER_ENTRY), SYSTEMD_RELAX_ESP_CHECKS="1")


def in_boot_namespace(root: pathlib.Path, command: str, env=None) -> subprocess.CompletedProcess:
    """Run COMMAND (sh) with ROOT/boot bind-mounted onto itself in a private mount
    namespace: bootctl wants the ESP to be a mount point, and kernel-install then
    writes entry paths relative to it, as on a real ESP."""
    boot = shlex.quote(str(root / "boot"))
    return run(tool("unshare", "util-linux"), "-m", "sh", "-c",
               f"mount --bind {boot} {boot} && {command}", env=env or kernel_install_env(root))


def kernel_install_add(root: pathlib.Path) -> None:
    """`kernel-install add VERSION IMAGE` for every scratch kernel."""
    ki = tool("kernel-install", "systemd")
    for image in sorted((root / "boot").glob("vmlinuz-*")):
        version = image.name[len("vmlinuz-"):]
        done = in_boot_namespace(root, f"{ki} add {version} {shlex.quote(str(image))}")
        assert done.returncode == 0, done.stderr


def apply_boot(root: pathlib.Path, tree: pathlib.Path, *args: str) -> subprocess.CompletedProcess:
    """The tree's apply-boot against ROOT (in the boot namespace, for kernel-install)."""
    script = shlex.quote(str(tree / APPLY_BOOT))
    return in_boot_namespace(root, " ".join([tool("dash", "dash"), script, *args]))


def bootctl_entries(root: pathlib.Path) -> dict[str, str]:
    """`bootctl list` of the scratch ESP: entry id -> its options."""
    bootctl = tool("bootctl", "systemd-boot")
    esp = shlex.quote(str(root / "boot"))
    done = in_boot_namespace(root, f"{bootctl} --esp-path={esp} --no-pager list")
    assert done.returncode == 0, done.stderr
    entries, current = {}, None
    for line in done.stdout.splitlines():
        key, _, value = line.strip().partition(": ")
        if key == "id":
            current = value
        elif key == "options" and current:
            entries[current] = value
    return entries


def entry_options(root: pathlib.Path) -> dict[str, str]:
    """Each entry file's `options` value, read from the file."""
    found = {}
    for path in sorted((root / "boot/loader/entries").glob("*.conf")):
        for line in path.read_text().splitlines():
            if line.startswith("options"):
                found[path.name] = line.split(None, 1)[1] if len(line.split(None, 1)) > 1 else ""
    return found


# -- grub-mkconfig ------------------------------------------------------------------

def grub_mkconfig(work: pathlib.Path, default_grub: str, drop_ins: dict[str, bytes]) -> list[list[str]]:
    """Real grub-mkconfig in a private mount namespace; the words after the image of
    each `linux` line.  Scratch copies are bind-mounted over /etc/default (the
    admin's grub and the drop-ins), /etc/grub.d (00_header, 10_linux) and /boot."""
    mkconfig = tool("grub-mkconfig", "grub-common")
    for path in (DEBIAN_DEFAULT_GRUB, pathlib.Path("/etc/grub.d/10_linux")):
        if not path.is_file():
            pytest.fail(f"{path} missing: apt-get install grub2-common")
    if work.exists():
        shutil.rmtree(work)
    default, scripts, boot = work / "default", work / "grub.d", work / "boot"
    shutil.copytree("/etc/default", default, symlinks=True)
    (default / "grub").write_text(default_grub)
    shutil.rmtree(default / "grub.d", ignore_errors=True)
    (default / "grub.d").mkdir()
    for name, data in drop_ins.items():
        (default / "grub.d" / name).write_bytes(data)
    scripts.mkdir()
    for name in ("00_header", "10_linux"):
        shutil.copy2(pathlib.Path("/etc/grub.d") / name, scripts)
    boot.mkdir()
    (boot / "vmlinuz-6.1.0-90-amd64").write_bytes(b"")
    mounts = " && ".join(f'mount --bind "{src}" {dst}' for src, dst in
                         ((default, "/etc/default"), (scripts, "/etc/grub.d"), (boot, "/boot")))
    done = run(tool("unshare", "util-linux"), "-m", "sh", "-c",
               f'{mounts} && exec {mkconfig} -o "{work}/grub.cfg"')
    assert done.returncode == 0, done.stderr
    text = (work / "grub.cfg").read_text()
    return [line.split()[2:] for line in text.splitlines() if line.split()[:1] == ["linux"]]


def admin_default_grub(args: str) -> str:
    """Debian's packaged /etc/default/grub with the admin's GRUB_CMDLINE_LINUX."""
    text = DEBIAN_DEFAULT_GRUB.read_text()
    lines = [f'GRUB_CMDLINE_LINUX="{args}"' if line.startswith("GRUB_CMDLINE_LINUX=") else line
             for line in text.splitlines()]
    return "\n".join(lines) + "\n"
