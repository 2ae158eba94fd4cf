"""What the libvirt tests share: small models, and libvirt's own schema and parser.

libvirt's RelaxNG schema ships in the Debian package libvirt0 and `virsh` in
libvirt-clients; when either is missing the tests fail and say which.
"""
from __future__ import annotations

import copy

import attrs
import functools
import pathlib
import re
import shutil
import subprocess
from typing import Optional

from lxml import etree

from hostspec.backends import Context
from hostspec.backends.libvirt import domains as render_domains
from hostspec.checks import targets
from hostspec.checks.bases import load_bases
from hostspec.checks.context import Context as CheckContext
from hostspec.diagnostics import has_errors
from hostspec.language.index import SpanIndex
from hostspec.model import Guest, Spec, from_document

KiB, MiB, GiB = 1024, 1024 ** 2, 1024 ** 3
RNG = pathlib.Path("/usr/share/libvirt/schemas/domain.rng")
HERE = pathlib.Path(__file__).resolve().parent

HOST = {"name": "hv-test", "cpu": "intel", "memory": 512 * GiB, "numa-nodes": 4,
        "guest-overhead": 256 * MiB,
        "hugepages": {"default-size": 2 * MiB,
                      "pools": [{"size": 2 * MiB, "count": 16384}, {"size": GiB, "count": 64}]}}


def spec_of(guests: list[dict], **host: object) -> Spec:
    """A model of HOST (with overrides) and these guest documents."""
    return from_document({"hostspec": 1, "host": {**HOST, **host}, "guests": guests})


def context(base_dir: pathlib.Path, index: Optional[SpanIndex] = None) -> Context:
    return Context(source_name="t.mem", source_sha256="0" * 64, version="0.1.0",
                   base_dir=base_dir, index=index if index is not None else SpanIndex())


def domains(spec: Spec, ctx: Context) -> tuple[list, list]:
    """The domain XMLs as `compile` makes them: the checks that belong to the
    domains (sizes libvirt would round, the `base` files) first, then the
    backend with the bases they read; no artifact when an error was found."""
    problems = list(targets.domain_sizes(CheckContext(spec, ctx.index)))
    bases, found = load_bases(spec, ctx.index, ctx.base_dir)
    problems += found
    if has_errors(problems):
        return [], problems
    artifacts, more = render_domains(spec, attrs.evolve(ctx, bases=bases))
    return artifacts, problems + more


def domain_of(spec: Spec, base_dir: pathlib.Path, name: Optional[str] = None) -> bytes:
    """The domain XML of one guest (the only one, or the one named), asserting no diagnostics."""
    artifacts, problems = domains(spec, context(base_dir))
    assert problems == []
    chosen = [a for a in artifacts if name is None or a.path.endswith(f"/{name}.xml")]
    assert len(chosen) == 1
    return chosen[0].data


@functools.cache
def relaxng() -> etree.RelaxNG:
    if not RNG.is_file():
        raise AssertionError(f"{RNG} is missing: install the Debian package libvirt0")
    return etree.RelaxNG(file=str(RNG))


def assert_schema_valid(data: bytes) -> None:
    """libvirt's own RelaxNG schema accepts the domain."""
    schema = relaxng()
    ok = schema.validate(etree.fromstring(data).getroottree())
    assert ok, f"domain.rng rejects the domain: {schema.error_log}\n{data.decode()}"


def virsh() -> str:
    found = shutil.which("virsh")
    if found is None:
        raise AssertionError("virsh is missing: install the Debian package libvirt-clients")
    return found


def define_and_dump(path: pathlib.Path, name: str) -> etree._Element:
    """Define the domain in libvirt's test driver (with --validate) and read it back.

    The test driver's state lives in one virsh process, so both commands run
    in one invocation.
    """
    commands = f"define --validate '{path}'; dumpxml --inactive '{name}'"
    run = subprocess.run([virsh(), "-c", "test:///default", commands],
                         capture_output=True, text=True, timeout=60)
    assert f"Domain '{name}' defined from" in run.stdout, \
        f"virsh define rejects {path}:\n{run.stderr}\n{path.read_text()}"
    assert run.returncode == 0, run.stderr
    return etree.fromstring(run.stdout[run.stdout.index("<domain"):].encode())


