"""JSON shapes: a frozen dataclass per JSON object, and the three things made from it.

- ``schema(shape, defs)``: its JSON Schema (draft 2020-12, the dialect of OpenAPI 3.1); every
  shape it holds goes once into ``defs`` and is referred to as ``#/components/schemas/<Name>``.
- ``read(shape, value)``: a JSON value checked against the shape and made into an instance,
  or ``ShapeError`` saying where it is wrong: how a request body is read.
- ``write(instance)``: the JSON value it stands for; ``conform(shape, value)``: the JSON of
  what a service built, checked against the shape as ``read`` checks it (so an answer
  cannot go out in a shape its schema denies) and with only the keys the shape names.

One type, read by all three, so the description a client reads and the checks the hub makes
cannot say different things. A field's type is one of: ``str``, ``int``, ``float``, ``bool``,
``None``, ``Literal[...]``, a ``StrEnum``, ``list[T]``, ``dict[str, T]``, ``T | U``, another
shape, or ``Any`` (any JSON value); ``Annotated`` adds what the type alone cannot say
(``Doc``, ``Range``, ``Length``, ``Pattern``, ``Key``, ``Lenient``, ``Rest``).

A field without a default is required. A field whose default is ``ABSENT`` is left out of
the JSON when it holds ``ABSENT`` (a key that only some answers have). Unknown keys are
refused, unless the shape is an ``IgnoresUnknownKeys`` (request bodies: SPEC §10) or has a
``Rest`` field that keeps them (an open object, e.g. a stored log entry).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, TypeVar, Union, get_args, get_origin

T = TypeVar("T")
REF_PREFIX = "#/components/schemas/"


class ShapeError(ValueError):
    """A JSON value does not have the shape: ``what`` is wrong ``where`` (``answers[2].q``)."""

    def __init__(self, what: str, where: str = "") -> None:
        super().__init__(f"{where}: {what}" if where else what)
        self.what = what
        self.where = where


class Absent(enum.Enum):
    """The value of a field that is left out of the JSON (see ``ABSENT``)."""

    ABSENT = "absent"


ABSENT: Final = Absent.ABSENT


class IgnoresUnknownKeys:
    """Base of a shape whose unknown keys are ignored when read (a request body)."""

    __slots__ = ()


# --- what Annotated adds -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Doc:
    """The field's description."""

    text: str


@dataclass(frozen=True, slots=True)
class Range:
    """Inclusive bounds of a number."""

    low: int | None = None
    high: int | None = None


@dataclass(frozen=True, slots=True)
class Length:
    """Inclusive bounds of a string's length or a list's number of items."""

    low: int | None = None
    high: int | None = None


@dataclass(frozen=True, slots=True)
class Pattern:
    """A regular expression the whole string must match."""

    regex: str


@dataclass(frozen=True, slots=True)
class Key:
    """The JSON key, where it is not the field's name (``zh-CN``)."""

    name: str


@dataclass(frozen=True, slots=True)
class Lenient:
    """Read any value through ``convert`` instead of checking its type; ``note`` says how
    (SPEC §10.1: "only the JSON value true confirms"). The schema keeps the type a client
    should send, with the note."""

    convert: Callable[[Any], Any]
    note: str


@dataclass(frozen=True, slots=True)
class Rest:
    """Marks the ``dict[str, T]`` field that keeps the keys no other field names."""


# --- the fields of a shape -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Field:
    name: str  # the attribute
    key: str  # the JSON key
    kind: Any  # the type, Annotated stripped
    extras: tuple[Any, ...]  # what Annotated added
    required: bool  # it has no default

    def extra(self, kind: type[T]) -> T | None:
        return next((e for e in self.extras if isinstance(e, kind)), None)


_FIELDS: dict[type, tuple[Field, ...]] = {}


def fields_of(shape: type) -> tuple[Field, ...]:
    """The shape's fields with their JSON keys, types and what Annotated adds (cached)."""
    known = _FIELDS.get(shape)
    if known is not None:
        return known
    if not dataclasses.is_dataclass(shape):
        raise TypeError(f"{shape!r} is not a shape (a dataclass)")
    hints = typing.get_type_hints(shape, include_extras=True)
    out = []
    for f in dataclasses.fields(shape):
        kind, extras = _unannotated(hints[f.name])
        required = f.default is f.default_factory is dataclasses.MISSING
        key = next((e.name for e in extras if isinstance(e, Key)), f.name)
        out.append(Field(f.name, key, kind, extras, required))
    _FIELDS[shape] = tuple(out)
    return _FIELDS[shape]


