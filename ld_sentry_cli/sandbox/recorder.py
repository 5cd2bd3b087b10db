"""What the sandbox saw: a request log, counters, and the events imported through the import API.

Readable in-process (tests, the benchmark) and, as JSON, through the admin routes. Thread-safe:
the server thread writes while the test thread reads. No secret is recorded: never the
`Authorization` header, only whether the request was authorised.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class RequestRecord:
    """One request: what was asked, what was answered, how long it took."""

    method: str
    path: str
    query: str
    status: int | None  # None: the connection was dropped without a response
    service: str
    route: str | None  # the matched path template, e.g. /api/v2/metrics/{projectKey}
    ld_api_version: str | None
    user_agent: str | None
    duration_ms: float
    started_at: float  # epoch seconds
    fault: str | None = None  # rate_limited | server_error | dropped | None

    @property
    def endpoint(self) -> str:
        """`METHOD template` (or the raw path when no route matched)."""
        return f"{self.method} {self.route or self.path}"

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON object."""
        return asdict(self)


@dataclass(frozen=True)
class ImportedEvent:
    """One event accepted by the metric import endpoint, with the payload it came in."""

    project_key: str
    environment_key: str
    payload_id: str | None
    event: Mapping[str, Any]
    received_at: float

    def to_json(self) -> dict[str, Any]:
        """The event as a JSON object."""
        return {
            "projectKey": self.project_key,
            "environmentKey": self.environment_key,
            "payloadId": self.payload_id,
            "event": dict(self.event),
            "receivedAt": self.received_at,
        }


@dataclass(frozen=True)
class Counters:
    """Totals over the log, and the peak number of requests in flight (to check concurrency bounds)."""

    total: int = 0
    by_status: Mapping[str, int] = field(default_factory=dict)  # "200", "429", "dropped"
    by_endpoint: Mapping[str, int] = field(default_factory=dict)  # "GET /api/v2/metrics/{projectKey}"
    by_service: Mapping[str, int] = field(default_factory=dict)
    by_fault: Mapping[str, int] = field(default_factory=dict)
    in_flight: int = 0
    peak_in_flight: int = 0
    peak_in_flight_by_service: Mapping[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The counters as a JSON object."""
        return asdict(self)


class Recorder:
    """The request log, in-flight tracking and imported events."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[RequestRecord] = []
        self._imported: list[ImportedEvent] = []
        self._in_flight: Counter[str] = Counter()
        self._peak: Counter[str] = Counter()
        self._peak_total = 0

    def begin(self, service: str) -> None:
        """A request has started."""
        with self._lock:
            self._in_flight[service] += 1
            self._peak[service] = max(self._peak[service], self._in_flight[service])
            self._peak_total = max(self._peak_total, sum(self._in_flight.values()))

    def finish(self, record: RequestRecord) -> None:
        """A request has ended (answered or dropped)."""
        with self._lock:
            self._in_flight[record.service] -= 1
            self._requests.append(record)

    def record_import(self, events: list[ImportedEvent]) -> None:
        """Keep the events of one accepted import payload."""
        with self._lock:
            self._imported.extend(events)

    def requests(self, *, path_prefix: str = "", service: str | None = None) -> list[RequestRecord]:
        """A copy of the log, optionally narrowed to a path prefix or a service."""
        with self._lock:
            records = list(self._requests)
        return [r for r in records if r.path.startswith(path_prefix) and (service is None or r.service == service)]

    def imported_events(self) -> list[ImportedEvent]:
        """Every imported event, in arrival order (a retried payload appears again)."""
        with self._lock:
            return list(self._imported)

    def counters(self) -> Counters:
        """Totals computed from the log."""
        with self._lock:
            records = list(self._requests)
            in_flight = sum(self._in_flight.values())
            peak_total, peak = self._peak_total, dict(self._peak)
        return Counters(
            total=len(records),
            by_status=dict(Counter("dropped" if r.status is None else str(r.status) for r in records)),
            by_endpoint=dict(Counter(r.endpoint for r in records)),
            by_service=dict(Counter(r.service for r in records)),
            by_fault=dict(Counter(r.fault for r in records if r.fault)),
            in_flight=in_flight,
            peak_in_flight=peak_total,
            peak_in_flight_by_service=peak,
        )

    def clear(self) -> None:
        """Forget every request and imported event (requests in flight still finish)."""
        with self._lock:
            self._requests.clear()
            self._imported.clear()
            self._peak = Counter({k: v for k, v in self._in_flight.items() if v})
            self._peak_total = sum(self._in_flight.values())
