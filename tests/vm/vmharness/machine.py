"""The shape of the emulated machine."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Machine:
    """Guest RAM, NUMA layout and the hard wall-clock limit of one boot.

    A 1 GiB huge page needs a free, aligned 1 GiB block on its node, which
    in practice means ``mem_mib=4096`` split over two nodes.  Guest RAM is
    allocated lazily under TCG, so a big guest costs the host little.
    """

    mem_mib: int = 1024
    nodes: int = 2
    cpus_per_node: int = 1
    timeout: float = 90.0

    def __post_init__(self):
        """Refuse shapes QEMU would reject with a less helpful message."""
        if self.nodes < 1 or self.cpus_per_node < 1:
            raise ValueError("a machine needs at least one node and one CPU per node")
        if self.mem_mib % self.nodes:
            raise ValueError(f"{self.mem_mib} MiB cannot be split evenly over {self.nodes} nodes")

    @property
    def cpus(self) -> int:
        """Total vCPUs: one socket per node, so the guest sees a clean topology."""
        return self.nodes * self.cpus_per_node

    @property
    def node_mib(self) -> int:
        """RAM of each node."""
        return self.mem_mib // self.nodes
