"""The hostspec.fleet collection on two real guests, over SSH, with real Ansible.

One module-scoped pair of virtme-ng guests (tests/vng) on this machine's
kernel under TCG:

- hv-a: two NUMA nodes, a 2M boot pool on node 0 and a runtime pool on
  node 1, boot target grub (/boot on its own disk, real update-grub);
- hv-b: one node, KSM running, THP madvise, nothing on the command line.

The collection is built with ansible-galaxy and installed into a scratch
collections path; ansible-playbook reaches the guests on loopback ports.
The steps build on each other through cached fixtures, so any one test can
run alone (-k) and still see the state it needs.
"""

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vngharness import VM, boot_all, stop_all

FLEET = Path(__file__).resolve().parent
REPO = FLEET.parents[1]
COLLECTION = REPO / "ansible" / "ansible_collections" / "hostspec" / "fleet"
SPECS = FLEET / "specs"
BIN = Path(sys.executable).parent
GRUBHOST = (FLEET / "grubhost.sh").read_text()

# What the guests are booted with, and which disk holds each one's /boot.
GUESTS = {
    "hv-a": dict(numa=["768M", "768M"]),
    "hv-b": dict(memory="1G"),
}
# Files the --check run must leave alone, in every guest.
WATCHED = "/etc /usr/libexec/hostspec /usr/share/hostspec /var/lib/hostspec /boot"


def tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} not found: pip install '.[test]'")
    return found


def recap(stdout: str) -> dict:
    """{host: {"ok": n, "changed": n, ...}} from ansible-playbook's PLAY RECAP."""
    rows = {}
    for line in stdout.splitlines():
        match = re.match(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", line.strip())
        if match:
            rows[match.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(2))}
    return rows


class Fleet:
    def __init__(self, work: Path, collections: Path):
        self.work = work
        self.collections = collections
        self.results = work / "results"
        self.results.mkdir()
        self.vms = {}
        self.disks = {}
        self.boots = itertools.count()
        for name in GUESTS:
            disk = work / f"{name}-boot.img"
            subprocess.run(["truncate", "-s", "64M", str(disk)], check=True)
            subprocess.run(["mkfs.ext4", "-q", "-F", "-L", f"{name}-boot", str(disk)], check=True)
            self.disks[name] = disk

    def boot(self, names, appends=None):
        appends = appends or {}
        vms = [VM(name, disks=[self.disks[name]], append=appends.get(name, ()),
                  workdir=self.work / f"{name}-{next(self.boots)}",
                  **GUESTS[name]) for name in names]
        boot_all(vms)
        for vm in vms:
            self.vms[vm.name] = vm
            vm.ssh(GRUBHOST)

    def stop(self):
        stop_all(self.vms.values())

    def inventory(self, specs: dict) -> Path:
        hosts = {}
        for name, vm in self.vms.items():
            hosts[name] = {**vm.ansible_vars(), "hostspec_spec": str(specs[name]),
                           "hostspec_cli": tool("hostspec"),
                           "ansible_python_interpreter": "/usr/bin/python3"}
        path = self.work / "inventory.json"
        path.write_text(json.dumps({"all": {"hosts": hosts, "vars": {"fleet_results": str(self.results)}}}))
        return path

    def play(self, playbook, specs, *extra, ok=(0,)):
        env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(self.collections),
               "ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_FORCE_COLOR": "0",
               "ANSIBLE_NOCOLOR": "1", "ANSIBLE_SHOW_CUSTOM_STATS": "1",
               "ANSIBLE_LOCAL_TEMP": str(self.work / "ansible-local"),
               "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        for stale in self.results.glob("*.json"):
            stale.unlink()
        done = subprocess.run([tool("ansible-playbook"), "-i", str(self.inventory(specs)),
                               str(playbook), *extra], capture_output=True, text=True, env=env,
                              timeout=1200)
        assert done.returncode in ok, done.stdout[-6000:] + done.stderr[-3000:]
        return done

    def result(self, name, suffix=""):
        return json.loads((self.results / f"{name}{suffix}.json").read_text())

    def checksums(self, name) -> str:
        return self.vms[name].ssh(
            f"find {WATCHED} -xdev -type f -print0 2>/dev/null | sort -z | xargs -0 sha256sum").stdout


SPEC_V1 = {"hv-a": SPECS / "hv-a.mem", "hv-b": SPECS / "hv-b.mem"}
SPEC_V2 = {"hv-a": SPECS / "hv-a-next.mem", "hv-b": SPECS / "hv-b-next.mem"}


