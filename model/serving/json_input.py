"""JSON read strictly, for request bodies: what Python's :mod:`json` would guess at is refused.

:func:`json.loads` keeps the last of two equal keys, reads ``NaN`` and ``Infinity`` (not
JSON, RFC 8259 §6), turns ``1e400`` into infinity, makes a 400-digit integer that no
client can hold, and recurses once per nesting level until Python's recursion limit. Here
each is a :class:`JsonInputError` naming the field (``recipes[0].FluoYellow``), and the
nesting depth is checked on the bytes before anything is parsed.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

__all__ = ["INT64_MAX", "INT64_MIN", "JsonInputError", "field_path", "loads", "nesting_depth"]

#: JSON integers must fit a signed 64-bit integer: most clients (and numpy) cannot hold more.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# +1 for each opening bracket, -1 for each closing one, 0 for every other byte.
_BRACKET_STEP = np.zeros(256, dtype=np.int8)
_BRACKET_STEP[[ord("["), ord("{")]] = 1
_BRACKET_STEP[[ord("]"), ord("}")]] = -1


class JsonInputError(ValueError):
    """A body that is not strict JSON: ``status`` 400 (unreadable) or 422 (a field), ``message``, ``field`` or None."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


class _DuplicateKeys(dict):
    """An object whose key ``duplicate`` was given more than once."""

    duplicate: str = ""


class _Unreadable:
    """Stands in for a number JSON cannot carry faithfully; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def loads(body: bytes, *, max_depth: int) -> Any:
    """The JSON value of UTF-8 ``body``, read strictly.

    Parameters
    ----------
    body : bytes
    max_depth : int, the deepest nesting of arrays and objects accepted.

    Returns
    -------
    dicts, lists, str, int (within 64 bits), finite float, bool, None.

    Raises
    ------
    JsonInputError
        400 when ``body`` is not UTF-8 JSON or nests deeper than ``max_depth``; 422 naming
        the field for a key given twice in one object, an integer beyond 64 bits, or a
        number JSON has no value for (``NaN``, ``Infinity``, ``1e400``). The first such
        field in the body's order is named.
    """
    depth = nesting_depth(body, more_than=max_depth)
    if depth > max_depth:
        raise JsonInputError(400, f"The request body nests arrays and objects {depth:,} deep; expected at most {max_depth} (a predict request needs 3).")
    flagged = []  # set by the hooks; then one walk finds where

    def object_of(pairs: list) -> dict:
        value = dict(pairs)
        if len(value) < len(pairs):
            seen: set = set()
            value = _DuplicateKeys(value)
            value.duplicate = next(key for key, _ in pairs if key in seen or seen.add(key))
            flagged.append(value)
        return value

    def integer(text: str):
        digits = len(text.lstrip("-"))
        if digits <= 18 or (digits <= 20 and INT64_MIN <= int(text) <= INT64_MAX):
            return int(text)
        flagged.append(text)
        return _Unreadable(f"the integer {_abbreviated(text)} ({digits:,} digits) is beyond 64 bits (about ±9.2e18)")

    def real(text: str):
        number = float(text)
        if math.isfinite(number):
            return number
        flagged.append(text)
        return _Unreadable(f"the number {_abbreviated(text)} is beyond the range of a double (about ±1.8e308)")

    def constant(text: str):  # NaN, Infinity, -Infinity
        flagged.append(text)
        return _Unreadable(f"{text} is not a JSON number")

    try:
        value = json.loads(body.decode("utf-8"), object_pairs_hook=object_of, parse_int=integer, parse_float=real, parse_constant=constant)
    except RecursionError:  # the depth check prevents it; kept so that it can never become a 500
        raise JsonInputError(400, f"The request body nests arrays and objects too deep; expected at most {max_depth}.") from None
    except (UnicodeDecodeError, ValueError) as error:
        raise JsonInputError(400, f"The request body is not JSON ({error}); expected a JSON object such as {{\"recipes\": [...]}}.") from None
    if flagged:
        _refuse_flagged(value)
    return value


def nesting_depth(body: bytes, more_than: int = 0) -> int:
    """The deepest nesting of ``[`` and ``{`` in ``body``, outside strings.

    Works on the bytes with numpy (UTF-8 never hides a bracket or a quote inside a
    multi-byte character): about 15 ms for 10,000 recipes and at most about 150 ms for
    any 4 MB body, where a recursive parser would overflow. A body with at most
    ``more_than`` brackets is not scanned (its depth cannot exceed that): 0 is returned.
    """
    if body.count(b"[") + body.count(b"{") <= more_than:
        return 0
    # Inside a string only the escapes \\ and \" put a backslash before a quote; dropped
    # left to right, as a parser reads them, every quote left opens or closes a string.
    # (Outside strings a backslash is not JSON: the parser refuses the body afterwards.)
    codes = np.frombuffer(body.replace(b"\\\\", b"").replace(b'\\"', b""), dtype=np.uint8)
    steps = _BRACKET_STEP[codes]
    brackets = np.flatnonzero(steps)
    quotes_before = np.searchsorted(np.flatnonzero(codes == ord('"')), brackets)
    return int(np.cumsum(steps[brackets[quotes_before % 2 == 0]], dtype=np.int32).max(initial=0))


def _refuse_flagged(value: Any) -> None:
    """Raise 422 naming the first field, in body order, that a hook of :func:`loads` flagged."""
    stack = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, _Unreadable):
            raise JsonInputError(422, f"{path or 'The body'}: {item.reason}; expected a finite number, such as 12.5.", path or None)
        if isinstance(item, _DuplicateKeys):
            where = field_path(path, item.duplicate)
            raise JsonInputError(422, f"{where} is given more than once; a JSON object may name each field once. Keep one.", where)
        if isinstance(item, dict):
            stack.extend((field_path(path, key), child) for key, child in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend((f"{path}[{index}]", child) for index, child in reversed(list(enumerate(item))))


def field_path(path: str, key: str) -> str:
    """``path.key`` as messages name a field (``recipes[0].FluoYellow``); a long key is shortened."""
    key = key if len(key) <= 60 else key[:57] + "…"
    return f"{path}.{key}" if path else key


def _abbreviated(text: str) -> str:
    return text if len(text) <= 24 else f"{text[:12]}…{text[-8:]}"
