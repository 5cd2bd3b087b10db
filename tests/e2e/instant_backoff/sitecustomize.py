"""Start-up hook for the e2e tests' ldsentry processes that must not wait through retry backoff.

Python imports `sitecustomize` when it starts, from the first folder on sys.path that has one; the e2e
helper puts this folder on PYTHONPATH for those runs only. ldsentry then retries exactly as it does for
users (same attempts, same order), but each wait between tries returns at once, with no jitter: what the
suite's `instant_backoff` fixture does in-process, with no switch a user could set.
"""

from __future__ import annotations

import dataclasses

from ld_sentry_cli.cli import live
from ld_sentry_cli.http import SessionOptions

_real_session_options = live.session_options


async def _no_wait(seconds: float) -> None:
    return None


def _instant_session_options(concurrency: int) -> SessionOptions:
    return dataclasses.replace(_real_session_options(concurrency), sleep=_no_wait, random_fn=lambda: 0.0)


live.session_options = _instant_session_options
