"""Every guest of every example compiles to a domain libvirt accepts and keeps unchanged."""
from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest
from lxml import etree

sys.path.insert(0, str(pathlib.Path(__file__).with_name("libvirt")))
from domaintools import define_and_dump_all, expected_settings, memory_settings  # noqa: E402

from hostspec.backends import tree as emit  # noqa: E402
from hostspec.commands.compile import compile_file  # noqa: E402

EXAMPLES = sorted((pathlib.Path(__file__).resolve().parent.parent / "examples").glob("*.mem"))


def test_there_are_examples():
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_every_example_guest_is_a_valid_domain(example, tmp_path):
    compiled = compile_file(str(example))
    assert compiled.tree is not None, [d.message for d in compiled.result.diagnostics]
    spec = compiled.result.spec
    manifest = json.loads(compiled.tree.files[emit.MANIFEST].data)
    domains = {entry["path"]: entry for entry in manifest["artifacts"]
               if entry["kind"] == "libvirt-domain"}
    assert sorted(domains) == sorted(f"etc/hostspec/domains/{g.name}.xml" for g in spec.guests)
    assert {entry["takes_effect"] for entry in domains.values()} == {"guest-restart"}
    files = {g.name: compiled.tree.files[f"etc/hostspec/domains/{g.name}.xml"].data
             for g in spec.guests}
    stored = define_and_dump_all(files, tmp_path)
    for guest in spec.guests:
        expected = expected_settings(spec, guest)
        assert memory_settings(etree.fromstring(files[guest.name])) == expected, guest.name
        assert memory_settings(stored[guest.name]) == expected, guest.name


def test_check_does_not_import_lxml():
    """`hostspec check` stays light: only building domains needs lxml."""
    code = ("import sys; from hostspec.commands.cli import main; rc = main(['check', sys.argv[1]]); "
            "sys.exit(10 if 'lxml' in sys.modules else rc)")
    run = subprocess.run([sys.executable, "-c", code, str(EXAMPLES[0])], capture_output=True,
                         text=True, timeout=60, cwd=pathlib.Path(__file__).resolve().parent.parent)
    assert run.returncode == 0, run.stdout + run.stderr