def define_and_dump_all(domains: dict[str, bytes],
                        tmp_path: pathlib.Path) -> dict[str, etree._Element]:
    """Schema-check, define and read back many domains in one virsh process (name -> stored)."""
    commands = []
    for name, data in domains.items():
        assert_schema_valid(data)
        path = tmp_path / f"{name}.xml"
        path.write_bytes(data)
        commands.append(f"define --validate '{path}'; dumpxml --inactive '{name}'")
    run = subprocess.run([virsh(), "-c", "test:///default", "; ".join(commands)],
                         capture_output=True, text=True, timeout=120)
    for name in domains:
        assert f"Domain '{name}' defined from" in run.stdout, f"virsh rejects {name}: {run.stderr}"
    stored = [etree.fromstring(block.encode())
              for block in re.findall(r"^<domain.*?^</domain>$", run.stdout, re.M | re.S)]
    return {root.findtext("name"): root for root in stored}


def check_with_libvirt(data: bytes, name: str, tmp_path: pathlib.Path) -> etree._Element:
    """Schema, then define and read back; returns what libvirt stored."""
    assert_schema_valid(data)
    path = tmp_path / f"{name}.xml"
    path.write_bytes(data)
    return define_and_dump(path, name)


_UNITS = {"b": 1, "bytes": 1, "k": KiB, "kib": KiB, "m": MiB, "mib": MiB, "g": GiB, "gib": GiB}


def _kib(value: Optional[str], unit: Optional[str]) -> Optional[int]:
    if value is None:
        return None
    return int(value) * _UNITS[(unit or "KiB").lower()] // KiB


def memory_settings(root: etree._Element) -> dict:
    """Every memory setting hostspec writes, in KiB, from a domain tree."""
    def kib(path: str) -> Optional[int]:
        element = root.find(path)
        return None if element is None else _kib(element.text, element.get("unit"))

    binding = root.find("numatune/memory")
    balloon = root.find("devices/memballoon")
    stats = balloon.find("stats") if balloon is not None else None
    return {
        "memory": kib("memory"), "currentMemory": kib("currentMemory"),
        "hugepages": root.find("memoryBacking/hugepages") is not None,
        "pages": sorted((_kib(p.get("size"), p.get("unit")), p.get("nodeset"))
                        for p in root.findall("memoryBacking/hugepages/page")),
        "nosharepages": root.find("memoryBacking/nosharepages") is not None,
        "locked": root.find("memoryBacking/locked") is not None,
        "hard_limit": kib("memtune/hard_limit"),
        "numatune": None if binding is None else (binding.get("mode"), binding.get("nodeset")),
        "memballoon": None if balloon is None else (
            balloon.get("model"), balloon.get("autodeflate"), balloon.get("freePageReporting"),
            None if stats is None else stats.get("period")),
    }


def expected_settings(spec: Spec, guest: Guest) -> dict:
    """The same settings, worked out from the model as ARTIFACTS.md describes them."""
    page = spec.page_size(guest)
    balloon = guest.balloon
    switch = {True: "on", False: "off", None: None}
    nodes = guest.backing.nodes
    return {
        "memory": guest.memory // KiB, "currentMemory": guest.current_memory // KiB,
        "hugepages": guest.backing.hugepages,
        "pages": [(page // KiB, None)] if page else [],
        "nosharepages": not guest.share_pages, "locked": guest.locked,
        "hard_limit": (guest.memory + (spec.host.guest_overhead if guest.guest_overhead is None
                                        else guest.guest_overhead)) // KiB if guest.locked else None,
        "numatune": ("strict", node_text(nodes)) if nodes else None,
        "memballoon": ("none", None, None, None) if balloon.model == "none" else (
            "virtio", switch[balloon.autodeflate], switch[balloon.free_page_reporting],
            str(balloon.stats_period_s) if balloon.stats_period_s else None),
    }


def node_text(nodes) -> str:
    """A node set written out by hand, the way libvirt prints it."""
    known = {(0,): "0", (1,): "1", (0, 1): "0-1", (0, 1, 3): "0-1,3", (0, 2): "0,2",
             (1, 2, 3): "1-3", (0, 1, 2, 3): "0-3"}
    return known[tuple(sorted(nodes))]


def without(root: etree._Element, paths: list[str]) -> etree._Element:
    """A copy of the tree without the elements at these paths, and containers left empty."""
    tree = copy.deepcopy(root)
    for path in paths:
        for element in tree.findall(path):
            element.getparent().remove(element)
    for container in ("memoryBacking", "numatune", "memtune"):
        for element in tree.findall(container):
            if len(element) == 0:
                tree.remove(element)
    return tree


def canonical(root: etree._Element) -> bytes:
    """C14N with comments, whitespace-only text ignored (indentation may differ)."""
    tree = copy.deepcopy(root)
    for element in tree.iter():
        if element.text is not None and not element.text.strip() and len(element):
            element.text = None
        if element.tail is not None and not element.tail.strip():
            element.tail = None
    return etree.tostring(tree, method="c14n", with_comments=True)
