"""The walkthrough `ldsentry demo` runs: its steps, and the environment it sets while they run."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

from ld_sentry_cli.errors import ExitCode

# Every variable that points ldsentry somewhere; the demo sets them and restores them afterwards.
_POINTERS = (
    "LD_BASE_URI",
    "SENTRY_URL",
    "LD_ACCESS_TOKEN",
    "LAUNCHDARKLY_ACCESS_TOKEN",
    "SENTRY_AUTH_TOKEN",
    "SENTRY_ORG",
    "LDSENTRY_CONFIG",
)


@dataclass(frozen=True)
class Step:
    """One command of the walkthrough, what it shows, and the exit code it should end with."""

    args: tuple[str, ...]
    explanation: str
    expected_exit: int
    # Not an ldsentry command: a flag (project, environment, key) changes in the emulator's LaunchDarkly.
    flag_change: tuple[str, str, str] | None = None

    @property
    def title(self) -> str:
        """What the step's heading names."""
        if self.flag_change is not None:
            project, environment, flag = self.flag_change
            return f"a flag changes in LaunchDarkly ({project}/{environment}: {flag})"
        return "ldsentry " + " ".join(self.args)


STEPS = (
    Step(
        ("validate",),
        "The mappings live in a reviewed TOML file (a copy of sample-config.toml). `validate` checks it "
        "offline, as a pull request check would: schema, key formats, conflicts, secrets.",
        ExitCode.OK,
    ),
    Step(
        ("status",),
        "`status` asks both APIs about every mapping at once. Two LaunchDarkly projects have no usable "
        "metric for the event key, so their mappings are RED (exit 1): the errors would go nowhere.",
        ExitCode.PROBLEMS,
    ),
    Step(
        ("metric", "create", "--dry-run"),
        "`metric create --dry-run` shows exactly what would be sent to repair them, and sends nothing.",
        ExitCode.OK,
    ),
    Step(
        ("metric", "create"),
        "`metric create` creates the custom conversion metric where it is missing, and leaves the rest.",
        ExitCode.OK,
    ),
    Step(
        ("status",),
        "`status` again: every mapping is GREEN now (exit 0), what a nightly CI job wants to see.",
        ExitCode.OK,
    ),
    Step(
        ("events", "check", "--max-events", "20", "--event-rate", "50"),
        "The panel can be green while nothing arrives: LaunchDarkly ignores every Sentry error without a "
        "`launchdarklyContext` context. `events check` samples recent errors and says which lack it, "
        "which misname it and which carry an unusable one (exit 1 here, by design of the demo data).",
        ExitCode.PROBLEMS,
    ),
    Step(
        ("mappings", "discover"),
        "The organization has more Sentry projects than the file maps. `mappings discover` matches Sentry's "
        "projects and environments to LaunchDarkly's by name (exact, aliased, similar), lists what stays "
        "unmatched and what Sentry hides, and `--write` appends the sure ones to the file with a comment each.",
        ExitCode.OK,
    ),
    Step(
        ("tracking", "setup", "--register-in-sentry"),
        "The other direction: Sentry's feature flag change tracking shows flag changes beside error spikes. "
        "`tracking setup` creates a signed LaunchDarkly webhook to Sentry's hook URL, limited to the mapped "
        "environments, and registers its new secret in Sentry (after a warning: that endpoint is not public).",
        ExitCode.OK,
    ),
    Step(
        ("tracking", "check"),
        "`tracking check` grades it: GREEN, a signed, enabled webhook covers every mapped environment. Running "
        "setup again would change nothing.",
        ExitCode.OK,
    ),
    Step(
        (),
        "Someone turns a flag on in LaunchDarkly: LaunchDarkly posts the change to Sentry's hook, signed with "
        "X-LD-Signature, and Sentry checks the HMAC against the registered secret before logging it.",
        ExitCode.OK,
        flag_change=("default", "production", "new-checkout-flow"),
    ),
)


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set the pointer variables to values for the block, then restore what was there."""
    saved = {name: os.environ.get(name) for name in _POINTERS}
    for name in _POINTERS:
        os.environ.pop(name, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
