"""`hostspec import --connect` round trip through libvirt's own test driver.

Domains from a varied set of XML live in a test driver node file; libvirt
fills in its defaults (a balloon, controllers, currentMemory).  They are
imported (`virsh dumpxml --inactive`), compiled, merged into their bases and
defined again: every element hostspec does not own comes back byte-equal,
and every element it owns means the same as before.
"""
from __future__ import annotations

import copy
import pathlib
import re
import subprocess
import sys

from lxml import etree

from libvirt.domaintools import canonical, memory_settings, virsh

DISKS = """
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='none'/>
      <source file='/var/lib/libvirt/images/{name}.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:12:34:{mac}'/>
      <source network='default'/>
      <model type='virtio'/>
    </interface>
    <graphics type='vnc' port='-1' autoport='yes'/>
    <serial type='pty'><target port='0'/></serial>"""

DOMAINS = {
    # Nothing about memory but its size: libvirt adds currentMemory and a virtio balloon.
    "plain": "<memory unit='GiB'>2</memory><vcpu>2</vcpu>{os}<devices>{disks}</devices>",
    # 1GiB pages bound to host node 1, no balloon.
    "db-01": "<memory unit='GiB'>8</memory><vcpu placement='static'>8</vcpu>"
             "<memoryBacking><hugepages><page size='1' unit='G'/></hugepages></memoryBacking>"
             "<numatune><memory mode='strict' nodeset='1'/></numatune>{os}"
             "<devices>{disks}<memballoon model='none'/></devices>",
    # Locked, out of KSM, its hard limit memory + 256MiB.
    "rt": "<memory unit='KiB'>4194304</memory><currentMemory unit='KiB'>4194304</currentMemory>"
          "<memtune><hard_limit unit='KiB'>4456448</hard_limit><soft_limit unit='GiB'>5"
          "</soft_limit></memtune>"
          "<memoryBacking><nosharepages/><locked/></memoryBacking><vcpu>4</vcpu>{os}"
          "<devices>{disks}<memballoon model='none'/></devices>",
    # Ballooned down with every balloon option; three of the same shape make a template.
    **{f"web-0{i}": "<memory unit='MiB'>4096</memory><currentMemory unit='MiB'>3072</currentMemory>"
                    "<vcpu>2</vcpu>{os}<devices>{disks}<memballoon model='virtio' autodeflate='on' "
                    "freePageReporting='on'><stats period='10'/></memballoon></devices>"
       for i in (1, 2, 3)},
    # 2MiB pages on host nodes 0-1, a NUMA guest with memfd and shared access (not expressible).
    "shared": "<memory unit='GiB'>4</memory><currentMemory unit='GiB'>4</currentMemory>"
              "<memoryBacking><hugepages><page size='2048' unit='KiB'/></hugepages>"
              "<source type='memfd'/><access mode='shared'/></memoryBacking>"
              "<vcpu>4</vcpu><numatune><memory mode='strict' nodeset='0-1'/>"
              "<memnode cellid='0' mode='strict' nodeset='0'/></numatune>{os}"
              "<cpu><numa><cell id='0' cpus='0-1' memory='2' unit='GiB'/>"
              "<cell id='1' cpus='2-3' memory='2' unit='GiB'/></numa></cpu>"
              "<devices>{disks}<memballoon model='none'/></devices>",
    # A preferred binding on an ordinary guest: hostspec cannot keep it, and says so.
    "pref": "<memory unit='GiB'>1</memory><vcpu>1</vcpu>"
            "<numatune><memory mode='preferred' nodeset='1'/></numatune>{os}"
            "<devices>{disks}</devices>",
}
OS = "<os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>"
OWNED = ["memory", "currentMemory", "memoryBacking/hugepages", "memoryBacking/nosharepages",
         "memoryBacking/locked", "memtune/hard_limit", "numatune/memory", "devices/memballoon"]


def _domain(name: str, body: str, mac: int) -> str:
    filled = body.format(os=OS, disks=DISKS.format(name=name, mac=f"{mac:02x}"))
    uuid = f"6f0b4c1e-2f52-4d0c-9d43-7f6a0c3e8b{mac:02x}"
    return f"<domain type='kvm'><name>{name}</name><uuid>{uuid}</uuid>{filled}</domain>"


def node_file(tmp_path: pathlib.Path) -> pathlib.Path:
    """A test driver node: a 2-node host holding the domains."""
    domains = "\n".join(_domain(name, body, i) for i, (name, body) in enumerate(DOMAINS.items()))
    node = tmp_path / "node.xml"
    node.write_text(f"<node><cpu><mhz>3000</mhz><model>x86_64</model><active>8</active>"
                    f"<nodes>2</nodes><sockets>1</sockets><cores>4</cores><threads>1</threads>"
                    f"</cpu><memory>67108864</memory>\n{domains}\n</node>\n")
    return node