def _unannotated(kind: Any) -> tuple[Any, tuple[Any, ...]]:
    if get_origin(kind) is Annotated:
        base, *extras = get_args(kind)
        inner, more = _unannotated(base)
        return inner, (*more, *extras)
    return kind, ()


def _members(kind: Any) -> tuple[Any, ...]:
    """The members of a union (``X | Y`` or ``Union[X, Y]``), else the type alone."""
    if get_origin(kind) in (Union, types.UnionType):
        return get_args(kind)
    return (kind,)


# --- schema -------------------------------------------------------------------------------

_SCALARS: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
_SCALARS[type(None)] = "null"


def schema(kind: Any, defs: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of ``kind``; the shapes it holds are added to ``defs`` by name."""
    return _schema_with(*_unannotated(kind), defs)


def _schema_with(kind: Any, extras: tuple[Any, ...], defs: dict[str, Any]) -> dict[str, Any]:
    out = _schema(kind, defs)
    for extra in extras:
        out = _constrained(out, kind, extra)
    return out


def _schema(kind: Any, defs: dict[str, Any]) -> dict[str, Any]:
    if kind is Any:
        return {}
    if kind in _SCALARS:
        return {"type": _SCALARS[kind]}
    origin = get_origin(kind)
    if origin is Literal:
        values = list(get_args(kind))
        types_ = {_SCALARS[type(v)] for v in values}
        out: dict[str, Any] = {"const": values[0]} if len(values) == 1 else {"enum": values}
        return {"type": types_.pop(), **out} if len(types_) == 1 else out
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return {"type": "string", "enum": [m.value for m in kind]}
    if origin in (list, tuple):
        args = [a for a in get_args(kind) if a is not Ellipsis]
        return {"type": "array", "items": schema(args[0], defs) if args else {}}
    if origin is dict:
        return {"type": "object", "additionalProperties": schema(get_args(kind)[1], defs)}
    if origin in (Union, types.UnionType):
        members = [m for m in get_args(kind) if m is not Absent]
        if len(members) == 1:
            return schema(members[0], defs)
        if all(m in _SCALARS for m in members):
            return {"type": [_SCALARS[m] for m in members]}
        return {"anyOf": [schema(m, defs) for m in members]}
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        return _shape_ref(kind, defs)
    raise TypeError(f"no JSON Schema for {kind!r}")


def _shape_ref(shape: type, defs: dict[str, Any]) -> dict[str, Any]:
    name = shape.__name__
    owner = defs.get(name, {}).get("x-python")
    qualified = f"{shape.__module__}.{shape.__qualname__}"
    if owner is not None and owner != qualified:
        raise TypeError(f"two shapes are named {name}: {owner} and {qualified}")
    if owner is None:
        defs[name] = {"x-python": qualified}  # placeholder: a shape may hold itself
        properties = {}
        required = []
        rest = None
        for f in fields_of(shape):
            if f.extra(Rest) is not None:
                rest = schema(get_args(f.kind)[1], defs)
                continue
            properties[f.key] = _schema_with(f.kind, f.extras, defs)
            if f.required:
                required.append(f.key)
        body: dict[str, Any] = {"type": "object"}
        doc = shape.__doc__ or ""
        if doc and not doc.startswith(f"{shape.__name__}("):  # not dataclass's made-up one
            body["description"] = " ".join(doc.split())
        body["properties"] = properties
        if required:
            body["required"] = required
        if rest is not None:
            body["additionalProperties"] = rest
        elif not issubclass(shape, IgnoresUnknownKeys):
            body["additionalProperties"] = False
        defs[name] = body | {"x-python": qualified}
    return {"$ref": REF_PREFIX + name}


def _constrained(out: dict[str, Any], kind: Any, extra: Any) -> dict[str, Any]:
    if isinstance(extra, Doc):
        return _described(out, extra.text)
    if isinstance(extra, Lenient):
        return _described(out, extra.note)
    if isinstance(extra, Range):
        bounds = {"minimum": extra.low, "maximum": extra.high}
        return out | {k: v for k, v in bounds.items() if v is not None}
    if isinstance(extra, Length):
        is_list = any(get_origin(m) in (list, tuple) for m in _members(kind))
        low, high = ("minItems", "maxItems") if is_list else ("minLength", "maxLength")
        bounds = {low: extra.low, high: extra.high}
        return out | {k: v for k, v in bounds.items() if v is not None}
    if isinstance(extra, Pattern):
        return out | {"pattern": f"^(?:{extra.regex})$"}
    return out  # Key and Rest: handled by the shape


def _described(out: dict[str, Any], text: str) -> dict[str, Any]:
    if "$ref" in out:  # a $ref with siblings is fine in 3.1, but keep the referent clean
        return {"allOf": [out], "description": text}
    before = out.get("description")
    return out | {"description": f"{before} {text}" if before else text}


def strip_python_names(defs: dict[str, Any]) -> dict[str, Any]:
    """``defs`` without the ``x-python`` notes that tell which class made each schema."""
    return {name: {k: v for k, v in s.items() if k != "x-python"} for name, s in defs.items()}


# --- read ---------------------------------------------------------------------------------
# Each type gets its reader once (a closure, cached): an answer of 10,000 log entries is
# read at a few microseconds an entry. A ShapeError gathers its place on the way out.

Reader = Callable[[Any], Any]


def read(shape: type[T], value: Any) -> T:
    """``value`` (decoded JSON, or what a service built) as an instance of ``shape``;
    ShapeError if it does not fit."""
    result: T = _reader(*_unannotated(shape))(value)
    return result


def conform(kind: Any, value: Any) -> Any:
    """``write(read(kind, value))`` in one pass, without making the instances: the JSON of
    ``value`` as ``kind`` holds it (only the keys it names, ABSENT ones left out)."""
    return _reader(*_unannotated(kind), as_json=True)(value)


def _at(error: ShapeError, step: str) -> ShapeError:
    """The error one step further out (``[2]``, or a key)."""
    inner = error.where
    where = step + ("" if not inner else inner if inner.startswith("[") else "." + inner)
    return ShapeError(error.what, where)


@functools.cache
def _reader(kind: Any, extras: tuple[Any, ...] = (), as_json: bool = False) -> Reader:
    """The reader of ``kind``; ``as_json``: one that gives the JSON, not instances."""
    lenient = next((e for e in extras if isinstance(e, Lenient)), None)
    if lenient is not None:
        return lenient.convert
    base = _plain_reader(kind, as_json)
    checks = [c for c in map(_checker, extras) if c is not None]
    if not checks:
        return base

    def read_checked(value: Any) -> Any:
        out = base(value)
        for check in checks:
            check(out)
        return out

    return read_checked


def _typed(kind: type, name: str) -> Reader:
    def read_typed(value: Any) -> Any:
        if type(value) is not kind:
            raise ShapeError(f"expected {name}")
        return value

    return read_typed


def _plain_reader(kind: Any, as_json: bool) -> Reader:
    if kind is Any:
        return _identity
    if kind is str:

        def read_str(value: Any) -> Any:
            if not isinstance(value, str):  # a StrEnum member is a string too
                raise ShapeError("expected string")
            return value

        return read_str
    if kind is float:

        def read_number(value: Any) -> Any:
            if type(value) not in (int, float):
                raise ShapeError("expected a number")
            return value

        return read_number
    if kind in _SCALARS:
        return _typed(kind, _SCALARS[kind])
    origin = get_origin(kind)
    if origin is Literal:
        choices = get_args(kind)

        def read_choice(value: Any) -> Any:
            if not any(type(value) is type(c) and value == c for c in choices):
                raise ShapeError(f"expected one of {list(choices)}")
            return value

        return read_choice
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        members = {m.value: m.value if as_json else m for m in kind}

        def read_member(value: Any) -> Any:
            member = members.get(value) if isinstance(value, str) else None
            if member is None:
                raise ShapeError(f"expected one of {list(members)}")
            return member

        return read_member
    if origin in (list, tuple):
        item = _reader(*_unannotated(get_args(kind)[0]), as_json)

        def read_list(value: Any) -> Any:
            if not isinstance(value, list | tuple):
                raise ShapeError("expected an array")
            out = []
            for i, v in enumerate(value):
                try:
                    out.append(item(v))
                except ShapeError as exc:
                    raise _at(exc, f"[{i}]") from None
            return out

        return read_list
    if origin is dict:
        entry = _reader(*_unannotated(get_args(kind)[1]), as_json)

        def read_dict(value: Any) -> Any:
            if not isinstance(value, dict):
                raise ShapeError("expected an object")
            out = {}
            for k, v in value.items():
                if not isinstance(k, str):
                    raise ShapeError("expected an object (string keys)")
                try:
                    out[k] = entry(v)
                except ShapeError as exc:
                    raise _at(exc, k) from None
            return out

        return read_dict
    if origin in (Union, types.UnionType):
        options = [_reader(*_unannotated(m), as_json) for m in get_args(kind) if m is not Absent]

        def read_union(value: Any) -> Any:
            errors = []
            for option in options:
                try:
                    return option(value)
                except ShapeError as exc:
                    errors.append(f"{exc.where + ': ' if exc.where else ''}{exc.what}")
            raise ShapeError(" / ".join(errors))

        return read_union
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        return _shape_reader(kind, as_json)
    raise TypeError(f"cannot read {kind!r}")


def _identity(value: Any) -> Any:
    return value


def _shape_reader(shape: type, as_json: bool) -> Reader:
    plan = []
    rest: Reader | None = None
    rest_name = ""
    for f in fields_of(shape):
        if f.extra(Rest) is not None:
            rest, rest_name = _reader(f.kind, (), as_json), f.name
        else:
            name = f.key if as_json else f.name
            plan.append((f.key, name, _reader(f.kind, f.extras, as_json), f.required))
    named = frozenset(key for key, *_ in plan)
    ignores = issubclass(shape, IgnoresUnknownKeys)

    def read_shape(value: Any) -> Any:
        if not isinstance(value, dict):
            raise ShapeError(f"expected an object ({shape.__name__})")
        values: dict[str, Any] = {}
        for key, name, reader, required in plan:
            held = value.get(key, ABSENT)
            if held is not ABSENT:
                try:
                    values[name] = reader(held)
                except ShapeError as exc:
                    raise _at(exc, key) from None
            elif required:
                raise _at(ShapeError("missing"), key)
        if rest is not None:
            more = rest({k: v for k, v in value.items() if k not in named})
            if as_json:
                values.update(more)
            else:
                values[rest_name] = more
        elif not ignores and not named.issuperset(value):
            raise ShapeError(f"unknown keys {sorted(set(value) - named)} ({shape.__name__})")
        return values if as_json else shape(**values)

    return read_shape


def _checker(extra: Any) -> Callable[[Any], None] | None:
    if isinstance(extra, Range):
        low, high = extra.low, extra.high

        def check_range(value: Any) -> None:
            if isinstance(value, int | float) and (
                (low is not None and value < low) or (high is not None and value > high)
            ):
                raise ShapeError(f"out of range {low}..{high}")

        return check_range
    if isinstance(extra, Length):
        shortest, longest = extra.low, extra.high

        def check_length(value: Any) -> None:
            if isinstance(value, str | list) and (
                (shortest is not None and len(value) < shortest)
                or (longest is not None and len(value) > longest)
            ):
                raise ShapeError(f"length out of range {shortest}..{longest}")

        return check_length
    if isinstance(extra, Pattern):
        regex = re.compile(extra.regex)

        def check_pattern(value: Any) -> None:
            if isinstance(value, str) and not regex.fullmatch(value):
                raise ShapeError(f"does not match {extra.regex}")

        return check_pattern
    return None


# --- write --------------------------------------------------------------------------------


def write(value: Any) -> Any:
    """The JSON value of a shape instance (and of what its fields hold)."""
    writer = _WRITERS.get(type(value))
    if writer is not None:
        return writer(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _shape_writer(type(value))(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [write(v) for v in value]
    if isinstance(value, dict):
        return {k: write(v) for k, v in value.items()}
    return value


_WRITERS: dict[type, Callable[[Any], Any]] = {}


def _shape_writer(shape: type) -> Callable[[Any], Any]:
    plan = [(f.name, f.key, f.extra(Rest) is not None) for f in fields_of(shape)]

    def write_shape(value: Any) -> Any:
        out: dict[str, Any] = {}
        for name, key, is_rest in plan:
            held = getattr(value, name)
            if is_rest:
                out.update({k: write(v) for k, v in held.items()})
            elif held is not ABSENT:
                out[key] = held if type(held) in _PLAIN else write(held)
        return out

    _WRITERS[shape] = write_shape
    return write_shape


_PLAIN = frozenset({str, int, float, bool, type(None)})


__all__ = [
    "ABSENT",
    "Absent",
    "Doc",
    "IgnoresUnknownKeys",
    "Key",
    "Length",
    "Lenient",
    "Pattern",
    "Range",
    "Rest",
    "ShapeError",
    "conform",
    "read",
    "schema",
    "strip_python_names",
    "write",
]
