"""The JSON Schema: the one structural authority for `.mem` and `.json` input.

Schema errors are turned into diagnostics at the source span that wrote the
offending value, never a bare JSON pointer.
"""
from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Iterable, Optional

from hostspec.diagnostics.codes import diag
from hostspec.diagnostics import Diagnostic
from hostspec.language.conforms import conforms
from hostspec.language.index import SpanIndex

SCHEMA_NAME = "hostspec-v1.schema.json"
_KIND = {"integer": "a whole number", "boolean": "`on` or `off`", "string": "a string",
         "number": "a number", "object": "a block", "array": "a list"}


def load_schema(name: str = SCHEMA_NAME) -> dict:
    """A schema shipped with hostspec (inside the wheel, or in the source tree)."""
    try:
        text = resources.files("hostspec.schemas").joinpath(name).read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        import pathlib
        text = (pathlib.Path(__file__).resolve().parents[2] / "schemas" / name).read_text("utf-8")
    return json.loads(text)


@functools.lru_cache(maxsize=4)
def inlined_schema(name: str = SCHEMA_NAME) -> dict:
    """The schema with every `$ref` inlined, read once per process."""
    return inline_refs(load_schema(name))


@functools.lru_cache(maxsize=4)
def validator(name: str = SCHEMA_NAME):
    """A compiled validator, built once per process."""
    from jsonschema import Draft202012Validator
    from referencing import Registry

    # Every `$ref` is inlined, so nothing is ever looked up: an empty registry
    # spares loading jsonschema's bundled meta-schemas (a third of its cost).
    return Draft202012Validator(inlined_schema(name), registry=Registry())


def inline_refs(schema: dict) -> dict:
    """The schema with every local `$ref` replaced by its definition.

    The hostspec schema has no recursion, and resolving references on every
    instance is most of jsonschema's work on large hosts.
    """
    definitions = schema.get("$defs", {})

    def walk(node):
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref", "")
        if ref.startswith("#/$defs/"):
            rest = {k: val for k, val in node.items() if k != "$ref"}
            return walk({**definitions[ref[len("#/$defs/"):]], **rest})
        return {key: walk(value) for key, value in node.items()}

    return walk(schema)


def validate(document: dict, index: SpanIndex) -> list[Diagnostic]:
    """Every schema error of the document, at the span that caused it."""
    found = []
    shown, unseen, positions = _distinct_guests(document, index)
    if conforms(shown, inlined_schema()):
        _remember_valid(unseen, found)  # jsonschema would find nothing: it is not even imported
        return []
    for error in validator().iter_errors(shown):
        if positions is not None and len(error.path) > 1 and error.path[0] == "guests":
            error.path[1] = positions[error.path[1]]  # back to the guest's place in the document
        found.extend(_leaves(error))
    _remember_valid(unseen, found)
    found = _without_explained_missing(found)
    return [d for d in (to_diagnostic(e, index) for e in found) if d is not None]


def _without_explained_missing(errors: list) -> list:
    """Drop "missing `memory`" where the same object has `memroy`: the unknown
    key's did-you-mean already says what is wrong, and says it better."""
    from hostspec.language.words import closest

    meant = set()
    for error in errors:
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = list(error.schema.get("properties", {}))
            for extra in set(error.instance) - set(allowed):
                meant.add((tuple(error.absolute_path), closest(str(extra), allowed)))
    return [error for error in errors if not (
        error.validator == "required" and (tuple(error.absolute_path), _missing(error)) in meant)]


def _missing(error) -> str:
    return error.message.split("'")[1] if "'" in error.message else "?"


# Guest bodies (all but the name, by repr: it tells 1 from True and a list
# from a tuple) that passed the schema in this process.  A body's validity
# depends on nothing else, and big hosts and fleets repeat a few bodies many
# times over.  Whole guests (name too) that passed are left out of the
# document validated: an editor checks the same host again after each edit.
_VALID_BODIES: set[str] = set()
_VALID_GUESTS: set[str] = set()
_VALID_BODIES_MAX = 4096
_STAND_IN = {"memory": 1}  # a valid body, put where a known-valid one was
_MAX_GUESTS = 65536  # the schema's maxItems: longer lists are validated whole


