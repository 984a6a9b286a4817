"""POST an alert to a namespace's webhook: a deadline per attempt, a few retries with backoff.

Delivery never raises: whatever the receiver does (times out, answers 500, is unreachable, is not
a URL at all), the outcome is a `Delivery` that the caller records on the alert, and the probes job
carries on. Retried: timeouts, connection errors, 5xx and 429. Not retried: other answers, which
will not change by asking again (a 404 or 401 needs the URL or the receiver fixed). Redirects are
not followed: a webhook URL should name the receiver itself. Only public addresses are called
(jobs/outbound.py), checked again before each delivery.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from agentmem.jobs.outbound import AllowList, Destination, DestinationRefused, Resolver, destination, system_resolver

USER_AGENT = "agentmem-alerts/1"


@dataclass(frozen=True)
class Delivery:
    delivered: bool
    attempts: int
    status: str  # "delivered", or "failed: <reason>" as stored on the alert
    unanswered: bool = False  # every attempt timed out or could not connect: the receiver is down or slow

    @classmethod
    def failed(cls, attempts: int, reason: str, unanswered: bool = False) -> Delivery:
        return cls(False, attempts, f"failed: {reason}" + (f" ({attempts} attempts)" if attempts > 1 else ""),
                   unanswered)


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to the address that was checked, whatever the name resolves to by now."""

    def __init__(self, to: Destination, timeout: float) -> None:
        super().__init__(to.host, to.port, timeout=timeout)
        self._address = to.address
        self.raw: socket.socket | None = None  # kept after http.client hands the socket to the response

    def connect(self) -> None:
        self.sock = self.raw = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """The same over TLS: the certificate is still verified for the URL's host name."""

    def __init__(self, to: Destination, timeout: float) -> None:
        super().__init__(to.host, to.port, timeout=timeout, context=ssl.create_default_context())
        self._address = to.address
        self.raw: socket.socket | None = None

    def connect(self) -> None:
        sock = self.raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def _retryable(status: int) -> bool:
    return status >= 500 or status == 429


def _attempt(url: str, body: bytes, timeout: float, allow: AllowList, resolve: Resolver) -> tuple[bool, bool, str]:
    """One POST: (delivered, worth retrying, reason). Reasons are coarse on purpose: they are shown to the
    tenant, and the bytes a peer sent back would turn the webhook into a probe of the service's network."""
    try:
        to = destination(url, allow, resolve)
    except DestinationRefused as refused:
        return False, refused.reason == "unresolvable", refused.reason
    connection = (_PinnedHTTPS if to.scheme == "https" else _PinnedHTTP)(to, timeout)
    # The socket's timeout bounds each read; a receiver that sends a byte every few seconds would never
    # meet it. The deadline bounds the whole attempt: when it passes, the socket is shut and the read fails.
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        if connection.raw is not None:  # not connection.sock: http.client drops it once the response has it
            try:
                connection.raw.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    deadline = threading.Timer(timeout, expire)
    deadline.daemon = True
    deadline.start()
    try:
        connection.request("POST", to.target, body=body, headers={
            "Content-Type": "application/json", "User-Agent": USER_AGENT})
        response = connection.getresponse()
        response.read(65_536)
        if expired.is_set():  # the body was cut off at the deadline
            return False, True, "timeout"
        if 200 <= response.status < 300:
            return True, False, f"http {response.status}"
        return False, _retryable(response.status), f"http {response.status}"  # 3xx included: not followed
    except (TimeoutError, socket.timeout):
        return False, True, "timeout"
    except ConnectionRefusedError:
        return False, True, "refused"
    except ssl.SSLError:
        return False, False, "tls error"
    except (OSError, http.client.HTTPException):  # resets, unreachable networks, malformed answers
        return False, True, "timeout" if expired.is_set() else "connection error"
    finally:
        deadline.cancel()
        connection.close()


def post_json(url: str, payload: dict[str, Any], *, timeout: float, attempts: int, backoff: float,
              allow: AllowList = AllowList(), resolve: Resolver = system_resolver,
              sleep: Callable[[float], None] = time.sleep) -> Delivery:
    """POST `payload` up to `attempts` times, waiting backoff, 2 x backoff, ... between attempts, to a
    public address (or one the service's operator allows)."""
    body = json.dumps(payload, default=str).encode()
    reason = "not attempted"
    for attempt in range(1, max(1, attempts) + 1):
        if attempt > 1:
            sleep(backoff * 2 ** (attempt - 2))
        delivered, retry, reason = _attempt(url, body, timeout, allow, resolve)
        if delivered:
            return Delivery(True, attempt, "delivered")
        if not retry:
            return Delivery.failed(attempt, reason)
    return Delivery.failed(max(1, attempts), reason, unanswered=reason in ("timeout", "refused", "connection error"))
