"""What the load benchmark records per request, and the per-route summaries and table it reports.

Pure: samples in, dictionaries and text out. Latency percentiles are over 2xx answers (what an agent
waits for when things work); `ms_all` adds the refused and failed answers; time-outs have no latency.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

TIMEOUT = "timeout"


@dataclass(frozen=True)
class Sample:
    route: str
    status: str  # "200", "429", ..., "timeout", or "transport:<exception>"
    ms: float
    limit: str | None = None  # for a 429: the limit its body names
    message: str | None = None  # for a 429 or a 5xx: its message, numbers blanked
    stages: dict[str, float] | None = None  # a 2xx assemble: the server's timings_ms, plus "outside" it


@dataclass
class Phase:
    name: str
    clients: int
    samples: list[Sample] = field(default_factory=list)
    seconds: float = 0.0  # until the last agent finished
    seconds_by_route: dict[str, float] = field(default_factory=dict)  # a route that ran longer (the ingest)
    loadavg_start: tuple[float, ...] = ()
    loadavg_end: tuple[float, ...] = ()
    slept_s: float = 0.0  # time spent honouring Retry-After


def limit_of(body: Any) -> tuple[str, str]:
    """The limit a 429 names (error.limit, else error.code) and its message with numbers blanked."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "unnamed", str(body)[:200]
    name = error.get("limit") or error.get("code") or "unnamed"
    return str(name), blank_numbers(str(error.get("message", "")))[:300]


def blank_numbers(text: str) -> str:
    return re.sub(r"\d[\d,.]*", "N", text)


def percentile(values: list[float], p: float) -> float | None:
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _ms(values: list[float]) -> dict[str, float | None]:
    r = lambda v: None if v is None else round(v, 1)  # noqa: E731
    return {"p50": r(percentile(values, 50)), "p95": r(percentile(values, 95)),
            "max": r(max(values) if values else None)}


def is_ok(status: str) -> bool:
    return status.isdigit() and 200 <= int(status) < 300


def route_summary(samples: list[Sample], seconds: float) -> dict[str, Any]:
    statuses = Counter(s.status for s in samples)
    ok = [s.ms for s in samples if is_ok(s.status)]
    limited = [s for s in samples if s.status == "429"]
    errors = [s for s in samples if s.status.isdigit() and int(s.status) >= 500]
    return {
        "count": len(samples),
        "status": dict(sorted(statuses.items())),
        "ok": len(ok),
        "ms": _ms(ok),
        "ms_all": _ms([s.ms for s in samples if s.status != TIMEOUT]),
        "throughput_rps": round(len(samples) / seconds, 2) if seconds else None,
        "ok_throughput_rps": round(len(ok) / seconds, 2) if seconds else None,
        "server_errors": len(errors),
        "server_error_messages": dict(Counter(s.message or "" for s in errors).most_common(10)),
        "timeouts": statuses.get(TIMEOUT, 0),
        "rate_limited": {
            "count": len(limited),
            "limits": dict(Counter(s.limit or "unnamed" for s in limited)),
            "messages": dict(Counter(s.message or "" for s in limited).most_common(10)),
        },
    }


def stage_summary(samples: list[Sample]) -> dict[str, dict[str, float | None]]:
    """Where an answered request's time went, stage by stage (ms p50/p95/max). `outside` is the client's
    time minus the server's total: admission's queue, a free worker thread, HTTP and the event loops."""
    timed = [s.stages for s in samples if s.stages]
    names = sorted({k for t in timed for k in t})
    return {k: _ms([t.get(k, 0.0) for t in timed]) for k in names}


def with_stages(status: str, ms: float, body: Any) -> dict[str, float] | None:
    """The stage timings an answered request reports (timings_ms), and the time spent outside them."""
    timings = body.get("timings_ms") if is_ok(status) and isinstance(body, dict) else None
    if not isinstance(timings, dict) or "total" not in timings:
        return None
    stages = {str(k): float(v) for k, v in timings.items() if isinstance(v, (int, float))}
    stages["outside"] = max(0.0, ms - stages["total"])
    return stages


