"""scripts/backup.sh and scripts/restore.sh, run once for real (docs/operations.md, "Backups").

On the shared PostgreSQL and Cassandra, in a database and a keyspace of this test's own (a unique
name, created and dropped here and nowhere else): users, a direct conversation and a group with
messages (one edited, one mentioning a member) are written through the services as the sync
worker writes them; backup.sh copies both stores; the database and the keyspace are dropped;
restore.sh makes them again; and everything the services read back — accounts and passwords,
conversations, memberships and read positions, each conversation's history, a member's whole
change feed and mentions — equals what they read before the backup.

The data is written and read by `manage.py`-like child processes (`python -c`, the local settings
pointed at the scratch names), because the scripts work on the names of the environment, not on
the test run's own database.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "backup-test-pass-9"

pytestmark = pytest.mark.timeout(240)


# ---------------------------------------------------------------- run inside the child processes


def state_write() -> None:
    """Users, a direct conversation and a group, messages stored as the sync worker stores them."""
    from accounts.services import user_register
    from chat import services
    from chat.store.cassandra import message_store

    alice, bob, carol = (
        user_register(
            username=name, email=f"{name}@example.org", password=PASSWORD, display_name=name.title()
        )
        for name in ("alice", "bob", "carol")
    )
    direct, _ = services.conversation_direct_open(user=alice, other_id=bob.pk)
    group = services.conversation_group_create(owner=alice, title="Backups", member_ids=[bob.pk, carol.pk])
    sends = [
        (alice, direct.pk, "hello bob, this is kept"),
        (bob, direct.pk, "hi alice ☕ — and this"),
        (alice, group.pk, "@bob the backup runs at 03:00"),
        (carol, group.pk, "a body with \"quotes\", 'apostrophes' and a\nnewline"),
        (bob, group.pk, "typo to edit"),
    ]
    stored = []
    for sender, conversation_id, body in sends:
        pending = services.check_message_send_blocking(
            sender_id=sender.pk, conversation_id=conversation_id, client_msg_id=uuid.uuid4().hex, body=body
        )
        [result] = message_store.messages_write(pending=[pending])
        services.conversations_touch(messages=[result.message])
        stored.append(result.message)
    services.message_edit(
        editor_id=bob.pk, conversation_id=group.pk, message_id=stored[-1].id, body="edited after sending"
    )


def state_read() -> None:
    """What the services read back, as one JSON document on stdout."""
    from accounts.models import User
    from chat import selectors
    from chat.models import Conversation, Membership
    from chat.protocol import feed_entry_frame

    users = {u.username: u.pk for u in User.objects.order_by("username")}
    conversations = list(Conversation.objects.order_by("id").values("id", "kind", "title", "last_message_id"))
    memberships = list(
        Membership.objects.order_by("conversation_id", "user_id").values(
            "conversation_id", "user_id", "role", "last_read_message_id"
        )
    )
    history: dict[int, list[list[Any]]] = {}
    for conversation in Conversation.objects.order_by("id"):
        member = Membership.objects.filter(conversation=conversation).order_by("user_id").first()
        assert member is not None
        page = selectors.message_history(user_id=member.user_id, conversation_id=conversation.pk, limit=100)
        history[conversation.pk] = [
            [m.id, m.sender_id, m.body, m.mentions, m.edited_at, m.deleted] for m in page.messages
        ]
    feed = selectors.feed_sync(user_id=users["bob"], since=0, limit=500)
    mentions = selectors.mention_list(user_id=users["bob"], before=None, limit=50)
    state = {
        "users": users,
        "logins": sorted(u.username for u in User.objects.all() if u.check_password(PASSWORD)),
        "conversations": conversations,
        "memberships": memberships,
        "history": history,
        "bob_feed": [feed_entry_frame(e) for e in feed.entries],
        "bob_mentions": [m.id for m in mentions.messages],
    }
    print(json.dumps(state, default=str, sort_keys=True))


# ---------------------------------------------------------------- the test


def _scratch_name() -> str:
    run = re.sub(r"[^a-z0-9_]", "_", os.environ.get("TEST_RUN_ID", "").lower())[:12]
    return f"chat_backup_{run}_{uuid.uuid4().hex[:8]}".replace("__", "_")


def _pg(dbname: str = "postgres") -> psycopg.Connection[Any]:
    db = settings.DATABASES["default"]
    return psycopg.connect(
        host=str(db["HOST"]),
        port=str(db["PORT"]),
        user=str(db["USER"]),
        password=str(db["PASSWORD"]),
        dbname=dbname,
        autocommit=True,
    )


def _database_exists(name: str) -> bool:
    with _pg() as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def _keyspace_exists(name: str) -> bool:
    from chat.store.cassandra.session import cassandra_session

    row = cassandra_session().execute(
        "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = %s", (name,)
    )
    return row.one() is not None


def _wipe(name: str) -> None:
    """Drop this test's scratch database and keyspace (never any other: the name is ours)."""
    assert name.startswith("chat_backup_")
    from chat.store.cassandra.session import cassandra_session

    with _pg() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    cassandra_session().execute(f"DROP KEYSPACE IF EXISTS {name}", timeout=60)


