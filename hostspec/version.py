"""The version hostspec reports in artifacts, diagnostics and `--version`."""
__version__ = "0.1.0"