def _distinct_guests(document: dict, index: SpanIndex) -> tuple[dict, dict[int, tuple], Optional[list[int]]]:
    """The document with each distinct guest body validated once, the new
    bodies, and where each guest validated sits in the document.

    Guests of one range share a body that lowering produced once: only the
    first guest's is validated, so each of its errors (a missing key too) is
    reported once, at the line that wrote it.  The range's other guests, and
    a body that already passed, stand in as a minimal valid body.  Names are
    still checked one by one, unless the same guest passed before.
    """
    guests = document.get("guests")
    if not isinstance(guests, list):
        return document, {}, None
    skip = len(guests) <= _MAX_GUESTS
    kept, unseen, positions = [], {}, []
    for i, guest in enumerate(guests):
        if i in index.shared_bodies:
            guest = {**_STAND_IN, "name": guest.get("name")}
            whole = repr(guest)
            if skip and whole in _VALID_GUESTS:
                continue
            unseen[i] = (None, whole)
        else:
            whole = repr(guest) if isinstance(guest, dict) and "name" in guest else None
            if skip and whole is not None and whole in _VALID_GUESTS:
                continue
            key = _body_key(guest)
            if key is not None and key in _VALID_BODIES:
                guest = {**_STAND_IN, "name": guest["name"]}
            if whole is not None:
                unseen[i] = (key, whole)
        kept.append(guest)
        positions.append(i)
    return {**document, "guests": kept}, unseen, positions


def _body_key(guest) -> Optional[str]:
    if not isinstance(guest, dict) or "name" not in guest:
        return None
    return repr({k: v for k, v in guest.items() if k != "name"})


def _remember_valid(unseen: dict[int, tuple], errors: list) -> None:
    """Record the bodies, and whole guests, that had no schema error."""
    failed = {error.absolute_path[1] for error in errors
              if len(error.absolute_path) > 1 and error.absolute_path[0] == "guests"}
    if len(_VALID_BODIES) > _VALID_BODIES_MAX:
        _VALID_BODIES.clear()
    if len(_VALID_GUESTS) > _MAX_GUESTS:
        _VALID_GUESTS.clear()
    for i, (key, whole) in unseen.items():
        if i not in failed:
            if key is not None:
                _VALID_BODIES.add(key)
            _VALID_GUESTS.add(whole)


def _leaves(error) -> Iterable:
    """The innermost errors (if/then and $ref wrap the real reason)."""
    if error.context:
        for sub in error.context:
            yield from _leaves(sub)
    else:
        yield error


def to_diagnostic(error, index: SpanIndex) -> Optional[Diagnostic]:
    path = tuple(error.absolute_path)
    handler = _HANDLERS.get(error.validator, _generic)
    return handler(error, path, index)


# Document keys that the `.mem` language spells with their statement's name:
# `backing hugepages 2MiB` is {"backing": {"type": ...}}, `balloon virtio` {"balloon": {"model": ...}}.
_SPELLED_AS = {("backing", "type"): "backing", ("balloon", "model"): "balloon", ("kernel", "version"): "kernel"}


def _key_name(path: tuple) -> str:
    words = [part for part in path if isinstance(part, str)]
    if not words:
        return "document"
    if tuple(words[-2:]) in _SPELLED_AS:
        return _SPELLED_AS[tuple(words[-2:])]
    return {"pools": "pool", "nodes": "node"}.get(words[-1], words[-1])


def _additional(error, path, index):
    from hostspec.language.words import did_you_mean

    allowed = list(error.schema.get("properties", {}))
    extra = sorted(set(error.instance) - set(allowed))
    key = extra[0] if extra else "?"
    return diag("HS0201", f"unknown key `{key}`", index.key(path + (key,)),
                did_you_mean(key, allowed) or f"allowed keys: {', '.join(f'`{k}`' for k in allowed)}")


def _enum(error, path, index):
    from hostspec.language.words import did_you_mean

    choices = [str(c) for c in error.validator_value]
    shown = error.instance if isinstance(error.instance, str) else json.dumps(error.instance)
    hint = did_you_mean(str(shown), choices) or f"choose one of {', '.join(f'`{c}`' for c in choices)}"
    return diag("HS0202", f"`{_key_name(path)}` cannot be `{shown}`", index.value(path), hint)


def _const(error, path, index):
    if path == ("hostspec",):
        return diag("HS0215", f"language version `{error.instance}` is not supported", index.value(path),
                    "this build of hostspec reads version 1")
    return _enum(error, path, index)


def _type(error, path, index):
    expected = error.validator_value if isinstance(error.validator_value, str) else error.validator_value[0]
    shown = error.instance if isinstance(error.instance, str) else json.dumps(error.instance)
    hint = "write `on` or `off`" if expected == "boolean" else f"`{_key_name(path)}` takes {_KIND.get(expected, expected)}"
    return diag("HS0203", f"`{_key_name(path)}` expects {_KIND.get(expected, expected)}, not `{shown}`",
                index.value(path), hint)


def _minimum(error, path, index):
    bound, value = _as_written(error, path, index)
    return diag("HS0204", f"`{_key_name(path)}` must be at least {bound}, not {value}",
                index.value(path), f"raise it to {bound} or more")


