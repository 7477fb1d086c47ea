"""Loaded into `st run` by tests/test_api_contract.py (SCHEMATHESIS_HOOKS): one `ast.parse` at a time.

Schemathesis runs operations in worker threads, and Hypothesis parses the source of the lambdas it
filters with (to describe them). On CPython 3.11 the C code that builds AST objects keeps its
recursion depth in interpreter-wide state, so two threads parsing at once can fail with
"SystemError: AST constructor recursion depth mismatch" (python/cpython gh-106905 and its
follow-ups): a runtime error of the tool, not a finding about the API. Parsing is rare and quick,
so serialising it costs nothing measurable.
"""

from __future__ import annotations

import ast
import threading
from typing import Any

_parse = ast.parse
_one_at_a_time = threading.RLock()


def _parse_one_at_a_time(*args: Any, **kwargs: Any) -> Any:
    with _one_at_a_time:
        return _parse(*args, **kwargs)


ast.parse = _parse_one_at_a_time
