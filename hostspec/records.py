"""`frozen` and `define`: attrs classes whose `__repr__` is one shared function.

attrs writes and compiles a `__repr__` for every class it builds, and that is
about half of what building a class costs; a `compile` run builds some 35 of
them before it reads a byte of input.  These decorators build ordinary attrs
classes (fields, `evolve`, equality, hashing, pickling are all attrs') and
give them one shared `__repr__` that prints what attrs' own would.
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


def _shared_repr(make: Callable, cls: Any, options: dict) -> Any:
    options["repr"] = False

    def build(target: type) -> type:
        built = make(target, **options)
        if "__repr__" not in target.__dict__:
            built.__repr__ = _repr
        return built

    return build if cls is None else build(cls)


def frozen(maybe_cls: Any = None, **options: Any) -> Any:
    """`attrs.frozen`, with the shared `__repr__`."""
    return _shared_repr(attrs.frozen, maybe_cls, options)


def define(maybe_cls: Any = None, **options: Any) -> Any:
    """`attrs.define`, with the shared `__repr__`."""
    return _shared_repr(attrs.define, maybe_cls, options)