def _run_virsh(uri: str, commands: str) -> str:
    done = subprocess.run([virsh(), "-q", "-c", uri, commands], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _dumps(text: str) -> dict[str, bytes]:
    blocks = re.findall(r"^<domain.*?^</domain>$", text, re.M | re.S)
    return {etree.fromstring(b.encode()).findtext("name"): b.encode() for b in blocks}


def _without_owned(data: bytes) -> bytes:
    tree = copy.deepcopy(etree.fromstring(data))
    for path in OWNED:
        for element in tree.findall(path):
            element.getparent().remove(element)
    for container in ("memoryBacking", "numatune", "memtune"):
        for element in tree.findall(container):
            if len(element) == 0:
                tree.remove(element)
    return canonical(tree)  # indentation aside: removing an element moves its neighbours' tails


def test_libvirt_round_trip(tmp_path):
    node = node_file(tmp_path)
    uri = f"test://{node}"
    out = tmp_path / "spec" / "hv-lv.mem"
    (tmp_path / "spec").mkdir()
    # The host's own facts come from a root where 1GiB and 2MiB pools cover the guests.
    root = _host_root(tmp_path / "root")
    done = subprocess.run([sys.executable, "-m", "hostspec", "import", "--root", str(root),
                           "--connect", uri, "--name", "hv-lv", "-o", str(out)],
                          capture_output=True, text=True, timeout=120)
    # Exit 1: two domains hold what the language cannot say, and the warnings name them.
    assert done.returncode == 1, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "warning: not expressible" in line]
    assert sorted(warnings) == sorted([
        f"hostspec import: warning: not expressible: memoryBacking/source type=memfd ({uri} domain shared)",
        f"hostspec import: warning: not expressible: memoryBacking/access mode=shared ({uri} domain shared)",
        f"hostspec import: warning: not expressible: numatune/memory mode=preferred nodeset=1 on a guest "
        f"without huge pages (compile drops it) ({uri} domain pref)"]), done.stderr
    text = out.read_text()
    assert "template web {" in text and "guest web-01 from web {" in text
    assert "backing hugepages 1GiB node 1" in text and "backing hugepages 2MiB node 0,1" in text
    # The bases are libvirt's own dump, byte for byte.
    fresh = _dumps(_run_virsh(uri, "; ".join(f"dumpxml --inactive {n}" for n in DOMAINS)))
    first = {name: (out.parent / "imported" / f"{name}.xml").read_bytes() for name in DOMAINS}
    for name, data in fresh.items():
        assert first[name] == data + b"\n"
    compiled = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "hostspec", "compile", str(out), "--out",
                           str(compiled)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    domains = compiled / "hv-lv" / "etc/hostspec/domains"
    commands = "; ".join(f"define --validate {domains / (n + '.xml')}; dumpxml --inactive {n}"
                         for n in DOMAINS)
    again = _dumps(_run_virsh(uri, commands))
    assert sorted(again) == sorted(DOMAINS)
    for name in DOMAINS:
        before, after = first[name], again[name]
        assert _without_owned(after) == _without_owned(before), name
        expected = memory_settings(etree.fromstring(before))
        if expected["memballoon"] is None:  # the qemu driver adds this one to a KVM domain
            expected["memballoon"] = ("virtio", None, None, None)
        if name == "pref":  # the one thing the warning said would go
            expected["numatune"] = None
        assert memory_settings(etree.fromstring(after)) == expected, name


def _host_root(root: pathlib.Path) -> pathlib.Path:
    files = {
        "proc/cpuinfo": "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: lm svm npt pdpe1gb\n\n",
        "proc/meminfo": "MemTotal:       65536000 kB\n",
        "proc/cmdline": "root=/dev/vda ro hugepagesz=1G hugepages=0:0,1:8 hugepagesz=2M hugepages=4096\n",
        "proc/swaps": "Filename Type Size Used Priority\n",
        "proc/sys/kernel/osrelease": "6.1.0-18-amd64\n",
    }
    for node, (gig, two) in enumerate(((0, 2048), (8, 2048))):
        for size, count in ((1048576, gig), (2048, two)):
            files[f"sys/devices/system/node/node{node}/hugepages/hugepages-{size}kB/nr_hugepages"] = f"{count}\n"
    for size in (1048576, 2048):
        files[f"sys/kernel/mm/hugepages/hugepages-{size}kB/nr_hugepages"] = "0\n"
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(data)
    return root
