"""A report as JUnit XML, which GitLab, Jenkins and CircleCI display as test results.

One test case per row; a `<failure>` per failing finding (red, or amber under --strict); the other
findings as `<properties>` of their test case, and report-level notes as properties of the suite.
Built with ElementTree so every value is escaped; characters XML 1.0 cannot hold are dropped.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ld_sentry_cli.render.view import Finding, ReportView, ViewRow

# What XML 1.0's Char production leaves out: control characters other than tab, LF and CR, lone
# surrogates, U+FFFE and U+FFFF. Written as the excluded ranges, a class re compiles 15x faster
# than the complement of the allowed ones (3 ms at every start of a command that can print JUnit).
_NOT_XML = re.compile("[\u0000-\u0008\u000b\u000c\u000e-\u001f\ud800-\udfff\ufffe\uffff]")


def xml_text(value: str) -> str:
    """Drop the characters XML 1.0 cannot represent, even escaped."""
    return _NOT_XML.sub("", value)


def _where(row: ViewRow, finding: Finding) -> str:
    line = finding.line if finding.line is not None else row.line
    if row.file is None:
        return ""
    return f"{row.file}:{line}: " if line is not None else f"{row.file}: "


def _properties(parent: ET.Element, found: list[Finding]) -> None:
    if found:
        properties = ET.SubElement(parent, "properties")
        for finding in found:
            ET.SubElement(properties, "property", name=finding.code, value=xml_text(finding.message))


def junit_xml(view: ReportView) -> str:
    """The JUnit XML document of a report, indented, with an XML declaration."""
    failed = sum(1 for row in view.rows if any(view.fails(f) for f in row.findings))
    tests, failures = str(len(view.rows)), str(failed)
    suites = ET.Element("testsuites", name="ldsentry", tests=tests, failures=failures, errors="0")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=f"ldsentry {view.command}",
        tests=tests,
        failures=failures,
        errors="0",
        skipped="0",
    )
    _properties(suite, list(view.notes))
    classname = "ldsentry." + view.command.replace(" ", ".")
    for row in view.rows:
        case = ET.SubElement(suite, "testcase", name=xml_text(row.label), classname=classname)
        if row.file is not None:
            case.set("file", xml_text(row.file))
        if row.line is not None:
            case.set("line", str(row.line))
        _properties(case, [f for f in row.findings if not view.fails(f)])
        for finding in row.findings:
            if view.fails(finding):
                failure = ET.SubElement(case, "failure", type=finding.code, message=xml_text(finding.message))
                failure.text = xml_text(f"{_where(row, finding)}{finding.message}")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