@pytest.fixture
def scratch() -> Iterator[str]:
    name = _scratch_name()
    try:
        yield name
    finally:
        _wipe(name)


def _env(name: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="chatproject.settings.local",
        POSTGRES_DB=name,
        CASSANDRA_KEYSPACE=name,
        # this run's Redis database (claims, send rules, feed publishes), not the local stack's
        REDIS_DB=os.environ.get("TEST_REDIS_DB", "1"),
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    for key in ("CACHE_URL", "CELERY_BROKER_URL"):  # derived from REDIS_DB, then
        env.pop(key, None)
    return env


def _run(args: list[str], env: dict[str, str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    started = time.monotonic()
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=150)
    print(f"$ {' '.join(args[:2])}: exit {done.returncode} in {time.monotonic() - started:.1f} s")
    if check and done.returncode != 0:
        pytest.fail(f"{args} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def _python(code: str, env: dict[str, str]) -> str:
    script = f"import django; django.setup(); from tests.test_backup_restore import {code}; {code}()"
    return _run([sys.executable, "-c", script], env).stdout


def test_backup_then_restore_brings_back_users_conversations_and_messages(
    scratch: str, tmp_path: Path
) -> None:
    """backup.sh, both stores dropped, restore.sh: every account, conversation, membership,
    message (an edit and a mention included) and feed entry reads back as before."""
    env = _env(scratch)
    python = str(ROOT / ".venv/bin/python") if (ROOT / ".venv/bin/python").exists() else sys.executable
    with _pg() as conn:
        conn.execute(f'CREATE DATABASE "{scratch}"')
    _run([python, "manage.py", "migrate", "--noinput", "-v", "0"], env)
    _run([python, "manage.py", "cassandra_migrate"], env)
    _python("state_write", env)
    before = json.loads(_python("state_read", env))
    assert len(before["users"]) == 3
    assert before["logins"] == ["alice", "bob", "carol"]
    assert sum(len(h) for h in before["history"].values()) == 5
    assert any(
        m[2] == "edited after sending" and m[4] is not None for h in before["history"].values() for m in h
    )
    assert len(before["bob_mentions"]) == 1

    backup = tmp_path / "backup"
    done = _run(["scripts/backup.sh", str(backup)], env)
    print(done.stdout)
    assert (backup / "postgres.dump").stat().st_size > 0
    manifest = json.loads((backup / "cassandra" / "manifest.json").read_text())
    assert manifest["rows"]["messages_by_conversation"] == 5

    _wipe(scratch)
    assert not _database_exists(scratch)
    assert not _keyspace_exists(scratch)

    done = _run(["scripts/restore.sh", str(backup)], env)
    print(done.stdout)
    after = json.loads(_python("state_read", env))
    assert after == before
    bodies = [m[2] for h in after["history"].values() for m in h]
    assert "a body with \"quotes\", 'apostrophes' and a\nnewline" in bodies

    # a second restore over the restored data is refused before anything is touched
    again = _run(["scripts/restore.sh", str(backup)], env, check=False)
    assert again.returncode != 0
    assert "already exists" in again.stderr
    assert json.loads(_python("state_read", env)) == before
