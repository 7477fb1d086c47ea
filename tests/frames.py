"""Every WebSocket frame the test suite sends or receives, checked against docs/asyncapi.yaml.

The helpers that talk to a chat server (chat/tests/test_consumer.py's `_send`, tests/chat_client.py's
`Device`, and every `WebsocketCommunicator.receive_from` through the root conftest) call
`frame_sent` / `frame_received`; a frame whose `type` the document does not list for its direction,
or that breaks its schema, is recorded in `violations`, and the root conftest fails the test that
saw it. Frames a test sends malformed on purpose go out raw (`send_to(text_data=...)`,
`device.ws.send`) and are not checked.

Checks are stricter than the document: an object may carry no property its schema does not
name, so the server cannot send a field the document does not describe (the document itself
leaves objects open for clients: fields may be added within a protocol version).
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator
from referencing import Registry
from referencing.jsonschema import DRAFT7

DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "asyncapi.yaml"
DOCUMENT_URI = "urn:chat:asyncapi"

violations: list[str] = []


def _closed(schema: Any) -> Any:
    """`schema` with `additionalProperties: false` on every object schema that names its properties."""
    if isinstance(schema, dict):
        out = {key: _closed(value) for key, value in schema.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_closed(value) for value in schema]
    return schema


@cache
def _validators() -> dict[tuple[str, str], Draft7Validator]:
    """(direction, frame type) -> a strict validator of that frame's payload."""
    document = yaml.safe_load(DOCUMENT.read_text())
    components = copy.deepcopy(document["components"])
    strict = {"components": {"schemas": _closed(components["schemas"]), "messages": {}}}
    for key, message in components["messages"].items():
        strict["components"]["messages"][key] = {"payload": _closed(message["payload"])}
    registry: Registry[Any] = Registry().with_resource(DOCUMENT_URI, DRAFT7.create_resource(strict))
    validators = {}
    for key, message in components["messages"].items():
        direction = key.split(".", 1)[0]
        schema = {"$ref": f"{DOCUMENT_URI}#/components/messages/{key}/payload"}
        validators[(direction, message["name"])] = Draft7Validator(schema, registry=registry)
    return validators


def frame_problems(frame: Any, *, direction: str) -> list[str]:
    """What is wrong with `frame` as a frame of `direction` ("client" sends, "server" sends)."""
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        return [f"not a frame object with a string type: {frame!r:.200}"]
    validator = _validators().get((direction, frame["type"]))
    if validator is None:
        return [f"{direction} frame type {frame['type']!r} is not in docs/asyncapi.yaml"]
    return [
        f"{direction} {frame['type']}: {'/'.join(map(str, error.absolute_path))}: {error.message:.300}"
        for error in validator.iter_errors(frame)
    ]


def _check(frame: Any, direction: str) -> None:
    problems = frame_problems(frame, direction=direction)
    if problems:
        violations.extend(f"{p}\n    frame: {json.dumps(frame)[:500]}" for p in problems)


def frame_sent(frame: dict[str, Any]) -> None:
    """A frame a test client sends (well-formed by intent)."""
    _check(frame, "client")


def frame_received(frame: Any) -> None:
    """A frame a chat server sent."""
    _check(frame, "server")


def frame_text_received(text: str | bytes | None) -> None:
    """The text of a frame a chat server sent (it sends only JSON text)."""
    try:
        frame = json.loads(text) if text is not None else None
    except ValueError:
        frame = text
    frame_received(frame)
