"""records.frozen/define: attrs classes with one shared __repr__, printing what attrs' own does."""
from __future__ import annotations

import pickle

import attrs

from hostspec import records


def _pair(decorator):
    @decorator
    class Point:
        x: int
        label: str = "a"
        secret: bytes = attrs.field(default=b"", repr=False)
        shown: int = attrs.field(default=7, repr=lambda value: f"<{value}>")

    return Point


def test_repr_is_attrs_own():
    for ours, theirs in ((records.frozen, attrs.frozen), (records.define, attrs.define)):
        mine, reference = _pair(ours), _pair(theirs)
        assert repr(mine(1, "b'c", b"x", 3)) == repr(reference(1, "b'c", b"x", 3))
        assert "secret" not in repr(mine(1))


def test_records_stay_attrs_classes():
    point_class = _pair(records.frozen)
    point = point_class(1)
    assert attrs.has(point_class) and attrs.evolve(point, x=2).x == 2
    assert point == point_class(1) and hash(point) == hash(point_class(1))


def test_model_records_pickle_and_print():
    from hostspec.diagnostics.codes import diag  # diagnostics are sent between -j workers

    diagnostic = diag("HS0408", "host `a` is also compiled from `b.mem`", None,
                      hint="compile each host from one file per call", file_name="a.mem")
    assert pickle.loads(pickle.dumps(diagnostic)) == diagnostic
    assert repr(diagnostic).startswith("Diagnostic(") and "HS0408" in repr(diagnostic)
