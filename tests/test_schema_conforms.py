"""The schema's fast check (`language/conforms.py`) against jsonschema itself.

`conforms` decides alone only when it says "valid": then jsonschema is not
even imported.  So the property that matters is: whenever `conforms` says
True, jsonschema reports no error.  It is checked on every document the
repository's inputs lower to (examples, golden cases, the error corpus, the
docs' examples), on 6,000 one-edit mutations of valid documents (a value
replaced by any JSON value, a key dropped, a key added), and on the JSON
corners where Python and JSON Schema disagree (True is 1, 1.0 is an integer).
The other direction is checked too, so the fast path is the one taken: on
every one of these documents that jsonschema finds valid, `conforms` says so,
except for the arithmetic it leaves to jsonschema on purpose.
"""
from __future__ import annotations

import copy
import json
import math
import os
import pathlib
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from hostspec.language import expand, jsonform, schema
from hostspec.language.conforms import conforms
from hostspec.language.reader import is_json, read_source

ROOT = pathlib.Path(__file__).resolve().parent.parent
INPUTS = sorted({*ROOT.glob("examples/**/*.mem"), *ROOT.glob("examples/**/*.json"),
                 *ROOT.glob("tests/cases/**/*.mem"), *ROOT.glob("tests/cases/**/*.json"),
                 *ROOT.glob("tests/errors/**/*.mem"), *ROOT.glob("tests/errors/**/*.json")})
SCHEMA = schema.inlined_schema()


def jsonschema_errors(document) -> list[str]:
    return [error.message for error in schema.validator().iter_errors(document)]


def lowered(path: pathlib.Path):
    source, problems = read_source(str(path))
    if source is None:
        return None
    if is_json(source):
        document, _, _ = jsonform.read(source)
    else:
        document, _, _ = expand.lower_source(source, path.parent, (), None, None)
    return document


def documents() -> dict[str, dict]:
    found = {}
    for path in INPUTS:
        document = lowered(path)
        if document is not None:
            found[str(path.relative_to(ROOT))] = document
    return found


DOCUMENTS = documents()
VALID = {name: doc for name, doc in DOCUMENTS.items() if not jsonschema_errors(doc)}


def test_the_inputs_cover_valid_and_invalid_documents():
    assert len(DOCUMENTS) > 60
    assert len(VALID) > 20
    assert len(DOCUMENTS) - len(VALID) > 10    # the error corpus reaches the schema


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_conforms_agrees_with_jsonschema_on_every_input(name):
    document = DOCUMENTS[name]
    assert conforms(document, SCHEMA) == (not jsonschema_errors(document))


