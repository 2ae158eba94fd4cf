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


def test_equality_and_hashing_are_attrs_own():
    def make(decorator):
        @decorator
        class Pair:
            a: int
            b: tuple = ()
            ignored: str = attrs.field(default="", eq=False)

        return Pair

    for ours, theirs in ((records.frozen, attrs.frozen), (records.define, attrs.define)):
        mine, reference = make(ours), make(theirs)
        for left, right in (((1, (2,)), (1, (2,))), ((1, ()), (2, ())), ((1, (2,)), (1, (3,)))):
            assert (mine(*left) == mine(*right)) == (reference(*left) == reference(*right))
            assert (mine(*left) != mine(*right)) == (reference(*left) != reference(*right))
        assert mine(1, (), "x") == mine(1, (), "y")  # eq=False fields are not compared
        assert mine(1) != reference(1) and mine(1).__eq__(reference(1)) is NotImplemented
        if ours is records.frozen:
            assert hash(mine(1, (2,), "x")) == hash(mine(1, (2,), "y"))
            assert len({mine(1), mine(1), mine(2)}) == 2
        else:
            assert mine.__hash__ is None and reference.__hash__ is None  # mutable: unhashable
