"""apply-domains against a real libvirt that keeps its state between runs.

libvirt's embedded QEMU driver (`qemu:///embed?root=DIR`, Debian's
libvirt-daemon-driver-qemu) keeps every definition under DIR, so each
`virsh` call, and each run of the script, is a new process that finds what
the last one left, as with a system daemon.  Running guests are real QEMU
processes (KVM, no disk: they sit in the firmware).  As root the driver wants
the `libvirt-qemu` user of the Debian packaging, so the tests run it as
`nobody` with the `kvm` group instead.  The test driver (`test:///default`)
would not do: its state ends with its connection.
"""
from __future__ import annotations

import grp
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile

import pytest

from hostspec.commands import cli
from hostspec.backends import apply_domains

HOST = """\
hostspec 1

host lv-01 {{
    cpu intel
    memory 16GiB
}}
"""
GUEST = "guest {name} {{ memory {memory} }}\n"


def tool(name: str, package: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        pytest.fail(f"`{name}` is not installed: apt-get install {package}")
    return found


class Libvirt:
    """One embedded libvirt root and one host root, used as an unprivileged user."""

    def __init__(self, base: pathlib.Path):
        self.base = base
        self.lv = base / "lv"
        self.root = base / "root"
        self.uri = f"qemu:///embed?root={self.lv}"
        (self.lv / "etc").mkdir(parents=True)
        (self.lv / "etc" / "qemu.conf").write_text("")
        self.root.mkdir()
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            kvm = grp.getgrnam("kvm").gr_gid
            self.prefix = [tool("setpriv", "util-linux"), "--reuid=nobody", "--regid=nogroup",
                           f"--groups={kvm}"]
        self.chown()

    def chown(self) -> None:
        if self.prefix:
            subprocess.run(["chown", "-R", "nobody:nogroup", str(self.base)], check=True)

    def env(self) -> dict:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.base),
                "LC_ALL": "C", "HOSTSPEC_ROOT": str(self.root), "HOSTSPEC_LIBVIRT_URI": self.uri}

    def run(self, *argv) -> subprocess.CompletedProcess:
        return subprocess.run(self.prefix + [str(a) for a in argv], capture_output=True,
                              text=True, timeout=120, env=self.env(), cwd=self.base)

    def virsh(self, *argv) -> str:
        done = self.run(tool("virsh", "libvirt-clients"), "-q", "-c", self.uri, *argv)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def names(self, *flags) -> list[str]:
        return sorted(filter(None, self.virsh("list", "--name", *flags).splitlines()))

    def apply(self, *argv) -> subprocess.CompletedProcess:
        return self.run(tool("dash", "dash"), self.root / apply_domains.PATH, *argv)

    def install(self, spec_text: str, tmp: pathlib.Path) -> None:
        """Compile the spec and copy its tree over the host root, as an image build would."""
        spec, out = tmp / "spec.mem", tmp / "out"
        spec.write_text(spec_text)
        shutil.rmtree(out, ignore_errors=True)
        assert cli.main(["compile", "-q", str(spec), "--out", str(out)]) == 0
        shutil.rmtree(self.root / "etc/hostspec/domains", ignore_errors=True)
        shutil.copytree(out / "lv-01", self.root, dirs_exist_ok=True)
        self.chown()

    def stop_everything(self) -> None:
        for pid_file in (self.lv / "run" / "qemu").glob("*.pid"):
            try:
                os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
            except (ValueError, ProcessLookupError):
                pass


def spec(**guests: str) -> str:
    return HOST.format() + "".join(GUEST.format(name=name, memory=memory)
                                   for name, memory in guests.items())


@pytest.fixture
def libvirt():
    if not os.access("/dev/kvm", os.F_OK):
        pytest.fail("/dev/kvm is missing: the QEMU driver defines `kvm` domains only with KVM")
    tool("virsh", "libvirt-clients")
    if not list(pathlib.Path("/usr/lib").glob("*/libvirt/connection-driver/libvirt_driver_qemu.so")):
        pytest.fail("libvirt's QEMU driver is missing: apt-get install libvirt-daemon-driver-qemu")
    # Short: libvirt's sockets under the root must fit in 108 bytes.
    base = pathlib.Path(tempfile.mkdtemp(prefix="hs-lv-", dir="/tmp"))
    os.chmod(base, 0o755)
    found = Libvirt(base)
    try:
        yield found
    finally:
        found.stop_everything()
        shutil.rmtree(base, ignore_errors=True)


