"""Saving is atomic and serialised: crashes leave the old file, concurrent edits all land."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ld_sentry_cli.config import load_config
from ld_sentry_cli.config.store import write_atomic

REPO = Path(__file__).resolve().parents[1]
START = '[sentry]\norganization = "acme"\n'


def test_write_keeps_mode_and_leaves_no_temporary_file(isolated_env: Path) -> None:
    path = isolated_env / "ldsentry.toml"
    path.write_text(START, encoding="utf-8")
    path.chmod(0o640)

    write_atomic(path, START + "\n[metric]\n")

    assert path.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in isolated_env.iterdir()) == ["ldsentry.toml"]


def test_unchanged_save_does_not_touch_the_file(isolated_env: Path) -> None:
    path = isolated_env / "ldsentry.toml"
    path.write_text(START, encoding="utf-8")
    os.utime(path, (1_000_000, 1_000_000))

    write_atomic(path, START)

    assert path.stat().st_mtime == 1_000_000


def test_failed_rename_leaves_old_file_and_no_temporary(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = isolated_env / "ldsentry.toml"
    path.write_text(START, encoding="utf-8")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, "garbage")

    assert path.read_text(encoding="utf-8") == START
    assert sorted(p.name for p in isolated_env.iterdir()) == ["ldsentry.toml"]


def test_process_killed_between_write_and_rename_keeps_old_file(isolated_env: Path) -> None:
    path = isolated_env / "ldsentry.toml"
    path.write_text(START, encoding="utf-8")
    script = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from ld_sentry_cli.config.store import write_atomic
        os.replace = lambda src, dst: os._exit(9)  # the process dies right before the rename
        write_atomic(Path({str(path)!r}), "half-written garbage")
        """
    )

    finished = subprocess.run([sys.executable, "-c", script], cwd=REPO, check=False)

    assert finished.returncode == 9
    assert path.read_text(encoding="utf-8") == START
    assert load_config(path).config.sentry.organization == "acme"


def test_sixteen_concurrent_creates_all_land(isolated_env: Path) -> None:
    path = isolated_env / "ldsentry.toml"
    path.write_text(START, encoding="utf-8")
    environment = {**os.environ, "LDSENTRY_CONFIG": str(path)}
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ld_sentry_cli",
                "mappings",
                "create",
                "--sentry-project",
                f"service-{n}",
                "--sentry-environment",
                "production",
                "--ld-project",
                "default",
                "--ld-environment",
                "production",
            ],
            cwd=isolated_env,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for n in range(16)
    ]
    results = [(p.wait(timeout=60), p.stderr.read() if p.stderr else b"") for p in processes]

    assert [code for code, _ in results] == [0] * 16, results
    mappings = load_config(path).config.mappings
    assert sorted(m.sentry_project for m in mappings) == sorted(f"service-{n}" for n in range(16))
    assert path.read_text(encoding="utf-8").startswith(START)
