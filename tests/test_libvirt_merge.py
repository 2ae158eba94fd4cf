"""Merging into a `base` domain: only hostspec's elements change, libvirt still accepts it."""
from __future__ import annotations

import pathlib
import shutil
import sys

import pytest
from lxml import etree

sys.path.insert(0, str(pathlib.Path(__file__).with_name("libvirt")))
from domaintools import (HERE, GiB, MiB, canonical, check_with_libvirt, context,  # noqa: E402
                         domain_of, expected_settings, memory_settings, spec_of, without)

from domaintools import domains  # noqa: E402  (checks, then the backend, as compile runs them)
from hostspec.language.index import SpanIndex  # noqa: E402
from hostspec.diagnostics.source import SourceFile  # noqa: E402

OWNED = ["memory", "currentMemory", "memoryBacking/hugepages", "memoryBacking/nosharepages",
         "memoryBacking/locked", "numatune/memory", "devices/memballoon"]

GUESTS = {
    "hugepages-locked": {"memory": 8 * GiB, "locked": True, "share-pages": False,
                         "backing": {"type": "hugepages", "size": GiB, "nodes": [0, 1]},
                         "balloon": {"model": "none"}},
    "normal-no-balloon": {"memory": 8 * GiB, "balloon": {"model": "none"}},
    "normal-ballooned": {"memory": 8 * GiB, "current-memory": 4 * GiB,
                         "balloon": {"model": "virtio", "autodeflate": True,
                                     "free-page-reporting": True, "stats-period": 10000}},
    "hugepages-2m": {"memory": 8 * GiB, "backing": {"type": "hugepages", "size": 2 * MiB}},
}


def _merged(tmp_path: pathlib.Path, guest: dict, base: str = "base-web.xml") -> tuple:
    shutil.copy(HERE / base, tmp_path / "base.xml")
    spec = spec_of([{"name": "web-01", "base": "base.xml", **guest}])
    return spec, domain_of(spec, tmp_path)


@pytest.mark.parametrize("case", sorted(GUESTS))
def test_merge_changes_only_owned_elements(case, tmp_path):
    spec, data = _merged(tmp_path, GUESTS[case])
    base = etree.parse(str(HERE / "base-web.xml")).getroot()
    merged = etree.fromstring(data)
    owned = OWNED + (["memtune/hard_limit"] if spec.guests[0].locked else [])
    assert canonical(without(merged, owned)) == canonical(without(base, owned))
    assert memory_settings(merged) == expected_settings(spec, spec.guests[0])
    stored = check_with_libvirt(data, "web-01", tmp_path)
    assert memory_settings(stored) == expected_settings(spec, spec.guests[0])


def test_merge_keeps_comments_and_settings_around_owned_ones(tmp_path):
    spec, data = _merged(tmp_path, GUESTS["hugepages-locked"])
    text = data.decode("utf-8")
    assert "<!-- web-01: the operations team's domain" in text.split("<domain")[0]
    assert text.rstrip().endswith("</domain>\n<!-- end of web-01 -->")
    merged = etree.fromstring(data)
    assert merged.find("memory").get("dumpCore") == "off"
    assert [c.tag for c in merged.find("memoryBacking") if isinstance(c.tag, str)] == [
        "hugepages", "nosharepages", "locked", "source", "access"]
    assert merged.find("memtune/soft_limit").text == "7"
    assert merged.find("numatune/memnode").get("nodeset") == "0"
    assert merged.findtext("title") == "Web front end (Zürich)"
    assert merged.findtext("description") == "Serves <www> & the API; owner: web team"


def test_merge_keeps_the_balloon_address_but_not_for_none(tmp_path):
    _, data = _merged(tmp_path, GUESTS["normal-ballooned"])
    balloon = etree.fromstring(data).find("devices/memballoon")
    assert balloon.find("address").get("bus") == "0x05"
    assert balloon.find("stats").get("period") == "10"
    _, data = _merged(tmp_path, GUESTS["normal-no-balloon"])
    balloon = etree.fromstring(data).find("devices/memballoon")
    assert balloon.attrib == {"model": "none"} and len(balloon) == 0


def test_merge_into_a_sparse_base_adds_elements_in_libvirt_order(tmp_path):
    (tmp_path / "base.xml").write_text(
        "<domain type='kvm'><name>lean</name><vcpu>2</vcpu>"
        "<os><type arch='x86_64'>hvm</type></os><on_crash>destroy</on_crash></domain>")
    spec = spec_of([{"name": "lean", "base": "base.xml", "memory": 2 * GiB, "locked": True,
                     "backing": {"type": "hugepages", "nodes": [1]}}])
    data = domain_of(spec, tmp_path)
    root = etree.fromstring(data)
    assert [c.tag for c in root] == ["name", "uuid", "memory", "currentMemory", "memtune",
                                     "memoryBacking", "vcpu", "numatune", "os", "on_crash",
                                     "devices"]
    check_with_libvirt(data, "lean", tmp_path)


