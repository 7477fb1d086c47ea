"""Schemathesis from outside, against the live stack through nginx: the published OpenAPI schema
is the contract mobile clients are generated from, so every operation is fuzzed with every check
(tests/schemathesis.toml), authenticated as a user registered through the API, with the stateful
phase following the schema's links (register → login → conversation → send → edit → delete).

Bounded and reproducible: deterministic generation (the same cases every run, no seed needed), no
cache of earlier runs (tests/schemathesis.toml), 30 examples per operation; the run's case count
and time are printed.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from chat.api.serializers import NOT_ONLY_WHITESPACE
from chat.services import CLIENT_MSG_ID_RE
from conftest import cassandra_truncate
from tests.stack import ROOT, Stack, api_call

MAX_EXAMPLES = 30
CONFIG = Path(__file__).with_name("schemathesis.toml")
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")  # a workaround for CPython 3.11, see there
# operations that end the fuzzer's own login: the token would stop working for every case after
# them (they are covered by accounts' and tests/security's tests)
EXCLUDED = [
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/password"),
    ("DELETE", "/api/v1/auth/tokens/{device_id}"),
]


@pytest.fixture(scope="module")
def contract_stack(django_db_setup: None, cassandra_keyspace: str) -> Iterator[Stack]:
    cassandra_truncate(cassandra_keyspace)
    with Stack.running(
        "chat-contract-",
        extra_env={
            "POSTGRES_DB": str(connection.settings_dict["NAME"]),
            # the fuzzer sends thousands of requests a minute from one address and one user;
            # throttling has tests of its own
            "API_THROTTLE_ANON": "1000000/min",
            "API_THROTTLE_USER": "1000000/min",
            "API_THROTTLE_MESSAGE_EDIT": "1000000/min",
            "API_THROTTLE_MESSAGE_DELETE": "1000000/min",
            "AXES_FAILURE_LIMIT": "1000000",
        },
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def fuzzer_token(contract_stack: Stack) -> str:
    """A user registered and logged in through the API, as a mobile client would; a second user
    and a conversation between them, so that small generated ids name real things now and then."""
    users = []
    for name in ("fuzz", "peer"):
        username = f"{name}{uuid.uuid4().hex[:8]}"
        password = "correct-horse-battery-staple"
        status, body = api_call(
            contract_stack.api,
            "POST",
            "auth/register",
            {"username": username, "email": f"{username}@example.com", "password": password},
        )
        assert status == 201, body
        status, body = api_call(
            contract_stack.api,
            "POST",
            "auth/login",
            {"username": username, "password": password, "device_name": "schemathesis"},
        )
        assert status == 200, body
        users.append(body)
    token = str(users[0]["token"])
    status, body = api_call(
        contract_stack.api,
        "POST",
        "conversations",
        {"type": "direct", "user_id": users[1]["user"]["id"]},
        token,
    )
    assert status in (200, 201), body
    return token


def test_the_live_api_keeps_its_published_contract(
    contract_stack: Stack, fuzzer_token: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Through nginx, no operation answers 5xx, an undocumented status, content type or header,
    a body off its schema, rejects a request its schema allows or accepts one it forbids."""
    origin = f"http://127.0.0.1:{contract_stack.lb_port}"
    with urllib.request.urlopen(f"{origin}/api/schema/?format=json", timeout=30) as response:
        (tmp_path / "schema.json").write_bytes(response.read())
    excluded = [arg for method, path in EXCLUDED for arg in ("--exclude-path", path)]
    command = [
        str(ROOT / ".venv/bin/st"),
        "--config-file",
        str(CONFIG),
        "run",
        str(tmp_path / "schema.json"),
        "--url",
        origin,
        "--header",
        f"Authorization: Bearer {fuzzer_token}",
        "--checks",
        "all",
        # nginx refuses TRACE itself, with a 405 that cannot list each path's methods (README)
        "--exclude-checks",
        "unsupported_method",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--workers",
        "4",
        "--request-timeout",
        "30",
        "--no-color",
        "--report",
        "ndjson",
        "--report-dir",
        str(tmp_path),
        *excluded,
    ]
    started = time.monotonic()
    done = subprocess.run(
        command,
        cwd=ROOT,
        env={**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    elapsed = time.monotonic() - started
    (tmp_path / "schemathesis.log").write_text(done.stdout + done.stderr)
    # the stack's own logs (nginx, API servers) go with its directory when it stops
    shutil.copytree(contract_stack.var / "log", tmp_path / "stack-log", dirs_exist_ok=True)
    cases = _count_cases(tmp_path)
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"schemathesis (live stack): {cases} cases in {elapsed:.0f} s")
    assert done.returncode == 0, f"{tmp_path / 'schemathesis.log'}\n" + done.stdout[-20000:]
    assert cases > 1000, done.stdout[-5000:]


def _count_cases(report_dir: Path) -> int:
    """The number of test cases Schemathesis ran, from its ndjson event report."""
    count = 0
    for path in report_dir.rglob("*.ndjson"):
        for line in path.read_text().splitlines():
            event = json.loads(line)
            if "ScenarioFinished" in event:
                count += len(event["ScenarioFinished"].get("recorder", {}).get("cases", {}))
    return count


def _schema(client: Any) -> dict[str, Any]:
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def test_schema_lists_every_accounts_operation(client: Any) -> None:
    """The published schema has every accounts endpoint, with the bearer scheme and the error body."""
    document = _schema(client)
    operations = {
        f"{method.upper()} {path}" for path, methods in document["paths"].items() for method in methods
    }
    expected = {
        "POST /api/v1/auth/register",
        "POST /api/v1/auth/login",
        "POST /api/v1/auth/logout",
        "POST /api/v1/auth/password",
        "GET /api/v1/auth/csrf",
        "GET /api/v1/auth/tokens",
        "DELETE /api/v1/auth/tokens/{device_id}",
        "GET /api/v1/me",
        "PATCH /api/v1/me",
        "POST /api/v1/me/avatar",
        "DELETE /api/v1/me/avatar",
        "GET /api/v1/users",
        "GET /api/v1/users/{user_id}",
        "GET /api/v1/friends",
        "DELETE /api/v1/friends/{user_id}",
        "POST /api/v1/friends/requests",
        "GET /api/v1/friends/requests/incoming",
        "GET /api/v1/friends/requests/outgoing",
        "POST /api/v1/friends/requests/{request_id}/accept",
        "POST /api/v1/friends/requests/{request_id}/decline",
        "POST /api/v1/friends/requests/{request_id}/cancel",
        "GET /api/v1/blocks",
        "POST /api/v1/blocks/{user_id}",
        "DELETE /api/v1/blocks/{user_id}",
    }
    assert expected <= operations
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    me = document["paths"]["/api/v1/me"]["get"]["responses"]
    assert me["401"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_schema_states_what_a_send_accepts_and_answers(client: Any) -> None:
    """A send's body and client_msg_id carry the service's own rules, and every status it can
    answer (the sync queue's 503, the load balancer's 413 and 414, 429 with Retry-After) has the
    error body."""
    document = _schema(client)
    schemas = document["components"]["schemas"]
    send = schemas["MessageCreateInputRequest"]["properties"]
    assert send["client_msg_id"]["pattern"] == CLIENT_MSG_ID_RE.pattern
    assert (send["body"]["minLength"], send["body"]["maxLength"]) == (1, 10_000)
    assert send["body"]["pattern"] == NOT_ONLY_WHITESPACE
    assert schemas["PatchedMessageEditInputRequest"]["required"] == ["body"]
    operation = document["paths"]["/api/v1/conversations/{conversation_id}/messages"]["post"]
    for status in ("400", "401", "403", "404", "409", "413", "414", "429", "503"):
        body = operation["responses"][status]["content"]["application/json"]
        assert body["schema"] == {"$ref": "#/components/schemas/Error"}, status
        assert body["examples"], status
    assert operation["responses"]["429"]["headers"]["Retry-After"]["required"] is True
    assert "store_timeout" in operation["responses"]["503"]["description"]
    links = operation["responses"]["201"]["links"]
    assert {"EditMessage", "DeleteMessage"} <= set(links)


def test_load_balancer_errors_are_the_error_body(contract_stack: Stack) -> None:
    """nginx's own 413 and 414 carry the API's JSON error body, not an HTML page."""
    origin = f"http://127.0.0.1:{contract_stack.lb_port}"
    status, body = _raw(origin + "/api/v1/me?q=" + "x" * 20_000, "GET")
    assert status == 414, body
    assert json.loads(body)["error"]["code"] == "uri_too_long"
    # a body announced over client_max_body_size is refused before nginx reads it
    connection = http.client.HTTPConnection("127.0.0.1", contract_stack.lb_port, timeout=30)
    connection.putrequest("POST", "/api/v1/auth/login")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(11 * 1024 * 1024))
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 413
    assert response.getheader("Content-Type") == "application/json"
    assert json.loads(response.read())["error"]["code"] == "too_large"
    connection.close()


def _raw(url: str, method: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        code, content_type, body = exc.code, exc.headers.get_content_type(), exc.read()
    assert content_type == "application/json", body
    return code, body
