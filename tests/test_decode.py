"""decode_json: every decoding failure of a success body is a ResponseValidationError."""

from __future__ import annotations

import importlib.util
import json
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from salescaling_async import ResponseValidationError
from salescaling_async._decode import MAX_DEPTH, decode_json
from salescaling_async._errors import describe_error_body

from .conftest import in_threads


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(b"", None, id="empty"),
        pytest.param(b'{"data": [1, "x"]}', {"data": [1, "x"]}, id="object"),
        pytest.param(b'  {"a": "\xc3\xa9"}\n', {"a": "\u00e9"}, id="utf8-with-whitespace"),
        pytest.param(json.dumps([[[1]]]).encode(), [[[1]]], id="shallow-nesting"),
    ],
)
def test_valid_bodies_decode(body: bytes, expected: object) -> None:
    """Strict UTF-8 JSON within the depth bound decodes to the JSON value; empty is None."""
    assert decode_json(body, status=200) == expected


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"   \r\n\t ", id="whitespace-only"),
        pytest.param(b"not json", id="text"),
        pytest.param(b'{"a": "\xff\xfe"}', id="invalid-utf8"),
        pytest.param(b"\xef\xbb\xbf{}", id="bom"),
        pytest.param(b'{"a": NaN}', id="nan"),
        pytest.param(b"[Infinity]", id="infinity"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="nested-100000"),
        pytest.param(b'{"a":' * 100_000 + b"1" + b"}" * 100_000, id="objects-100000"),
        pytest.param(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), id="one-past-the-bound"),
        pytest.param(b'{"data": [1, 2', id="truncated"),
    ],
)
def test_bad_success_bodies_are_validation_errors(body: bytes) -> None:
    """Whitespace, bad UTF-8, a BOM, NaN, depth and syntax all raise ResponseValidationError."""
    with pytest.raises(ResponseValidationError) as info:
        decode_json(body, status=200)
    assert info.value.status_code == 200 and info.value.errors
    assert len(info.value.raw) <= 65536


def test_depth_bound_is_exact() -> None:
    """MAX_DEPTH levels are accepted, one more is refused, also under many flat brackets."""
    deep = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert decode_json(deep.encode(), status=200) is not None
    flat = json.dumps({"data": [[i] for i in range(5 * MAX_DEPTH)]})
    assert decode_json(flat.encode(), status=200)["data"][3] == [3]


@pytest.mark.parametrize("status", [400, 404, 500])
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(b'{"message": "x"}', {"message": "x"}, id="json"),
        pytest.param(b"<html>oops</html>", "<html>oops</html>", id="text"),
        pytest.param(b"\xffbad", "\ufffdbad", id="bad-utf8"),
        pytest.param(b"[" * 5000, "[" * 5000, id="deep"),
    ],
)
def test_error_bodies_never_raise(status: int, body: bytes, expected: object) -> None:
    """An error status's body is JSON when it can be, its text otherwise: never an exception."""
    assert decode_json(body, status=status) == expected


@given(st.binary(max_size=200), st.integers(100, 599))
def test_any_bytes_decode_or_raise_typed(body: bytes, status: int) -> None:
    """Arbitrary bytes either decode or raise ResponseValidationError (success statuses only)."""
    try:
        decode_json(body, status=status)
    except ResponseValidationError:
        assert status < 400


@pytest.mark.parametrize(
    ("body", "message", "reason", "messages"),
    [
        pytest.param(
            {"statusCode": 400, "message": ["name must be a string", "email must be an email"], "error": "Bad Request"},
            "name must be a string; email must be an email",
            "Bad Request",
            ("name must be a string", "email must be an email"),
            id="nest-list",
        ),
        pytest.param(
            {"statusCode": 403, "message": "Forbidden resource", "error": "Forbidden"},
            "Forbidden resource",
            "Forbidden",
            ("Forbidden resource",),
            id="nest-string",
        ),
        pytest.param(
            {"statusCode": 401, "count": 0, "error": "missing key", "data": None},
            "missing key",
            None,
            ("missing key",),
            id="envelope",
        ),
        pytest.param(
            {"statusCode": 404, "message": [], "error": "Not Found"}, "Not Found", None, ("Not Found",), id="empty-list"
        ),
        pytest.param(
            {"message": [{"field": "a"}, 3]}, '{"field": "a"}; 3', None, ('{"field": "a"}', "3"), id="non-strings"
        ),
        pytest.param("  gateway timeout  ", "gateway timeout", None, (), id="text"),
        pytest.param(None, None, None, (), id="none"),
        pytest.param([1, 2], None, None, (), id="list"),
    ],
)
def test_describe_error_body(body: object, message: object, reason: object, messages: object) -> None:
    """NestJS message is the message (lists joined), error the reason; envelopes keep error."""
    assert tuple(describe_error_body(body)) == (message, reason, messages)


def test_describe_error_body_bounds_the_text() -> None:
    """A huge message list is cut to 50 messages of 1000 characters, the joined text to 2000."""
    found = describe_error_body({"message": ["x" * 5000] * 500})
    assert len(found.messages) == 50 and all(len(m) == 1000 for m in found.messages)
    assert found.message is not None and len(found.message) == 2000 and found.message.endswith("\u2026")


# -- the orjson fast path (the ``fast`` extra) ---------------------------------------------

needs_orjson = pytest.mark.skipif(importlib.util.find_spec("orjson") is None, reason="the fast extra is not installed")

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)  # beyond 64 bits too
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),  # lone surrogates included: json.dumps escapes them
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=30,
)


