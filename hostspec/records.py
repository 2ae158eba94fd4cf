"""`frozen` and `define`: attrs classes whose `__repr__` is one shared function.

attrs writes and compiles a `__repr__` for every class it builds, and that is
about half of what building a class costs; a `compile` run builds some 35 of
them before it reads a byte of input.  These decorators build ordinary attrs
classes (fields, `evolve`, pickling are all attrs') and
give them one shared `__repr__` that prints what attrs' own would, and one
shared `__eq__`/`__hash__` that compare what attrs' own would.
"""
from __future__ import annotations

from typing import Any, Callable

import attrs


def _repr(self: Any) -> str:
    """`Name(field=value, ...)`, as attrs prints it: fields marked repr=False left out."""
    cls = type(self)
    shown = []
    for field in attrs.fields(cls):
        if field.repr is False:
            continue
        value = getattr(self, field.name, attrs.NOTHING)
        text = field.repr(value) if callable(field.repr) else repr(value)
        shown.append(f"{field.name}={text}")
    return f"{cls.__qualname__.rsplit('>.', 1)[-1]}({', '.join(shown)})"


def _compared(obj: Any) -> tuple:
    """The values equality compares: every field not marked eq=False, in order."""
    names = type(obj).__dict__.get("_hostspec_eq_names")
    if names is None:
        names = tuple(f.name for f in attrs.fields(type(obj)) if f.eq)
        type.__setattr__(type(obj), "_hostspec_eq_names", names)
    return tuple(getattr(obj, name) for name in names)


def _eq(self: Any, other: Any) -> Any:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _compared(self) == _compared(other)


def _ne(self: Any, other: Any) -> Any:
    equal = _eq(self, other)
    return equal if equal is NotImplemented else not equal


def _hash(self: Any) -> int:
    return hash((self.__class__.__qualname__, *_compared(self)))


def _shared_repr(make: Callable, cls: Any, options: dict) -> Any:
    options["repr"] = False
    # Equality as attrs writes it (same class, fields in order, eq=False fields
    # left out; frozen records hashable, mutable ones not), from shared functions.
    shared_eq = not {"eq", "order", "hash", "unsafe_hash", "cache_hash"} & set(options)
    if shared_eq:
        options["eq"] = False

    def build(target: type) -> type:
        built = make(target, **options)
        if "__repr__" not in target.__dict__:
            built.__repr__ = _repr
        if shared_eq and "__eq__" not in target.__dict__:
            built.__eq__, built.__ne__ = _eq, _ne
            built.__hash__ = _hash if make is attrs.frozen else None
        return built

    return build if cls is None else build(cls)


def frozen(maybe_cls: Any = None, **options: Any) -> Any:
    """`attrs.frozen`, with the shared `__repr__`."""
    return _shared_repr(attrs.frozen, maybe_cls, options)


def define(maybe_cls: Any = None, **options: Any) -> Any:
    """`attrs.define`, with the shared `__repr__`."""
    return _shared_repr(attrs.define, maybe_cls, options)
