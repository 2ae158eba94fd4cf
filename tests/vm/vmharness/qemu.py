"""Start QEMU for one boot and collect its serial console."""

import subprocess
import time
from pathlib import Path

from .errors import HarnessError
from .hosttools import require_program
from .kernel import KernelImage
from .machine import Machine

# The harness's own arguments come first; the caller's command line is
# appended, so what is under test is exactly the tail of /proc/cmdline.
BASE_APPEND = "console=ttyS0 panic=-1 rdinit=/init"


def numa_args(machine: Machine) -> list[str]:
    """One memory backend and one CPU socket per guest NUMA node."""
    args = []
    for node in range(machine.nodes):
        first = node * machine.cpus_per_node
        last = first + machine.cpus_per_node - 1
        args += ["-object", f"memory-backend-ram,id=mem{node},size={machine.node_mib}M"]
        args += ["-numa", f"node,nodeid={node},cpus={first}-{last},memdev=mem{node}"]
    return args


def smp_arg(machine: Machine) -> str:
    """vCPU topology.  Without sockets= QEMU puts every vCPU in one socket
    and the guest warns that an LLC sibling is on another node."""
    return f"{machine.cpus},sockets={machine.nodes},cores={machine.cpus_per_node},threads=1"


def qemu_command(machine: Machine, kernel: KernelImage, initrd: Path, cmdline: str) -> list[str]:
    """The full QEMU argv.  TCG with -cpu max: max has pdpe1gb (1 GiB pages)."""
    return [
        require_program("qemu-system-x86_64", "qemu-system-x86"),
        "-machine", "q35", "-accel", "tcg", "-cpu", "max",
        "-m", str(machine.mem_mib), "-smp", smp_arg(machine), *numa_args(machine),
        "-kernel", str(kernel.path), "-initrd", str(initrd),
        "-append", f"{BASE_APPEND} {cmdline}".rstrip(),
        "-nographic", "-no-reboot", "-nic", "none",
    ]


def run_qemu(argv: list[str], log_path: Path, timeout: float) -> float:
    """Run QEMU with its console in LOG_PATH; return the wall time in seconds.

    subprocess kills QEMU when the hard timeout expires: a guest that
    live-locks (too many boot pages, say) must not hang the test run.
    """
    start = time.monotonic()
    with log_path.open("wb") as log:
        try:
            subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                           timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise HarnessError(f"QEMU killed after the hard timeout of {timeout:g} s") from None
    return time.monotonic() - start
