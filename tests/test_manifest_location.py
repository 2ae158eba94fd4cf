"""The manifest lives at usr/share/hostspec/hostspec-manifest.json.

Trees written by earlier compiles have it at the top, where copying the tree over
`/` drops it into a read-only `/` on ostree and bootc hosts.  For one release
`compile --check` names the move when it meets such a tree, and `audit`
reads a root that still has one as it reads any other.
"""
from __future__ import annotations

import json
import pathlib
import shutil

from hostspec.backends import tree as emit
from hostspec.commands import cli

EXAMPLE = pathlib.Path(__file__).resolve().parent.parent / "examples" / "lab.mem"


def old_tree(out: pathlib.Path) -> pathlib.Path:
    """Today's tree with the manifest where earlier compiles wrote it."""
    assert cli.main(["compile", "-q", str(EXAMPLE), "--out", str(out)]) == 0
    host = out / "lab-01"
    (host / emit.MANIFEST).rename(host / emit.OLD_MANIFEST)
    shutil.rmtree(host / "usr/share")
    return host


def test_the_manifest_is_under_usr_share_and_nothing_is_at_the_top(tmp_path):
    assert cli.main(["compile", "-q", str(EXAMPLE), "--out", str(tmp_path)]) == 0
    host = tmp_path / "lab-01"
    assert sorted(p.name for p in host.iterdir()) == ["etc", "usr"]
    manifest = json.loads((host / "usr/share/hostspec/hostspec-manifest.json").read_text())
    assert manifest["host"] == "lab-01"


def test_check_names_the_move_and_a_compile_makes_it(tmp_path, capsys):
    host = old_tree(tmp_path)
    capsys.readouterr()
    assert cli.main(["compile", "--check", str(EXAMPLE), "--out", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert f"--- {host}/hostspec-manifest.json\t(on disk, mode 0644)\n+++ /dev/null\n" in captured.out
    assert f"--- /dev/null\n+++ {host}/{emit.MANIFEST}\t" in captured.out
    assert "earlier compiles kept the manifest" in captured.err and emit.MANIFEST in captured.err
    assert (host / emit.OLD_MANIFEST).exists()  # --check wrote nothing

    assert cli.main(["compile", "-q", str(EXAMPLE), "--out", str(tmp_path)]) == 0
    assert not (host / emit.OLD_MANIFEST).exists() and (host / emit.MANIFEST).is_file()
    assert cli.main(["compile", "--check", str(EXAMPLE), "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "manifest" not in captured.err


def test_audit_reads_a_root_with_an_old_manifest_like_any_other(tmp_path, capsys):
    plain = tmp_path / "plain"
    (plain / "proc").mkdir(parents=True)
    (plain / "proc/cmdline").write_text("BOOT_IMAGE=/vmlinuz transparent_hugepage=always\n")
    with_old = tmp_path / "with-old"
    shutil.copytree(plain, with_old)
    (with_old / emit.OLD_MANIFEST).write_text('{"hostspec": "0.1.0", "host": "lab-01"}\n')
    results = []
    for root in (plain, with_old):
        status = cli.main(["audit", "--format", "json", str(EXAMPLE), "--root", str(root)])
        report = json.loads(capsys.readouterr().out)
        results.append((status, report["items"], report["result"]))
    assert results[0] == results[1]
    assert any(item["status"] == "ok" for item in results[0][1])  # it did read the root
