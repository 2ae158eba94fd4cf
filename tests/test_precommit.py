"""The repository's pre-commit hooks, run by pre-commit itself (`try-repo`).

pre-commit builds the hook's environment by installing this repository with
pip, as a team's pre-commit does with `repo: ...`; one environment is shared
by the tests of this module.
"""
from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> pathlib.Path:
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture
def project(tmp_path) -> pathlib.Path:
    """A team's repository: the bundled examples, committed."""
    repo = tmp_path / "specs"
    shutil.copytree(EXAMPLES, repo)
    git = ["git", "-c", "user.email=ci@example.invalid", "-c", "user.name=ci", "-C", str(repo)]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "specs"], check=True)
    return repo


def try_repo(home: pathlib.Path, repo: pathlib.Path, hook: str, *files: str, args=()) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), hook, "--files", *files]
    if args:
        # try-repo takes no args for a hook: write the config a team would commit.
        config = repo / ".pre-commit-config.yaml"
        config.write_text(f"repos:\n-   repo: {ROOT}\n    rev: {_head()}\n    hooks:\n"
                          f"    -   id: {hook}\n        args: {list(args)!r}\n".replace("'", '"'))
        command = [sys.executable, "-m", "pre_commit", "run", hook, "--files", *files]
    env = dict(os.environ, PRE_COMMIT_HOME=str(home))
    return subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True)


def _head() -> str:
    return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()


def mem_files(repo: pathlib.Path) -> list[str]:
    return sorted(p.name for p in repo.glob("*.mem"))  # examples/*.mem: hosts, not templates/


def test_hostspec_check_hook_passes_on_the_examples_and_fails_on_a_broken_copy(home, project):
    run = try_repo(home, project, "hostspec-check", *mem_files(project))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "hostspec check" in run.stdout and "Passed" in run.stdout
    broken = project / "broken.mem"
    broken.write_text((project / "lab.mem").read_text().replace("cpu intel", "cpu intle"))
    run = try_repo(home, project, "hostspec-check", *mem_files(project))
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Failed" in run.stdout and "HS0202" in run.stdout and "broken.mem:7:9" in run.stdout


def test_hostspec_fmt_hook_rewrites_and_fails_when_it_changed_a_file(home, project):
    run = try_repo(home, project, "hostspec-fmt", *mem_files(project))
    assert run.returncode == 0, run.stdout + run.stderr
    lab = project / "lab.mem"
    canonical = lab.read_text()
    lab.write_text(canonical.replace("    cpu intel\n", "cpu     intel\n"))
    run = try_repo(home, project, "hostspec-fmt", *mem_files(project))
    assert run.returncode == 1 and "files were modified by this hook" in run.stdout, run.stdout
    assert lab.read_text() == canonical


def test_hostspec_compile_check_hook_compares_with_the_committed_tree(home, project):
    out = project / "build"
    subprocess.run([sys.executable, "-m", "hostspec", "compile", "-q", *mem_files(project), "--out", str(out)],
                   cwd=project, check=True)
    subprocess.run(["git", "-C", str(project), "add", "-A"], check=True)
    run = try_repo(home, project, "hostspec-compile-check", *mem_files(project), args=("--out", "build"))
    assert run.returncode == 0, run.stdout + run.stderr
    lab = project / "lab.mem"
    lab.write_text(lab.read_text().replace("reserve 4GiB", "reserve 6GiB"))
    run = try_repo(home, project, "hostspec-compile-check", *mem_files(project), args=("--out", "build"))
    assert run.returncode == 1 and "Failed" in run.stdout, run.stdout + run.stderr
