"""Budgets of a chat server socket's frames (DESIGN.md §4 "Limits").

`message.send` is budgeted per user across all of the user's sockets, in Redis
(CHAT_RATE_LIMIT_MESSAGES per CHAT_RATE_LIMIT_WINDOW s, `chat.server.handlers.send_budget_take`). Every
other frame type has a budget per socket, kept in the socket's own memory (no round trip), in
CHAT_FRAME_BUDGETS per CHAT_FRAME_BUDGET_WINDOW seconds; a user has at most
CHAT_SOCKETS_PER_USER sockets, so these bound a user too. Frames the server cannot parse count
against the `invalid` budget. Only frames within budget are counted: a client that backs off for
`retry_after_ms` recovers.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Mapping


class SocketBudget:
    """Sliding windows, one per frame kind, of the frames one socket was allowed."""

    def __init__(
        self,
        limits: Mapping[str, int],
        *,
        window: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = dict(limits)
        self._window = window
        self._clock = clock
        self._taken: dict[str, deque[float]] = {}

    def take(self, kind: str) -> int:
        """Count one frame of `kind`: 0 if it is within budget, else the milliseconds until one
        is allowed again (the frame is then not counted). A kind without a budget is free."""
        limit = self._limits.get(kind)
        if limit is None:
            return 0
        now = self._clock()
        taken = self._taken.setdefault(kind, deque())
        while taken and taken[0] <= now - self._window:
            taken.popleft()
        if len(taken) >= limit:
            if not taken:  # a budget of 0: never
                return math.ceil(self._window * 1000)
            return max(1, math.ceil((taken[0] + self._window - now) * 1000))
        taken.append(now)
        return 0
