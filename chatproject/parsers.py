"""The REST API's JSON parser: bounded in size and in nesting before anything is decoded.

Python's decoder recurses once per nesting level, so `[[[[...]]]]` 100,000 deep raised
RecursionError, a 500. Here a body nested deeper than API_JSON_MAX_DEPTH is `bad_request`
(400), counted on the raw text before anything is built, and one over API_JSON_MAX_BYTES is
`too_large` (413), both in the project's error body (`chatproject.errors`). DRF hands JSON parsers
`request.body`, which Django refuses past DATA_UPLOAD_MAX_MEMORY_SIZE (set to the same limit) on
the announced Content-Length alone; `chatproject.errors` answers that one 413 too.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser

# a string literal, or an unterminated one up to the end (so that every quote is consumed once:
# linear, whatever the backslashes and quotes inside)
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)', re.DOTALL)
# brackets only, every opening as "(" and every closing as ")"
_BRACKETS = bytes.maketrans(b"[{]}", b"(())")
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))


class TooLarge(APIException):
    """413 `too_large` (a DRF exception: `chatproject.errors` imports DRF's views, which import
    the parser classes, so this module cannot import the project's ServiceError)."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"
    default_detail = "The body is too large."


def json_depth_exceeds(raw: bytes, limit: int) -> bool:
    """Whether the JSON text `raw` nests arrays and objects more than `limit` deep (brackets in
    strings do not count). Each pass deletes the innermost pairs, so balanced brackets nested `d`
    deep vanish in `d` passes; openings never closed count as nesting too (invalid JSON then,
    which the decoder would still descend into). At most `limit` passes over the bytes, in C."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # cannot nest deeper than it has brackets (the common case)
    brackets = _STRING.sub(b"", raw).translate(_BRACKETS, _NOT_BRACKETS)
    for passes in range(limit + 1):
        shorter = brackets.replace(b"()", b"")
        if len(shorter) == len(brackets):
            return passes + brackets.count(b"(") > limit
        brackets = shorter
    return True


class BoundedJSONParser(JSONParser):
    """DRF's JSONParser behind a size and a nesting limit."""

    def parse(
        self,
        stream: IO[Any] | None,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        limit = settings.API_JSON_MAX_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise TooLarge(f"the body is over the limit of {limit} bytes")
        if json_depth_exceeds(raw, settings.API_JSON_MAX_DEPTH):
            raise ParseError(f"JSON nested deeper than {settings.API_JSON_MAX_DEPTH} levels")
        try:
            return super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError as exc:  # not expected within the depth limit; never a 500
            raise ParseError("JSON nested too deeply") from exc
