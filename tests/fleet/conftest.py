"""The fleet test's harness: virtme-ng guests (tests/vng) and the built collection."""

import sys
from pathlib import Path

FLEET_DIR = Path(__file__).resolve().parent
VNG_DIR = FLEET_DIR.parent / "vng"
if str(VNG_DIR) not in sys.path:
    sys.path.insert(0, str(VNG_DIR))


from vngharness import missing_tools  # noqa: E402,F401
