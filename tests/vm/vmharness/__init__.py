"""Boot the host's Debian kernel under QEMU and run hostspec artifacts in it.

The public surface is small: describe the machine (``Machine``), list what
the guest should run (``Step`` and the helpers in ``steps``), call ``boot``
and inspect the ``BootResult`` it returns.
"""

from .errors import HarnessError
from .machine import Machine
from .result import BootResult, StepResult
from .run import boot
from .steps import Step

__all__ = ["BootResult", "HarnessError", "Machine", "Step", "StepResult", "boot"]
