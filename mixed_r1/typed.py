"""Frozen settings from a plain config mapping: the one conversion every composition root uses.

Why: below the entry points nothing reads a config node. Each group's settings are a frozen dataclass beside the
code they configure (``ModelSettings`` in ``models/``, ``RewardSettings`` in ``rewards/`` ...), validated in its
``__post_init__``; :func:`settings_from` fills one from the composed config, checking every value's type against
the field's annotation, so a wrong or missing value stops the run at start-up naming its key — and a key that no
settings class reads is an error too (a value in a YAML file that nothing uses is a mistake, not a default)."""
from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, Union

from mixed_r1.errors import ConfigError

T = TypeVar("T")


def settings_from(cls: type[T], node: object, where: str, ignore: tuple[str, ...] = ()) -> T:
    """An instance of the dataclass ``cls`` from the mapping ``node`` (the config group ``where``): nested
    dataclasses, ``X | None``, ``tuple[X, ...]``, ``dict[str, X]`` and ``Literal[...]`` fields are checked and
    converted; keys in ``ignore`` are read elsewhere (e.g. ``algo.name`` picks the algorithm). ``where=""``: the
    config's top level."""
    if not isinstance(node, Mapping):
        raise ConfigError(f"{where} must be a group of settings, got {node!r}")
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls} is not a dataclass")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(str(k) for k in node if k not in names and k not in ignore)
    if unknown:
        raise ConfigError(f"{where}: no setting named {', '.join(unknown)} (known: {', '.join(sorted(names))})")
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        key = f"{where}.{f.name}" if where else f.name
        if f.name not in node:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{key} is missing: set it in the config or on the command line ({key}=...)")
            continue
        values[f.name] = _converted(hints[f.name], node[f.name], key)
    return cls(**values)


def _converted(kind: Any, value: object, key: str) -> Any:
    """``value`` checked against the annotation ``kind`` (and converted: lists to tuples, ints to floats)."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is Any or kind is object:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return _converted(option, value, key)
            except ConfigError as err:
                errors.append(err)
        raise errors[0] if len(errors) == 1 else ConfigError(
            f"{key}={value!r} must be {' or '.join(_name(a) for a in args)}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key}={value!r}; expected one of {', '.join(str(a) for a in args)}")
        return value
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        if isinstance(value, kind):  # built already (a family's own model settings)
            return value
        return settings_from(kind, value, key)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}={value!r} must be a list")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_converted(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{key}={value!r} must be a list of {len(args)} values")
        return tuple(_converted(a, v, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}={value!r} must be a mapping")
        return {str(k): _converted(args[1], v, f"{key}.{k}") for k, v in value.items()}
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}={value!r} must be true or false")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}={value!r} must be an integer")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}={value!r} must be a number")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}={value!r} must be a string")
        return value
    raise TypeError(f"{key}: settings of type {kind!r} are not supported")


def _name(kind: Any) -> str:
    return "null" if kind is type(None) else getattr(kind, "__name__", str(kind))
