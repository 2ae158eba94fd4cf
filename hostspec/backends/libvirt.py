"""libvirt domain XML: one domain per guest, made whole or merged into a `base`.

Both ways go through one merge: a guest without `base` starts from a minimal
KVM skeleton, a guest with one from the user's domain, and hostspec then
replaces only the elements it owns.  lxml builds and escapes every node; no
XML is ever assembled from strings.
"""
from __future__ import annotations

import copy
import functools
import uuid
from typing import Optional

from lxml import etree

from hostspec.diagnostics import Diagnostic
from hostspec.model import Guest, Spec
from hostspec.backends import Artifact, Context
from hostspec.language.units import shown, size_text

# Fixed for ever: domain UUIDs derive from it, so a changed value would make
# every redefinition fail with "already exists with uuid".
UUID_NAMESPACE = uuid.UUID("6f0b4c1e-2f52-5d0c-9d43-7f6a0c3e8b21")

# The order in which `virsh dumpxml` writes a domain's children; new elements
# go where libvirt itself would put them.
_DOMAIN_ORDER = (
    "name", "uuid", "genid", "title", "description", "metadata", "maxMemory", "memory",
    "currentMemory", "blkiotune", "memtune", "memoryBacking", "vcpu", "vcpus", "iothreads",
    "iothreadids", "defaultiothread", "cputune", "numatune", "resource", "sysinfo",
    "bootloader", "bootloader_args", "os", "idmap", "features", "cpu", "clock", "on_poweroff",
    "on_reboot", "on_crash", "on_lockfailure", "pm", "perf", "devices", "seclabel", "keywrap",
    "launchSecurity")
_BACKING_ORDER = ("hugepages", "nosharepages", "locked", "source", "access", "allocation",
                  "discard")
_MEMTUNE_ORDER = ("hard_limit", "soft_limit", "min_guarantee", "swap_hard_limit")
_NUMATUNE_ORDER = ("memory", "memnode")
_DEVICE_ORDER = (
    "emulator", "disk", "controller", "lease", "filesystem", "interface", "smartcard", "serial",
    "parallel", "console", "channel", "input", "tpm", "graphics", "sound", "audio", "video",
    "hostdev", "redirdev", "redirfilter", "hub", "watchdog", "memballoon", "rng", "panic",
    "shmem", "memory", "iommu", "vsock", "crypto")
# Children of a base's virtio balloon that say where the device sits in the
# guest; kept so a merge does not move it on the guest's PCI bus.
_BALLOON_PLACEMENT = ("alias", "acpi", "address", "driver")


def domains(spec: Spec, ctx: Context) -> tuple[list[Artifact], list[Diagnostic]]:
    """One `etc/hostspec/domains/<guest>.xml` artifact per guest, and the problems found."""
    artifacts, problems = [], []
    for guest in spec.guests:
        data, found = domain_xml(spec, guest, ctx)
        problems += found
        if data is not None:
            artifacts.append(Artifact(
                path=f"etc/hostspec/domains/{guest.name}.xml", data=data, kind="libvirt-domain",
                takes_effect="guest-restart", mode=0o644, summary=_summary(spec, guest)))
    return artifacts, problems


def domain_xml(spec: Spec, guest: Guest, ctx: Context) -> tuple[Optional[bytes], list[Diagnostic]]:
    """The guest's domain XML bytes, or None and the reasons it cannot be written."""
    if guest.base is None:
        root = _skeleton(spec, guest)
    elif guest.name in ctx.bases:
        # read and checked with the spec (checks.bases); copied whole, top-level comments too
        root = copy.deepcopy(ctx.bases[guest.name].getroottree()).getroot()
    else:
        return None, []  # its base did not read cleanly: the checks said why
    _merge_owned(root, spec, guest)
    return _serialize(root, ctx), []