# -- one-edit mutations of valid documents ------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.sampled_from([0, 1, 2, 1024, 65536])
    | st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([1.0, 0.5, 2.0, 1e300])
    | st.text(max_size=8) | st.sampled_from(["on", "off", "intel", "amd", "never", "madvise", "6.1",
                                            "web-1", "", "a b"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8)


def places(node, path=()):
    """Every (path, value) inside a document."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from places(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from places(value, path + (i,))


def parent_of(document, path):
    node = document
    for part in path[:-1]:
        node = node[part]
    return node


@st.composite
def one_edit(draw):
    document = copy.deepcopy(VALID[draw(st.sampled_from(sorted(VALID)))])
    inside = [p for p, _ in places(document) if p]
    path = draw(st.sampled_from(inside))
    parent = parent_of(document, path)
    kind = draw(st.sampled_from(["replace", "replace", "drop", "add"]))
    if kind == "replace":
        parent[path[-1]] = draw(JSON_VALUES)
    elif kind == "drop":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        known = ["memory", "name", "count", "node", "size", "run", "enabled", "policy", "nodes",
                 "hugepages", "ksm", "thp", "cpu", "backing", "balloon", "type", "model"]
        parent[draw(st.sampled_from(known) | st.text(max_size=6))] = draw(JSON_VALUES)
    else:
        parent.append(draw(JSON_VALUES))
    return document


def left_to_jsonschema(document) -> bool:
    """Documents whose verdict `conforms` leaves to jsonschema on purpose."""
    return any(isinstance(value, float) for _, value in places(document)) or any(
        isinstance(value, list) and any(not isinstance(i, int) or isinstance(i, bool) for i in value)
        for _, value in places(document))


@settings(max_examples=6000, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(one_edit())
def test_conforms_never_passes_what_jsonschema_rejects(document):
    errors = jsonschema_errors(document)
    if conforms(document, SCHEMA):
        assert not errors
    elif not errors:
        assert left_to_jsonschema(document), json.dumps(document)[:500]


# -- the corners ---------------------------------------------------------------------------

SMALL = {"type": "object", "additionalProperties": False, "required": ["n"], "properties": {
    "n": {"type": "integer", "minimum": 0, "maximum": 10, "multipleOf": 2},
    "flag": {"enum": [True, "on"]},
    "nodes": {"type": "array", "items": {"type": "integer"}, "uniqueItems": True, "maxItems": 3},
    "v": {"type": "string", "pattern": "^[0-9]+$", "minLength": 1, "maxLength": 3},
    "kind": {"type": ["string", "object"], "maxProperties": 1},
}, "if": {"properties": {"kind": {"const": "x"}}, "required": ["kind"]},
    "then": {"not": {"required": ["v"]}}}


@pytest.mark.parametrize("instance", [
    {"n": 4}, {"n": 4.0}, {"n": True}, {"n": 3}, {"n": 12}, {"n": -2}, {"n": "4"},
    {"n": 2, "flag": 1}, {"n": 2, "flag": True}, {"n": 2, "flag": "on"}, {"n": 2, "flag": 1.0},
    {"n": 2, "nodes": [0, 1]}, {"n": 2, "nodes": [1, 1]}, {"n": 2, "nodes": [1, True]},
    {"n": 2, "nodes": [0, 1, 2, 3]}, {"n": 2, "nodes": [1.0, 1]},
    {"n": 2, "v": "12"}, {"n": 2, "v": "1a"}, {"n": 2, "v": ""}, {"n": 2, "v": "1234"},
    {"n": 2, "kind": "x"}, {"n": 2, "kind": "x", "v": "1"}, {"n": 2, "kind": "y", "v": "1"},
    {"n": 2, "kind": {"a": 1}}, {"n": 2, "kind": {"a": 1, "b": 2}}, {"n": 2, "kind": 3},
    {"n": 2, "extra": 1}, {}, [], "n", None, {"n": float("nan")}, {"n": float("inf")},
    {"n": 2, "nodes": (0, 1)}, {"n": 2, 3: 4},
])
def test_the_corners_where_python_and_json_schema_differ(instance):
    from jsonschema import Draft202012Validator

    valid = Draft202012Validator(SMALL).is_valid(instance)
    if conforms(instance, SMALL):
        assert valid
    elif valid:
        floats = isinstance(instance, dict) and isinstance(instance.get("n"), float)
        assert floats and math.isfinite(instance["n"]), instance


def test_a_keyword_it_does_not_know_leaves_the_verdict_to_jsonschema():
    assert conforms({"a": 1}, {"type": "object"})
    assert not conforms({"a": 1}, {"type": "object", "minProperties": 1})
    assert not conforms({"a": 1}, {"$ref": "#/$defs/x", "$defs": {"x": True}})
    assert not conforms({"a": 1}, {"type": "object", "patternProperties": {"^a$": True},
                                   "additionalProperties": False})


def test_a_valid_spec_is_checked_without_importing_jsonschema(tmp_path):
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "hostspec", "check", "-q",
                           str(ROOT / "examples" / "lab.mem")], capture_output=True, text=True,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "hostspec.language.conforms" in imported
    assert not {name for name in imported if name.split(".")[0] in ("jsonschema", "referencing")}
    bad = tmp_path / "bad.mem"
    bad.write_text((ROOT / "examples" / "lab.mem").read_text().replace("cpu intel", "cpu intell", 1))
    done = subprocess.run([sys.executable, "-m", "hostspec", "check", str(bad)],
                          capture_output=True, text=True)
    assert done.returncode == 1 and "HS0202" in done.stdout + done.stderr
