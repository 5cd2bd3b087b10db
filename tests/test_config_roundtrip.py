"""Byte-exact round trips: loading and saving, and create-then-delete, change nothing else."""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

import pytest
import tomlkit
from typer.testing import CliRunner

from ld_sentry_cli.cli import app
from ld_sentry_cli.config import load_config
from ld_sentry_cli.config.editor import add_mapping, remove_mapping
from ld_sentry_cli.config.positions import LineIndex
from ld_sentry_cli.config.store import write_atomic
from ld_sentry_cli.models import ProjectMapping

FIXTURE = Path(__file__).parent / "fixtures" / "commented.toml"
SAMPLE = Path(__file__).resolve().parents[1] / "sample-config.toml"
NEW = ProjectMapping("mobile-app", "beta", "mobile", "beta")
NEW_ARGS = [
    "--sentry-project",
    "mobile-app",
    "--sentry-environment",
    "beta",
    "--ld-project",
    "mobile",
    "--ld-environment",
    "beta",
]


@pytest.fixture
def config_path(isolated_env: Path) -> Path:
    path = isolated_env / "ldsentry.toml"
    shutil.copyfile(FIXTURE, path)
    return path


def test_fixture_is_parsed_as_written(config_path: Path) -> None:
    loaded = load_config(config_path)

    assert loaded.config.sentry.base_url == "https://de.sentry.io"
    assert loaded.config.metric.units == ("user",)
    assert [(m.sentry_project, m.line) for m in loaded.config.mappings] == [
        ("web-frontend", 21),
        ("checkout-api", 27),
    ]


def test_load_then_save_is_byte_identical(config_path: Path) -> None:
    before = config_path.read_bytes()
    loaded = load_config(config_path)

    write_atomic(config_path, tomlkit.parse(loaded.text).as_string())

    assert config_path.read_bytes() == before


def test_create_appends_only_new_lines(runner: CliRunner, config_path: Path) -> None:
    before = config_path.read_text(encoding="utf-8")

    result = runner.invoke(app, ["mappings", "create", *NEW_ARGS])

    after = config_path.read_text(encoding="utf-8")
    assert result.exit_code == 0, result.output
    assert result.stdout == "Added mobile-app/beta → mobile/beta at ldsentry.toml:35\n"
    diff = [line for line in difflib.ndiff(before.splitlines(), after.splitlines()) if line[:1] in "+-?"]
    assert diff == [
        "+ ",
        "+ [[mapping]]",
        '+ sentry_project = "mobile-app"',
        '+ sentry_environment = "beta"',
        '+ ld_project = "mobile"',
        '+ ld_environment = "beta"',
    ]
    assert after.startswith(before)


@pytest.mark.parametrize("source", [FIXTURE, SAMPLE], ids=["commented", "sample"])
def test_create_then_delete_restores_original_bytes(runner: CliRunner, isolated_env: Path, source: Path) -> None:
    path = isolated_env / "ldsentry.toml"
    shutil.copyfile(source, path)
    before = path.read_bytes()

    created = runner.invoke(app, ["mappings", "create", *NEW_ARGS])
    deleted = runner.invoke(app, ["mappings", "delete", *NEW_ARGS])

    assert created.exit_code == 0, created.output
    assert deleted.exit_code == 0, deleted.output
    assert path.read_bytes() == before


def test_delete_removes_exactly_one_table_in_the_middle(config_path: Path) -> None:
    add_mapping(config_path, "ldsentry.toml", NEW)
    before = config_path.read_text(encoding="utf-8")

    remove_mapping(config_path, "ldsentry.toml", ProjectMapping("checkout-api", "prod-eu", "checkout", "production"))

    block = (
        "\n  [[mapping]]   # indented on purpose\n  sentry_project = 'checkout-api'\n"
        '  sentry_environment = \'prod-eu\'\n  ld_project = "checkout"\n  ld_environment = "production"\n'
    )
    assert before.count(block) == 1
    assert config_path.read_text(encoding="utf-8") == before.replace(block, "")
    assert [m.sentry_project for m in load_config(config_path).config.mappings] == [
        "web-frontend",
        "mobile-app",
    ]


def test_delete_takes_the_comment_directly_above_with_it(isolated_env: Path) -> None:
    path = isolated_env / "ldsentry.toml"
    keep = '[[mapping]]\nsentry_project = "a"\nsentry_environment = "e"\nld_project = "p"\nld_environment = "e"\n'
    gone = (
        '\n# the web one\n[[mapping]]\nsentry_project = "b"\nsentry_environment = "e"\n'
        'ld_project = "p"\nld_environment = "e"\n'
    )
    path.write_text(keep + gone + "\n# tail\n", encoding="utf-8")

    remove_mapping(path, "ldsentry.toml", ProjectMapping("b", "e", "p", "e"))

    assert path.read_text(encoding="utf-8") == keep + "\n# tail\n"


def test_crlf_file_keeps_its_line_endings(isolated_env: Path) -> None:
    path = isolated_env / "ldsentry.toml"
    original = '[sentry]\r\norganization = "acme"\r\n'
    path.write_bytes(original.encode())

    add_mapping(path, "ldsentry.toml", NEW)

    data = path.read_bytes()
    assert data.startswith(original.encode())
    assert b"\n" not in data.replace(b"\r\n", b"")
    remove_mapping(path, "ldsentry.toml", NEW)
    assert path.read_bytes() == original.encode()


def test_file_without_final_newline_gets_a_valid_append(isolated_env: Path) -> None:
    path = isolated_env / "ldsentry.toml"
    path.write_text('[sentry]\norganization = "acme"', encoding="utf-8")

    added, _ = add_mapping(path, "ldsentry.toml", NEW)

    assert added.line == 4
    assert path.read_text(encoding="utf-8").startswith('[sentry]\norganization = "acme"\n\n[[mapping]]\n')


def test_line_index_skips_multiline_strings() -> None:
    text = '[metric]\ndescription = """\n[[mapping]]\nkey = 1\n"""\nname = "x"\n\n[[mapping]]\nld_project = "p"\n'

    index = LineIndex.build(text, tomlkit.parse(text).unwrap())

    assert index.line_of("metric", "name") == 6
    assert [t.header_line for t in index.array_tables("mapping")] == [8]
    assert index.line_of("mapping", 0, "ld_project") == 9


def test_line_index_dotted_and_quoted_keys() -> None:
    text = '[a . "b.c"]\n"x y" = 1\nd.e = 2\n'
    index = LineIndex.build(text, tomlkit.parse(text).unwrap())

    assert index.line_of("a", "b.c", "x y") == 2
    assert index.line_of("a", "b.c", "d", "e") == 3


def test_inline_array_mappings_are_not_edited(isolated_env: Path) -> None:
    path = isolated_env / "ldsentry.toml"
    path.write_text(
        'mapping = [{sentry_project = "a", sentry_environment = "e", ld_project = "p", ld_environment = "e"}]\n',
        encoding="utf-8",
    )
    before = path.read_bytes()

    with pytest.raises(Exception, match=r"inline array"):
        add_mapping(path, "ldsentry.toml", NEW)

    assert path.read_bytes() == before