def _maximum(error, path, index):
    bound, value = _as_written(error, path, index)
    return diag("HS0210", f"`{_key_name(path)}` must be at most {bound}, not {value}",
                index.value(path), "no value is wrapped or truncated: write a smaller number")


def _as_written(error, path, index) -> tuple[str, str]:
    """A limit and the value that broke it, in the terms of the input: a size or
    duration written with a unit in a `.mem` file is shown with units (the
    document holds bytes and milliseconds), a plain number as it is."""
    bound, value = error.validator_value, error.instance
    span = index.value(path)
    kind = _unit_kinds().get(_key_name(path))
    if kind is None or span is None or span.text.strip().isdigit() or not isinstance(bound, int):
        return str(bound), str(value)
    from hostspec.language.units import format_size

    if kind == "duration":
        return _format_duration(bound), span.text
    shown = format_size(bound)
    return (shown if shown.endswith("iB") else f"{bound} byte{'' if bound == 1 else 's'}"), span.text


def _format_duration(milliseconds: int) -> str:
    return f"{milliseconds // 1000}s" if milliseconds % 1000 == 0 else f"{milliseconds}ms"


@functools.lru_cache(maxsize=1)
def _unit_kinds() -> dict[str, str]:
    """Keys whose `.mem` value carries a unit: key -> "size" or "duration"."""
    from hostspec.language import values as v
    from hostspec.language.words import GUEST_BLOCKS, GUEST_KEYS, HOST_BLOCKS, HOST_KEYS

    readers = {**HOST_KEYS, **GUEST_KEYS}
    for block in (*HOST_BLOCKS.values(), *GUEST_BLOCKS.values()):
        readers.update(block)
    kinds = {key: "size" for key, read in readers.items() if read is v.size}
    kinds.update({key: "duration" for key, read in readers.items() if read in (v.duration, v.seconds)})
    kinds["size"] = "size"  # a pool's page size, read by the `pool` statement
    return kinds


def _required(error, path, index):
    missing = _missing(error)
    if index.has(path + (missing,)):
        return None  # written, but its value was already reported as unreadable
    owner = _key_name(path) if path else "document"
    if path[:1] == ("guests",) and len(path) == 2:
        owner = f"guest `{_guest_name(error.instance, path[1], index)}`"
    elif path == ("host",):
        owner = f"host `{error.instance.get('name', '?')}`"
    else:
        owner = f"`{owner}`"
    hint = f"add `{missing} ...` to the block"
    if path[-2:-1] == ("pools",):
        hint = f"add `{missing} N` after the page size: `pool 2MiB count 512`"
    return diag("HS0205", f"{owner} is missing `{missing}`", index.at(path), hint)


def _guest_name(guest: dict, number: int, index: SpanIndex) -> str:
    """The guest's name, or the range as written when its body is the one of many guests."""
    name_span = index.value(("guests", number, "name"))
    if number + 1 in index.shared_bodies and name_span is not None:
        return name_span.text
    return guest.get("name", "?")


def _pattern(error, path, index):
    if path[-1:] == ("name",):
        return diag("HS0213", f"`{error.instance}` is not a valid name", index.value(path),
                    "names are 1-63 letters, digits, `_`, `.` or `-`, starting with a letter or digit")
    return diag("HS0203", f"`{_key_name(path)}` expects a version like `6.1`, not `{error.instance}`",
                index.value(path), "write MAJOR.MINOR, e.g. `kernel 5.15`")


def _multiple(error, path, index):
    return diag("HS0211", f"`{_key_name(path)}` must be whole seconds", index.value(path),
                "write the period in seconds, e.g. `10s`")


def _max_properties(error, path, index):
    what = "`backing normal` takes no size or node" if path[-1:] == ("backing",) \
        else "`balloon none` takes no options"
    return diag("HS0230", what, index.at(path), "remove the extra words or options")


def _items(error, path, index):
    if path == ("guests",):
        return diag("HS0228", "the host declares more than 65536 guests", index.at(path),
                    "split the fleet over several hosts")
    return diag("HS0212", f"`{_key_name(path)}` has a bad list: {error.message}", index.value(path),
                "list each node once, at most 1024 of them")


def _generic(error, path, index):
    return diag("HS0203", f"`{_key_name(path)}`: {error.message}", index.value(path), None)


_HANDLERS = {
    "additionalProperties": _additional, "enum": _enum, "const": _const, "type": _type,
    "minimum": _minimum, "exclusiveMinimum": _minimum, "maximum": _maximum,
    "required": _required, "pattern": _pattern, "not": _pattern, "multipleOf": _multiple,
    "maxProperties": _max_properties, "minItems": _items, "maxItems": _items, "uniqueItems": _items,
}