def phase_summary(phase: Phase) -> dict[str, Any]:
    routes = sorted({s.route for s in phase.samples})
    seconds = {r: phase.seconds_by_route.get(r, phase.seconds) for r in routes}
    by_route = {r: route_summary([s for s in phase.samples if s.route == r], seconds[r]) for r in routes}
    return {
        "name": phase.name, "clients": phase.clients, "seconds": round(phase.seconds, 1),
        "seconds_by_route": {r: round(v, 1) for r, v in phase.seconds_by_route.items()},
        "loadavg_start": [round(x, 2) for x in phase.loadavg_start],
        "loadavg_end": [round(x, 2) for x in phase.loadavg_end],
        "retry_after_slept_s": round(phase.slept_s, 1),
        "requests": len(phase.samples),
        "server_errors": sum(r["server_errors"] for r in by_route.values()),
        "timeouts": sum(r["timeouts"] for r in by_route.values()),
        "transport_errors": sum(1 for s in phase.samples if s.status.startswith("transport:")),
        "rate_limited": sum(r["rate_limited"]["count"] for r in by_route.values()),
        "routes": by_route,
        "stages": {r: st for r in routes if (st := stage_summary([s for s in phase.samples if s.route == r]))},
    }


def ratio(loaded: dict[str, Any], idle: dict[str, Any], route: str, key: str = "p95") -> float | None:
    a = loaded["routes"].get(route, {}).get("ms", {}).get(key)
    b = idle["routes"].get(route, {}).get("ms", {}).get(key)
    return round(a / b, 2) if a is not None and b else None


def _f(v: Any) -> str:
    return "-" if v is None else f"{v:,.0f}" if isinstance(v, float) and v >= 100 else f"{v}"


def table(result: dict[str, Any]) -> str:
    """Per run and route: counts by status class, 2xx latency, throughput, and the idle figures beside."""
    idle = result["idle"]
    head = (f"{'phase':<8} {'route':<28} {'n':>6} {'2xx':>6} {'4xx':>5} {'429':>5} {'5xx':>5} {'t/o':>4} "
            f"{'p50':>7} {'p95':>7} {'max':>7} {'ok/s':>6} | {'idle p50':>8} {'idle p95':>8} {'x p95':>6}")
    lines = [head, "-" * len(head)]
    for phase in [idle, *result["runs"]]:
        for route, r in phase["routes"].items():
            st = r["status"]
            four = sum(v for k, v in st.items() if k.isdigit() and 400 <= int(k) < 500 and k != "429")
            i = idle["routes"].get(route, {}).get("ms", {})
            x = ratio(phase, idle, route) if phase is not idle else None
            lines.append(
                f"{phase['name']:<8} {route:<28} {r['count']:>6} {r['ok']:>6} {four:>5} {r['rate_limited']['count']:>5}"
                f" {r['server_errors']:>5} {r['timeouts']:>4} {_f(r['ms']['p50']):>7} {_f(r['ms']['p95']):>7}"
                f" {_f(r['ms']['max']):>7} {_f(r['ok_throughput_rps']):>6} | {_f(i.get('p50')):>8}"
                f" {_f(i.get('p95')):>8} {_f(x):>6}"
            )
        longer = "".join(f" ({r}: {v} s)" for r, v in phase["seconds_by_route"].items())
        lines.append(f"{'':<8} loadavg {phase['loadavg_start']} -> {phase['loadavg_end']},"
                     f" {phase['seconds']} s{longer}, {phase['clients']} clients,"
                     f" Retry-After slept {phase['retry_after_slept_s']} s")
    for phase in [idle, *result["runs"]]:
        for route, r in phase["routes"].items():
            for name, n in r["rate_limited"]["limits"].items():
                lines.append(f"429 {phase['name']} {route}: {n} x limit {name!r}")
            for msg, n in r["server_error_messages"].items():
                lines.append(f"5xx {phase['name']} {route}: {n} x {msg!r}")
    for phase in [idle, *result["runs"]]:
        for route, stages in phase.get("stages", {}).items():
            parts = ", ".join(f"{k} {_f(v['p50'])}/{_f(v['p95'])}" for k, v in stages.items())
            lines.append(f"stages {phase['name']} {route} (ms p50/p95): {parts}")
    rb = result["readback"]
    lines.append(f"readback: {rb['acknowledged']} acknowledged writes, {rb['missing']} missing,"
                 f" {rb['mismatched']} mismatched, {rb['superseded_by_unacknowledged']} hold a later"
                 f" unacknowledged write; {rb['errors']} read errors")
    checks = result["checks"]
    lines.append("done-when: " + ", ".join(f"{k}={v}" for k, v in checks.items()))
    return "\n".join(lines)