def state(lv: Libvirt) -> dict[str, str]:
    lines = (lv.root / apply_domains.STATE_PATH).read_text().splitlines()
    return dict(line.split(" ") for line in lines)


def test_first_run_defines_all_and_a_second_run_defines_nothing(libvirt, tmp_path):
    libvirt.install(spec(**{"web-01": "256MiB", "web-02": "512MiB"}), tmp_path)
    check = libvirt.apply("--check")
    assert check.returncode == 1 and "web-01: would define" in check.stdout
    assert libvirt.names("--all") == []  # --check changed nothing

    first = libvirt.apply()
    assert first.returncode == 0, first.stderr
    assert sorted(line.split(":")[0] for line in first.stdout.splitlines()) == ["web-01", "web-02"]
    assert all("(new)" in line for line in first.stdout.splitlines())
    assert libvirt.names("--all") == ["web-01", "web-02"]  # a new process finds them
    recorded = state(libvirt)
    assert sorted(recorded) == ["web-01", "web-02"]
    state_file = libvirt.root / apply_domains.STATE_PATH
    assert oct(state_file.stat().st_mode & 0o777) == "0o644"
    before = state_file.stat()

    second = libvirt.apply()
    assert (second.returncode, second.stdout, second.stderr) == (0, "", "")
    assert state_file.stat().st_ino == before.st_ino  # not even rewritten
    assert libvirt.apply("--check").returncode == 0
    assert [p.name for p in state_file.parent.iterdir()] == ["domains"]  # no temp file left


def test_a_changed_xml_is_redefined_and_a_running_guest_is_not_restarted(libvirt, tmp_path):
    libvirt.install(spec(**{"web-01": "256MiB", "web-02": "512MiB"}), tmp_path)
    assert libvirt.apply().returncode == 0
    libvirt.virsh("start", "web-02")
    pid = (libvirt.lv / "run/qemu/web-02.pid").read_text()

    libvirt.install(spec(**{"web-01": "384MiB", "web-02": "768MiB"}), tmp_path)
    check = libvirt.apply("--check")
    assert check.returncode == 1 and check.stdout.count("would define") == 2
    done = libvirt.apply()
    assert done.returncode == 0, done.stderr
    lines = sorted(done.stdout.splitlines())
    assert lines[0].startswith("web-01: defined from") and lines[0].endswith("(changed)")
    assert lines[1].startswith("web-02: defined from") and "(changed); running: takes the new " \
        "definition at its next restart" in lines[1]
    assert "393216" in libvirt.virsh("dumpxml", "--inactive", "web-01")
    assert "786432" in libvirt.virsh("dumpxml", "--inactive", "web-02")
    assert libvirt.names("--state-running") == ["web-02"]
    assert (libvirt.lv / "run/qemu/web-02.pid").read_text() == pid  # the same QEMU
    assert libvirt.apply().stdout == ""


def test_a_guest_whose_domain_is_the_same_is_not_redefined_when_another_changes(libvirt, tmp_path):
    libvirt.install(spec(web="256MiB", db="256MiB"), tmp_path)
    assert libvirt.apply().returncode == 0
    stored = libvirt.lv / "etc/qemu/web.xml"   # libvirt's own copy of the definition
    before = stored.stat()
    web = libvirt.root / apply_domains.DOMAINS_DIR / "web.xml"
    old_header = web.read_text().splitlines()[0]

    # An edit of the spec changes the source sha256 in every file's header.
    libvirt.install(spec(web="256MiB", db="512MiB"), tmp_path)
    assert web.read_text().splitlines()[0] != old_header
    check = libvirt.apply("--check")
    assert check.returncode == 1 and check.stdout.startswith("db: would define")
    assert "web" not in check.stdout
    done = libvirt.apply()
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("db: defined from") and done.stdout.endswith("(changed)\n")
    assert "web" not in done.stdout
    after = stored.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert "524288" in libvirt.virsh("dumpxml", "--inactive", "db")
    assert libvirt.apply().stdout == ""


