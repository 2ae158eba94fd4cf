"""Each key's meaning and default, as docs/language.md states them (a test keeps
the two in step), and the words each value may take."""
from __future__ import annotations

# (block path, key) -> (values, default, meaning); the block path is
# "host", "host.BLOCK", "guest" (templates too) or "guest.balloon".
KEYS: dict[tuple[str, str], tuple[str, str, str]] = {
    ("host", "cpu"): ("`intel` | `amd`", "required", "The CPU vendor: which KVM module (`kvm_intel` or `kvm_amd`) takes the `kvm` options."),
    ("host", "arch"): ("`x86_64` | `aarch64`", "`x86_64`", "The architecture: which huge page sizes exist."),
    ("host", "memory"): ("size", "required", "The RAM installed in the host."),
    ("host", "reserve"): ("size", "`2GiB`", "Memory kept for the host's own kernel and services, never given to guests."),
    ("host", "numa-nodes"): ("count >= 1", "`1`", "How many NUMA nodes the host has; pools and bindings name nodes 0 to N-1."),
    ("host", "kernel"): ("`MAJOR.MINOR`, or `MAJOR.MINOR { CAPABILITY on\\|off }`", "`6.1`", "The host kernel's version: which options and forms it understands; a block states what a distribution kernel has beyond its version."),
    ("host", "guest-overhead"): ("size", "`256MiB`", "Memory counted for each guest beyond its RAM (QEMU, page tables, devices)."),
    ("host", "boot"): ("`grub` | `bls` | `kernel-install` | `bootc` | `none`", "`grub`", "Which boot stack puts the kernel arguments on the next boot's command line (docs/boot-targets.md)."),
    ("host", "cmdline-budget"): ("count, 64..2048 (bytes)", "`1024`", "The longest hostspec's own kernel arguments may be; the kernel takes at most 2048 bytes in all."),
    ("host", "kvm"): ("block", "kernel defaults", "Options of the KVM module: `ept`/`vpid` (Intel), `npt` (AMD), `nested`."),
    ("host", "hugepages"): ("block", "no pools", "Huge page pools (`pool SIZE count N [node SET] [at boot|runtime]`) and `default-size`."),
    ("host", "thp"): ("block", "kernel defaults", "Transparent huge pages: `enabled` and `defrag`."),
    ("host", "ksm"): ("block", "kernel defaults", "Kernel samepage merging: `run`, `pages-to-scan`, `sleep`, `merge-across-nodes`, `use-zero-pages`."),
    ("host", "swap"): ("block", "no swap", "The swap the host has (`size`, `swappiness`), counted as a reclaim path."),
    ("host", "overcommit"): ("block", "kernel defaults", "`vm.overcommit_*`: `policy`, `ratio`, and the `max-ratio` of guest memory to ordinary memory."),
    ("host.kernel", "per-node-hugepages"): ("switch", "kernel 5.16 or newer", "The kernel reads the per-node `hugepages=0:N` boot argument, whatever its version says (backports)."),
    ("host.kvm", "ept"): ("switch", "kernel default", "Intel extended page tables (`kvm_intel ept=`)."),
    ("host.kvm", "vpid"): ("switch", "kernel default", "Intel virtual processor IDs (`kvm_intel vpid=`)."),
    ("host.kvm", "npt"): ("switch", "kernel default", "AMD nested page tables (`kvm_amd npt=`)."),
    ("host.kvm", "nested"): ("switch", "kernel default", "Nested virtualisation (`nested=`)."),
    ("host.hugepages", "default-size"): ("size", "the only pool's size", "The huge page size `backing hugepages` without a size uses (`default_hugepagesz=`)."),
    ("host.hugepages", "pool"): ("`SIZE count N [node SET] [at boot|runtime]`", "`at boot`", "Reserve N huge pages of SIZE, on each listed node; `at boot` on the kernel command line, `at runtime` through sysfs."),
    ("host.thp", "enabled"): ("`always` | `madvise` | `never`", "kernel default", "`/sys/kernel/mm/transparent_hugepage/enabled`."),
    ("host.thp", "defrag"): ("`always` | `defer` | `defer+madvise` | `madvise` | `never`", "kernel default", "`/sys/kernel/mm/transparent_hugepage/defrag`."),
    ("host.ksm", "run"): ("`on` | `off` | `unmerge`", "kernel default", "`/sys/kernel/mm/ksm/run`."),
    ("host.ksm", "pages-to-scan"): ("count", "kernel default", "Pages KSM scans per wake-up."),
    ("host.ksm", "sleep"): ("duration", "kernel default", "How long KSM sleeps between scans (`sleep_millisecs`)."),
    ("host.ksm", "merge-across-nodes"): ("switch", "kernel default", "Whether KSM merges pages of different NUMA nodes."),
    ("host.ksm", "use-zero-pages"): ("switch", "kernel default", "Whether KSM merges empty pages with the kernel's zero page."),
    ("host.swap", "size"): ("size", "none", "The swap space the host has."),
    ("host.swap", "swappiness"): ("0..200", "kernel default", "`vm.swappiness`."),
    ("host.overcommit", "policy"): ("`heuristic` | `always` | `never`", "kernel default", "`vm.overcommit_memory` (0, 1, 2)."),
    ("host.overcommit", "ratio"): ("percent", "kernel default", "`vm.overcommit_ratio`, for `policy never`."),
    ("host.overcommit", "max-ratio"): ("decimal", "`1.0`", "The most guest memory may exceed ordinary memory, as a ratio."),
    ("guest", "memory"): ("size", "required", "The guest's maximum memory."),
    ("guest", "current-memory"): ("size", "= `memory`", "The memory the guest starts with; the balloon may take it up to `memory`."),
    ("guest", "vcpus"): ("count >= 1", "`1`", "Virtual CPUs."),
    ("guest", "backing"): ("`normal` | `hugepages [SIZE] [node SET]`", "`normal`", "What backs the guest's memory: ordinary pages or a huge page pool, optionally bound to nodes."),
    ("guest", "share-pages"): ("switch", "`on`", "Whether KSM may merge the guest's pages."),
    ("guest", "locked"): ("switch", "`off`", "Lock the guest's memory in RAM (never swapped)."),
    ("guest", "balloon"): ("`virtio` | `virtio { ... }` | `none`", "`virtio`", "The memory balloon device."),
    ("guest", "base"): ("string", "none", "A libvirt domain XML to merge into, relative to the spec's directory."),
    ("guest", "guest-overhead"): ("size", "the host's `guest-overhead`", "QEMU's own memory for this guest, instead of the host's value."),
    ("guest.balloon", "autodeflate"): ("switch", "libvirt default", "Deflate the balloon when the guest runs out of memory."),
    ("guest.balloon", "free-page-reporting"): ("switch", "libvirt default", "The guest reports free pages back to the host."),
    ("guest.balloon", "stats-period"): ("seconds", "none", "How often the guest reports memory statistics."),
}

TOP_WORDS = ("hostspec", "include", "host", "template", "guest")

ENUMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("host", "cpu"): ("intel", "amd"),
    ("host", "arch"): ("x86_64", "aarch64"),
    ("host", "boot"): ("grub", "bls", "kernel-install", "bootc", "none"),
    ("host.thp", "enabled"): ("always", "madvise", "never"),
    ("host.thp", "defrag"): ("always", "defer", "defer+madvise", "madvise", "never"),
    ("host.ksm", "run"): ("on", "off", "unmerge"),
    ("host.overcommit", "policy"): ("heuristic", "always", "never"),
    ("guest", "backing"): ("normal", "hugepages"),
    ("guest", "balloon"): ("virtio", "none"),
}
SWITCH = ("on", "off")
SWITCHES = {key for key, (values, _, _) in KEYS.items() if values == "switch"}


def keys_in(context: str) -> list[str]:
    """The keys (and blocks) valid in a block path."""
    return [key for (where, key) in KEYS if where == context]
