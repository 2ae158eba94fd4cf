"""Guest checks on models: backing sizes and nodes, memory sizes, balloons, KSM opt-outs."""
from __future__ import annotations

from test_checks_support import GiB, MiB, codes, guest, hugepage_guest, messages, pool

TWO_SIZES = {"pools": [pool(2 * MiB, 4096), pool(GiB, 16)]}


# HS0311 / HS0313 / HS0304: which page size backs a guest

def test_backing_size_without_pool():
    hp = {"pools": [pool(2 * MiB, 4096)]}
    assert codes([hugepage_guest("a", 2 * GiB, 2 * MiB)], hugepages=hp) == []
    assert messages("HS0311", [hugepage_guest("a", 2 * GiB, GiB)], hugepages=hp) == [
        "guest `a` is backed by `1GiB` pages, but no pool has that size"]


def test_backing_size_invalid_for_arch_is_named_as_such():
    assert codes([hugepage_guest("a", 2 * GiB, 64 * 1024)], hugepages=TWO_SIZES) == ["HS0304"]


def test_backing_without_size_uses_the_default_or_the_only_pool():
    assert codes([hugepage_guest("a", 2 * GiB)], hugepages={"pools": [pool(2 * MiB, 4096)]}) == []
    with_default = dict(TWO_SIZES, **{"default-size": GiB})
    assert codes([hugepage_guest("a", 2 * GiB)], hugepages=with_default) == []
    assert messages("HS0313", [hugepage_guest("a", 2 * GiB)], hugepages=TWO_SIZES) == [
        "`backing hugepages` on guest `a` has no size, and the host has pools of `2MiB`, "
        "`1GiB` and no `default-size`"]


def test_backing_without_size_and_no_pools_at_all():
    assert messages("HS0313", [hugepage_guest("a", 2 * GiB)]) == [
        "`backing hugepages` on guest `a` has no size, and the host has no huge page pools"]


# HS0312: whole pages

def test_memory_must_be_whole_pages():
    assert codes([hugepage_guest("a", 3 * GiB, GiB), hugepage_guest("b", 3 * GiB + 2 * MiB, 2 * MiB)],
                 hugepages=TWO_SIZES) == []
    assert messages("HS0312", [hugepage_guest("a", 3 * GiB + 2 * MiB, GiB)], hugepages=TWO_SIZES) == [
        "guest `a` has `memory 3074MiB`, not a whole number of 1GiB pages"]


# HS0325: guest nodes

def test_guest_node_range():
    hp = {"pools": [pool(2 * MiB, 4096)]}
    assert codes([hugepage_guest("a", 2 * GiB, nodes=[0, 1])], numa_nodes=2, hugepages=hp) == []
    assert messages("HS0325", [hugepage_guest("a", 2 * GiB, nodes=[1, 2])], numa_nodes=2,
                    hugepages=hp) == ["guest `a` is bound to node 2, but the host has 2 NUMA nodes"]


# HS0314 / HS0315: current memory

def test_current_memory_above_memory():
    assert codes([guest("a", 4 * GiB, current_memory=4 * GiB)]) == []
    assert messages("HS0314", [guest("a", 4 * GiB, current_memory=4 * GiB + MiB)]) == [
        "guest `a` has `current-memory 4097MiB` above `memory 4GiB`"]


def test_current_memory_below_memory_needs_a_balloon():
    assert codes([guest("a", 4 * GiB, current_memory=2 * GiB)]) == []
    assert codes([guest("a", 4 * GiB, current_memory=4 * GiB, balloon={"model": "none"})]) == []
    assert messages("HS0315", [guest("a", 4 * GiB, current_memory=2 * GiB,
                                     balloon={"model": "none"})]) == [
        "guest `a` starts with 2GiB of 4GiB, but `balloon none` leaves nothing to hold the rest"]


# HS0316: balloons that return nothing

def test_balloon_in_hugepage_or_locked_guests_is_warned():
    hp = {"pools": [pool(2 * MiB, 4096)]}
    quiet = [hugepage_guest("a", 2 * GiB), guest("b", locked=True, balloon={"model": "none"}),
             guest("c", balloon={"model": "virtio"})]
    assert codes(quiet, hugepages=hp) == []
    loud = [hugepage_guest("a", 2 * GiB, balloon={"model": "virtio"}), guest("b", locked=True)]
    assert messages("HS0316", loud, hugepages=hp) == [
        "a virtio balloon in hugepage-backed or locked guests `a`, `b` returns nothing useful to the host"]


# HS0317: share-pages without KSM

def test_share_pages_off_without_ksm_running():
    off = [guest("a", share_pages=False)]
    assert codes(off, ksm={"run": "on"}) == []
    assert codes([guest("a", share_pages=True)], ksm={"run": "off"}) == []
    for ksm in ({"run": "off"}, {"run": "unmerge"}):
        assert codes(off, ksm=ksm) == [], ksm  # a note only
        assert len(messages("HS0317", off, ksm=ksm)) == 1, ksm
    assert messages("HS0317", off, ksm={"run": "unmerge"}) == [
        "`share-pages off` on guest `a` has no effect with `ksm run unmerge`"]


def test_share_pages_off_is_a_precaution_when_the_host_decides_on_ksm():
    # No `run`: Debian's ksm.service and ksmtuned may well start KSM.
    off = [guest("a", share_pages=False)]
    for ksm in ({}, {"pages-to-scan": 100}):
        assert codes(off, ksm=ksm) == [], ksm


def test_guests_of_one_range_are_named_together():
    many = [guest(f"web-{i:02d}", share_pages=False) for i in range(1, 21)]
    assert messages("HS0317", many, ksm={"run": "off"}) == [
        "`share-pages off` on guests `web-01`..`web-20` has no effect with `ksm run off`"]


def test_guests_of_one_template_share_one_error(tmp_path):
    import hostspec
    spec = tmp_path / "fleet.mem"
    spec.write_text("hostspec 1\n"
                    "host h { cpu intel; memory 512GiB; hugepages { pool 1GiB count 200 } }\n"
                    "template big { memory 3073MiB; backing hugepages 1GiB; balloon none }\n"
                    "guest db-{01..40} from big { }\n"
                    "guest odd from big { memory 5GiB }\n")
    found = [(d.code, d.span.line, d.message) for d in hostspec.check(str(spec)).diagnostics]
    # `odd` overrides `memory` with a whole number of pages: not named.
    assert found == [("HS0312", 3, "guests `db-01`..`db-40` have `memory 3073MiB`, not a whole "
                                   "number of 1GiB pages")]


def test_a_defensive_opt_out_is_a_note_that_strict_does_not_fail(tmp_path):
    """`share-pages off` with `ksm run off` is a precaution: a note, never a failure."""
    from hostspec.commands import cli
    from hostspec.diagnostics import Severity
    from hostspec.diagnostics.codes import CODES

    assert CODES["HS0317"].severity == Severity.NOTE
    spec = tmp_path / "h.mem"
    spec.write_text("hostspec 1\nhost h { cpu intel; memory 64GiB; ksm { run off } }\n"
                    "guest db { memory 4GiB; share-pages off }\n")
    assert cli.main(["check", "--strict", "--format", "json", str(spec)]) == 0
    assert cli.main(["compile", "--strict", "-q", str(spec), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "h").is_dir()
