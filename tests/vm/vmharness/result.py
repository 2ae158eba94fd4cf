"""What one boot produced, as plain Python values."""

from dataclasses import dataclass, field

from .kernel import KernelImage


def key_values(lines) -> dict[str, str]:
    """KEY=VALUE lines as a dict (the first '=' splits; other lines are ignored)."""
    pairs = (line.split("=", 1) for line in lines if "=" in line)
    return {key: value for key, value in pairs if key and " " not in key}


@dataclass(frozen=True)
class StepResult:
    """A step's exit code and its combined stdout and stderr."""

    name: str
    rc: int
    output: str

    @property
    def values(self) -> dict[str, str]:
        """The KEY=VALUE lines the step printed."""
        return key_values(self.output.splitlines())

    @property
    def lines(self) -> list[str]:
        """The output's non-empty lines."""
        return [line for line in self.output.splitlines() if line.strip()]


@dataclass(frozen=True)
class BootResult:
    """State before and after the steps, each step's result and the raw console.

    ``boot`` and ``after`` map keys such as ``meminfo.HugePages_Total``,
    ``node1.2048kB.nr_hugepages``, ``thp.enabled``, ``ksm.run`` or
    ``vm.swappiness`` to the text the guest read.
    """

    cmdline: str
    boot: dict[str, str]
    steps: dict[str, StepResult]
    after: dict[str, str]
    log: str = field(repr=False)
    kernel: KernelImage
    seconds: float

    def step(self, name: str) -> StepResult:
        """The result of step NAME, with a readable error if it never ran."""
        if name not in self.steps:
            raise KeyError(f"step {name!r} has no result; steps that ran: {sorted(self.steps)}")
        return self.steps[name]
