"""A yes-or-maybe check of a document against the hostspec schema, without jsonschema.

Almost every document hostspec reads is valid, and importing jsonschema and
building its validator costs more than all the rest of a `check`.  So the
schema module first asks `conforms`: True means jsonschema would report no
error either, and the document is valid; False means "let jsonschema decide",
and jsonschema then finds the errors (or none) and words them.

Only one direction has to be exact.  `conforms` knows the JSON Schema 2020-12
keywords the hostspec schema uses, with jsonschema's own semantics (bool is
not a number, 1.0 is an integer, `equal` keeps True apart from 1); a keyword
it does not know, a `$ref` left in the schema, a value of a type JSON does
not have (or a float that is not finite), or arithmetic it leaves to
jsonschema (a float `multipleOf`, unique items that are not all integers),
makes it answer False.  Inside, every False it reaches is exact, because
`not` and `if` turn an answer around; what it is unsure of raises instead.
"""
from __future__ import annotations

import math
import re
from typing import Any

# Keywords that never make an instance invalid (annotations, identifiers,
# definitions whose every `$ref` was inlined); `then`/`else` are read by `if`.
_ANNOTATIONS = frozenset({"$schema", "$id", "$defs", "$comment", "title", "description", "default",
                          "examples", "format", "deprecated", "readOnly", "writeOnly", "then", "else"})
_JSON_SCALARS = (str, int, float, bool, type(None))


def conforms(instance: Any, schema: Any) -> bool:
    """True only if `instance` is valid against `schema` (2020-12, no `$ref`)."""
    try:
        return _plain(instance) and _valid(instance, schema)
    except (_Unknown, RecursionError, TypeError, ValueError, re.error):
        return False


class _Unknown(Exception):
    """A keyword or value this check does not cover: the answer is False."""


def _valid(instance, schema) -> bool:
    if schema is True:
        return True
    if schema is False or not isinstance(schema, dict):
        return False if schema is False else _unknown()
    for keyword, value in schema.items():
        check = _KEYWORDS.get(keyword)
        if check is None:
            if keyword in _ANNOTATIONS:
                continue
            _unknown()
        if not check(value, instance, schema):
            return False
    return True


def _unknown() -> bool:
    raise _Unknown


def _is_type(instance, name: str) -> bool:
    if name == "object":
        return isinstance(instance, dict)
    if name == "array":
        return isinstance(instance, list)
    if name == "string":
        return isinstance(instance, str)
    if name == "boolean":
        return isinstance(instance, bool)
    if name == "null":
        return instance is None
    if isinstance(instance, bool):
        return False
    if name == "integer":
        return isinstance(instance, int) or (isinstance(instance, float) and instance.is_integer())
    if name == "number":
        return isinstance(instance, (int, float))
    return _unknown()


def _plain(instance) -> bool:
    """A value JSON has (the checks below are written for those alone)."""
    if isinstance(instance, float):
        return math.isfinite(instance)
    if isinstance(instance, _JSON_SCALARS):
        return True
    if isinstance(instance, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in instance.items())
    if isinstance(instance, list):
        return all(_plain(item) for item in instance)
    return False


def _equal(one, two) -> bool:
    """jsonschema's `equal`: as ==, but True and 1 (False and 0) differ, at any depth."""
    if isinstance(one, str) or isinstance(two, str):
        return one == two
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(_equal(a, b) for a, b in zip(one, two))
    if isinstance(one, dict) and isinstance(two, dict):
        return one.keys() == two.keys() and all(_equal(one[k], two[k]) for k in one)
    if isinstance(one, bool) or isinstance(two, bool):
        return isinstance(one, bool) and isinstance(two, bool) and one == two
    return one == two


def _type(types, instance, schema) -> bool:
    return any(_is_type(instance, name) for name in ([types] if isinstance(types, str) else types))


def _properties(properties, instance, schema) -> bool:
    if not isinstance(instance, dict):
        return True
    return all(_valid(instance[key], sub) for key, sub in properties.items() if key in instance)


def _additional(additional, instance, schema) -> bool:
    if not isinstance(instance, dict):
        return True
    if "patternProperties" in schema:
        return _unknown()
    known = schema.get("properties", {})
    extras = [key for key in instance if key not in known]
    if isinstance(additional, dict):
        return all(_valid(instance[key], additional) for key in extras)
    return bool(additional) or not extras


def _required(required, instance, schema) -> bool:
    return not isinstance(instance, dict) or all(key in instance for key in required)


def _number(instance) -> bool:
    return _is_type(instance, "number")


def _minimum(bound, instance, schema) -> bool:
    return not _number(instance) or instance >= bound


def _maximum(bound, instance, schema) -> bool:
    return not _number(instance) or instance <= bound


def _multiple_of(divisor, instance, schema) -> bool:
    if not _number(instance):
        return True
    if isinstance(divisor, int) and isinstance(instance, int):
        return instance % divisor == 0
    return _unknown()  # float arithmetic: jsonschema's own rule decides


def _enum(choices, instance, schema) -> bool:
    return any(_equal(choice, instance) for choice in choices)


def _const(value, instance, schema) -> bool:
    return _equal(value, instance)


def _items(items, instance, schema) -> bool:
    if not isinstance(instance, list):
        return True
    if "prefixItems" in schema:
        return _unknown()
    return all(_valid(item, items) for item in instance)


def _min_items(bound, instance, schema) -> bool:
    return not isinstance(instance, list) or len(instance) >= bound


def _max_items(bound, instance, schema) -> bool:
    return not isinstance(instance, list) or len(instance) <= bound


def _unique_items(unique, instance, schema) -> bool:
    if not unique or not isinstance(instance, list):
        return True
    if all(isinstance(item, int) and not isinstance(item, bool) for item in instance):
        return len(set(instance)) == len(instance)
    return _unknown()  # mixed items: jsonschema's own `uniq` decides


def _pattern(pattern, instance, schema) -> bool:
    return not isinstance(instance, str) or re.search(pattern, instance) is not None


def _min_length(bound, instance, schema) -> bool:
    return not isinstance(instance, str) or len(instance) >= bound


def _max_length(bound, instance, schema) -> bool:
    return not isinstance(instance, str) or len(instance) <= bound


def _max_properties(bound, instance, schema) -> bool:
    return not isinstance(instance, dict) or len(instance) <= bound


def _not(sub, instance, schema) -> bool:
    return not _valid(instance, sub)


def _if(condition, instance, schema) -> bool:
    if _valid(instance, condition):
        return _valid(instance, schema.get("then", True))
    return _valid(instance, schema.get("else", True))


_KEYWORDS = {
    "type": _type, "properties": _properties, "additionalProperties": _additional,
    "required": _required, "minimum": _minimum, "maximum": _maximum, "multipleOf": _multiple_of,
    "enum": _enum, "const": _const, "items": _items, "minItems": _min_items, "maxItems": _max_items,
    "uniqueItems": _unique_items, "pattern": _pattern, "minLength": _min_length,
    "maxLength": _max_length, "maxProperties": _max_properties, "not": _not, "if": _if,
}