def domain_uuid(spec: Spec, guest: Guest) -> str:
    """A UUID fixed by host and guest name, so `virsh define` can replace the domain."""
    return str(uuid.uuid5(UUID_NAMESPACE, f"{spec.host.name}/{guest.name}"))


def node_ranges(nodes) -> str:
    """A node set the way libvirt writes one: `0-3,5`."""
    runs: list[list[int]] = []
    for node in sorted(set(nodes)):
        if runs and node == runs[-1][-1] + 1:
            runs[-1].append(node)
        else:
            runs.append([node])
    return ",".join(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs)


def _skeleton(spec: Spec, guest: Guest) -> etree._Element:
    """The smallest KVM domain libvirt accepts; the merge adds the memory settings."""
    root = etree.Element("domain", type="kvm")
    etree.SubElement(root, "name").text = guest.name
    etree.SubElement(root, "vcpu", placement="static").text = str(guest.vcpus)
    os_element = etree.SubElement(root, "os")
    etree.SubElement(os_element, "type", arch=spec.host.arch).text = "hvm"
    etree.SubElement(root, "devices")
    return root


def _merge_owned(root: etree._Element, spec: Spec, guest: Guest) -> None:
    """Replace, add or remove every element hostspec owns; leave the rest alone."""
    if root.find("uuid") is None:
        _put(root, _text_element("uuid", domain_uuid(spec, guest)), _DOMAIN_ORDER)
    _put(root, _kib_element("memory", guest.memory, root.find("memory")), _DOMAIN_ORDER)
    _put(root, _kib_element("currentMemory", guest.current_memory, root.find("currentMemory")),
         _DOMAIN_ORDER)
    _merge_backing(root, spec, guest)
    _merge_numatune(root, guest)
    if guest.locked:
        memtune = _child(root, "memtune")
        _put(memtune, _kib_element("hard_limit", spec.hard_limit(guest),
                                   memtune.find("hard_limit")), _MEMTUNE_ORDER)
        _attach_or_drop(root, memtune, _DOMAIN_ORDER)
    devices = _child(root, "devices")
    _put(devices, _balloon(guest, devices.find("memballoon")), _DEVICE_ORDER)
    _attach_or_drop(root, devices, _DOMAIN_ORDER)


