"""`hostspec audit`: a fake root laid out as the kernel lays out /proc and /sys.

One root matches the spec exactly; each test changes one file the way a
drifted host would show it and expects that item, and only it, to be named.
"""
from __future__ import annotations

import json
import pathlib

import pytest

from hostspec.commands import cli

SPEC = """hostspec 1
host hv-audit {
    cpu intel
    memory 64GiB
    numa-nodes 2
    kvm { ept on; vpid on; nested off }
    hugepages {
        default-size 1GiB
        pool 1GiB count 4 node 0
        pool 1GiB count 2 node 1
        pool 2MiB count 512 at runtime
    }
    thp { enabled madvise; defrag defer+madvise }
    ksm {
        run on
        pages-to-scan 200
        sleep 50ms
        merge-across-nodes off
        use-zero-pages on
    }
    swap { swappiness 10 }
    overcommit { policy never; ratio 80 }
}
"""

FLAGS = "fpu vme de pse tsc msr pae mce cx8 apic sep vmx ept vpid flexpriority pdpe1gb lm"
CPU = (f"processor\t: {{n}}\nvendor_id\t: GenuineIntel\nflags\t\t: {FLAGS}\n"
       "vmx flags\t: vnmi ept vpid\n\n")
NODE_1G = "sys/devices/system/node/node{}/hugepages/hugepages-1048576kB/nr_hugepages"

# Every file the spec is audited against, holding what a host that matches it shows.
MATCHING = {
    "proc/cpuinfo": CPU.format(n=0) + CPU.format(n=1),
    "proc/cmdline": "BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=UUID=1234 ro "
                    "default_hugepagesz=1G hugepagesz=1G hugepages=0:4,1:2 "
                    "transparent_hugepage=madvise quiet\n",
    "sys/module/kvm_intel/parameters/ept": "Y\n",
    "sys/module/kvm_intel/parameters/vpid": "Y\n",
    "sys/module/kvm_intel/parameters/nested": "N\n",
    NODE_1G.format(0): "4\n",
    NODE_1G.format(1): "2\n",
    "sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages": "512\n",
    "sys/kernel/mm/transparent_hugepage/enabled": "always [madvise] never\n",
    "sys/kernel/mm/transparent_hugepage/defrag": "always defer [defer+madvise] madvise never\n",
    "sys/kernel/mm/ksm/run": "1\n",
    "sys/kernel/mm/ksm/pages_to_scan": "200\n",
    "sys/kernel/mm/ksm/sleep_millisecs": "50\n",
    "sys/kernel/mm/ksm/merge_across_nodes": "0\n",
    "sys/kernel/mm/ksm/use_zero_pages": "1\n",
    "proc/sys/vm/swappiness": "10\n",
    "proc/sys/vm/overcommit_memory": "2\n",
    "proc/sys/vm/overcommit_ratio": "80\n",
}


def make_root(base: pathlib.Path, changes: dict | None = None) -> pathlib.Path:
    """A root holding MATCHING with `changes` applied (None removes a file)."""
    root = base / "root"
    for relative, text in {**MATCHING, **(changes or {})}.items():
        if text is not None:
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    return root


def audit(capsys, tmp_path, changes=None, spec=SPEC, fmt="text", root=None):
    spec_file = tmp_path / "host.mem"
    spec_file.write_text(spec)
    root = root if root is not None else make_root(tmp_path, changes)
    status = cli.main(["audit", str(spec_file), "--root", str(root), "--format", fmt])
    out, err = capsys.readouterr()
    return status, (json.loads(out) if fmt == "json" and out else out), err


def statuses(report: dict) -> dict[str, str]:
    return {item["item"]: item["status"] for item in report["items"]}


def test_a_matching_host_exits_0_with_every_item_ok(capsys, tmp_path):
    status, report, err = audit(capsys, tmp_path, fmt="json")
    assert status == 0, report
    assert report["result"] == "match" and err == ""
    assert set(statuses(report).values()) == {"ok"}
    assert sorted(statuses(report)) == sorted([
        "CPU flag vmx", "CPU flag ept", "CPU flag vpid", "CPU flag pdpe1gb",
        "kvm_intel ept", "kvm_intel vpid", "kvm_intel nested",
        "kernel argument default_hugepagesz", "kernel argument hugepagesz=1G",
        "kernel argument transparent_hugepage",
        "huge pages 1GiB node 0", "huge pages 1GiB node 1", "huge pages 2MiB",
        "THP enabled", "THP defrag", "KSM run", "KSM pages_to_scan", "KSM sleep_millisecs",
        "KSM merge_across_nodes", "KSM use_zero_pages",
        "vm.swappiness", "vm.overcommit_memory", "vm.overcommit_ratio"])


