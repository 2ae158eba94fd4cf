"""Generated domains: every guest setting, checked by libvirt's own schema and parser."""
from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest
from lxml import etree

sys.path.insert(0, str(pathlib.Path(__file__).with_name("libvirt")))
from domaintools import (GiB, KiB, MiB, check_with_libvirt, context, domain_of,  # noqa: E402
                         expected_settings, memory_settings, spec_of, virsh)

from hostspec.backends.libvirt import node_ranges  # noqa: E402
from domaintools import domains  # noqa: E402  (checks, then the backend, as compile runs them)

MATRIX = {
    "plain": {"memory": 4 * GiB},
    "vcpus": {"memory": 4 * GiB, "vcpus": 16},
    "current-below": {"memory": 8 * GiB, "current-memory": 6 * GiB},
    "hugepages-default": {"memory": 4 * GiB, "backing": {"type": "hugepages"}},
    "hugepages-2m": {"memory": 4 * GiB, "backing": {"type": "hugepages", "size": 2 * MiB}},
    "hugepages-1g": {"memory": 8 * GiB, "backing": {"type": "hugepages", "size": GiB}},
    "hugepages-2m-node": {"memory": 4 * GiB,
                          "backing": {"type": "hugepages", "size": 2 * MiB, "nodes": [1]}},
    "hugepages-1g-nodes": {"memory": 8 * GiB,
                           "backing": {"type": "hugepages", "size": GiB, "nodes": [3, 0, 1]}},
    "hugepages-1g-spread": {"memory": 8 * GiB,
                            "backing": {"type": "hugepages", "size": GiB, "nodes": [0, 2]}},
    "share-pages-off": {"memory": 4 * GiB, "share-pages": False},
    "locked": {"memory": 4 * GiB, "locked": True},
    "locked-hugepages": {"memory": 16 * GiB, "locked": True, "share-pages": False,
                         "backing": {"type": "hugepages", "size": GiB, "nodes": [0, 1, 2, 3]},
                         "balloon": {"model": "none"}},
    "balloon-none": {"memory": 4 * GiB, "balloon": {"model": "none"}},
    "balloon-virtio": {"memory": 4 * GiB, "balloon": {"model": "virtio"}},
    "autodeflate-on": {"memory": 4 * GiB, "balloon": {"model": "virtio", "autodeflate": True}},
    "autodeflate-off": {"memory": 4 * GiB, "balloon": {"model": "virtio", "autodeflate": False}},
    "fpr-on": {"memory": 4 * GiB, "balloon": {"model": "virtio", "free-page-reporting": True}},
    "fpr-off": {"memory": 4 * GiB, "balloon": {"model": "virtio", "free-page-reporting": False}},
    "stats-10s": {"memory": 4 * GiB, "balloon": {"model": "virtio", "stats-period": 10000}},
    "stats-0s": {"memory": 4 * GiB, "balloon": {"model": "virtio", "stats-period": 0}},
    "balloon-all": {"memory": 8 * GiB, "current-memory": 2 * GiB,
                    "balloon": {"model": "virtio", "autodeflate": True,
                                "free-page-reporting": True, "stats-period": 5000}},
    "everything": {"memory": 12 * GiB, "current-memory": 10 * GiB, "vcpus": 6, "locked": True,
                   "share-pages": False, "backing": {"type": "hugepages", "size": 2 * MiB,
                                                     "nodes": [1, 2, 3]},
                   "balloon": {"model": "virtio", "autodeflate": False,
                               "free-page-reporting": False, "stats-period": 2147483000}},
    "tiny": {"memory": 1 * KiB},
    "huge": {"memory": 2 ** 60},
}


@pytest.mark.parametrize("case", sorted(MATRIX))
def test_libvirt_keeps_every_memory_setting(case, tmp_path):
    spec = spec_of([{"name": case, **MATRIX[case]}])
    data = domain_of(spec, tmp_path)
    ours = etree.fromstring(data)
    expected = expected_settings(spec, spec.guests[0])
    assert memory_settings(ours) == expected
    stored = check_with_libvirt(data, case, tmp_path)
    assert memory_settings(stored) == expected


