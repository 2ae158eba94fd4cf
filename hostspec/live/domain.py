"""libvirt domain XML read back into what a `guest` says, and what it cannot say.

The XML is untrusted: read with a size cap, parsed without entities, DTDs or
network, a DOCTYPE refused (the same rules as a `base` file).  Domains come
from a directory of persistent XML or from `virsh dumpxml --inactive`, one
code path on the bytes either way.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Optional

import attrs
from lxml import etree

from hostspec import records
from hostspec.live.root import Root, Unreadable
from hostspec.model import KiB

MAX_DOMAIN_BYTES = 1024 * KiB
MAX_DOMAINS = 4096
_PARSER_OPTIONS = dict(resolve_entities=False, no_network=True, load_dtd=False,
                       dtd_validation=False, huge_tree=False, remove_blank_text=False)
_POWERS = "kmgtpe"


@records.define
class GuestFacts:
    """One domain's memory settings, each as a guest key would say it."""

    name: str
    source: str                      # the file (or `URI domain NAME`) it came from
    xml: bytes                       # the domain as read, kept as the guest's base
    memory: int = 0
    current_memory: Optional[int] = None
    vcpus: int = 1
    hugepages: bool = False
    page_size: Optional[int] = None  # None: libvirt's default (the host's default size)
    nodes: Optional[tuple] = None    # numatune strict node set
    share_pages: bool = True
    locked: bool = False
    hard_limit: Optional[int] = None
    balloon: str = "virtio"          # virtio | none
    autodeflate: Optional[bool] = None
    free_page_reporting: Optional[bool] = None
    stats_period: Optional[int] = None
    notes: list = attrs.field(factory=list)  # (guest key or "", what cannot be expressed)


class Malformed(Exception):
    """Domain XML that cannot be read as a domain: where and why."""

    def __init__(self, source: str, why: str):
        super().__init__(f"{source}: {why}")
        self.path, self.why = source, why


def memory_bytes(value: Optional[str], unit: Optional[str]) -> Optional[int]:
    """Bytes of a libvirt scaled value (KiB when no unit), or None when it does not read."""
    text, name = (value or "").strip(), (unit or "KiB").strip().lower()
    if not re.fullmatch(r"[0-9]{1,20}", text):
        return None
    if name in ("b", "byte", "bytes"):
        return int(text)
    if not name or name[0] not in _POWERS or name[1:] not in ("", "b", "ib"):
        return None
    return int(text) * (1000 if name[1:] == "b" else 1024) ** (_POWERS.index(name[0]) + 1)


def node_set(text: str) -> Optional[tuple]:
    """libvirt's node set (`0-3,^2`) as sorted numbers, None when it does not read."""
    chosen, excluded = set(), set()
    for part in (text or "").split(","):
        found = re.fullmatch(r"\s*(\^?)(\d{1,4})(?:-(\d{1,4}))?\s*", part)
        if not found or int(found[3] or found[2]) < int(found[2]):
            return None
        numbers = set(range(int(found[2]), int(found[3] or found[2]) + 1))
        (excluded if found[1] else chosen).update(numbers)
    return tuple(sorted(chosen - excluded)) or None