def test_the_text_table_shows_expected_and_actual(capsys, tmp_path):
    status, out, _ = audit(capsys, tmp_path)
    assert status == 0
    assert "item" in out and "expected" in out and "actual" in out
    assert any(line.split()[:4] == ["THP", "enabled", "madvise", "madvise"]
               for line in out.splitlines())
    assert "23 ok, 0 drift, 0 unknown: the host matches its spec" in out


ONE_CPU_WITHOUT_EPT = CPU.format(n=0) + CPU.format(n=1).replace(" ept vpid", " vpid", 1)

DRIFTS = [
    ("proc/cpuinfo", ONE_CPU_WITHOUT_EPT, "CPU flag ept", "absent"),
    ("proc/cpuinfo", CPU.format(n=0).replace(" pdpe1gb", ""), "CPU flag pdpe1gb", "absent"),
    ("sys/module/kvm_intel/parameters/ept", "N\n", "kvm_intel ept", "N"),
    ("sys/module/kvm_intel/parameters/nested", "Y\n", "kvm_intel nested", "Y"),
    ("proc/cmdline", "ro default_hugepagesz=1G hugepagesz=1G hugepages=0:4,1:2\n",
     "kernel argument transparent_hugepage", "absent"),
    ("proc/cmdline", "default_hugepagesz=1G hugepagesz=1G hugepages=0:4,1:1 "
     "transparent_hugepage=madvise\n", "kernel argument hugepagesz=1G",
     "hugepagesz=1G hugepages=0:4,1:1"),
    # A bare leading count is the default size's, and a later one for that size is ignored.
    ("proc/cmdline", "hugepages=8 default_hugepagesz=1G hugepagesz=1G hugepages=0:4,1:2 "
     "transparent_hugepage=madvise\n", "kernel argument hugepagesz=1G",
     "hugepagesz=1G hugepages=8"),
    # A node the host does not have: the kernel ignores the whole argument.
    ("proc/cmdline", "default_hugepagesz=1G hugepagesz=1G hugepages=0:4,1:2,3:9 "
     "transparent_hugepage=madvise\n", "kernel argument hugepagesz=1G", "absent"),
    ("proc/cmdline", "default_hugepagesz=2M hugepagesz=1G hugepages=0:4,1:2 "
     "transparent_hugepage=madvise\n", "kernel argument default_hugepagesz",
     "default_hugepagesz=2M"),
    # The last transparent_hugepage= wins.
    ("proc/cmdline", "default_hugepagesz=1G hugepagesz=1G hugepages=0:4,1:2 "
     "transparent_hugepage=madvise transparent_hugepage=always\n",
     "kernel argument transparent_hugepage", "transparent_hugepage=always"),
    # Words after `--` go to init, not to the kernel.
    ("proc/cmdline", "default_hugepagesz=1G hugepagesz=1G hugepages=0:4,1:2 -- "
     "transparent_hugepage=madvise\n", "kernel argument transparent_hugepage", "absent"),
    (NODE_1G.format(1), "1\n", "huge pages 1GiB node 1", "1"),
    ("sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "500\n", "huge pages 2MiB", "500"),
    ("sys/kernel/mm/transparent_hugepage/enabled", "[always] madvise never\n", "THP enabled",
     "always"),
    ("sys/kernel/mm/transparent_hugepage/defrag", "always defer defer+madvise [madvise] never\n",
     "THP defrag", "madvise"),
    ("sys/kernel/mm/ksm/run", "0\n", "KSM run", "0"),
    ("sys/kernel/mm/ksm/sleep_millisecs", "20\n", "KSM sleep_millisecs", "20"),
    ("sys/kernel/mm/ksm/merge_across_nodes", "1\n", "KSM merge_across_nodes", "1"),
    ("proc/sys/vm/swappiness", "60\n", "vm.swappiness", "60"),
    ("proc/sys/vm/overcommit_memory", "0\n", "vm.overcommit_memory", "0"),
    ("proc/sys/vm/overcommit_ratio", "50\n", "vm.overcommit_ratio", "50"),
]


@pytest.mark.parametrize("path,text,item,actual", DRIFTS, ids=[d[2] + ":" + d[3] for d in DRIFTS])
def test_each_kind_of_drift_is_named_and_exits_1(capsys, tmp_path, path, text, item, actual):
    status, report, _ = audit(capsys, tmp_path, {path: text}, fmt="json")
    assert status == 1
    assert report["result"] == "drift"
    drifted = [i for i in report["items"] if i["status"] != "ok"]
    assert [(i["item"], i["status"], i["actual"]) for i in drifted] == [(item, "drift", actual)]


def test_drift_is_marked_in_the_text_table(capsys, tmp_path):
    status, out, _ = audit(capsys, tmp_path, {"proc/sys/vm/swappiness": "60\n"})
    assert status == 1
    row = next(line for line in out.splitlines() if line.strip().startswith("vm.swappiness"))
    assert row.split() == ["vm.swappiness", "10", "60", "DRIFT"]
    assert "22 ok, 1 drift, 0 unknown: the host has drifted from its spec" in out


EQUIVALENT = [
    # Sizes as the kernel parses them, nodes in any order, other arguments around.
    ("proc/cmdline", "quiet default_hugepagesz=1024M hugepagesz=1048576K hugepages=1:2,0:4 "
                     "transparent_hugepage=never transparent_hugepage=madvise -- init args\n"),
    # As mm/hugetlb.c reads `hugepages=`: a node's last count wins, a trailing comma and
    # leading zeros are fine, a count after default_hugepagesz= is that size's, a bare
    # leading count is the default size's, and a size named twice is ignored.
    ("proc/cmdline", "default_hugepagesz=1G hugepagesz=1G hugepages=0:9,1:2,0:04, "
                     "transparent_hugepage=madvise\n"),
    ("proc/cmdline", "default_hugepagesz=1G hugepages=0:4,1:2 hugepagesz=1G "
                     "transparent_hugepage=madvise\n"),
    ("proc/cmdline", "hugepages=0:4,1:2 default_hugepagesz=1G transparent_hugepage=madvise\n"),
    ("proc/cmdline", "default_hugepagesz=1G hugepagesz=1G hugepages=0:4,1:2 hugepagesz=1G "
                     "hugepages=0:8,1:8 transparent_hugepage=madvise\n"),
    # A bool parameter written by another tool as 1/0 reads the same.
    ("sys/module/kvm_intel/parameters/nested", "0\n"),
    ("sys/kernel/mm/transparent_hugepage/enabled", "madvise\n"),
]


@pytest.mark.parametrize("path,text", EQUIVALENT, ids=[e[0] for e in EQUIVALENT])
def test_what_the_kernel_reads_the_same_is_not_drift(capsys, tmp_path, path, text):
    status, report, _ = audit(capsys, tmp_path, {path: text}, fmt="json")
    assert status == 0, [i for i in report["items"] if i["status"] != "ok"]


def test_a_module_that_is_not_loaded_is_unknown_and_exits_2(capsys, tmp_path):
    changes = {f"sys/module/kvm_intel/parameters/{key}": None for key in ("ept", "vpid", "nested")}
    status, out, _ = audit(capsys, tmp_path, changes)
    assert status == 2
    rows = [line.split() for line in out.splitlines() if line.strip().startswith("kvm_intel")]
    assert [row[-2:] for row in rows] == [["missing", "unknown"]] * 3
    assert "cannot read " + str(tmp_path / "root" / "sys/module/kvm_intel/parameters/ept") in out
    assert "the host could not be read in full" in out


def test_a_missing_cmdline_exits_2(capsys, tmp_path):
    status, report, _ = audit(capsys, tmp_path, {"proc/cmdline": None}, fmt="json")
    assert status == 2 and report["result"] == "unknown"
    unknown = {i["item"] for i in report["items"] if i["status"] == "unknown"}
    assert unknown == {"kernel argument default_hugepagesz", "kernel argument hugepagesz=1G",
                       "kernel argument transparent_hugepage"}


def test_drift_outweighs_what_could_not_be_read(capsys, tmp_path):
    changes = {"proc/cmdline": None, "proc/sys/vm/swappiness": "60\n"}
    status, report, _ = audit(capsys, tmp_path, changes, fmt="json")
    assert status == 1 and report["result"] == "drift"


def test_a_root_that_is_not_a_directory_exits_2_with_one_line(capsys, tmp_path):
    status, out, err = audit(capsys, tmp_path, root=tmp_path / "nowhere")
    assert status == 2 and out == ""
    assert err == f"hostspec: cannot read `{tmp_path / 'nowhere'}`: no such directory\n"
    (tmp_path / "file").write_text("")
    status, out, err = audit(capsys, tmp_path, root=tmp_path / "file")
    assert status == 2 and out == ""
    assert err == f"hostspec: cannot read `{tmp_path / 'file'}`: not a directory\n"


def test_a_spec_with_errors_exits_1_and_audits_nothing(capsys, tmp_path):
    status, out, err = audit(capsys, tmp_path, spec=SPEC.replace("swappiness 10", "swappiness 300"))
    assert status == 1 and out == ""
    assert "error[" in err


def test_only_what_the_spec_sets_is_audited(capsys, tmp_path):
    spec = "hostspec 1\nhost small { cpu amd; memory 16GiB }\n"
    root = tmp_path / "bare"
    (root / "proc").mkdir(parents=True)
    (root / "proc/cpuinfo").write_text("processor\t: 0\nflags\t\t: fpu svm npt lm\n")
    status, report, _ = audit(capsys, tmp_path, spec=spec, root=root, fmt="json")
    assert status == 0
    assert statuses(report) == {"CPU flag svm": "ok"}


AMD = """hostspec 1
host amd-01 {
    cpu amd
    memory 64GiB
    kvm { npt on; nested on }
}
"""


@pytest.mark.parametrize("npt,nested,status", [("Y", "1", 0), ("1", "1", 0), ("N", "1", 1),
                                               ("Y", "0", 1)])
def test_kvm_amd_reads_npt_as_a_bool_and_nested_as_an_int(capsys, tmp_path, npt, nested, status):
    root = tmp_path / "amd"
    files = {"proc/cpuinfo": "flags\t\t: fpu svm npt lm\n",
             "sys/module/kvm_amd/parameters/npt": npt + "\n",
             "sys/module/kvm_amd/parameters/nested": nested + "\n"}
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    got, report, _ = audit(capsys, tmp_path, spec=AMD, root=root, fmt="json")
    assert got == status
    expected = {item["item"]: item["expected"] for item in report["items"]}
    assert expected == {"CPU flag svm": "present", "CPU flag npt": "present",
                        "kvm_amd npt": "Y", "kvm_amd nested": "1"}


def test_nothing_to_audit_exits_0(capsys, tmp_path):
    spec = "hostspec 1\nhost arm { cpu amd; arch aarch64; memory 16GiB }\n"
    status, out, _ = audit(capsys, tmp_path, spec=spec, root=tmp_path)
    assert status == 0
    assert "nothing to audit" in out


def test_markdown_is_a_table(capsys, tmp_path):
    status, out, _ = audit(capsys, tmp_path, fmt="markdown")
    assert status == 0
    assert "| item | expected | actual | status |" in out
    assert "| vm.swappiness | 10 | 10 | ok |" in out


def test_help_shows_an_example(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["audit", "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    assert "--root DIR" in out and "example:\n  hostspec audit " in out


def test_the_running_host_matches_a_spec_of_its_own_values(capsys, tmp_path):
    """The real /proc, read through --root /: values taken from it just before audit it clean."""
    vm = pathlib.Path("/proc/sys/vm")
    swappiness = int((vm / "swappiness").read_text())
    policy = ("heuristic", "always", "never")[int((vm / "overcommit_memory").read_text())]
    spec = (f"hostspec 1\nhost here {{\n  cpu intel\n  memory 64GiB\n"
            f"  swap {{ swappiness {swappiness} }}\n  overcommit {{ policy {policy} }}\n}}\n")
    status, report, _ = audit(capsys, tmp_path, spec=spec, root=pathlib.Path("/"), fmt="json")
    found = {i["item"]: (i["actual"], i["status"]) for i in report["items"]}
    assert found["vm.swappiness"] == (str(swappiness), "ok")
    assert found["vm.overcommit_memory"][1] == "ok"
    # Whether this machine's CPU shows vmx is its own business; nothing else may drift.
    assert status == (0 if found["CPU flag vmx"][1] == "ok" else 1)
    assert set(found) == {"CPU flag vmx", "vm.swappiness", "vm.overcommit_memory"}


def test_pages_on_a_node_no_pool_of_that_size_lists_are_drift(capsys, tmp_path):
    spec = SPEC.replace("        pool 1GiB count 2 node 1\n", "")
    cmdline = MATCHING["proc/cmdline"].replace("hugepages=0:4,1:2", "hugepages=0:4")
    extra = {"proc/cmdline": cmdline, NODE_1G.format(1): "20\n"}
    status, report, _ = audit(capsys, tmp_path, extra, spec=spec, fmt="json")
    drifted = [(i["item"], i["expected"], i["actual"]) for i in report["items"] if i["status"] != "ok"]
    assert status == 1 and drifted == [("huge pages 1GiB node 1", "0", "20")]
    (tmp_path / "empty").mkdir()
    status, _, _ = audit(capsys, tmp_path / "empty", {**extra, NODE_1G.format(1): "0\n"}, spec=spec)
    assert status == 0


def test_each_file_that_cannot_be_read_is_named_once(capsys, tmp_path):
    status, out, _ = audit(capsys, tmp_path, {"proc/cmdline": None})
    assert status == 2
    assert out.count(f"cannot read {tmp_path / 'root' / 'proc/cmdline'}") == 1
