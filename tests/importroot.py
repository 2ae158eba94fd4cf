"""A host's root as its kernel would show it after booting a compiled tree.

`root_from_tree` writes /proc and /sys the way Linux lays them out for a host
that booted with the tree's kernel arguments, loaded kvm with its modprobe.d
options, applied its sysctl.d file and ran its apply-memory script, and has
its domain XML defined in libvirt.  The kernel's own rules are followed where
they decide a value: a bare `hugepages=N` is spread over the nodes round
robin from node 0, per-node counts land where they are named, a module
parameter shows Y/N (kvm_amd's int `nested` 1/0).
"""
from __future__ import annotations

import pathlib
import re
import shlex

from hostspec.live.kernel import kernel_words, read_boot_pages
from hostspec.model import GiB, KiB, MiB, Spec

SIZES = (2 * MiB, GiB)
THP_ENABLED = ("always", "madvise", "never")
THP_DEFRAG = ("always", "defer", "defer+madvise", "madvise", "never")
KVM = {"intel": ("kvm_intel", {"ept": "Y", "vpid": "Y", "nested": "Y"}),
       "amd": ("kvm_amd", {"npt": "Y", "nested": "1"})}


# What each boot stack leaves on a host (TARGETS.md); `none` leaves nothing to see.
BOOT_FILES = {
    "grub": {"etc/os-release": 'ID=debian\nVERSION_ID="12"\n', "etc/default/grub": "GRUB_TIMEOUT=5\n"},
    "bls": {"etc/os-release": 'ID="rhel"\nID_LIKE="fedora"\n', "etc/redhat-release": "Red Hat\n",
            "boot/loader/entries/a.conf": "title RHEL\noptions root=/dev/vda ro\n"},
    "kernel-install": {"etc/kernel/cmdline": "root=/dev/vda ro\n",
                       "boot/efi/loader/loader.conf": "timeout 3\n"},
    "bootc": {"usr/lib/bootc/kargs.d/10-base.toml": 'kargs = ["console=ttyS0"]\n'},
}