@pytest.mark.parametrize("size", [64 * KiB, 2 * MiB, 32 * MiB, GiB])
def test_aarch64_guests_with_every_page_size(size, tmp_path):
    pools = {"pools": [{"size": size, "count": 64}]}
    spec = spec_of([{"name": "arm", "memory": 2 * GiB, "backing": {"type": "hugepages"}}],
                   arch="aarch64", cpu="amd", hugepages=pools)
    data = domain_of(spec, tmp_path)
    stored = check_with_libvirt(data, "arm", tmp_path)
    assert stored.find("os/type").get("arch") == "aarch64"
    assert memory_settings(stored)["pages"] == [(size // KiB, None)]


def test_minimal_domain_shape(tmp_path):
    spec = spec_of([{"name": "web", "memory": 2 * GiB, "vcpus": 3, "locked": True,
                     "backing": {"type": "hugepages", "nodes": [0]}}])
    root = etree.fromstring(domain_of(spec, tmp_path))
    assert root.tag == "domain" and root.get("type") == "kvm"
    assert [child.tag for child in root] == [
        "name", "uuid", "memory", "currentMemory", "memtune", "memoryBacking", "vcpu",
        "numatune", "os", "devices"]
    assert root.find("vcpu").text == "3" and root.find("vcpu").get("placement") == "static"
    assert root.find("os/type").text == "hvm" and root.find("os/type").get("arch") == "x86_64"
    assert root.find("os/type").get("machine") is None


def test_header_comment_and_layout(tmp_path):
    data = domain_of(spec_of([{"name": "web", "memory": GiB}]), tmp_path)
    first, second = data.split(b"\n")[:2]
    assert first == (b"<!-- hostspec 0.1.0, source t.mem sha256 " + b"0" * 64
                     + b": generated, do not edit -->")
    assert second == b'<domain type="kvm">'
    assert data.endswith(b"</domain>\n")
    assert b"\n  <name>web</name>\n" in data and b"\n    <memballoon" in data
    assert not data.startswith(b"<?xml")
    data.decode("utf-8")


def test_header_survives_hostile_source_names(tmp_path):
    spec = spec_of([{"name": "web", "memory": GiB}])
    ctx = context(tmp_path)
    for name in ("a--b.mem", "x-->y\n<z>.mem", "end-", "\x00\x1b.mem"):
        tricky = type(ctx)(source_name=name, source_sha256=ctx.source_sha256,
                           version="0.1.0--rc1", base_dir=tmp_path, index=ctx.index)
        artifacts, problems = domains(spec, tricky)
        header = etree.fromstring(artifacts[0].data).getprevious()
        assert header.tag is etree.Comment and "--" not in header.text
        assert "\n" not in header.text and "<" not in header.text


def test_output_is_byte_deterministic(tmp_path):
    spec = spec_of([{"name": case, **MATRIX[case]} for case in sorted(MATRIX)])
    first, _ = domains(spec, context(tmp_path))
    second, _ = domains(spec_of([{"name": case, **MATRIX[case]} for case in sorted(MATRIX)]),
                        context(tmp_path))
    assert [a.data for a in first] == [a.data for a in second]


def test_artifact_metadata(tmp_path):
    artifacts, problems = domains(spec_of([{"name": "db-01", "memory": GiB}]), context(tmp_path))
    assert problems == []
    (artifact,) = artifacts
    assert artifact.path == "etc/hostspec/domains/db-01.xml"
    assert (artifact.kind, artifact.takes_effect, artifact.mode) == (
        "libvirt-domain", "guest-restart", 0o644)


def test_uuid_is_stable_and_lets_virsh_redefine(tmp_path):
    spec = spec_of([{"name": "web", "memory": GiB}, {"name": "db", "memory": GiB}])
    artifacts, _ = domains(spec, context(tmp_path))
    uuids = {etree.fromstring(a.data).findtext("uuid") for a in artifacts}
    assert len(uuids) == 2
    other_host = spec_of([{"name": "web", "memory": GiB}], name="hv-other")
    assert etree.fromstring(domain_of(other_host, tmp_path)).findtext("uuid") not in uuids
    path = tmp_path / "web.xml"
    path.write_bytes(next(a.data for a in artifacts if a.path.endswith("/web.xml")))
    # Without a fixed UUID the second define fails: "already exists with uuid".
    run = subprocess.run([virsh(), "-c", "test:///default",
                          f"define --validate '{path}'; define --validate '{path}'"],
                         capture_output=True, text=True, timeout=60)
    assert run.stdout.count("Domain 'web' defined from") == 2, run.stderr


@pytest.mark.parametrize("nodes, text", [
    ([0], "0"), ([0, 1], "0-1"), ([0, 1, 2, 3, 5], "0-3,5"), ([7, 5, 3, 1], "1,3,5,7"),
    ([1, 2, 4, 5, 9], "1-2,4-5,9")])
def test_node_sets_are_written_as_libvirt_writes_them(nodes, text):
    assert node_ranges(nodes) == text


@pytest.mark.parametrize("key, value", [("memory", GiB + 512), ("current-memory", GiB - 100)])
def test_sizes_libvirt_would_round_are_diagnosed(key, value, tmp_path):
    guest = {"name": "odd", "memory": GiB, key: value}
    artifacts, problems = domains(spec_of([guest]), context(tmp_path))
    assert artifacts == []
    assert [p.code for p in problems] == ["HS0407"] and f"`{key}`" in problems[0].message


def test_locked_guest_without_overhead_is_diagnosed(tmp_path):
    spec = spec_of([{"name": "pinned", "memory": GiB, "locked": True}], **{"guest-overhead": 0})
    artifacts, problems = domains(spec, context(tmp_path))
    assert artifacts == [] and [p.code for p in problems] == ["HS0407"]
    assert "guest-overhead" in problems[0].message
