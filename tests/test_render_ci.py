"""The CI renderers (GitHub annotations, JUnit XML, Markdown) on reports built by hand: exact text."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from ld_sentry_cli.api_models import LdMetric
from ld_sentry_cli.errors import AuthFailedError, ConfigInvalidError, ConfigNotFoundError, ConfigProblem
from ld_sentry_cli.events_audit import EventsReport, EventsRow
from ld_sentry_cli.grades import Status
from ld_sentry_cli.health import Report, Row
from ld_sentry_cli.metric_report import MetricCheckReport, ProjectRow
from ld_sentry_cli.models import Config, MetricSettings, ProjectMapping
from ld_sentry_cli.problems import Severity, problem
from ld_sentry_cli.render.annotations import error_annotations, escape_data, escape_property, workflow_command
from ld_sentry_cli.render.github import github_annotations, step_outputs
from ld_sentry_cli.render.junit import junit_xml, xml_text
from ld_sentry_cli.render.markdown import escape_cell, markdown
from ld_sentry_cli.render.view import (
    Finding,
    ValidatedFile,
    events_view,
    mappings_view,
    metric_check_view,
    status_view,
    validate_view,
)

METRIC = LdMetric("sentry-errors", "Sentry errors", "custom", "sentry-errors")
GREEN = Row(ProjectMapping("web", "prod", "default", "prod", line=21), METRIC)
AMBER = Row(
    ProjectMapping("api", "stg", "shop", "stg", line=27),
    METRIC,
    (problem("metric_wrong_direction", "Flip the success criterion."),),
)
RED = Row(
    ProjectMapping("app", "prod", "mobile", "prod", line=33),
    None,
    (problem("metric_missing", "Create it."), problem("sentry_project_missing", "No such project.")),
)
REPORT = Report("sentry-errors", (GREEN, AMBER, RED), (problem("sentry_unchecked", "Sentry was not checked."),))


def test_github_annotations_golden() -> None:
    assert github_annotations(status_view(REPORT, "ldsentry.toml")) == (
        "::warning file=ldsentry.toml,line=27,title=metric_wrong_direction::"
        "api/stg → shop/stg: Flip the success criterion.\n"
        "::error file=ldsentry.toml,line=33,title=metric_missing::app/prod → mobile/prod: Create it.\n"
        "::error file=ldsentry.toml,line=33,title=sentry_project_missing::app/prod → mobile/prod: No such project.\n"
        "::notice file=ldsentry.toml,title=sentry_unchecked::Sentry was not checked.\n"
        "ldsentry status: 1 green, 1 amber, 1 red"
    )


def test_github_strict_makes_amber_an_error() -> None:
    lines = github_annotations(status_view(REPORT, "ldsentry.toml", strict=True)).splitlines()

    assert lines[0].startswith("::error file=ldsentry.toml,line=27,title=metric_wrong_direction::")
    assert lines[3].startswith("::notice ")


def test_github_step_outputs_count_rows() -> None:
    assert step_outputs(status_view(REPORT, "ldsentry.toml")) == "red=1\namber=1\ngreen=1\n"


def test_junit_golden() -> None:
    assert junit_xml(status_view(REPORT, "ldsentry.toml")) == (
        """\
<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="ldsentry" tests="3" failures="1" errors="0">
  <testsuite name="ldsentry status" tests="3" failures="1" errors="0" skipped="0">
    <properties>
      <property name="sentry_unchecked" value="Sentry was not checked." />
    </properties>
    <testcase name="web/prod → default/prod" classname="ldsentry.status" file="ldsentry.toml" line="21" />
    <testcase name="api/stg → shop/stg" classname="ldsentry.status" file="ldsentry.toml" line="27">
      <properties>
        <property name="metric_wrong_direction" value="Flip the success criterion." />
      </properties>
    </testcase>
    <testcase name="app/prod → mobile/prod" classname="ldsentry.status" file="ldsentry.toml" line="33">
      <failure type="metric_missing" message="Create it.">ldsentry.toml:33: Create it.</failure>
      <failure type="sentry_project_missing" message="No such project.">ldsentry.toml:33: No such project.</failure>
    </testcase>
  </testsuite>
</testsuites>
"""
    )


def test_junit_strict_makes_amber_a_failure() -> None:
    root = ET.fromstring(junit_xml(status_view(REPORT, "ldsentry.toml", strict=True)))

    assert root.get("failures") == "2"
    amber = root.findall("./testsuite/testcase")[1]
    assert [f.get("type") for f in amber.findall("failure")] == ["metric_wrong_direction"]
    assert amber.find("properties") is None


def test_markdown_golden() -> None:
    assert markdown(status_view(REPORT, "ldsentry.toml")) == (
        """\
