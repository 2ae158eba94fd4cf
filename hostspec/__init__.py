"""hostspec: a KVM host's memory posture, written down and compiled.

Public API: `load` (front end only), `check` (front end and semantic checks).
"""
from hostspec.version import __version__


def __getattr__(name: str):
    # The API loads on first use, so `hostspec --version` and the commands
    # import only the stages they run.
    if name in ("Result", "check", "load"):
        from hostspec import api

        return getattr(api, name)
    raise AttributeError(f"module 'hostspec' has no attribute {name!r}")


__all__ = ["Result", "check", "load", "__version__"]