def test_a_removed_guest_is_undefined_when_shut_off_and_reported_while_running(libvirt, tmp_path):
    libvirt.install(spec(**{"keep": "256MiB", "gone-off": "256MiB", "gone-on": "256MiB"}), tmp_path)
    assert libvirt.apply().returncode == 0
    libvirt.virsh("start", "gone-on")
    libvirt.install(spec(keep="256MiB"), tmp_path)

    check = libvirt.apply("--check")
    assert check.returncode == 1
    assert "gone-off: would undefine (no longer in the spec, shut off)" in check.stdout
    done = libvirt.apply()
    assert done.returncode == 0, done.stderr
    assert "gone-off: undefined (no longer in the spec)" in done.stdout
    assert "gone-on: no longer in the spec but running: left defined" in done.stdout
    assert libvirt.names("--all") == ["gone-on", "keep"]
    assert sorted(state(libvirt)) == ["gone-on", "keep"]  # still ours, undefined later

    libvirt.run(tool("virsh", "libvirt-clients"), "-c", libvirt.uri, "destroy", "gone-on")
    assert libvirt.names() == []
    done = libvirt.apply()
    assert done.returncode == 0 and done.stdout == "gone-on: undefined (no longer in the spec)\n"
    assert libvirt.names("--all") == ["keep"] and sorted(state(libvirt)) == ["keep"]


def test_a_domain_made_by_hand_is_never_touched(libvirt, tmp_path):
    hand = libvirt.base / "hand.xml"
    hand.write_text("<domain type='kvm'><name>by-hand</name><memory unit='KiB'>131072</memory>"
                    "<vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>")
    libvirt.chown()
    libvirt.virsh("define", hand)
    before = libvirt.virsh("dumpxml", "--inactive", "by-hand")
    libvirt.install(spec(web="256MiB", old="256MiB"), tmp_path)
    assert libvirt.apply().returncode == 0
    libvirt.install(spec(web="512MiB"), tmp_path)
    done = libvirt.apply()
    assert done.returncode == 0 and "by-hand" not in done.stdout + done.stderr
    assert libvirt.names("--all") == ["by-hand", "web"]
    assert libvirt.virsh("dumpxml", "--inactive", "by-hand") == before
    assert "by-hand" not in state(libvirt)


def test_invalid_xml_is_refused_by_libvirt_and_named(libvirt, tmp_path):
    libvirt.install(spec(good="256MiB", bad="256MiB"), tmp_path)
    bad = libvirt.root / apply_domains.DOMAINS_DIR / "bad.xml"
    bad.write_text(bad.read_text().replace("</domain>", "  <bogus/>\n</domain>"))
    done = libvirt.apply()
    assert done.returncode == 1
    assert f"apply-domains: bad: libvirt refused {bad}" in done.stderr
    assert "bogus" in done.stderr or "relax" in done.stderr.lower()  # libvirt's own words
    assert libvirt.names("--all") == ["good"]
    assert sorted(state(libvirt)) == ["good"]  # bad is tried again next time
    again = libvirt.apply()
    assert again.returncode == 1 and "bad: libvirt refused" in again.stderr


def test_nothing_changes_when_a_file_is_missing_or_libvirt_is_unreachable(libvirt, tmp_path):
    libvirt.install(spec(a="256MiB", b="256MiB"), tmp_path)
    (libvirt.root / apply_domains.DOMAINS_DIR / "b.xml").unlink()
    done = libvirt.apply()
    assert done.returncode == 2 and "b.xml is missing" in done.stderr
    assert libvirt.names("--all") == []
    assert not (libvirt.root / apply_domains.STATE_PATH).exists()
    libvirt.install(spec(a="256MiB", b="256MiB"), tmp_path)
    libvirt.uri = "qemu+unix:///system?socket=/nonexistent/sock"
    done = libvirt.apply()
    assert done.returncode == 2 and "cannot reach libvirt" in done.stderr
    assert libvirt.apply("--extra").returncode == 2
