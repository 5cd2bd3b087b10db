"""The fixed, documented set of problem codes that reports carry (docs/design.md "Output").

Codes are part of the JSON interface: CI scripts match on them, so a code is never renamed or
reused with another meaning. Every problem a report shows is built from this registry.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Severity(str, enum.Enum):
    """How much a problem matters: red fails a check, amber fails under --strict, a note never fails."""

    RED = "red"
    AMBER = "amber"
    NOTE = "note"


@dataclass(frozen=True)
class ProblemCode:
    """One registered problem code: its name, default severity and a one-line description."""

    code: str
    severity: Severity
    description: str


REGISTRY: tuple[ProblemCode, ...] = (
    # LaunchDarkly side (`ldsentry status`, `ldsentry metric check`).
    ProblemCode("ld_project_missing", Severity.RED, "The mapping names a LaunchDarkly project that does not exist."),
    ProblemCode(
        "ld_environment_missing",
        Severity.RED,
        "The mapping names an environment the LaunchDarkly project does not have.",
    ),
    ProblemCode(
        "ld_metrics_unavailable",
        Severity.RED,
        "The LaunchDarkly project's metrics could not be listed, so the metric is unchecked.",
    ),
    ProblemCode("metric_missing", Severity.RED, "No custom conversion metric in the project has the event key."),
    ProblemCode("metric_numeric", Severity.RED, "The only metrics with the event key are numeric, not conversion."),
    ProblemCode("metric_archived", Severity.RED, "The only usable metrics with the event key are archived."),
    ProblemCode(
        "metric_wrong_direction",
        Severity.AMBER,
        "The metric's success criterion is HigherThanBaseline, so more errors look like a win.",
    ),
    ProblemCode(
        "metric_kind_mismatch",
        Severity.AMBER,
        "The metric's unitAggregationType contradicts `[metric] kind` (average = binary, sum = count).",
    ),
    ProblemCode(
        "metric_data_source",
        Severity.AMBER,
        "The metric reads another data source (a warehouse), not the events the integration sends.",
    ),
    ProblemCode(
        "metric_units_unavailable",
        Severity.AMBER,
        "The metric's analysis units are context kinds its project does not make available for experiments.",
    ),
    ProblemCode(
        "integration_unavailable",
        Severity.NOTE,
        "The LaunchDarkly instance (EU or federal) does not offer the native Sentry integration.",
    ),
    # Sentry side (`ldsentry status`, `ldsentry events check`).
    ProblemCode(
        "sentry_project_missing",
        Severity.RED,
        "The mapping names a Sentry project the organization does not have.",
    ),
    ProblemCode(
        "sentry_environment_missing",
        Severity.RED,
        "The mapping names an environment the Sentry project has never seen.",
    ),
    ProblemCode("sentry_environment_hidden", Severity.AMBER, "The Sentry environment exists but is hidden."),
    ProblemCode("sentry_unchecked", Severity.NOTE, "The Sentry half of the mappings was not checked."),
    # Sampled events (`ldsentry events check`).
    # Red: with no events nothing proves the context reaches LaunchDarkly, so `events check` fails.
    ProblemCode("no_events", Severity.RED, "No error events in the sampled window, so nothing was checked."),
    ProblemCode("events_missing_context", Severity.AMBER, "Some sampled events carry no launchdarklyContext."),
    ProblemCode(
        "events_misnamed_context",
        Severity.AMBER,
        "Some sampled events carry the LaunchDarkly context under another name.",
    ),
    ProblemCode(
        "events_invalid_context",
        Severity.AMBER,
        "Some sampled events carry a launchdarklyContext LaunchDarkly cannot use.",
    ),
    ProblemCode(
        "low_usable_share",
        Severity.RED,
        "Too few sampled events carry a usable launchdarklyContext.",
    ),
    # Flag change tracking, LaunchDarkly → Sentry (`ldsentry tracking check`).
    ProblemCode(
        "tracking_webhook_missing",
        Severity.RED,
        "No LaunchDarkly webhook posts flag changes to the organization's Sentry hook URL.",
    ),
    ProblemCode("tracking_webhook_off", Severity.RED, "The LaunchDarkly webhook to Sentry is turned off."),
    ProblemCode(
        "tracking_webhook_unsigned",
        Severity.AMBER,
        "The LaunchDarkly webhook to Sentry does not sign its deliveries, so Sentry rejects them.",
    ),
    ProblemCode(
        "tracking_partial_coverage",
        Severity.AMBER,
        "The webhook's statements leave out some mapped LaunchDarkly environments.",
    ),
    # Sentry's data scrubbing (`ldsentry events check`, `ldsentry doctor`).
    ProblemCode(
        "context_scrubbed",
        Severity.RED,
        "Sampled events show the context's kind or key as [Filtered]: a named scrubbing setting did it.",
    ),
    ProblemCode(
        "context_at_risk",
        Severity.AMBER,
        "Under the current scrubbing settings Sentry filters (or may filter) members of the context.",
    ),
    ProblemCode(
        "scrubbing_unchecked",
        Severity.NOTE,
        "Sentry's data scrubbing settings (a project's, or the organization's) could not be read.",
    ),
)

CODES: dict[str, ProblemCode] = {entry.code: entry for entry in REGISTRY}


@dataclass(frozen=True)
class Problem:
    """One problem found in a report: a registered code, its severity and what to do next."""

    code: str
    severity: Severity
    message: str

    def __post_init__(self) -> None:
        # Refusing unknown codes here keeps the documented set complete: a new code must be registered.
        if self.code not in CODES:
            raise ValueError(f"unregistered problem code {self.code!r}")


def problem(code: str, message: str, severity: Severity | None = None) -> Problem:
    """Build a Problem with the code's default severity unless one is given."""
    if code not in CODES:
        raise ValueError(f"unregistered problem code {code!r}")
    return Problem(code, severity or CODES[code].severity, message)
