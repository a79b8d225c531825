"""The one private cattrs converter: JSON <-> models. Strictly private.

Decisions, made once here:

* **Names.**  Attributes are snake_case; JSON names are their camelCase form unless a field
  carries an explicit ``json_name`` (``iCalUID``).
* **Unknown keys are kept, never an error.**  cattrs' ``forbid_extra_keys`` stays off, and
  every model has an ``extra`` mapping that receives the keys it does not know, so a server
  that adds fields breaks nothing and loses nothing.  Unstructuring merges ``extra`` back, so
  a model round-trips to the JSON it came from.
* **Missing or null fields are ``None``.**  Inputs omit ``None`` attributes when serialised,
  so only what the caller set is sent.
* **A known field of the wrong JSON type is an error, never coerced.**  A string field takes
  only a string (``["x"]`` is not ``"['x']"``), a number field only a number (not a bool),
  a bool field only a bool, a list field only an array, a map field only an object, a nested
  model only an object.  The record raises :class:`ResponseValidationError` with one line
  per bad field (``Call.name: expected a string, got list``).  Failing loudly was chosen
  over parking the value in ``extra`` because a silently empty field reads as "the server
  has no value", which is a lie; forward compatibility is kept where it matters: new
  fields go to ``extra`` and new enum values stay strings.
* **Open enums.**  A field typed ``SomeEnum | str`` gets the enum member when the value is
  known and the plain string otherwise (a non-string value is the wrong type).
* **Datetimes** are ISO-8601; ``Z`` is accepted on every Python, and output is UTC with
  milliseconds and ``Z`` (the API's own form).
* Structuring failures become :class:`ResponseValidationError` with one line per problem.

Size: ~550 lines because every conversion decision of the package is listed and implemented
here, in one place (style rule 7), fast paths included.
"""

from __future__ import annotations

import enum
import functools
import json
import sys
import threading
import types
import typing
from collections.abc import Callable, Mapping
from datetime import date, datetime, timezone
from typing import Any, TypeVar, Union

import attrs
import cattrs

from ._errors import ConfigError, ResponseValidationError
from ._frozen import mutable_twin, positional_maker
from .models._common import JSON_NAME

T = TypeVar("T")

_converter = cattrs.Converter()