def test_merge_removes_what_the_guest_no_longer_asks_for(tmp_path):
    first = domain_of(spec_of([{"name": "web-01", **GUESTS["hugepages-locked"]}]), tmp_path)
    (tmp_path / "base.xml").write_bytes(first)
    spec = spec_of([{"name": "web-01", "base": "base.xml", "memory": 8 * GiB}])
    root = etree.fromstring(domain_of(spec, tmp_path))
    assert root.find("memoryBacking") is None and root.find("numatune") is None
    # hard_limit is hostspec's only while the guest is locked; after that it is the user's
    assert root.find("memtune/hard_limit") is not None
    assert root.find("devices/memballoon").get("model") == "virtio"


def test_merging_into_own_output_changes_nothing(tmp_path):
    spec, data = _merged(tmp_path, GUESTS["normal-ballooned"])
    (tmp_path / "base.xml").write_bytes(data)
    assert domain_of(spec, tmp_path) == data
    assert data.count(b"hostspec 0.1.0") == 1


def test_base_in_another_encoding_comes_out_utf8(tmp_path):
    (tmp_path / "base.xml").write_bytes(
        "<?xml version='1.0' encoding='ISO-8859-1'?>\n<domain type='kvm'><name>latin</name>"
        "<description>caf\xe9</description><vcpu>1</vcpu>"
        "<os><type arch='x86_64'>hvm</type></os></domain>".encode("latin-1"))
    data = domain_of(spec_of([{"name": "latin", "base": "base.xml", "memory": GiB}]), tmp_path)
    assert "<description>café</description>" in data.decode("utf-8")
    check_with_libvirt(data, "latin", tmp_path)


CONFLICTS = {
    "max-memory-below": ("<maxMemory slots='4' unit='GiB'>4</maxMemory>", {}, "maxMemory"),
    "cells-sum": ("<cpu><numa><cell id='0' cpus='0' memory='3' unit='GiB'/></numa></cpu>",
                  {}, "NUMA cells"),
    "cell-not-page-multiple": (
        "<cpu><numa><cell id='0' cpus='0' memory='1536' unit='MiB'/>"
        "<cell id='1' cpus='1' memory='6656' unit='MiB'/></numa></cpu>",
        {"backing": {"type": "hugepages", "size": GiB}}, "whole number"),
    "shared-without-backing": (
        "<memoryBacking><access mode='shared'/></memoryBacking>", {}, "shares guest memory"),
    "anonymous-hugepages": (
        "<memoryBacking><source type='anonymous'/></memoryBacking>",
        {"backing": {"type": "hugepages"}}, "anonymous"),
    "swap-limit-below": ("<memtune><swap_hard_limit unit='GiB'>8</swap_hard_limit></memtune>",
                         {"locked": True}, "swap_hard_limit"),
    "xen": ("", {}, "type `xen`"),
    # An unlocked guest keeps the base's hard limit: one below its memory gets QEMU killed.
    "hard-limit-below": ("<memtune><hard_limit unit='KiB'>8650752</hard_limit></memtune>",
                         {"memory": 16 * GiB}, "hard_limit"),
    # A kept memnode must draw on the host nodes the guest's `node` allows.
    "memnode-outside-node": (
        "<cpu><numa><cell id='0' cpus='0' memory='4' unit='GiB'/>"
        "<cell id='1' cpus='1' memory='4' unit='GiB'/></numa></cpu>"
        "<numatune><memnode cellid='1' mode='strict' nodeset='1'/></numatune>",
        {"backing": {"type": "hugepages", "size": GiB, "nodes": [0]}}, "outside the guest's `node` set"),
}


@pytest.mark.parametrize("case", sorted(CONFLICTS))
def test_base_settings_that_contradict_the_guest(case, tmp_path):
    extra, guest, words = CONFLICTS[case]
    kind = "xen" if case == "xen" else "kvm"
    (tmp_path / "base.xml").write_text(
        f"<domain type='{kind}'><name>c</name>{extra}<vcpu>2</vcpu>"
        "<os><type arch='x86_64'>hvm</type></os></domain>")
    spec = spec_of([{"name": "c", "base": "base.xml", "memory": 8 * GiB, **guest}])
    artifacts, problems = domains(spec, context(tmp_path))
    assert artifacts == []
    assert [p.code for p in problems] == ["HS0407"]
    assert words in problems[0].message


