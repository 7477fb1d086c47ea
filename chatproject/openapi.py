"""The parts of the OpenAPI contract that no single view states (a drf-spectacular postprocessing hook).

Views and serializers describe their own fields, bodies and success answers. This hook adds what
every operation shares: the error body under every status an operation can answer — the API's own
4xx, the load balancer's 413, 414, 502, 503 and 504 (nginx answers them with the same body,
deploy/nginx.conf.in), 429 with its Retry-After — the bounds of the ids in paths, and the OpenAPI
links that let a client (and Schemathesis' stateful phase) follow register → login → open a
conversation → send → edit → delete. README.md (API) says what `/api/v1/` promises.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from chatproject.errors import ERROR_COMPONENT, ERROR_SCHEMA, ServiceError

MAX_ID = 2**63 - 1

_JSON_ERROR = {"application/json": {"schema": ERROR_SCHEMA}}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
}


def _error_example(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {"value": {"error": {"code": code, "message": message, "fields": fields or {}}}}


# status -> (when, example codes): the statuses any operation can answer
_STATUSES: dict[str, tuple[str, dict[str, dict[str, Any]]]] = {
    "400": (
        "Invalid input; `fields` tells which fields and why (code `invalid`), or a body that is not "
        "JSON or nested too deep (`bad_request`).",
        {
            "invalid": _error_example(
                "invalid", "Some fields are not valid.", {"body": ["A message needs some text."]}
            ),
            "bad_request": _error_example("bad_request", "JSON parse error."),
        },
    ),
    "401": (
        "Not logged in, or the token was revoked (`not_authenticated`, `authentication_failed`).",
        {
            "not_authenticated": _error_example(
                "not_authenticated", "Authentication credentials were not provided."
            )
        },
    ),
    "403": (
        "Not allowed (`forbidden`, `blocked`, `conversation_archived`), or CSRF failed for a session "
        "(`csrf_failed`).",
        {"forbidden": _error_example("forbidden", "You may not do this.")},
    ),
    "404": (
        "Not found, or not visible to me (`not_found`).",
        {"not_found": _error_example("not_found", "Not found.")},
    ),
    "413": (
        "The body is over the API's limit of 1 MiB (or over the load balancer's 10 MiB), or a message "
        "body over 10,000 characters (`too_large`).",
        {"too_large": _error_example("too_large", "The body is over the limit of 1048576 bytes.")},
    ),
    "414": (
        "The URL is over the load balancer's limit (8 KiB; `uri_too_long`).",
        {"uri_too_long": _error_example("uri_too_long", "The request URL is too long.")},
    ),
    "429": (
        "Too many requests (`rate_limited`), or locked out after failed logins (`locked_out`); "
        "Retry-After says when to try again.",
        {
            "rate_limited": _error_example(
                "rate_limited", "Request was throttled. Expected available in 3 seconds."
            )
        },
    ),
    "502": (
        "No API server answered the load balancer (`bad_gateway`); try again.",
        {"bad_gateway": _error_example("bad_gateway", "No API server answered; try again.")},
    ),
    "503": (
        "Unavailable: the load balancer has no API server (`unavailable`); a send's message was not "
        "stored in time (`store_timeout`) or not queued (`unavailable`), or the service is overloaded "
        "(`overloaded`): send again with the same client_msg_id; no chat server is live (`no_chat_server`).",
        {"unavailable": _error_example("unavailable", "The service is unavailable; try again.")},
    ),
    "504": (
        "The API server did not answer the load balancer in time (`gateway_timeout`); try again.",
        {"gateway_timeout": _error_example("gateway_timeout", "The API server did not answer in time.")},
    ),
}
# statuses an operation answers only with a body (413 and 414 come from the load balancer for any)
_BODY_ONLY: dict[str, tuple[str, dict[str, dict[str, Any]]]] = {
    "415": (
        "The body's content type is not accepted (`unsupported_media_type`).",
        {
            "unsupported_media_type": _error_example(
                "unsupported_media_type", 'Unsupported media type "text/plain" in request.'
            )
        },
    )
}


def _error_response(
    status: str, operation: dict[str, Any], existing: dict[str, Any] | None
) -> dict[str, Any]:
    description, examples = _STATUSES.get(status) or _BODY_ONLY.get(status) or ("", {})
    description = (existing or {}).get("description") or description
    if not examples:
        # an operation's own status (a 409, say): one example per error code its description names,
        # with the message of the domain error that has that code
        messages = _service_error_messages()
        examples = {
            code: _error_example(code, messages.get(code, description))
            for code in re.findall(r"`([a-z_]+)`", description)
        }
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": ERROR_SCHEMA, "examples": copy.deepcopy(examples)}},
    }
    if status in ("429", "503"):
        response["headers"] = copy.deepcopy(_RETRY_AFTER)
        if status == "503":
            response["headers"]["Retry-After"]["required"] = False
    return response


def _service_error_messages() -> dict[str, str]:
    """Each error code's default message, from the ServiceError subclasses (all loaded by now)."""
    messages: dict[str, str] = {}
    pending = list(ServiceError.__subclasses__())
    while pending:
        error = pending.pop(0)
        messages.setdefault(error.code, error.default_message)
        pending.extend(error.__subclasses__())
    return messages