@pytest.fixture(scope="module")
def collections(tmp_path_factory):
    """The collection as ansible-galaxy builds and installs it."""
    out = tmp_path_factory.mktemp("galaxy")
    built = subprocess.run([tool("ansible-galaxy"), "collection", "build", str(COLLECTION),
                            "--output-path", str(out)], capture_output=True, text=True)
    assert built.returncode == 0, built.stdout + built.stderr
    tarball = out / "hostspec-fleet-0.1.0.tar.gz"
    assert tarball.is_file()
    path = out / "collections"
    installed = subprocess.run([tool("ansible-galaxy"), "collection", "install", str(tarball),
                                "-p", str(path)], capture_output=True, text=True)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert (path / "ansible_collections/hostspec/fleet/roles/apply/tasks/main.yml").is_file()
    return path


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, collections):
    from vngharness import missing_tools
    missing = missing_tools()
    if missing:
        pytest.fail("virtme-ng guests need: " + ", ".join(missing))
    fleet = Fleet(tmp_path_factory.mktemp("fleet"), collections)
    fleet.boot(GUESTS)
    yield fleet
    fleet.stop()


@pytest.fixture(scope="module")
def first_run(fleet):
    done = fleet.play(FLEET / "playbooks/apply.yml", SPEC_V1)
    return done, {name: fleet.result(name) for name in GUESTS}


@pytest.fixture(scope="module")
def second_run(fleet, first_run):
    done = fleet.play(FLEET / "playbooks/apply.yml", SPEC_V1)
    return done, {name: fleet.result(name) for name in GUESTS}


@pytest.fixture(scope="module")
def check_run(fleet, second_run):
    before = {name: fleet.checksums(name) for name in GUESTS}
    done = fleet.play(FLEET / "playbooks/apply.yml", SPEC_V2, "--check", "--diff")
    after = {name: fleet.checksums(name) for name in GUESTS}
    return done, before, after


@pytest.fixture(scope="module")
def rebooted(fleet, check_run):
    """hv-a booted again with the `linux` line update-grub wrote on its /boot disk."""
    vm = fleet.vms["hv-a"]
    grub_cfg = vm.read("/boot/grub/grub.cfg")
    linux = next(line.split() for line in grub_cfg.splitlines() if line.split()[:1] == ["linux"])
    # linux /vmlinuz-VERSION root=... ro ARGS: the image and root= belong to
    # the boot loader and the disk; virtme-ng boots its own kernel and root.
    words = [w for w in linux[2:] if not w.startswith("root=") and w not in ("ro", "rw")]
    state = vm.save(["/etc/hostspec", "/etc/default/grub", "/etc/default/grub.d", "/etc/sysctl.d",
                     "/etc/modprobe.d", "/etc/systemd/system", "/usr/libexec/hostspec",
                     "/usr/share/hostspec", "/var/lib/hostspec"],
                    fleet.work / "hv-a-state.tar")
    vm.stop()
    fleet.boot(["hv-a"], appends={"hv-a": words})
    vm = fleet.vms["hv-a"]
    vm.restore(state)
    # What hostspec-memory.service does at boot, where systemd is init.
    vm.ssh("sysctl -q -p /etc/sysctl.d/90-hostspec.conf && /usr/libexec/hostspec/apply-memory")
    fleet.play(FLEET / "playbooks/audit.yml", SPEC_V1)
    return words, vm.cmdline, fleet.result("hv-a", ".audit")


def boot_rows(rows):
    return [r for r in rows if r["file"] == "proc/cmdline"]


# -- 1. the first run ------------------------------------------------------------------

def test_runtime_state_is_the_spec_in_the_guests_sys_and_proc(fleet, first_run):
    a, b = fleet.vms["hv-a"], fleet.vms["hv-b"]
    node = "/sys/devices/system/node/node{}/hugepages/hugepages-2048kB/nr_hugepages"
    assert a.read(node.format(1)).strip() == "12"          # the runtime pool
    assert a.read("/proc/sys/vm/swappiness").strip() == "15"
    assert b.read("/sys/kernel/mm/transparent_hugepage/enabled").split().count("[madvise]") == 1
    assert b.read("/sys/kernel/mm/transparent_hugepage/defrag").split().count("[madvise]") == 1
    assert b.read("/sys/kernel/mm/ksm/run").strip() == "1"
    assert b.read("/sys/kernel/mm/ksm/pages_to_scan").strip() == "300"
    assert b.read("/sys/kernel/mm/ksm/sleep_millisecs").strip() == "40"
    assert b.read("/proc/sys/vm/swappiness").strip() == "25"
    assert b.read("/proc/sys/vm/overcommit_memory").strip() == "0"