def test_what_libvirt_reads_the_same_does_not_contradict(tmp_path):
    cells = ("<cpu><numa><cell id='0' cpus='0' memory='4' unit='GiB'/>"
             "<cell id='1' cpus='1' memory='4' unit='GiB'/></numa></cpu>")
    bases = {
        "vcpus-04": ("<vcpu>04</vcpu>", {"vcpus": 4}),
        "hard-limit-enough": ("<vcpu>2</vcpu><memtune><hard_limit unit='GiB'>9</hard_limit></memtune>", {}),
        "memnode-inside": (f"<vcpu>2</vcpu>{cells}<numatune><memnode cellid='1' mode='strict' "
                           "nodeset='0-1,^1'/></numatune>",
                           {"backing": {"type": "hugepages", "size": GiB, "nodes": [0]}}),
    }
    for name, (extra, guest) in bases.items():
        (tmp_path / "base.xml").write_text(
            f"<domain type='kvm'><name>c</name>{extra}<os><type arch='x86_64'>hvm</type></os></domain>")
        spec = spec_of([{"name": "c", "base": "base.xml", "memory": 8 * GiB, **guest}], numa_nodes=2)
        index = SpanIndex()
        if "vcpus" in guest:  # written in the source: compared with the base's count
            index.record(("guests", 0, "vcpus"), SourceFile.from_text("t.mem", "vcpus 4\n").span(0, 7))
        artifacts, problems = domains(spec, context(tmp_path, index))
        assert problems == [], (name, problems)


def test_vcpus_must_agree_only_when_the_guest_sets_them(tmp_path):
    (tmp_path / "base.xml").write_text(
        "<domain type='kvm'><name>v</name><vcpu>2</vcpu>"
        "<os><type arch='x86_64'>hvm</type></os></domain>")
    spec = spec_of([{"name": "v", "base": "base.xml", "memory": GiB, "vcpus": 4}])
    artifacts, problems = domains(spec, context(tmp_path))
    assert len(artifacts) == 1 and problems == []  # not set in the source: the base's count wins
    assert etree.fromstring(artifacts[0].data).findtext("vcpu") == "2"
    source = SourceFile.from_text("t.mem", "vcpus 4\nbase \"base.xml\"\n")
    index = SpanIndex()
    index.record(("guests", 0, "vcpus"), source.span(0, 7))
    index.record(("guests", 0, "base"), source.span(8, 23))
    artifacts, problems = domains(spec, context(tmp_path, index))
    assert artifacts == [] and [p.code for p in problems] == ["HS0407"]
    assert problems[0].span.start == 8 and problems[0].labels[0].span.start == 0


def test_libvirt_schema_refuses_stats_period_zero():
    """Why `stats-period 0s` writes no `<stats>`: libvirt's schema has no period 0."""
    from domaintools import relaxng

    domain = ("<domain type='kvm'><name>z</name><memory>1024</memory>"
              "<os><type>hvm</type></os><devices><memballoon model='virtio'>"
              "<stats period='{}'/></memballoon></devices></domain>")
    assert relaxng().validate(etree.fromstring(domain.format(1)).getroottree())
    assert not relaxng().validate(etree.fromstring(domain.format(0)).getroottree())


def test_contradictions_point_at_base_and_at_the_guest_setting(tmp_path):
    """With a real `.mem` file: the diagnostic sits on `base`, a label on what it contradicts."""
    from hostspec.commands.compile import compile_file

    (tmp_path / "hv.mem").write_text(
        "hostspec 1\n\nhost hv {\n    cpu intel\n    memory 64GiB\n}\n\n"
        "template small {\n    vcpus 4\n}\n\n"
        "guest vm from small {\n    memory 8GiB\n    base \"vm.xml\"\n}\n")
    (tmp_path / "vm.xml").write_text(
        "<domain type='kvm'><name>vm</name><maxMemory slots='2' unit='GiB'>4</maxMemory>"
        "<vcpu>4</vcpu><os><type arch='x86_64'>hvm</type></os></domain>")
    compiled = compile_file(str(tmp_path / "hv.mem"))
    assert compiled.tree is None
    (problem,) = [d for d in compiled.result.diagnostics if d.code == "HS0407"]
    assert problem.span.file.position(problem.span.start) == (14, 5)
    assert [label.span.file.position(label.span.start)[0] for label in problem.labels] == [13]
    (tmp_path / "vm.xml").write_text(
        "<domain type='kvm'><name>vm</name><vcpu>2</vcpu>"
        "<os><type arch='x86_64'>hvm</type></os></domain>")
    compiled = compile_file(str(tmp_path / "hv.mem"))
    (problem,) = [d for d in compiled.result.diagnostics if d.code == "HS0407"]
    assert "2 vcpus, but the guest sets 4" in problem.message  # a template's `vcpus` counts too
