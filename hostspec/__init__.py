"""hostspec: a KVM host's memory posture, written down and compiled.

Public API: `load` (front end only), `check` (front end and semantic checks).
"""
__version__ = "0.1.0"

from .api import Result, check, load  # noqa: E402

__all__ = ["Result", "check", "load", "__version__"]