def _merge_backing(root: etree._Element, spec: Spec, guest: Guest) -> None:
    backing = _child(root, "memoryBacking")
    for tag in ("hugepages", "nosharepages", "locked"):
        _drop(backing, tag)
    if guest.backing.hugepages:
        hugepages = etree.Element("hugepages")
        page = spec.page_size(guest)
        # No size: the checks report that (HS0313); libvirt's bare <hugepages/> means its default.
        if page is not None:
            etree.SubElement(hugepages, "page", size=str(page // 1024), unit="KiB")
        _put(backing, hugepages, _BACKING_ORDER)
    if not guest.share_pages:
        _put(backing, etree.Element("nosharepages"), _BACKING_ORDER)
    if guest.locked:
        _put(backing, etree.Element("locked"), _BACKING_ORDER)
    _attach_or_drop(root, backing, _DOMAIN_ORDER)


def _merge_numatune(root: etree._Element, guest: Guest) -> None:
    """Host nodes go in `<numatune>`; a page's `nodeset` would name guest cells."""
    numatune = _child(root, "numatune")
    _drop(numatune, "memory")
    if guest.backing.nodes:
        binding = etree.Element("memory", mode="strict", nodeset=node_ranges(guest.backing.nodes))
        _put(numatune, binding, _NUMATUNE_ORDER)
    _attach_or_drop(root, numatune, _DOMAIN_ORDER)


def _balloon(guest: Guest, old: Optional[etree._Element]) -> etree._Element:
    balloon = guest.balloon
    element = etree.Element("memballoon", model=balloon.model)
    if balloon.model == "none":
        return element
    for attribute, value in (("autodeflate", balloon.autodeflate),
                             ("freePageReporting", balloon.free_page_reporting)):
        if value is not None:
            element.set(attribute, "on" if value else "off")
    # Period 0 is libvirt's default (no polling), and its schema refuses period='0'.
    if balloon.stats_period_s:
        etree.SubElement(element, "stats", period=str(balloon.stats_period_s))
    if old is not None and (old.get("model") or "").startswith("virtio"):
        for child in old:
            if child.tag in _BALLOON_PLACEMENT:
                element.append(copy.deepcopy(child))
    return element


def _kib_element(tag: str, size: int, old: Optional[etree._Element]) -> etree._Element:
    """`<tag unit='KiB'>`, rounded up to KiB, with the old element's other attributes."""
    element = etree.Element(tag)
    if old is not None:
        for name, value in old.attrib.items():
            element.set(name, value)
    element.set("unit", "KiB")
    element.text = str(-(-size // 1024))
    return element


def _text_element(tag: str, text: str) -> etree._Element:
    element = etree.Element(tag)
    element.text = text
    return element


def _child(parent: etree._Element, tag: str) -> etree._Element:
    """The parent's existing child of that tag, or a new detached one."""
    found = parent.find(tag)
    return found if found is not None else etree.Element(tag)


def _drop(parent: etree._Element, tag: str) -> None:
    for child in parent.findall(tag):
        parent.remove(child)


def _put(parent: etree._Element, element: etree._Element, order: tuple[str, ...]) -> None:
    """Put `element` where the old ones of its tag were, else where libvirt orders it."""
    old = parent.findall(element.tag)
    if old:
        at = parent.index(old[0])
        for child in old:
            parent.remove(child)
    else:
        rank, at = order.index(element.tag), 0
        for index, child in enumerate(parent):
            if isinstance(child.tag, str) and child.tag in order and order.index(child.tag) < rank:
                at = index + 1
    parent.insert(at, element)


def _attach_or_drop(parent: etree._Element, element: etree._Element,
                    order: tuple[str, ...]) -> None:
    """A container stays only while it holds something."""
    if len(element) == 0:
        if element.getparent() is parent:
            parent.remove(element)
    elif element.getparent() is None:
        _put(parent, element, order)


def _serialize(root: etree._Element, ctx: Context) -> bytes:
    """Header comment, the base's own top-level comments, then the domain, two-space indented."""
    header = etree.Comment(
        f" hostspec {_comment_safe(ctx.version)}, source {_comment_safe(ctx.source_name)} "
        f"sha256 {_comment_safe(ctx.source_sha256)}: generated, do not edit ")
    before = [node for node in reversed(list(root.itersiblings(preceding=True)))
              if not _is_header(node)]
    after = list(root.itersiblings())
    etree.indent(root, space="  ")
    parts = [etree.tostring(node, encoding="UTF-8", xml_declaration=False, with_tail=False)
             for node in [header, *before, root, *after]]
    return b"\n".join(parts) + b"\n"


def _is_header(node) -> bool:
    """An earlier hostspec header, when the base is itself a hostspec output."""
    text = (node.text or "") if node.tag is etree.Comment else ""
    return text.startswith(" hostspec ") and text.endswith("generated, do not edit ")


@functools.lru_cache(maxsize=64)  # the same three names for every guest of a host
def _comment_safe(text: str) -> str:
    """A file name or version that cannot end an XML comment or break its line."""
    safe = "".join(ch if ch.isalnum() and ch.isascii() or ch in "._+,@=-" else "_" for ch in text)
    while "--" in safe:
        safe = safe.replace("--", "-_")
    return safe


def _summary(spec: Spec, guest: Guest) -> str:
    """A few words for `hostspec explain`."""
    page = spec.page_size(guest)
    backing = f"{size_text(page)} pages" if page else guest.backing.type
    merged = f", merged into {shown(guest.base)}" if guest.base else ""
    return (f"libvirt domain {guest.name}: {size_text(guest.memory)}, {backing}, "
            f"balloon {guest.balloon.model}{merged}")

