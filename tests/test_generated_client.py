"""A REST client generated from the live OpenAPI schema, used for real against the live stack.

The schema is read where a mobile team reads it, `/api/schema/` through nginx; openapi-python-client
(pinned in requirements.txt) generates the `chat_api_client` package from it into this run's temp
directory, failing on any warning; `mypy --strict` checks tests/generated_client_smoke.py against
the package; then the smoke test runs it against the stack: register, log in, open a
conversation, send over REST, read the history, sync. `make client` generates the same package
into var/generated-client/ to look at.

One step between the schema and the generator: an operation open to anyone says `security: [{}]`
(drf-spectacular), which openapi-python-client 0.29 reads as "needs a token" and types with
`AuthenticatedClient` (openapi-generators/openapi-python-client#1372); `[]` says the same for an
operation with no other requirement, and the generator reads it right.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from tests.stack import ROOT, Stack

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]

GENERATOR = ROOT / ".venv" / "bin" / "openapi-python-client"
CONFIG = Path(__file__).with_name("openapi-client.yaml")
SMOKE = Path(__file__).with_name("generated_client_smoke.py")


def schema_for_generator(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with `security: [{}]` (anonymous only) written `[]` (see the module docstring)."""
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            if isinstance(operation, dict) and operation.get("security") == [{}]:
                operation["security"] = []
    return schema


def client_generate(schema_file: Path, out: Path) -> Path:
    """Generate `chat_api_client` into `out`; fails on an error or a warning of the generator."""
    done = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(schema_file),
            "--meta",
            "none",
            "--config",
            str(CONFIG),
            "--output-path",
            str(out / "chat_api_client"),
            "--overwrite",
            "--fail-on-warning",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr
    return out


@pytest.fixture(scope="module")
def client_stack(django_db_setup: None, cassandra_keyspace: str) -> Iterator[Stack]:
    with Stack.running(
        "chat-generated-client-",
        extra_env={
            "POSTGRES_DB": str(connection.settings_dict["NAME"]),
            # every test client comes from 127.0.0.1, and other tests' failed logins count against
            # it: neither the anonymous budget nor the lockout is this test's subject
            "API_THROTTLE_ANON": "10000/min",
            "AXES_FAILURE_LIMIT": "1000000",
        },
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def generated_client(client_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package generated from the schema the live stack serves through nginx."""
    out = tmp_path_factory.mktemp("generated-client")
    url = f"http://127.0.0.1:{client_stack.lb_port}/api/schema/?format=json"
    with urllib.request.urlopen(url, timeout=60) as answer:
        assert answer.status == 200
        schema = json.loads(answer.read())
    schema_file = out / "openapi.json"
    schema_file.write_text(json.dumps(schema_for_generator(schema)))
    return client_generate(schema_file, out)


def test_the_smoke_test_type_checks_against_the_generated_client(generated_client: Path) -> None:
    """mypy --strict: every operation, model and field the smoke test uses exists with that type."""
    done = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "mypy"),
            "--config-file",
            os.devnull,  # none of the project's settings or Django plugins: this module uses neither
            "--strict",
            "--follow-imports=silent",
            "--python-version",
            "3.11",
            "--cache-dir",
            str(generated_client / ".mypy_cache"),
            str(SMOKE),
        ],
        capture_output=True,
        text=True,
        cwd=generated_client,
        env={"MYPYPATH": str(generated_client), "PATH": "/usr/bin:/bin"},
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_generated_client_against_the_live_stack(client_stack: Stack, generated_client: Path) -> None:
    """Register, log in, open a conversation, send (and resend), read the history and sync, all
    through the generated client's typed functions, through nginx."""
    sys.path.insert(0, str(generated_client))
    try:
        smoke = importlib.import_module("tests.generated_client_smoke")
        started = time.monotonic()
        run = smoke.smoke_run(f"http://127.0.0.1:{client_stack.lb_port}")
    finally:
        sys.path.remove(str(generated_client))
        for name in [n for n in sys.modules if n == "chat_api_client" or n.startswith("chat_api_client.")]:
            del sys.modules[name]
        sys.modules.pop("tests.generated_client_smoke", None)
    assert run.conversation_id > 0
    took = time.monotonic() - started
    print(f"generated client: {run.calls} calls in {took:.1f} s; sync entries: {run.sync_entry_types}")
