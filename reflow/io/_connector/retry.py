"""Retrying what failed for a reason that may pass (a dropped connection, a restarting server)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


class TransientError(Exception):
    """A failure worth retrying after reconnecting: the connection was lost or timed out."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a connector retries.

    The n-th retry waits ``initial_delay * multiplier ** n`` seconds, at most ``max_delay``;
    after ``max_attempts`` failed attempts in a row the connector gives up (``None``: never).

    >>> policy = RetryPolicy(initial_delay=0.1, max_delay=1.0, multiplier=4)
    >>> [policy.delay(n) for n in range(4)]
    [0.1, 0.4, 1.0, 1.0]
    """

    max_attempts: int | None = 8
    initial_delay: float = 0.1
    max_delay: float = 5.0
    multiplier: float = 2.0

    def delay(self, attempt: int) -> float:
        return min(self.max_delay, self.initial_delay * self.multiplier**attempt)

    def gives_up(self, failures: int) -> bool:
        return self.max_attempts is not None and failures >= self.max_attempts


def retrying(
    action: Callable[[], None],
    policy: RetryPolicy,
    on_failure: Callable[[TransientError, int], None],
    sleep: Callable[[float], bool],
) -> TransientError | None:
    """Run ``action`` until it succeeds; after each ``TransientError`` call ``on_failure``
    (to reconnect) and ``sleep`` the backoff. Returns the last error if the policy gives up,
    or if ``sleep`` returns True (a stop was requested); ``None`` on success."""
    failures = 0
    while True:
        try:
            action()
            return None
        except TransientError as exc:
            failures += 1
            if policy.gives_up(failures):
                return exc
            on_failure(exc, failures)
            if sleep(policy.delay(failures - 1)):
                return exc
