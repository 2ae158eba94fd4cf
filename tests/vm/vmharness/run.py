"""One boot, end to end: initramfs, QEMU, console, result."""

import tempfile
from pathlib import Path
from typing import Sequence

from . import console
from .errors import HarnessError
from .initramfs import write_initrd
from .kernel import kernel_image
from .machine import Machine
from .qemu import qemu_command, run_qemu
from .result import BootResult
from .steps import Step, check_names_unique


def boot(cmdline: str = "", steps: Sequence[Step] = (), artifacts: Path | None = None,
         machine: Machine = Machine()) -> BootResult:
    """Boot the host's kernel with CMDLINE appended, run STEPS, return the result.

    ARTIFACTS, a compiled tree such as DIR/<host>/, is copied to /artifacts
    in the guest.  Raises HarnessError when a host tool is missing, QEMU
    outlives ``machine.timeout`` or the guest never finishes its /init.
    """
    _check_request(cmdline, steps, artifacts)
    kernel = kernel_image()
    with tempfile.TemporaryDirectory(prefix="hostspec-vm.") as tmp:
        work = Path(tmp)
        initrd = write_initrd(work / "initramfs.cpio", steps, artifacts)
        argv = qemu_command(machine, kernel, initrd, cmdline)
        seconds, log = _run(argv, work / "console.log", machine.timeout)
    return _result(cmdline, kernel, log, seconds)


def _check_request(cmdline: str, steps: Sequence[Step], artifacts: Path | None) -> None:
    """Reject requests that could only fail inside the guest, obscurely."""
    if "\n" in cmdline:
        raise ValueError("a kernel command line is one line")
    check_names_unique(steps)
    if artifacts is not None and not Path(artifacts).is_dir():
        raise HarnessError(f"artifact tree {artifacts} is not a directory")


def _run(argv: list[str], log_path: Path, timeout: float) -> tuple[float, str]:
    """Run QEMU; return its wall time and console text (also on failure, in the error)."""
    try:
        seconds = run_qemu(argv, log_path, timeout)
    except HarnessError as err:
        raise HarnessError(f"{err}; console tail:\n{_read_log(log_path, tail=True)}") from None
    return seconds, _read_log(log_path)


def _read_log(log_path: Path, tail: bool = False) -> str:
    """The console log as text, or its last lines."""
    text = console.clean(log_path.read_bytes()) if log_path.exists() else ""
    return console.tail(text) if tail else text


def _result(cmdline: str, kernel, log: str, seconds: float) -> BootResult:
    """Parse the console; a guest that stopped early is an error, not a result."""
    parsed = console.parse(log)
    if not parsed.done or "boot" not in parsed.states or "after" not in parsed.states:
        raise HarnessError(f"the guest never reached the end of /init (panic or crash?); "
                           f"console tail:\n{console.tail(log)}")
    return BootResult(cmdline=cmdline, boot=parsed.states["boot"], steps=parsed.steps,
                      after=parsed.states["after"], log=log, kernel=kernel, seconds=seconds)