def spread(total: int, nodes: int) -> dict[int, int]:
    """The kernel's round robin from node 0."""
    return {node: total // nodes + (node < total % nodes) for node in range(nodes)}


def _choice(options, chosen: str) -> str:
    return " ".join(f"[{o}]" if o == chosen else o for o in options) + "\n"


def root_from_tree(spec: Spec, tree: dict[str, bytes], root: pathlib.Path,
                   release: str = "6.1.0-18-amd64") -> None:
    """Write the fake root of a host that runs the compiled `tree` of `spec`."""
    host, files = spec.host, {}
    nodes = host.numa_nodes
    vendor, flag = {"intel": ("GenuineIntel", "vmx ept vpid"), "amd": ("AuthenticAMD", "svm npt")}[host.cpu]
    cpu = (f"processor\t: 0\nvendor_id\t: {vendor}\n"
           f"flags\t\t: fpu pse tsc msr pae lm pdpe1gb {flag}\n\n")
    files["proc/cpuinfo"] = cpu
    files["proc/meminfo"] = f"MemTotal:       {(host.memory - 180 * MiB) // KiB} kB\nMemFree: 1 kB\n"
    files["proc/sys/kernel/osrelease"] = release + "\n"
    files["proc/sys/kernel/hostname"] = host.name + "\n"
    files[f"boot/config-{release}"] = "CONFIG_TRANSPARENT_HUGEPAGE=y\nCONFIG_TRANSPARENT_HUGEPAGE_ALWAYS=y\n"
    line = tree.get("etc/hostspec/kernel-cmdline", b"").decode().strip()
    files["proc/cmdline"] = f"BOOT_IMAGE=/boot/vmlinuz-{release} root=UUID=1234 ro {line} quiet\n"
    words = kernel_words(files["proc/cmdline"])
    boot = read_boot_pages(words, SIZES, nodes)
    pages = {size: {node: 0 for node in range(nodes)} for size in SIZES}
    for size, counts in boot.pools.items():
        if None in counts:
            pages[size] = spread(counts[None], nodes)
        else:
            pages[size].update(counts)
    sysfs = {"kernel/mm/transparent_hugepage/enabled": "always",
             "kernel/mm/transparent_hugepage/defrag": "madvise",
             "kernel/mm/ksm/run": "0", "kernel/mm/ksm/pages_to_scan": "100",
             "kernel/mm/ksm/sleep_millisecs": "20", "kernel/mm/ksm/merge_across_nodes": "1",
             "kernel/mm/ksm/use_zero_pages": "0"}
    thp = [w.partition("=")[2] for w in words if w.startswith("transparent_hugepage=")]
    if thp:
        sysfs["kernel/mm/transparent_hugepage/enabled"] = thp[-1]
    vm = {"swappiness": "60", "overcommit_memory": "0", "overcommit_ratio": "50"}
    for text in tree.get("etc/sysctl.d/90-hostspec.conf", b"").decode().splitlines():
        key, _, value = text.partition("=")
        if key.strip().startswith("vm."):
            name = key.strip()[3:]
            if name == "nr_hugepages":
                default = host.hugepages.default_size or 2 * MiB
                pages[default] = spread(int(value), nodes)
            else:
                vm[name] = value.strip()
    script = tree.get("usr/libexec/hostspec/apply-memory", b"").decode()
    for text in script.splitlines():
        words_ = shlex.split(text) if text.startswith("set_") else []
        if words_[:1] == ["set_value"]:
            path, value = words_[1], words_[2]
            pool = re.fullmatch(r"(?:devices/system/node/node(\d+)/)?(?:kernel/mm/)?"
                                r"hugepages/hugepages-(\d+)kB/nr_hugepages", path)
            if pool and pool[1] is not None:
                pages[int(pool[2]) * KiB][int(pool[1])] = int(value)
            elif pool:
                pages[int(pool[2]) * KiB] = spread(int(value), nodes)
            else:
                sysfs[path] = value
        elif words_[:1] == ["set_merge_across_nodes"]:
            sysfs["kernel/mm/ksm/merge_across_nodes"] = words_[1]
            if len(words_) > 2:
                sysfs["kernel/mm/ksm/run"] = words_[2]
    for path, value in sysfs.items():
        if path.startswith("kernel/mm/transparent_hugepage/"):
            options = THP_ENABLED if path.endswith("enabled") else THP_DEFRAG
            files["sys/" + path] = _choice(options, value)
        else:
            files["sys/" + path] = value + "\n"
    for size, counts in pages.items():
        leaf = f"hugepages/hugepages-{size // KiB}kB/nr_hugepages"
        files["sys/kernel/mm/" + leaf] = f"{sum(counts.values())}\n"
        for node, count in counts.items():
            files[f"sys/devices/system/node/node{node}/{leaf}"] = f"{count}\n"
    for name, value in vm.items():
        files[f"proc/sys/vm/{name}"] = value + "\n"
    swap = host.swap.size
    files["proc/swaps"] = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n" + (
        f"/swapfile                               file\t\t{swap // KiB}\t\t0\t\t-2\n" if swap else "")
    module, params = KVM[host.cpu]
    options = tree.get("etc/modprobe.d/hostspec-kvm.conf", b"").decode()
    for text in options.splitlines():
        if text.startswith("options "):
            for word in text.split()[2:]:
                key, _, value = word.partition("=")
                params = {**params, key: value if (module, key) == ("kvm_amd", "nested")
                          else "YN"[value == "0"]}
            files["etc/modprobe.d/hostspec-kvm.conf"] = options
    for key, value in params.items():
        files[f"sys/module/{module}/parameters/{key}"] = value + "\n"
    for path, data in tree.items():
        if path.startswith("etc/hostspec/domains/"):
            files["etc/libvirt/qemu/" + path.rsplit("/", 1)[1]] = data
    files.update(BOOT_FILES.get(host.boot, {}))
    for path, data in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data if isinstance(data, bytes) else data.encode())
