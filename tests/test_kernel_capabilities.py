"""`kernel 5.14 { per-node-hugepages on }`: a capability stated beside the version,
for distribution kernels that backport what upstream added later."""
from __future__ import annotations

import json
import pathlib

from test_audit import NODE_1G, make_root  # the matching root the audit tests use

from hostspec import api
from hostspec.commands import cli

SPEC = """hostspec 1
host hv {{
    cpu intel
    memory 64GiB
    numa-nodes 2
    {kernel}
    hugepages {{
        pool 1GiB count 4 node 0
        pool 1GiB count 2 node 1
    }}
}}
"""


def checked(tmp_path: pathlib.Path, kernel: str, name: str = "hv.mem") -> api.Result:
    spec = tmp_path / name
    spec.write_text(SPEC.format(kernel=kernel))
    return api.check(str(spec))


def test_a_version_alone_decides_as_before(tmp_path):
    found = checked(tmp_path, "kernel 5.14").diagnostics
    assert [d.code for d in found] == ["HS0308", "HS0308"]  # one per pool
    found = found[0]
    assert found.code == "HS0308" and "`kernel 5.14 { per-node-hugepages on }`" in found.hint
    assert checked(tmp_path, "kernel 5.16").diagnostics == []


def test_a_stated_capability_allows_per_node_boot_pools(tmp_path, capsys):
    result = checked(tmp_path, "kernel 5.14 { per-node-hugepages on }")
    assert result.diagnostics == []
    assert result.spec.host.kernel == (5, 14)
    assert result.spec.host.capabilities.per_node_hugepages is True
    assert cli.main(["compile", "-q", str(tmp_path / "hv.mem"), "--out", str(tmp_path / "out")]) == 0
    line = (tmp_path / "out/hv/etc/hostspec/kernel-cmdline").read_text()
    assert "hugepagesz=1G hugepages=0:4,1:2" in line


def test_a_capability_stated_off_wins_over_the_version(tmp_path):
    found = checked(tmp_path, "kernel 6.1 { per-node-hugepages off }").diagnostics
    assert [d.code for d in found] == ["HS0308", "HS0308"]
    found = found[0]
    assert found.code == "HS0308" and "the spec says the kernel has none" in found.message
    assert [label.span.text for label in found.labels] == ["per-node-hugepages off"]


def test_bad_capabilities_are_diagnostics(tmp_path):
    cases = {"kernel 5.14 { per-node-hugepages maybe }": "HS0203",
             "kernel 5.14 { per-node-hugepage on }": "HS0201",
             "kernel { per-node-hugepages on }": "HS0230",
             "kernel 5.x { per-node-hugepages on }": "HS0203"}
    for kernel, code in cases.items():
        assert [d.code for d in checked(tmp_path, kernel).diagnostics] == [code], kernel


def test_json_form_and_fmt(tmp_path, capsys):
    checked(tmp_path, "kernel 5.14 { per-node-hugepages on }")
    assert cli.main(["export", str(tmp_path / "hv.mem")]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["host"]["kernel"] == {"version": "5.14", "per-node-hugepages": True}
    (tmp_path / "hv.json").write_text(json.dumps(document))
    assert api.check(str(tmp_path / "hv.json")).spec == api.check(str(tmp_path / "hv.mem")).spec
    document["host"]["kernel"] = {"per-node-hugepages": True}
    (tmp_path / "bad.json").write_text(json.dumps(document))
    assert [d.code for d in api.check(str(tmp_path / "bad.json")).diagnostics] == ["HS0205"]
    document["host"]["kernel"] = "5.14"  # the plain form stays valid
    (tmp_path / "plain.json").write_text(json.dumps(document))
    assert [d.code for d in api.check(str(tmp_path / "plain.json")).diagnostics] == ["HS0308", "HS0308"]
    assert cli.main(["fmt", str(tmp_path / "hv.mem")]) == 0
    assert "    kernel 5.14 {\n        per-node-hugepages on\n    }\n" in (tmp_path / "hv.mem").read_text()
    assert cli.main(["fmt", "--check", str(tmp_path / "hv.mem")]) == 0


def test_audit_tells_when_the_stated_capability_is_missing(tmp_path, capsys):
    spec = tmp_path / "hv.mem"
    spec.write_text(SPEC.format(kernel="kernel 5.14 { per-node-hugepages on }"))
    cmdline = "BOOT_IMAGE=/vmlinuz root=UUID=1 ro hugepagesz=1G hugepages=0:4,1:2\n"
    has_it = make_root(tmp_path / "good", {"proc/cmdline": cmdline})
    assert cli.main(["audit", str(spec), "--root", str(has_it)]) == 0
    assert "per-node" not in capsys.readouterr().out
    # A kernel without the node form reserves nothing from `hugepages=0:4,1:2`.
    lacks_it = make_root(tmp_path / "bad", {"proc/cmdline": cmdline,
                                            NODE_1G.format(0): "0\n", NODE_1G.format(1): "0\n"})
    assert cli.main(["audit", str(spec), "--root", str(lacks_it)]) == 1
    out = capsys.readouterr().out
    assert "2 per-node boot pool items read 0: this kernel may not have the per-node" in out
    assert cli.main(["audit", str(spec), "--root", str(lacks_it), "--format", "json"]) == 1
    notes = json.loads(capsys.readouterr().out)["notes"]
    assert len(notes) == 1 and "kernel 5.14 { per-node-hugepages on }" in notes[0]


def test_explain_says_what_is_stated(tmp_path, capsys):
    checked(tmp_path, "kernel 5.14 { per-node-hugepages on }")
    assert cli.main(["explain", str(tmp_path / "hv.mem")]) == 0
    assert "kernel 5.14 or newer (with per-node boot pools, as stated)" in capsys.readouterr().out