def camel(name: str) -> str:
    """``start_date_time`` -> ``startDateTime``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


# -- datetimes -------------------------------------------------------------------------------


_fromisoformat = datetime.fromisoformat


def parse_datetime(value: Any, _type: Any = datetime) -> datetime:
    if value.__class__ is str:
        try:  # Python 3.11+ reads the API's form (``...Z``) directly: one call
            return _fromisoformat(value)
        except ValueError:
            pass
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO-8601 string, got {type(value).__name__}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    return datetime.fromisoformat(text)


def format_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    text = value.astimezone(timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


_converter.register_structure_hook(datetime, parse_datetime)
_converter.register_unstructure_hook(datetime, format_datetime)
# A plain date (a birthday) is midnight UTC, as the API's date-time fields spell it
# (reference.md: ``birthday`` ``1990-01-15T00:00:00.000Z``).
_converter.register_unstructure_hook(date, lambda value: f"{value.isoformat()}T00:00:00.000Z")


# -- strict JSON types: no str() of lists, no bool as a number ---------------------------------


def _type_name(value: Any) -> str:
    return {dict: "object", list: "array", bool: "bool", type(None): "null"}.get(type(value), type(value).__name__)


def _structure_str(value: Any, _t: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {_type_name(value)}")
    return value


def _structure_float(value: Any, _t: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number, got {_type_name(value)}")
    try:
        return float(value)
    except OverflowError:  # an integer of hundreds of digits
        raise ValueError("number out of range") from None


def _structure_bool(value: Any, _t: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {_type_name(value)}")
    return value


_converter.register_structure_hook(str, _structure_str)
_converter.register_structure_hook(float, _structure_float)
_converter.register_structure_hook(bool, _structure_bool)


def _is_list(tp: Any) -> bool:
    return typing.get_origin(tp) is list


def _list_hook(tp: Any) -> Callable[[Any, Any], Any]:
    (item_type,) = typing.get_args(tp) or (Any,)
    item_hook = _converter.get_structure_hook(item_type)

    def structure(value: Any, _t: Any) -> list[Any]:
        if not isinstance(value, list):
            raise TypeError(f"expected an array, got {_type_name(value)}")
        out = []
        for index, item in enumerate(value):
            try:
                out.append(None if item is None else item_hook(item, item_type))
            except Exception as exc:  # noqa: BLE001 - reported with the index
                raise TypeError(f"item {index}: {exc}") from None
        return out

    return structure


def _is_map(tp: Any) -> bool:
    return typing.get_origin(tp) in (Mapping, dict)


def _map_hook(_tp: Any) -> Callable[[Any, Any], Any]:
    def structure(value: Any, _t: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise TypeError(f"expected an object, got {_type_name(value)}")
        return dict(value)

    return structure


_converter.register_structure_hook_factory(_is_list, _list_hook)
_converter.register_structure_hook_factory(_is_map, _map_hook)


# -- open enums (SomeEnum | str) -------------------------------------------------------------


def _union_args(tp: Any) -> tuple[Any, ...]:
    if typing.get_origin(tp) in (Union, types.UnionType):
        return typing.get_args(tp)
    return ()


def _is_open_enum(tp: Any) -> bool:
    args = _union_args(tp)
    return len(args) == 2 and str in args and any(isinstance(a, type) and issubclass(a, enum.Enum) for a in args)


def _open_enum_hook(tp: Any) -> Callable[[Any, Any], Any]:
    enum_cls = next(a for a in _union_args(tp) if a is not str)

    def structure(value: Any, _t: Any) -> Any:
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {_type_name(value)}")
        try:
            return enum_cls(value)
        except ValueError:
            return value

    return structure


_converter.register_structure_hook_factory(_is_open_enum, _open_enum_hook)
_converter.register_unstructure_hook_func(
    lambda tp: isinstance(tp, type) and issubclass(tp, enum.Enum), lambda v: v.value
)


# -- models ----------------------------------------------------------------------------------


def _is_model(tp: Any) -> bool:
    return attrs.has(tp) and any(f.name == "extra" for f in attrs.fields(tp))


def _strip_none(tp: Any) -> Any:
    args = _union_args(tp)
    if type(None) not in args:
        return tp
    rest = tuple(a for a in args if a is not type(None))
    return rest[0] if len(rest) == 1 else Union[rest]


@functools.cache
def _plan(cls: type) -> tuple[tuple[str, str, Any], ...]:
    """(json name, attribute, type) for every attribute but ``extra``, types resolved."""
    attrs.resolve_types(cls)
    return tuple(
        (f.metadata.get(JSON_NAME) or camel(f.name), f.name, _strip_none(f.type))
        for f in attrs.fields(cls)
        if f.name != "extra"
    )


def _model_structure_hook(cls: type) -> Callable[[Any, Any], Any]:
    """The hook of one model: generated fast paths, and a checked path that names every error.

    The fast paths are generated functions per model (as cattrs' own ``make_dict_structure_fn``
    generates code): the field hooks resolved once, ``str`` values passed through without a
    call.  Any exception on them reruns the record through the checked path, which reports
    one line per bad field, so every path gives the same result for every input.
    """
    checked = _checked_structure_hook(cls)
    if not _plain_slotted(cls):
        return checked  # e.g. an input model with required attributes: rare, and checked
    return _generated_structure_fn(cls, fallback=checked)


# Python 3.11+ reads the API's datetimes (``...Z``) with one ``fromisoformat`` call, so the
# generated code calls it inline; anything it refuses reruns on the checked path, whose
# ``parse_datetime`` knows the rest.  On 3.10 ``Z`` needs ``parse_datetime`` itself.
_INLINE_DATETIMES = sys.version_info >= (3, 11)


def _value_code(var: str, i: int, tp: Any, names: dict[str, Any]) -> str:
    """The expression structuring the JSON value in ``var`` (``None`` included) as ``tp``.

    A string field's value is tested for ``str`` first, so the common case (a string) costs
    one test, not a ``None`` test as well.
    """
    hook = _converter.get_structure_hook(tp)
    names[f"_h{i}"], names[f"_t{i}"] = hook, tp
    other = f"(None if {var} is None else _h{i}({var}, _t{i}))"
    if tp is str:  # the common case: already a str, nothing to convert
        return f"{var} if {var}.__class__ is str else {other}"
    if hook is parse_datetime and _INLINE_DATETIMES:
        names["_fromiso"] = _fromisoformat
        return f"_fromiso({var}) if {var}.__class__ is str else {other}"
    return f"None if {var} is None else _h{i}({var}, _t{i})"


_Run = Callable[[list[Any], int, list[Any], Any], int]
"""A layout's run: ``run(records, start, out, _t)`` (``_t`` the model class, as cattrs passes it
to a hook) appends the models of ``records[start:]`` to ``out`` while they have the layout,
and returns the index of the first record it left (another layout, or no dict), or
``len(records)``.  A record whose values fail the fast path is built on the checked path in
its place."""

# How many key layouts (see ``_Shapes``) get a generated function, per model: records of one
# endpoint have one or a few; a server whose records all differ pays one tuple per record.
_MAX_SHAPES = 64
# Layouts longer than this take the per-attribute path (a record full of unknown keys).
_MAX_SHAPE_EXTRA_KEYS = 32
# Layouts seen once are remembered (up to this many) so the second sighting generates code.
_MAX_SIGHTINGS = 256
# Only layouts whose keys are strings of this many characters in all are remembered: a
# server sending huge key names cannot make the tables hold much memory.
_MAX_SHAPE_KEY_CHARS = 2048


def _short_keys(shape: tuple[Any, ...]) -> bool:
    total = 0
    for key in shape:
        if key.__class__ is not str:
            return False
        total += len(key)
    return total <= _MAX_SHAPE_KEY_CHARS


class _Shapes:
    """The generated functions of one model for the key layouts its records come in.

    A server sends the records of an endpoint with the same keys in the same order, so for
    a layout (the record's keys as a tuple) a function is generated that takes the values
    positionally (one ``data.values()`` unpacking), stores ``None`` straight into the
    attributes the layout lacks, and builds ``extra`` from the layout's unknown keys: no
    per-attribute ``get``, no scan for unknown keys.  With it comes the layout's run over a
    page (``_Run``): the same statements in a loop over the records, so a page of one
    layout costs one call, not one per record.  A layout gets its functions on its second
    sighting (one-off layouts cost no compilation), for at most ``_MAX_SHAPES`` layouts per
    model; other records take the per-attribute path.  Both paths give the same result, and
    on any exception both rerun the record on the checked path.
    """

    def __init__(self, cls: type, twin: type, fallback: Callable[[Any, Any], Any]) -> None:
        self._cls, self._twin, self._fallback = cls, twin, fallback
        self._plan = _plan(cls)
        self._by_json = {json_key: (attr, tp) for json_key, attr, tp in self._plan}
        self._max_length = len(self._plan) + _MAX_SHAPE_EXTRA_KEYS
        self.compiled: dict[tuple[Any, ...], Callable[[Any, Any], Any]] = {}
        self.runs: dict[tuple[Any, ...], _Run] = {}
        self._sightings: dict[tuple[Any, ...], None] = {}
        self._lock = threading.Lock()

    def learn(self, shape: tuple[Any, ...]) -> Callable[[Any, Any], Any] | None:
        """The function of ``shape`` if it is generated now, else ``None`` (take the other path).

        Locked (blocking clients parse on their own portal threads), so the cap holds; the
        lock is only taken for a layout without a function while there is room for one.
        """
        if len(self.compiled) >= _MAX_SHAPES or len(shape) > self._max_length or not _short_keys(shape):
            return None
        with self._lock:
            fn = self.compiled.get(shape)  # another thread may have generated it meanwhile
            if fn is not None or len(self.compiled) >= _MAX_SHAPES:
                return fn
            if shape not in self._sightings:
                if len(self._sightings) >= _MAX_SIGHTINGS:
                    self._sightings.clear()
                self._sightings[shape] = None
                return None
            del self._sightings[shape]
            fn, self.runs[shape] = self._generate(shape)
            self.compiled[shape] = fn
            return fn

    def forget(self) -> None:
        """Drop every generated function and sighting (tests start from an empty table)."""
        with self._lock:
            self.compiled.clear()
            self.runs.clear()
            self._sightings.clear()

    def _generate(self, shape: tuple[Any, ...]) -> tuple[Callable[[Any, Any], Any], _Run]:
        """The layout's function for one record, and its run over a page (see ``_Run``)."""
        names: dict[str, Any] = {"_new": object.__new__, "_cls": self._cls, "_twin": self._twin}
        names.update(_fallback=self._fallback, _layout=shape)
        lines, extra, present = [], [], set()
        for i, key in enumerate(shape):
            spec = self._by_json.get(key)
            if spec is None:  # an unknown key: kept in ``extra``, under the key itself
                names[f"_k{i}"] = key
                extra.append(f"_k{i}: _v{i}")
                continue
            attr, tp = spec
            present.add(attr)
            lines.append(f"obj.{attr} = {_value_code(f'_v{i}', i, tp, names)}")
        unpack = "".join(f"_v{i}, " for i in range(len(shape)))

        def build(on_failure: list[str]) -> list[str]:
            """The statements making ``obj`` from ``data``; ``on_failure`` if a value raises."""
            return [
                f"({unpack}) = data.values()" if shape else "pass",
                "obj = _new(_twin)",
                "try:",
                *(f"    {line}" for line in lines or ["pass"]),
                "except Exception:",
                *(f"    {line}" for line in on_failure),
                *(f"obj.{attr} = None" for _, attr, _ in self._plan if attr not in present),
                f"obj.extra = {{{', '.join(extra)}}}",
                "obj.__class__ = _cls",
            ]

        source = "\n".join(
            [
                "def structure(data, _t):",
                *(f"    {line}" for line in build(["return _fallback(data, _t)"])),
                "    return obj",
                "",
                "def run(records, start, out, _t):",
                "    append = out.append",
                "    for index in range(start, len(records)):",
                "        data = records[index]",
                "        if data.__class__ is not dict or tuple(data) != _layout:",
                "            return index",
                *(f"        {line}" for line in build(["append(_fallback(data, _t))", "continue"])),
                "        append(obj)",
                "    return len(records)",
            ]
        )
        exec(compile(source, f"<salescaling_async structure {self._cls.__qualname__} layout>", "exec"), names)
        return names["structure"], names["run"]


def _generated_structure_fn(cls: type, *, fallback: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """Generate the fast hook of ``cls``: a key-layout dispatch, then one line per attribute.

    The instance is built the way attrs' own ``__init__`` of a frozen slotted class builds it
    (``object.__new__``, then every slot set once), minus the frozen ``__setattr__`` detour:
    it is filled as its mutable twin (:func:`~._frozen.mutable_twin`) and then made a ``cls``.  Only used
    for models whose attributes have no validator, converter or post-init hook (``extra`` is
    built fresh here).  A record whose key layout has a generated function (:class:`_Shapes`)
    goes there; any other takes one ``get`` per attribute and one set comparison for ``extra``.
    """
    plan = _plan(cls)
    twin = mutable_twin(cls)
    names: dict[str, Any] = {"_new": object.__new__, "_cls": cls, "_twin": twin or cls, "_fallback": fallback}
    names["_known"] = frozenset(j for j, _, _ in plan)
    names["_set_extra"] = cls.__dict__["extra"].__set__
    lines = []
    for i, (json_key, attr, tp) in enumerate(plan):
        names[f"_s{i}"] = cls.__dict__[attr].__set__
        value = _value_code("_v", i, tp, names)
        lines.append(f"        _v = _get({json_key!r})")
        lines.append(f"        obj.{attr} = {value}" if twin is not None else f"        _s{i}(obj, {value})")
    extra = "{} if _known.issuperset(data) else {k: v for k, v in data.items() if k not in _known}"
    finish = (
        [f"    obj.extra = {extra}", "    obj.__class__ = _cls"]
        if twin is not None
        else [f"    _set_extra(obj, {extra})"]
    )
    dispatch = []
    if twin is not None:
        shapes = _Shapes(cls, twin, fallback)
        names["_compiled"], names["_learn"] = shapes.compiled, shapes.learn
        dispatch = [
            "    _fn = _compiled.get(_shape := tuple(data))",
            "    if _fn is None:",
            "        _fn = _learn(_shape)",
            "    if _fn is not None:",
            "        return _fn(data, _t)",
        ]
    source = "\n".join(
        [
            "def structure(data, _t):",
            "    if data.__class__ is not dict:",
            "        return _fallback(data, _t)",
            *dispatch,
            "    _get = data.get",
            "    obj = _new(_twin)",
            "    try:",
            *(lines or ["        pass"]),
            "    except Exception:",
            "        return _fallback(data, _t)",
            *finish,
            "    return obj",
        ]
    )
    exec(compile(source, f"<salescaling_async structure {cls.__qualname__}>", "exec"), names)
    fn: Callable[[Any, Any], Any] = names["structure"]
    if twin is not None:  # a page of ``cls`` in one loop per layout, ``fn`` for the other records
        _record_lists[cls] = functools.partial(_structure_records, shapes.runs, fn)  # (positional: a faster call)
    return fn


# The list hook of every model with generated layouts (see ``structure_list``), called as
# ``hook(records, cls)``: made with the model's hook, so a page needs no converter dispatch.
_record_lists: dict[type, Callable[[list[Any], Any], list[Any]]] = {}


def _structure_records(
    runs: Mapping[tuple[Any, ...], _Run], one: Callable[[Any, Any], Any], records: list[Any], cls: Any
) -> list[Any]:
    """``[one(record, cls) for record in records]``, a page's records in one loop per layout.

    The records of a page come in one key layout: the layout's run (see ``_Run``) builds
    them all in its own loop, with no call per record and no hash of the layout.  A record
    of another layout, or no dict, goes through ``one``, the model's hook, which learns
    layouts (and the next run takes over from there).
    """
    out: list[Any] = []
    index, count = 0, len(records)
    while index < count:
        record = records[index]
        if record.__class__ is dict:
            run = runs.get(tuple(record))
            if run is not None:
                after = run(records, index, out, cls)  # at least this record: its layout matched
                if after > index:  # (so the loop always moves on)
                    index = after
                    continue
        out.append(one(record, cls))
        index += 1
    return out


def _plain_slotted(cls: type) -> bool:
    """A frozen slotted model whose attributes are all optional and unchecked (see above)."""
    fields = [f for f in attrs.fields(cls) if f.name != "extra"]
    return (
        "__slots__" in cls.__dict__
        and not hasattr(cls, "__attrs_post_init__")
        and all(f.default is None and f.validator is None and f.converter is None for f in fields)
    )


def _checked_structure_hook(cls: type) -> Callable[[Any, Any], Any]:
    plan = _plan(cls)
    by_json = {j: (a, _converter.get_structure_hook(t), t) for j, a, t in plan}

    def structure(data: Any, _t: Any) -> Any:
        if not isinstance(data, Mapping):
            raise _FieldErrors([f"{cls.__name__}: expected an object, got {_type_name(data)}"])
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        errors: list[str] = []
        for key, value in data.items():
            spec = by_json.get(key)
            if spec is None:
                extra[key] = value
                continue
            attr, hook, tp = spec
            if value is None:
                kwargs[attr] = None
                continue
            try:
                kwargs[attr] = hook(value, tp)
            except _FieldErrors as exc:  # a nested model: its own lines, under this field
                errors.extend(f"{cls.__name__}.{key}: {line}" for line in exc.lines)
            except Exception as exc:  # noqa: BLE001 - every failure becomes one report line
                errors.append(f"{cls.__name__}.{key}: {exc}")
        if errors:
            raise _FieldErrors(errors)
        try:
            return cls(**kwargs, extra=extra)
        except TypeError as exc:  # a required input attribute is missing
            raise _FieldErrors([f"{cls.__name__}: {exc}"]) from None

    return structure


def _model_unstructure_hook(cls: type) -> Callable[[Any], Any]:
    plan = _plan(cls)

    def unstructure(obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = dict(obj.extra)
        for json_key, attr, _tp in plan:
            value = getattr(obj, attr)
            if isinstance(value, enum.Enum):
                out[json_key] = value.value
            elif value is not None:
                out[json_key] = _converter.unstructure(value)
        return out

    return unstructure


_converter.register_structure_hook_factory(_is_model, _model_structure_hook)
_converter.register_unstructure_hook_factory(_is_model, _model_unstructure_hook)


class _FieldErrors(Exception):
    def __init__(self, lines: list[str]) -> None:
        super().__init__("; ".join(lines))
        self.lines = lines


# -- public entry points ---------------------------------------------------------------------


def structure(data: Any, cls: type[T], *, raw: str = "") -> T:
    """Build a ``cls`` from decoded JSON; raise :class:`ResponseValidationError` if it does not fit."""
    try:
        return _converter.structure(data, cls)
    except _FieldErrors as exc:
        raise ResponseValidationError(
            f"response does not fit {cls.__name__}: {exc}", raw=raw or _dump(data), errors=tuple(exc.lines)
        ) from None
    except (ValueError, TypeError, cattrs.BaseValidationError) as exc:
        lines = tuple(cattrs.transform_error(exc)) if isinstance(exc, cattrs.BaseValidationError) else (str(exc),)
        raise ResponseValidationError(
            f"response does not fit {cls.__name__}: {'; '.join(lines)}", raw=raw or _dump(data), errors=lines
        ) from None


def structure_list(data: Any, cls: type[T]) -> list[T]:
    """A list endpoint's ``data``: an array, or (a documented quirk of calls) one object."""
    if data.__class__ is not list:  # the common case first: no ABC check for a JSON array
        if isinstance(data, Mapping):
            data = [data]
        elif data is None:
            return []
        elif not isinstance(data, list):
            raise ResponseValidationError(
                f"expected a list of {cls.__name__}, got {type(data).__name__}", raw=_dump(data)
            )
    records = _record_lists.get(cls)  # a model with generated layouts: no dispatch at all
    try:
        if records is not None:
            return records(data, cls)
        hook = _converter.get_structure_hook(cls)  # one dispatch per page, not per record
        return [hook(item, cls) for item in data]
    except Exception:  # noqa: BLE001 - redone item by item for the typed error
        return [structure(item, cls) for item in data]


def unstructure(obj: Any) -> Any:
    """Models and inputs to JSON-ready values (camelCase, ``None`` omitted, extras merged)."""
    return _converter.unstructure(obj)


def _dump(data: Any) -> str:
    try:
        return json.dumps(data, default=str)[:65536]
    except (TypeError, ValueError):  # pragma: no cover - defensive
        return repr(data)[:65536]


@attrs.frozen
class Envelope:
    """The API's response envelope ``{statusCode, count, error, data}``, unwrapped.

    ``headers`` are the HTTP response headers (lower-case names), e.g. the rate-limit ones.
    ``from_cache`` tells an answer of the response cache (then ``headers`` are those stored
    with the entry, rate-limit headers left out: they would be stale).

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0 ``from_cache``.
    """

    status_code: int | None
    count: int | None
    error: str | None
    data: Any
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    from_cache: bool = attrs.field(default=False, kw_only=True)


# (status_code, count, error, data, headers, from_cache): every response's envelope, fast.
_make_envelope: Callable[[int | None, int | None, str | None, Any, Mapping[str, str], bool], Envelope] = (
    positional_maker(Envelope)
)


def unwrap_envelope(payload: Any, *, raw: str, status: int, headers: Mapping[str, str]) -> Envelope:
    """Check and unwrap the envelope; anything else is a :class:`ResponseValidationError`."""
    if (payload.__class__ is not dict and not isinstance(payload, Mapping)) or "data" not in payload:
        raise ResponseValidationError(
            "response is not the API envelope {statusCode, count, error, data}", raw=raw, status_code=status
        )
    count = payload.get("count")
    code = payload.get("statusCode")
    error = payload.get("error")
    return _make_envelope(
        code if isinstance(code, int) else None,
        count if isinstance(count, int) and not isinstance(count, bool) else None,
        error if isinstance(error, str) else None,
        payload["data"],
        headers,
        False,
    )


# -- public serialisation and request bodies -------------------------------------------------
# Kept apart from the structuring hooks above: these only wrap them for users and resources.


def _check_model_class(cls: Any) -> None:
    if not (isinstance(cls, type) and _is_model(cls)):
        raise ConfigError(f"expected a salescaling_async.models class, got {cls!r}")


def to_dict(model: Any) -> dict[str, Any]:
    """The API's JSON form of a model: camelCase names, ``...000Z`` datetimes, ``extra`` merged.

    Attributes that are ``None`` are left out, as the server leaves them out.  The result is
    ready for :func:`json.dumps` and goes back with :func:`from_dict`.

    Args:
        model: An instance of a class from :mod:`salescaling_async.models`.

    Returns:
        A new ``dict`` (nested models become nested dicts).

    Raises:
        ConfigError: ``model`` is not a model instance.

    .. versionadded:: 0.2.0
    """
    _check_model_class(type(model))
    result: dict[str, Any] = _converter.unstructure(model)
    return result


def from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
    """Build a model from the API's JSON (what :func:`to_dict` returns, or a response's data).

    Unknown keys land in ``extra``, unknown enum values stay strings, as for responses.

    Args:
        cls: A class from :mod:`salescaling_async.models`.
        data: The decoded JSON object (camelCase names).

    Returns:
        A ``cls`` instance.

    Raises:
        ConfigError: ``cls`` is not a model class.
        ResponseValidationError: ``data`` does not fit ``cls`` (one line per problem).

    .. versionadded:: 0.2.0
    """
    _check_model_class(cls)
    return structure(data, cls)


def to_wire_body(body: Any, cls: type) -> dict[str, Any]:
    """A create/update body in the API's names, before anything is sent.

    A model instance is serialised like :func:`to_dict`.  In a mapping, every key that is a
    field of ``cls`` (the response model) is accepted in its API spelling (``firstName``) or
    its Python one (``first_name``, renamed); other camelCase keys pass verbatim (fields this
    SDK does not know yet); any other key with an underscore is refused, because the API would
    silently ignore it.  Values are serialised (datetimes, enums, nested models).

    Raises:
        ConfigError: not a model or mapping, a non-string key, an unknown snake_case key, or
            one field given under both spellings.
    """
    if _is_model(type(body)):
        return to_dict(body)
    if not isinstance(body, Mapping):
        raise ConfigError(f"the body must be a model or a mapping, got {type(body).__name__}")
    plan = _plan(cls)
    json_names = {j for j, _, _ in plan}
    by_attr = {a: j for j, a, _ in plan}
    out: dict[str, Any] = {}
    for key, value in body.items():
        if not isinstance(key, str):
            raise ConfigError(f"body keys must be strings, got {key!r}")
        name = key if key in json_names else by_attr.get(key, key)
        if name not in json_names and "_" in key.strip("_"):
            raise ConfigError(
                f"{cls.__name__} has no field {key!r}; the API's names are camelCase "
                f"(send {camel(key)!r} if the server knows it)"
            )
        if name in out:
            raise ConfigError(f"field {name!r} is given twice in the body")
        out[name] = _converter.unstructure(value)
    return out
