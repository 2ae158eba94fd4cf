"""Templates and ranges report each error once: every template's `from` chain is
checked whether or not a guest uses it, and a range's shared body is validated
once for all its guests."""
from __future__ import annotations

from hostspec import api

HOST = "hostspec 1\nhost h { cpu intel; memory 16GiB }\n"


def check(tmp_path, text, name="h.mem"):
    spec = tmp_path / name
    spec.write_text(text)
    return api.check(str(spec)).diagnostics


def where(diagnostics, *codes):
    return [(d.code, d.span.line, d.span.column) for d in diagnostics if d.code in codes]


def test_templates_no_guest_uses_still_report_unknown_parents_and_cycles(tmp_path):
    found = check(tmp_path, HOST + "template a from b { memory 1GiB }\n"
                                   "template b from a { vcpus 2 }\n"
                                   "template c from nosuch { vcpus 0; balloon none; current-memory 1GiB }\n"
                                   "guest g { memory 1GiB }\n")
    assert where(found, "HS0220", "HS0221") == [("HS0221", 3, 1), ("HS0220", 5, 17)]
    assert [d.message for d in found] == ["template `a` inherits from itself through a -> b -> a",
                                          "unknown template `nosuch`"]
    assert all(d.hint for d in found)


def test_a_broken_template_used_by_many_guests_is_reported_once(tmp_path):
    found = check(tmp_path, HOST + "template c from nosuch { memory 1GiB }\n"
                                   "template a from b { memory 1GiB }\n"
                                   "template b from a { vcpus 2 }\n"
                                   "guest g from c { }\nguest h from c { }\nguest r-{1..50} from c { }\n"
                                   "guest s from b { }\nguest t from a { }\nguest u-{1..50} from b { }\n")
    assert where(found, "HS0220", "HS0221") == [("HS0220", 3, 17), ("HS0221", 4, 1)]


def test_a_template_that_leads_into_a_cycle_names_only_the_cycle(tmp_path):
    found = check(tmp_path, HOST + "template x from a { }\n"
                                   "template a from b { memory 1GiB }\n"
                                   "template b from a { }\n"
                                   "guest g from x { }\n")
    assert [(d.code, d.span.line, d.message) for d in found] == [
        ("HS0221", 4, "template `a` inherits from itself through a -> b -> a")]


def test_guests_naming_an_unknown_template_each_get_a_diagnostic(tmp_path):
    found = check(tmp_path, HOST + "guest g from nosuch { }\nguest h from nosuch { }\n"
                                   "guest r-{1..50} from nosuch { }\n")
    assert where(found, "HS0220") == [("HS0220", 3, 14), ("HS0220", 4, 14), ("HS0220", 5, 22)]


def test_an_unused_template_in_an_include_is_reported_there(tmp_path):
    (tmp_path / "t.mem").write_text("hostspec 1\ntemplate t from gone { memory 1GiB }\n")
    found = check(tmp_path, 'hostspec 1\ninclude "t.mem"\nhost h { cpu intel; memory 16GiB }\n')
    assert [(d.code, d.span.file.name.rsplit("/", 1)[-1], d.span.line) for d in found] == [
        ("HS0220", "t.mem", 2)]


def test_a_range_missing_memory_is_reported_once(tmp_path):
    found = check(tmp_path, HOST + "guest w-{1..2000} { vcpus 2 }\n")
    assert where(found, "HS0205") == [("HS0205", 3, 1)]
    assert len(found) == 1
    assert found[0].message == "guest `w-{1..2000}` is missing `memory`"
    assert found[0].hint == "add `memory ...` to the block"


def test_a_range_body_reports_each_distinct_error_once(tmp_path):
    found = check(tmp_path, HOST + "guest w-{1..2000} { vcpus 0 }\n")
    assert sorted(where(found, "HS0204", "HS0205")) == [("HS0204", 3, 27), ("HS0205", 3, 1)]
    assert len(found) == 2


def test_guests_and_ranges_with_their_own_bodies_each_get_a_diagnostic(tmp_path):
    found = check(tmp_path, HOST + "guest a { vcpus 2 }\nguest b { vcpus 2 }\n"
                                   "guest r-{1..9} { vcpus 2 }\nguest q-{1..9} { vcpus 2 }\n")
    assert [(d.code, d.span.line, d.message) for d in found] == [
        ("HS0205", 3, "guest `a` is missing `memory`"), ("HS0205", 4, "guest `b` is missing `memory`"),
        ("HS0205", 5, "guest `r-{1..9}` is missing `memory`"),
        ("HS0205", 6, "guest `q-{1..9}` is missing `memory`")]


def test_a_range_of_valid_guests_still_checks_cleanly(tmp_path):
    spec = tmp_path / "h.mem"
    spec.write_text(HOST + "guest w-{1..20} { memory 64MiB }\n")
    result = api.check(str(spec))
    assert result.diagnostics == []
    assert [g.name for g in result.spec.guests] == [f"w-{n}" for n in range(1, 21)]


def test_a_malformed_range_is_named_not_the_block_brace_after_it(tmp_path):
    for written in ("{1..}", "{a..c}", "{1...3}", "{..3}"):
        found = check(tmp_path, HOST + "guest web-" + written + " { memory 1GiB }\n")
        assert [(d.code, d.span.line, d.span.column) for d in found] == [("HS0229", 3, 11)], written
        assert found[0].message == f"`{written}` is not a guest range"
    # A block's brace stuck to a name opens the block: no range was meant, nothing is wrong.
    assert check(tmp_path, HOST + "guest web{ memory 1GiB }\n") == []
