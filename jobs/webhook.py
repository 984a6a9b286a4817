"""POST an alert to a namespace's webhook: a timeout per attempt, a few retries with backoff.

Delivery never raises: whatever the receiver does (times out, answers 500, is unreachable, is not
a URL at all), the outcome is a `Delivery` that the caller records on the alert, and the probes job
carries on. Retried: timeouts, connection errors, 5xx and 429. Not retried: other answers, which
will not change by asking again (a 404 or 401 needs the URL or the receiver fixed). Redirects are
not followed: a webhook URL should name the receiver itself.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Callable

USER_AGENT = "agentmem-alerts/1"


@dataclass(frozen=True)
class Delivery:
    delivered: bool
    attempts: int
    status: str  # "delivered", or "failed: <reason>" as stored on the alert

    @classmethod
    def failed(cls, attempts: int, reason: str) -> Delivery:
        return cls(False, attempts, f"failed: {reason}" + (f" ({attempts} attempts)" if attempts > 1 else ""))


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx then surfaces as an HTTPError


_OPENER = urllib.request.build_opener(_NoRedirects)


def _retryable(status: int) -> bool:
    return status >= 500 or status == 429


def _attempt(url: str, body: bytes, timeout: float) -> tuple[bool, bool, str]:
    """One POST: (delivered, worth retrying, reason)."""
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": USER_AGENT})
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read(65_536)
            return True, False, f"HTTP {response.status}"
    except urllib.error.HTTPError as err:
        err.close()
        return False, _retryable(err.code), f"HTTP {err.code}"
    except (TimeoutError, socket.timeout):
        return False, True, f"timed out after {timeout:g} s"
    except urllib.error.URLError as err:
        if isinstance(err.reason, (TimeoutError, socket.timeout)):
            return False, True, f"timed out after {timeout:g} s"
        return False, True, f"unreachable ({err.reason})"
    except (OSError, http.client.HTTPException) as err:  # reset connections, malformed answers
        return False, True, f"{type(err).__name__}: {err}"
    except ValueError as err:  # not a URL urllib can open: asking again will not help
        return False, False, f"invalid URL ({err})"


def post_json(url: str, payload: dict[str, Any], *, timeout: float, attempts: int, backoff: float,
              sleep: Callable[[float], None] = time.sleep) -> Delivery:
    """POST `payload` up to `attempts` times, waiting backoff, 2 x backoff, ... between attempts."""
    body = json.dumps(payload, default=str).encode()
    reason = "not attempted"
    for attempt in range(1, max(1, attempts) + 1):
        if attempt > 1:
            sleep(backoff * 2 ** (attempt - 2))
        delivered, retry, reason = _attempt(url, body, timeout)
        if delivered:
            return Delivery(True, attempt, "delivered")
        if not retry:
            return Delivery.failed(attempt, reason)
    return Delivery.failed(max(1, attempts), reason)
