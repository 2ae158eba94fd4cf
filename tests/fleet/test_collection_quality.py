"""The collection passes ansible-lint's production profile and ansible-test sanity."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COLLECTION = REPO / "ansible" / "ansible_collections" / "hostspec" / "fleet"
BIN = Path(sys.executable).parent
# ansible-test keeps its sanity venvs under ~/.ansible/test; a home of its own
# keeps them between runs without touching the user's.
ANSIBLE_TEST_HOME = Path("/var/tmp/hostspec-tests/ansible-test-home")

# ansible-test bootstraps pip in each venv with a get-pip.py it downloads
# from a host of its own; pip comes from the interpreter's ensurepip instead,
# then the pip version it asks for from the package index.
GET_PIP = '''"""get-pip.py stand-in: ensurepip, then the pip ansible-test asks for."""
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet"] + args)
'''


def tool(name):
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} missing: pip install '.[test]'")
    return str(path)


@pytest.fixture
def collection_copy(tmp_path):
    """The collection at ansible_collections/hostspec/fleet in a scratch tree (tools write caches there)."""
    dest = tmp_path / "ansible_collections" / "hostspec" / "fleet"
    shutil.copytree(COLLECTION, dest, ignore=shutil.ignore_patterns(".ansible", "output", "*.tar.gz"))
    return dest


def test_ansible_lint_production_profile(collection_copy):
    done = subprocess.run([tool("ansible-lint"), "--profile", "production"],
                          cwd=collection_copy, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "NO_COLOR": "1",
                               "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"})
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "Profile 'production' was required, and it passed" in done.stdout + done.stderr


def test_ansible_test_sanity(collection_copy):
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    cache = ANSIBLE_TEST_HOME / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    for pip_version in ("24_2", "25_0", "25_1", "25_2"):
        (cache / f"get_pip_{pip_version}.py").write_text(GET_PIP)
    done = subprocess.run([tool("ansible-test"), "sanity", "--python", version, "--color", "no"],
                          cwd=collection_copy, capture_output=True, text=True, timeout=1500,
                          env={**os.environ, "HOME": str(ANSIBLE_TEST_HOME),
                               "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"})
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-6000:]
