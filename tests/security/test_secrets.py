"""Item 1: no secret has a usable default. The local and test settings never run with a key
written in the repository (a random one is generated once into `var/` and reused), production
refuses to start without `DJANGO_SECRET_KEY`, and a connect ticket forged with any key — the old
published one included — is refused by a real chat server."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import websockets

from tests.security.conftest import login, register
from tests.stack import ROOT, Stack

PUBLISHED_KEY = "local-dev-only-not-a-secret"
_PRINT_KEY = "from django.conf import settings; print(settings.SECRET_KEY)"


def _settings_run(module: str, var: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Import the settings `module` in a fresh interpreter (as manage.py, wsgi or asgi would)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "WEBPUSH_", "POSTGRES_"))}
    clean.update({"DJANGO_SETTINGS_MODULE": module, "CHAT_VAR_DIR": str(var), **env})
    return subprocess.run(
        [sys.executable, "-c", _PRINT_KEY], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("module", ["chatproject.settings.local", "chatproject.settings.test"])
def test_local_settings_generate_a_random_key_once(module: str, tmp_path: Path) -> None:
    """Without DJANGO_SECRET_KEY the key is random, written once under var/ (mode 600), and every
    later process reads the same one; another var/ gets another key."""
    first = _settings_run(module, tmp_path / "a")
    assert first.returncode == 0, first.stderr
    key = first.stdout.strip()
    assert key != PUBLISHED_KEY
    assert len(key) >= 50
    stored = tmp_path / "a" / "django-secret-key"
    assert stored.read_text().strip() == key
    assert stored.stat().st_mode & 0o077 == 0
    again = _settings_run(module, tmp_path / "a")
    assert again.stdout.strip() == key
    other = _settings_run(module, tmp_path / "b")
    assert other.returncode == 0, other.stderr
    assert other.stdout.strip() not in (key, PUBLISHED_KEY)


@pytest.mark.parametrize(
    "module",
    ["chatproject.settings.local", "chatproject.settings.test", "chatproject.settings.production"],
)
def test_the_published_key_is_refused_everywhere(module: str, tmp_path: Path) -> None:
    """A .env copied from an old .env.example (DJANGO_SECRET_KEY=<the published value>) stops the
    process instead of running with a key anyone can sign with."""
    done = _settings_run(
        module,
        tmp_path,
        DJANGO_SECRET_KEY=PUBLISHED_KEY,
        WEBPUSH_VAPID_PRIVATE_KEY=secrets.token_urlsafe(32),
        POSTGRES_PASSWORD=secrets.token_urlsafe(16),
    )
    assert done.returncode != 0
    assert "DJANGO_SECRET_KEY" in done.stderr
    assert PUBLISHED_KEY not in done.stdout


def test_production_refuses_to_start_without_its_secrets(tmp_path: Path) -> None:
    """Production settings do not import without DJANGO_SECRET_KEY or POSTGRES_PASSWORD, generate
    no key file, and take the ones they are given."""
    given = {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "WEBPUSH_VAPID_PRIVATE_KEY": secrets.token_urlsafe(32),
        "POSTGRES_PASSWORD": secrets.token_urlsafe(16),
    }
    for missing in ("DJANGO_SECRET_KEY", "POSTGRES_PASSWORD"):
        env = {k: v for k, v in given.items() if k != missing}
        done = _settings_run("chatproject.settings.production", tmp_path, **env)
        assert done.returncode != 0, done.stdout
        assert f"setting {missing} is required" in done.stderr
    assert not (tmp_path / "django-secret-key").exists()
    done = _settings_run("chatproject.settings.production", tmp_path, **given)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == given["DJANGO_SECRET_KEY"]


@pytest.mark.process
@pytest.mark.django_db(transaction=True)
async def test_ticket_forged_with_any_key_is_refused_by_a_chat_server(security_stack: Stack) -> None:
    """The stack runs with a generated key, not the published one; tickets in the old signed
    format, signed with the published key, a random key or even the stack's own key, get 4401."""
    from django.core import signing

    stack_key = (security_stack.var / "django-secret-key").read_text().strip()
    assert stack_key != PUBLISHED_KEY
    assert len(stack_key) >= 50
    account = register(security_stack, "forge")
    device = login(security_stack, account)
    url, _ticket = await asyncio.to_thread(device.ticket)
    claims = {"u": account.user_id, "d": "token:x", "n": "nonce"}
    for key in (PUBLISHED_KEY, secrets.token_urlsafe(50), stack_key):
        forged = signing.dumps(claims, key=key, salt="chat.connect-ticket", compress=True)
        async with websockets.connect(f"{url}?ticket={forged}") as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), timeout=10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4401, key