def _bound_path_ids(operation: dict[str, Any]) -> None:
    """`<int:...>` ids in paths: Django's converter takes any digits; the ids are positive 64-bit."""
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {})
        if parameter.get("in") == "path" and schema == {"type": "integer"}:
            parameter["schema"] = {"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID}


# OpenAPI links: what an answer's values let a client do next (operationIds of drf-spectacular)
_CONVERSATION_LINKS = {
    "GetConversation": {
        "operationId": "v1_conversations_retrieve_2",
        "parameters": {"conversation_id": "$response.body#/id"},
    },
    "SendMessage": {
        "operationId": "v1_conversations_messages_create",
        "parameters": {"conversation_id": "$response.body#/id"},
    },
    "History": {
        "operationId": "v1_conversations_messages_retrieve",
        "parameters": {"conversation_id": "$response.body#/id"},
    },
}
_MESSAGE_LINKS = {
    "EditMessage": {
        "operationId": "v1_conversations_messages_partial_update",
        "parameters": {
            "conversation_id": "$response.body#/conversation_id",
            "message_id": "$response.body#/id",
        },
    },
    "DeleteMessage": {
        "operationId": "v1_conversations_messages_destroy",
        "parameters": {
            "conversation_id": "$response.body#/conversation_id",
            "message_id": "$response.body#/id",
        },
    },
    "MarkRead": {
        "operationId": "v1_conversations_read_create",
        "parameters": {"conversation_id": "$response.body#/conversation_id"},
        "requestBody": {"message_id": "$response.body#/id"},
    },
}
_OPEN_DIRECT = {
    "OpenDirectConversation": {
        "operationId": "v1_conversations_create",
        "requestBody": {"type": "direct", "user_id": "$response.body#/user/id"},
    },
    "GetUser": {"operationId": "v1_users_retrieve", "parameters": {"user_id": "$response.body#/user/id"}},
}
_LINKS: dict[tuple[str, str], dict[str, dict[str, Any]]] = {
    ("v1_auth_register_create", "201"): {
        "Login": {
            "operationId": "v1_auth_login_create",
            "requestBody": {"username": "$request.body#/username", "password": "$request.body#/password"},
        },
        **_OPEN_DIRECT,
    },
    ("v1_auth_login_create", "200"): _OPEN_DIRECT,
    ("v1_conversations_create", "200"): _CONVERSATION_LINKS,
    ("v1_conversations_create", "201"): _CONVERSATION_LINKS,
    ("v1_conversations_messages_create", "200"): _MESSAGE_LINKS,
    ("v1_conversations_messages_create", "201"): _MESSAGE_LINKS,
    ("v1_conversations_messages_partial_update", "200"): {"DeleteMessage": _MESSAGE_LINKS["DeleteMessage"]},
}

# PATCH bodies whose fields are required all the same (drf-spectacular makes every PATCH partial)
_WHOLE_PATCH_BODIES = {"PatchedMessageEditInputRequest": ["body"]}


def openapi_contract(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: errors, id bounds and links of every operation."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_COMPONENT
    for name, required in _WHOLE_PATCH_BODIES.items():
        if name in schemas:
            schemas[name]["required"] = required
    whole_bodies = {f"#/components/schemas/{name}" for name in _WHOLE_PATCH_BODIES}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            _bound_path_ids(operation)
            body = operation.get("requestBody", {})
            if any(c.get("schema", {}).get("$ref") in whole_bodies for c in body.get("content", {}).values()):
                body["required"] = True
            responses = operation.setdefault("responses", {})
            # 401 everywhere: a revoked token, and wrong credentials at login
            statuses = list(_STATUSES)
            if "requestBody" in operation:
                statuses += sorted(_BODY_ONLY)
            # and the operation's own error statuses (a 409), which get their examples here
            statuses += [status for status in responses if status >= "400" and status not in statuses]
            for status in statuses:
                existing = responses.get(status)
                if (
                    existing is None
                    or existing.get("content", {}).get("application/json", {}).get("schema") == ERROR_SCHEMA
                ):
                    responses[status] = _error_response(status, operation, existing)
            for status, response in responses.items():
                links = _LINKS.get((operation.get("operationId", ""), status))
                if links:
                    response["links"] = copy.deepcopy(links)
    return result