def _standard(body: bytes, status: int = 200) -> object:
    """What the standard library alone makes of ``body`` (the value, or the error's message)."""
    import salescaling_async._decode as decode

    with mock.patch.object(decode, "_orjson", None):
        return _either(body, status)


def _either(body: bytes, status: int = 200) -> object:
    try:
        return decode_json(body, status=status)
    except ResponseValidationError as exc:
        return ("error", str(exc))


@needs_orjson
@given(json_values, st.booleans(), st.sampled_from(["", " ", "\n\t"]))
def test_orjson_gives_the_standard_librarys_values(value: object, ascii_only: bool, pad: str) -> None:
    """With orjson installed every body decodes to exactly what the standard library makes of
    it: integers beyond 64 bits stay exact integers, -0.0 stays a float, lone surrogates stay."""
    body = (pad + json.dumps(value, ensure_ascii=ascii_only) + pad).encode("utf-8", "surrogatepass")
    assert repr(_either(body)) == repr(_standard(body))


@needs_orjson
@given(st.binary(max_size=120) | st.text(alphabet='[]{}",:0123456789.-+eE \\u\x00tnrfalse').map(str.encode))
def test_orjson_refuses_and_accepts_what_the_standard_library_does(body: bytes) -> None:
    """Arbitrary bytes: the same value, or the same typed error with the same message."""
    assert repr(_either(body)) == repr(_standard(body))


@needs_orjson
def test_orjson_decodes_and_long_numbers_go_to_the_standard_library(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path is taken for an ordinary body, and skipped for 19 digits in a row."""
    import orjson

    import salescaling_async._decode as decode

    calls: list[bytes] = []

    class Counting:
        JSONDecodeError = orjson.JSONDecodeError

        @staticmethod
        def loads(body: bytes) -> object:
            calls.append(body)
            return orjson.loads(body)

    monkeypatch.setattr(decode, "_orjson", Counting)
    assert decode_json(b'{"data": [1, 2]}', status=200) == {"data": [1, 2]}
    assert decode_json(b"[1234567890123456789012]", status=200) == [1234567890123456789012]
    assert decode_json(b"[9223372036854775808]", status=200) == [9223372036854775808]
    assert calls == [b'{"data": [1, 2]}']


# -- the depth bound on big bodies (more brackets than the bound, so the value is checked) --


def _nest(depth: int, kind: str) -> object:
    """A value nested ``depth`` arrays/objects deep: lists, objects, or both in turn."""
    value: object = "leaf"
    for level in range(depth):
        value = [value] if kind == "list" or (kind == "mixed" and level % 2) else {"k": value}
    return value


def _big_body(nested: object) -> bytes:
    """``nested`` beside 200 flat records: a page-sized body whose brackets far exceed the bound."""
    return json.dumps({"data": [{"id": str(i), "tags": ["a"]} for i in range(200)], "nested": nested}).encode()


@pytest.mark.parametrize("kind", ["list", "object", "mixed"])
@pytest.mark.parametrize("fast", [True, False], ids=["orjson", "standard"])
def test_depth_bound_is_exact_in_a_big_body(kind: str, fast: bool) -> None:
    """Beside many flat brackets, a value MAX_DEPTH - 2 levels deep inside the envelope's two is
    accepted and one level more is refused, on the orjson path and the standard library's."""
    if fast and importlib.util.find_spec("orjson") is None:
        pytest.skip("the fast extra is not installed")
    import salescaling_async._decode as decode

    with mock.patch.object(decode, "_orjson", decode._orjson if fast else None):
        deepest = _big_body(_nest(MAX_DEPTH - 1, kind))  # + the envelope object = MAX_DEPTH
        assert decode_json(deepest, status=200)["nested"] == _nest(MAX_DEPTH - 1, kind)
        with pytest.raises(ResponseValidationError, match="nested deeper than 64 levels"):
            decode_json(_big_body(_nest(MAX_DEPTH, kind)), status=200)


@needs_orjson
@pytest.mark.parametrize("slack", ["probed", "none"])
def test_the_encoder_check_and_the_walk_agree_on_every_depth(slack: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """orjson's encoder proves a decoded value shallow exactly when the walk does, at every
    depth around the bound; without a usable encoder limit the walk alone decides."""
    import salescaling_async._decode as decode

    assert decode._SLACK and decode._encoder_slack() == decode._SLACK
    if slack == "none":
        monkeypatch.setattr(decode, "_SLACK", None)
    for depth in range(MAX_DEPTH - 3, MAX_DEPTH + 4):
        for kind in ("list", "object", "mixed"):
            value = _nest(depth, kind)
            assert decode._too_deep_decoded(value) is decode._too_deep(value) is (depth > MAX_DEPTH)
    assert decode._wrappings.hole == [None]  # the value is not kept


@needs_orjson
def test_threads_checking_depths_at_once_get_each_their_own_answer() -> None:
    """Blocking clients decode on their portal threads: each thread fills its own wrapping."""
    bodies = [_big_body(_nest(MAX_DEPTH - 1 + (i % 2), "mixed")) for i in range(4)]
    wrong: list[int] = []

    def decode_many(index: int) -> None:
        for _ in range(30):
            try:
                decode_json(bodies[index], status=200)
                refused = False
            except ResponseValidationError:
                refused = True
            if refused is not bool(index % 2):
                wrong.append(index)

    in_threads(decode_many, 4)
    assert wrong == []
