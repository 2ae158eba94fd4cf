"""Make the vngharness package importable from any test directory's conftest."""

import sys
from pathlib import Path

import pytest

VNG_DIR = Path(__file__).resolve().parent
if str(VNG_DIR) not in sys.path:
    sys.path.insert(0, str(VNG_DIR))

from vngharness import missing_tools  # noqa: E402


@pytest.fixture(scope="session")
def vng_tools():
    """Fail (never skip) when something a virtme-ng guest needs is missing."""
    missing = missing_tools()
    if missing:
        pytest.fail("virtme-ng guests need: " + ", ".join(missing)
                    + " (run tests/install-deps.sh and pip install '.[test]')")
