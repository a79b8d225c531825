"""Building instances of frozen slotted attrs classes fast. Strictly private.

attrs' ``__init__`` of a frozen slotted class sets every attribute through
``object.__setattr__`` (the class's own ``__setattr__`` refuses), about 40 ns an attribute,
and a call with keywords parses them on top: about 1.2 µs for a seven-field ``Page``.  The
objects built for every request (the request, the response, the envelope, the page) are
built here instead, as their mutable twin (:func:`mutable_twin`), about 0.3 µs each.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs


def mutable_twin(cls: type) -> type | None:
    """A mutable twin of the frozen slotted ``cls`` to fill an instance in, or ``None``.

    A subclass that adds no slots has ``cls``'s memory layout, so an instance can be built as
    the twin, whose plain ``__setattr__`` lets ``obj.attr = value`` store straight into the
    slot (about 15 ns; a descriptor's ``__set__`` call, the frozen class's only way in, costs
    about 120 ns), and then become a ``cls`` by ``__class__`` assignment, from which point it
    is frozen like any other.  The twin never escapes: it only exists between
    ``object.__new__`` and that assignment.  ``None`` when the interpreter refuses the
    assignment (then the caller builds the instance the ordinary way).
    """
    namespace = {"__slots__": (), "__setattr__": object.__setattr__, "__delattr__": object.__delattr__}
    twin = type(f"_{cls.__name__}Builder", (cls,), namespace)
    try:
        probe: Any = object.__new__(twin)
        probe.__class__ = cls
    except TypeError:  # pragma: no cover - a layout the interpreter will not switch
        return None
    return twin


def positional_maker(cls: type[Any], names: Sequence[str] | None = None) -> Callable[..., Any]:
    """``make(*values)``: an instance of the frozen slotted attrs ``cls`` with its attributes
    ``names`` (default: all, in definition order) set to ``values``, in that order.

    The same instance ``cls(...)`` makes for classes whose attributes have no validator,
    converter or ``on_setattr`` hook and that have no ``__attrs_post_init__`` (refused with
    ``TypeError``), given every attribute, defaults and ``init=False`` ones included
    (refused with ``TypeError`` otherwise: an attribute left unset would raise when read).
    """
    fields = attrs.fields(cls)
    order = [f.name for f in fields] if names is None else list(names)
    if sorted(order) != sorted(f.name for f in fields):
        raise TypeError(f"{cls!r}: the maker must set every attribute exactly once")
    plain = all(f.validator is None and f.converter is None and f.on_setattr is None for f in fields)
    if not plain or hasattr(cls, "__attrs_post_init__") or "__slots__" not in vars(cls):
        raise TypeError(f"{cls!r} is not a plain frozen slotted attrs class")
    # Any other slot (attrs' cached hash, say) would be left unset, and raise when read.
    hidden = set(vars(cls)["__slots__"]) - set(order) - {"__weakref__"}
    if hidden:
        raise TypeError(f"{cls!r} has slots the maker would leave unset: {sorted(hidden)}")
    twin = mutable_twin(cls)
    if twin is None:  # pragma: no cover - see mutable_twin
        return cls
    # The generated code's own names start with two underscores, which no attrs attribute
    # can (a class body mangles such names), so they never shadow an argument.
    args = ", ".join(order)
    source = "\n".join(
        [
            f"def make({args}):",
            "    __obj = __new(__twin)",
            *(f"    __obj.{name} = {name}" for name in order),
            "    __obj.__class__ = __cls",
            "    return __obj",
        ]
    )
    namespace: dict[str, Any] = {"__new": object.__new__, "__twin": twin, "__cls": cls}
    exec(compile(source, f"<salescaling_async maker {getattr(cls, '__qualname__', cls)}>", "exec"), namespace)
    maker: Callable[..., Any] = namespace["make"]
    return maker