def parse_domain(data: bytes, source: str) -> GuestFacts:
    """A domain's facts; Malformed when it is not a well-formed libvirt domain."""
    if len(data) > MAX_DOMAIN_BYTES:
        raise Malformed(source, f"larger than {MAX_DOMAIN_BYTES // KiB} KiB")
    try:
        root = etree.fromstring(data, etree.XMLParser(**_PARSER_OPTIONS))
    except etree.XMLSyntaxError as exc:
        raise Malformed(source, f"not well-formed XML: {_shown(exc.msg, 120)}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise Malformed(source, "has a DOCTYPE declaration (hostspec reads no DTDs or entities)")
    if root.tag != "domain":
        raise Malformed(source, f"the root element is `<{_shown(str(root.tag))}>`, not `<domain>`")
    names = root.findall("name")
    if len(names) != 1 or not (names[0].text or "").strip():
        raise Malformed(source, "a domain needs exactly one `<name>`")
    facts = GuestFacts(name=names[0].text, source=source, xml=data)
    memory = _size(root.find("memory"))
    if memory is None:
        raise Malformed(source, "no readable `<memory>`")
    facts.memory = memory
    current = _size(root.find("currentMemory"))
    facts.current_memory = current if current is not None and current != memory else None
    vcpu = (root.findtext("vcpu") or "1").strip()
    if not vcpu.isdigit() or int(vcpu) < 1:
        raise Malformed(source, f"`<vcpu>` is `{_shown(vcpu)}`, not a count")
    facts.vcpus = int(vcpu)
    _backing(root, facts)
    _numatune(root, facts)
    _memtune(root, facts)
    _balloon(root, facts)
    if root.get("type") not in ("kvm", "qemu"):
        facts.notes.append(("", f"domain type `{_shown(root.get('type') or '')}`: hostspec "
                                "writes KVM domains"))
    return facts


def _size(element, attribute: Optional[str] = None) -> Optional[int]:
    if element is None:
        return None
    return memory_bytes(element.get(attribute) if attribute else element.text, element.get("unit"))


def _backing(root, facts: GuestFacts) -> None:
    backing = root.find("memoryBacking")
    if backing is None:
        return
    hugepages = backing.find("hugepages")
    if hugepages is not None:
        facts.hugepages = True
        pages = hugepages.findall("page")
        sizes = {_size(page, "size") for page in pages}
        if len(sizes) == 1 and None not in sizes:
            facts.page_size = sizes.pop()
        elif len(sizes) > 1 or None in sizes:
            facts.notes.append(("backing", "memoryBacking/hugepages with several page sizes "
                                           "or an unreadable one: hostspec backs a guest with one"))
        for page in pages:
            if page.get("nodeset") is not None and len(pages) > 1:
                facts.notes.append(("backing", f"memoryBacking/hugepages/page nodeset="
                                               f"{_shown(page.get('nodeset'))} (a size per guest "
                                               "NUMA cell)"))
    facts.share_pages = backing.find("nosharepages") is None
    facts.locked = backing.find("locked") is not None
    source = backing.find("source")
    if source is not None and source.get("type") not in (None, "anonymous"):
        facts.notes.append(("backing", f"memoryBacking/source type={_shown(source.get('type'))}"))
    elif source is not None:
        facts.notes.append(("backing", "memoryBacking/source type=anonymous"))
    for tag, attribute in (("access", "mode"), ("allocation", "mode"), ("discard", None)):
        element = backing.find(tag)
        if element is not None:
            said = f" {attribute}={_shown(element.get(attribute))}" if attribute else ""
            facts.notes.append(("backing", f"memoryBacking/{tag}{said}"))


def _numatune(root, facts: GuestFacts) -> None:
    memory = root.find("numatune/memory")
    if memory is None:
        return
    mode, placement = memory.get("mode", "strict"), memory.get("placement", "static")
    nodes = node_set(memory.get("nodeset", "")) if memory.get("nodeset") else None
    if mode == "strict" and placement == "static" and nodes is not None and facts.hugepages:
        facts.nodes = nodes
        return
    said = " ".join(f"{k}={_shown(v)}" for k, v in memory.attrib.items())
    why = "" if facts.hugepages else " on a guest without huge pages (compile drops it)"
    facts.notes.append(("backing" if facts.hugepages else "", f"numatune/memory {said}{why}"))


def _memtune(root, facts: GuestFacts) -> None:
    facts.hard_limit = _size(root.find("memtune/hard_limit"))


def _balloon(root, facts: GuestFacts) -> None:
    balloons = root.findall("devices/memballoon")
    if not balloons:
        return  # libvirt adds a virtio balloon to a KVM domain that names none
    balloon = balloons[0]
    model = balloon.get("model")
    if model == "none":
        facts.balloon = "none"
        return
    if model != "virtio":
        facts.notes.append(("balloon", f"memballoon model={_shown(model or '')} "
                                       "(hostspec writes model=virtio)"))
    for attribute, field in (("autodeflate", "autodeflate"),
                             ("freePageReporting", "free_page_reporting")):
        value = balloon.get(attribute)
        if value in ("on", "off"):
            setattr(facts, field, value == "on")
    period = balloon.find("stats")
    if period is not None and (period.get("period") or "").isdigit() and int(period.get("period")):
        facts.stats_period = int(period.get("period"))


def _shown(text: Optional[str], limit: int = 64) -> str:
    cleaned = "".join(ch if ch.isprintable() and ch not in "`\n" else "?" for ch in (text or ""))
    return cleaned if len(cleaned) <= limit else cleaned[:limit] + "..."


def read_directory(root: Root, path: str) -> list[GuestFacts]:
    """Every `*.xml` directly in a directory under the root (not its autostart links)."""
    names = [name for name in root.listdir(path) if name.endswith(".xml")]
    if len(names) > MAX_DOMAINS:
        raise Malformed(path, f"more than {MAX_DOMAINS} domain files")
    found = []
    for name in names:
        where = f"{path}/{name}"
        data = root.read(where, MAX_DOMAIN_BYTES)
        if data is None:
            continue
        raw = _raw(root, where)
        found.append(parse_domain(raw, str(root.root / where)))
    return found


def _raw(root: Root, path: str) -> bytes:
    """The bytes of a file already read safely as text (a base is kept byte for byte)."""
    real = root.resolve(path)
    fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        return os.read(fd, MAX_DOMAIN_BYTES + 1)
    finally:
        os.close(fd)


def read_connection(uri: str) -> list[GuestFacts]:
    """Every persistent domain of a live libvirt, as `virsh dumpxml --inactive` gives it."""
    virsh = shutil.which("virsh")
    if virsh is None:
        raise Unreadable(uri, "`virsh` is not installed (Debian: libvirt-clients)")
    names = _virsh(virsh, uri, "list", "--all", "--name").split()
    if len(names) > MAX_DOMAINS:
        raise Malformed(uri, f"more than {MAX_DOMAINS} domains")
    return [parse_domain(_virsh(virsh, uri, "dumpxml", "--inactive", "--", name).encode(),
                         f"{uri} domain {name}") for name in names]


def _virsh(virsh: str, uri: str, *words: str) -> str:
    try:
        done = subprocess.run([virsh, "-q", "-c", uri, *words], capture_output=True, timeout=120,
                              env={**os.environ, "LC_ALL": "C"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unreadable(uri, f"virsh {words[0]}: {exc}") from None
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip().splitlines()
        raise Unreadable(uri, f"virsh {words[0]}: " + _shown(why[0] if why else "failed", 200))
    return done.stdout.decode("utf-8", errors="replace")