### ldsentry status · ldsentry.toml

Mappings for event key 'sentry-errors'

| Status | Sentry project/env | LaunchDarkly project/env | Metric | Line | Problems |
|---|---|---|---|---|---|
| ✓ GREEN | web/prod | default/prod | sentry-errors | 21 |  |
| ! AMBER | api/stg | shop/stg | sentry-errors | 27 | `metric_wrong_direction`: Flip the success criterion. |
| ✗ RED | app/prod | mobile/prod | — | 33 | `metric_missing`: Create it.<br>`sentry_project_missing`: No such project. |

**1 green, 1 amber, 1 red**

- note `sentry_unchecked`: Sentry was not checked.
"""
    )


# --- escaping ---------------------------------------------------------------------------------------

HOSTILE = ProjectMapping("we%b,1:2\r\nx", "prod|uction", "<b>proj</b>", "env\n::error::injected", line=7)
HOSTILE_REPORT = Report(
    "sentry-errors",
    (Row(HOSTILE, None, (problem("metric_missing", "100% broken,\nreally: yes\x1b[31m"),)),),
)
HOSTILE_FILE = "conf,ig:1%.toml"


def test_escape_functions_follow_githubs_rules() -> None:
    assert escape_data("a%b\rc\nd:e,f") == "a%25b%0Dc%0Ad:e,f"
    assert escape_property("a%b\rc\nd:e,f") == "a%25b%0Dc%0Ad%3Ae%2Cf"
    assert workflow_command("error", "m") == "::error::m"
    assert workflow_command("warning", "m", line=3) == "::warning::m"  # a line means nothing without a file


def test_github_escapes_hostile_names_and_cannot_be_injected() -> None:
    output = github_annotations(status_view(HOSTILE_REPORT, HOSTILE_FILE))

    assert output == (
        "::error file=conf%2Cig%3A1%25.toml,line=7,title=metric_missing::"
        "we%25b,1:2%0D%0Ax/prod|uction → <b>proj</b>/env%0A::error::injected: 100%25 broken,%0Areally: yes\x1b[31m\n"
        "ldsentry status: 0 green, 0 amber, 1 red"
    )
    assert len(output.splitlines()) == 2  # one annotation, one summary: nothing smuggled onto a line of its own


def test_markdown_escapes_pipes_newlines_and_html() -> None:
    assert escape_cell("a|b\r\nc\nd\re <i>") == "a\\|b<br>c<br>d<br>e &lt;i&gt;"
    table_row = markdown(status_view(HOSTILE_REPORT, HOSTILE_FILE)).splitlines()[6]

    assert table_row == (
        "| ✗ RED | we%b,1:2<br>x/prod\\|uction | &lt;b&gt;proj&lt;/b&gt;/env<br>::error::injected | — | 7 "
        "| `metric_missing`: 100% broken,<br>really: yes\x1b[31m |"
    )


def test_junit_escapes_and_drops_characters_xml_cannot_hold() -> None:
    document = junit_xml(status_view(HOSTILE_REPORT, HOSTILE_FILE))
    case = ET.fromstring(document).find("./testsuite/testcase")

    assert case is not None
    assert case.get("name") == "we%b,1:2\r\nx/prod|uction → <b>proj</b>/env\n::error::injected"
    assert case.get("file") == HOSTILE_FILE
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message") == "100% broken,\nreally: yes[31m"  # ESC is not allowed in XML 1.0
    assert failure.text == "conf,ig:1%.toml:7: 100% broken,\nreally: yes[31m"


def test_xml_text_keeps_exactly_what_xml_1_0_allows() -> None:
    # XML 1.0, production [2]: Char ::= #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
    allowed = {0x9, 0xA, 0xD, *range(0x20, 0xD800), *range(0xE000, 0xFFFE), *range(0x10000, 0x110000)}
    every_character = "".join(map(chr, range(0x110000)))

    assert xml_text(every_character) == "".join(map(chr, sorted(allowed)))


# --- the other reports' views ---------------------------------------------------------------------


def test_metric_check_rows_point_at_the_first_mapping_naming_the_project() -> None:
    report = MetricCheckReport(
        "sentry-errors",
        (
            ProjectRow("default", (METRIC,), (), lines=(21, 27)),
            ProjectRow("named-only", (), (problem("ld_project_missing", "No such project."),)),
        ),
    )

    output = github_annotations(metric_check_view(report, "ldsentry.toml"))

    assert output == (
        "::error file=ldsentry.toml,title=ld_project_missing::named-only: No such project.\n"
        "ldsentry metric check: 1 green, 0 amber, 1 red"
    )
    assert markdown(metric_check_view(report, "ldsentry.toml")).splitlines()[6:8] == [
        "| ✓ GREEN | default | sentry-errors | 21 |  |",
        "| ✗ RED | named-only | — | — | `ld_project_missing`: No such project. |",
    ]


def test_events_view_cells() -> None:
    rows = (
        EventsRow(GREEN.mapping, sampled=4, usable=4, with_flags=1),
        EventsRow(RED.mapping, problems=(problem("no_events", "No events."),)),
    )
    view = events_view(EventsReport("24h", 20, 0.9, rows), "ldsentry.toml")

    assert view.columns == ("Sentry project/env", "LaunchDarkly project/env", "Sampled", "Usable", "Flags")
    assert [row.cells for row in view.rows] == [
        ("web/prod", "default/prod", "4", "100%", "25%"),
        ("app/prod", "mobile/prod", "0", "—", "—"),
    ]
    assert view.title == "launchdarklyContext in error events of the last 24h (up to 20)"
    assert [row.status for row in view.rows] == [Status.GREEN, Status.RED]


def test_mappings_list_junit_has_every_mapping_with_its_line() -> None:
    root = ET.fromstring(junit_xml(mappings_view([GREEN.mapping, AMBER.mapping], "ldsentry.toml")))

    cases = root.findall("./testsuite/testcase")
    assert [(c.get("name"), c.get("line")) for c in cases] == [
        ("web/prod → default/prod", "21"),
        ("api/stg → shop/stg", "27"),
    ]
    assert root.get("failures") == "0"


# --- validate -------------------------------------------------------------------------------------

INVALID = ValidatedFile(
    "bad.toml",
    None,
    (
        ConfigProblem("bad.toml", 2, "wrong_type", "[metric] kind must be a string, not an integer"),
        ConfigProblem("bad.toml", None, "missing_key", "[[mapping]] is missing required key 'ld_project'"),
    ),
)
VALID = ValidatedFile("ldsentry.toml", Config(metric=MetricSettings(event_key="errors"), mappings=(GREEN.mapping,)))


def test_validate_github_puts_each_config_problem_on_its_line() -> None:
    assert github_annotations(validate_view([INVALID, VALID])) == (
        "::error file=bad.toml,line=2,title=wrong_type::[metric] kind must be a string, not an integer\n"
        "::error file=bad.toml,title=missing_key::[[mapping]] is missing required key 'ld_project'\n"
        'ldsentry validate: ✗ bad.toml: 2 problems; ✓ ldsentry.toml is valid: 1 mapping, event key "errors"'
    )


def test_validate_markdown_and_junit() -> None:
    view = validate_view([INVALID, VALID])

    assert markdown(view).splitlines()[4:8] == [
        "| Status | Config | Mappings | Event key | Line | Problems |",
        "|---|---|---|---|---|---|",
        "| ✗ RED | bad.toml | — | — | — | `wrong_type` (line 2): [metric] kind must be a string, not an integer"
        "<br>`missing_key`: [[mapping]] is missing required key 'ld_project' |",
        "| ✓ GREEN | ldsentry.toml | 1 | errors | — |  |",
    ]
    root = ET.fromstring(junit_xml(view))
    failures = root.findall("./testsuite/testcase/failure")
    assert [f.text for f in failures] == [
        "bad.toml:2: [metric] kind must be a string, not an integer",
        "bad.toml: [[mapping]] is missing required key 'ld_project'",
    ]


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            ConfigNotFoundError("ldsentry.toml: no such file", hint="Run `ldsentry init`."),
            "::error title=config_not_found::ldsentry.toml: no such file%0ARun `ldsentry init`.",
        ),
        (
            AuthFailedError("LaunchDarkly rejected the token"),
            "::error title=auth_failed::LaunchDarkly rejected the token",
        ),
        (
            ConfigInvalidError([ConfigProblem("a.toml", 3, "unknown_key", "unknown key 'x'")]),
            "::error file=a.toml,line=3,title=unknown_key::unknown key 'x'",
        ),
    ],
)
def test_error_annotations(error: ConfigNotFoundError, expected: str) -> None:
    assert error_annotations(error) == expected


def test_finding_severity_maps_to_status() -> None:
    view = status_view(Report("k", ()), "f")
    note = Finding("integration_unavailable", Severity.NOTE, "n")

    assert not view.fails(note)
    assert view.summary == "0 green, 0 amber, 0 red"
