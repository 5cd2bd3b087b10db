"""The relay's counters and histograms, rendered in the Prometheus text exposition format (0.0.4).

Hand-written rather than a client library: a dozen series, no extra dependency. Counter names
end in `_total`; gauges come from the spool when /metrics is scraped. Labels are bounded sets
(resources, reasons, destinations from the configuration), never event or context data.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ld_sentry_cli.relay.model import SpoolStats

PREFIX = "ldsentry_relay"
# Reasons a webhook is not forwarded. Rejections (non-2xx) first, then acknowledged skips.
REJECT_REASONS = (
    "missing_signature",
    "bad_signature",
    "too_large",
    "not_json",
    "invalid_payload",
    "disconnected",  # the client left before its whole body arrived
    "spool_error",
    "internal_error",  # a bug, answered 500
)
SKIP_REASONS = ("no_environment", "unmapped", "missing_context", "misnamed_context", "invalid_context", "stale")
UNPARK_OUTCOMES = ("queued", "unmapped")
RETRY_REASONS = ("rate_limited", "server_error", "network")
# The limits that close client connections (relay/connections.py counts them by these names).
CLOSE_REASONS = ("cap", "idle_timeout", "read_timeout", "head_too_large")
# Sentry gives us 1 s (sentry-api.md §7); the goal is p99 ≤ 25 ms, so resolve well below that.
ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
LAG_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)


@dataclass
class Histogram:
    """Cumulative-bucket histogram of seconds."""

    buckets: Sequence[float]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.buckets) + 1)

    def observe(self, seconds: float) -> None:
        """Record one observation."""
        self.counts[bisect.bisect_left(self.buckets, seconds)] += 1
        self.total += seconds
        self.count += 1

    def lines(self, name: str) -> list[str]:
        """The `_bucket`, `_sum` and `_count` samples."""
        out = []
        running = 0
        for bound, count in zip(self.buckets, self.counts, strict=False):
            running += count
            out.append(f'{name}_bucket{{le="{_number(bound)}"}} {running}')
        out.append(f'{name}_bucket{{le="+Inf"}} {self.count}')
        out.append(f"{name}_sum {_number(self.total)}")
        out.append(f"{name}_count {self.count}")
        return out


def _number(value: float) -> str:
    return repr(float(value)) if not float(value).is_integer() else f"{value:.1f}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items()) + "}"


@dataclass
class RelayMetrics:
    """Everything /metrics reports, updated by the intake and the forwarder (one event loop: no locks)."""

    received: Counter[str] = field(default_factory=Counter)  # by Sentry-Hook-Resource
    accepted: int = 0
    duplicates: int = 0
    parked: int = 0
    unparked: Counter[str] = field(default_factory=Counter)  # parked events once resolved: queued | unmapped
    rejected: Counter[str] = field(default_factory=Counter)  # by reason
    forwarded_events: int = 0
    forwarded_batches: int = 0
    retried: Counter[str] = field(default_factory=Counter)  # by reason
    dead_lettered_events: int = 0
    dead_lettered_batches: int = 0
    connections_closed: Counter[str] = field(default_factory=Counter)  # by the limit that closed them
    ack_latency: Histogram = field(default_factory=lambda: Histogram(ACK_BUCKETS))
    forward_lag: Histogram = field(default_factory=lambda: Histogram(LAG_BUCKETS))

    def render(self, stats: SpoolStats | None, now: float, ready: bool) -> str:
        """The Prometheus text document."""
        out: list[str] = []

        def family(name: str, kind: str, help_text: str, samples: Iterable[str]) -> None:
            out.append(f"# HELP {PREFIX}_{name} {help_text}")
            out.append(f"# TYPE {PREFIX}_{name} {kind}")
            out.extend(f"{PREFIX}_{sample}" for sample in samples)

        resources = sorted({"error", "event_alert", *self.received})
        family(
            "webhooks_received_total",
            "counter",
            "Signed webhooks received, by Sentry-Hook-Resource.",
            (f"webhooks_received_total{_labels(resource=r)} {self.received[r]}" for r in resources),
        )
        family(
            "events_accepted_total",
            "counter",
            "Error events stored in the spool.",
            [f"events_accepted_total {self.accepted}"],
        )
        family(
            "events_duplicate_total",
            "counter",
            "Error events whose id was already in the spool (Sentry retries).",
            [f"events_duplicate_total {self.duplicates}"],
        )
        family(
            "events_parked_total",
            "counter",
            "Error events stored while their Sentry project could not be resolved.",
            [f"events_parked_total {self.parked}"],
        )
        family(
            "events_unparked_total",
            "counter",
            "Parked events whose Sentry project was resolved since: queued for LaunchDarkly, or dropped as unmapped.",
            (f"events_unparked_total{_labels(outcome=o)} {self.unparked[o]}" for o in UNPARK_OUTCOMES),
        )
        reasons = [*REJECT_REASONS, *SKIP_REASONS, *sorted(set(self.rejected) - {*REJECT_REASONS, *SKIP_REASONS})]
        family(
            "webhooks_rejected_total",
            "counter",
            "Webhooks not forwarded, by reason (signature, size, JSON and payload errors are answered 4xx, "
            "spool and internal errors 5xx, the rest 200).",
            (f"webhooks_rejected_total{_labels(reason=r)} {self.rejected[r]}" for r in reasons),
        )
        family(
            "events_forwarded_total",
            "counter",
            "Events LaunchDarkly acknowledged.",
            [f"events_forwarded_total {self.forwarded_events}"],
        )
        family(
            "batches_forwarded_total",
            "counter",
            "Import requests LaunchDarkly acknowledged.",
            [f"batches_forwarded_total {self.forwarded_batches}"],
        )
        family(
            "batches_retried_total",
            "counter",
            "Import requests that failed transiently and will be sent again, by reason.",
            (f"batches_retried_total{_labels(reason=r)} {self.retried[r]}" for r in RETRY_REASONS),
        )
        family(
            "events_dead_lettered_total",
            "counter",
            "Events in batches LaunchDarkly refused for good.",
            [f"events_dead_lettered_total {self.dead_lettered_events}"],
        )
        family(
            "batches_dead_lettered_total",
            "counter",
            "Batches LaunchDarkly refused for good.",
            [f"batches_dead_lettered_total {self.dead_lettered_batches}"],
        )
        family(
            "connections_closed_total",
            "counter",
            "Client connections closed by a limit: cap (too many open), idle_timeout, read_timeout, "
            "head_too_large (answered 431).",
            (f"connections_closed_total{_labels(reason=r)} {self.connections_closed[r]}" for r in CLOSE_REASONS),
        )
        if stats is not None:
            family(
                "queue_depth",
                "gauge",
                'Events waiting in the spool, by LaunchDarkly destination (parked ones under destination="").',
                [
                    *(f"queue_depth{_labels(destination=d.destination.label)} {d.queued}" for d in stats.destinations),
                    f"queue_depth{_labels(destination='')} {stats.unresolved}",
                ],
            )
            oldest = stats.oldest_queued_at
            family(
                "oldest_queued_age_seconds",
                "gauge",
                "Age of the oldest event waiting in the spool (0 when empty).",
                [f"oldest_queued_age_seconds {_number(max(0.0, now - oldest) if oldest else 0.0)}"],
            )
            family(
                "dead_letters",
                "gauge",
                "Events in the dead-letter table, by destination.",
                (
                    f"dead_letters{_labels(destination=d.destination.label)} {d.dead_lettered}"
                    for d in stats.destinations
                ),
            )
        family(
            "ack_latency_seconds",
            "histogram",
            "Time from a webhook's arrival to its answer.",
            self.ack_latency.lines("ack_latency_seconds"),
        )
        family(
            "forward_lag_seconds",
            "histogram",
            "Time from an event's acceptance to LaunchDarkly's acknowledgement.",
            self.forward_lag.lines("forward_lag_seconds"),
        )
        family("ready", "gauge", "1 when the spool is writable and the forwarder runs.", [f"ready {int(ready)}"])
        return "\n".join(out) + "\n"