def test_audit_reports_every_runtime_item_ok(first_run):
    _, results = first_run
    for name, result in results.items():
        rows = result["audit"]["rows"]
        assert rows, name
        runtime = [r for r in rows if r["file"] != "proc/cmdline"
                   and not (name == "hv-a" and r["item"] == "huge pages 2M node 0")]
        assert runtime and all(r["status"] == "ok" for r in runtime), (name, runtime)
    assert results["hv-b"]["audit"]["result"] == "match"
    # hv-a has not rebooted: its boot pool and its arguments are not there yet.
    assert {r["status"] for r in boot_rows(results["hv-a"]["audit"]["rows"])} == {"drift"}


def test_reboot_required_exactly_where_a_boot_argument_changed(first_run):
    done, results = first_run
    assert results["hv-a"]["reboot_required"] is True
    assert results["hv-b"]["reboot_required"] is False
    assert "hv-a: reboot required (boot arguments changed)" in done.stdout
    assert "hv-b: nothing waits" in done.stdout
    stats = done.stdout[done.stdout.index("CUSTOM STATS"):]
    assert "hv-a" in stats and "hostspec_reboot_required" in stats


def test_update_grub_put_the_arguments_on_the_guests_boot_disk(fleet, first_run):
    ours = fleet.vms["hv-a"].read("/etc/hostspec/kernel-cmdline").split()
    grub_cfg = fleet.vms["hv-a"].read("/boot/grub/grub.cfg")
    linux = [line.split() for line in grub_cfg.splitlines() if line.split()[:1] == ["linux"]]
    assert linux
    for words in linux:
        start = words.index(ours[0])
        assert words[start:start + len(ours)] == ours


def test_files_land_with_the_manifests_modes(fleet, first_run):
    a = fleet.vms["hv-a"]
    manifest = json.loads(a.read("/usr/share/hostspec/hostspec-manifest.json"))
    for artifact in manifest["artifacts"]:
        mode = a.ssh(["stat", "-c", "%a %U:%G", "/" + artifact["path"]]).stdout.split()
        assert mode == [artifact["mode"].lstrip("0"), "root:root"], artifact["path"]


def test_second_run_changes_nothing(second_run):
    done, results = second_run
    rows = recap(done.stdout)
    assert set(rows) == set(GUESTS)
    assert all(r["changed"] == 0 and r["failed"] == 0 for r in rows.values()), rows
    # still waiting: the guest has not rebooted
    assert results["hv-a"]["reboot_required"] is True
    assert results["hv-b"]["reboot_required"] is False


# -- 3. --check --diff -------------------------------------------------------------------

def test_check_diff_prints_the_plan_and_writes_nothing(check_run):
    done, before, after = check_run
    assert before == after
    out = done.stdout
    assert "-vm.swappiness = 15" in out and "+vm.swappiness = 35" in out   # hv-a's diff
    assert "hugepages=0:20" in out                                      # its new boot pool
    assert "Most disruptive step (boot)" in out                         # hv-a's plan
    assert "`KSM pages_to_scan` 300 -> 500" in out                      # hv-b's plan
    assert "Most disruptive step (runtime)" in out


# -- 2. the reboot, in effect ---------------------------------------------------------------

def test_reboot_with_the_grub_line_puts_the_arguments_on_proc_cmdline_once(fleet, rebooted):
    words, cmdline, _ = rebooted
    ours = fleet.vms["hv-a"].read("/etc/hostspec/kernel-cmdline").split()
    assert ours and all(w in words for w in ours)
    on_line = cmdline.split()
    for word in ours:
        assert on_line.count(word) == 1, (word, cmdline)
    node0 = fleet.vms["hv-a"].read("/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages")
    assert node0.strip() == "16"


def test_audit_after_the_reboot_is_all_ok(rebooted):
    _, _, audit = rebooted
    assert audit["result"] == "match", audit["rows"]
    assert all(r["status"] == "ok" for r in audit["rows"])


def test_rolling_reboot_leaves_a_rebooted_host_alone(fleet, rebooted, collections):
    done = fleet.play("hostspec.fleet.rolling_reboot", SPEC_V1, "-e", "hostspec_batch=1")
    rows = recap(done.stdout)
    assert all(r["changed"] == 0 and r["failed"] == 0 for r in rows.values()), rows
    assert "TASK [Reboot]" not in done.stdout or "skipping" in done.stdout
