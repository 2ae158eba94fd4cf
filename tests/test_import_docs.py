"""The worked example of docs/import.md is what `hostspec import` writes for
its host: a root laid out from the spec below, imported, compared line for line."""
from __future__ import annotations

import pathlib
import re

from hostspec import api
from hostspec.commands import cli
from hostspec.commands.compile import compile_file
from importroot import root_from_tree

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "import.md"

# The host the example was taken from, as its operators would have written it.
SPEC = """hostspec 1
host hv-07 {
    cpu intel
    memory 384GiB
    numa-nodes 2
    kvm { nested off }
    hugepages {
        default-size 1GiB
        pool 1GiB count 64 node 0,1
        pool 2MiB count 2048 at runtime
    }
    thp { enabled madvise; defrag defer+madvise }
    ksm { run on; pages-to-scan 500 }
    swap { size 16GiB; swappiness 10 }
}
guest db-01 { memory 64GiB; vcpus 16; backing hugepages 1GiB node 0; locked on; share-pages off; balloon none }
guest web-01 { memory 4GiB; vcpus 2; current-memory 3GiB; balloon virtio { autodeflate on; stats-period 10s } }
guest web-02 { memory 4GiB; vcpus 2; current-memory 3GiB; balloon virtio { autodeflate on; stats-period 10s } }
guest web-03 { memory 4GiB; vcpus 2; current-memory 3GiB; balloon virtio { autodeflate on; stats-period 10s } }
"""


def test_worked_example_is_what_import_writes(tmp_path):
    source = tmp_path / "ops" / "hv-07.mem"
    source.parent.mkdir()
    source.write_text(SPEC)
    compiled = compile_file(str(source))
    assert compiled.tree is not None
    root = tmp_path / "snapshot"
    root_from_tree(compiled.result.spec, {p: f.data for p, f in compiled.tree.files.items()}, root)
    out = tmp_path / "draft" / "hv-07.mem"
    assert cli.main(["import", "--root", str(root), "--name", "hv-07", "-o", str(out)]) == 0
    shown = re.search(r"exactly this text.*?\n```\n(.*?)```", DOC.read_text(), re.S)[1]
    assert out.read_text() == shown
    assert not api.check(str(out)).failed()
    assert sorted(p.name for p in (out.parent / "imported").iterdir()) == [
        "db-01.xml", "web-01.xml", "web-02.xml", "web-03.xml"]
