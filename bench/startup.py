"""Benchmark ldsentry's start-up against `python -c "import typer"`, measured as interleaved pairs.

    python bench/startup.py [--rounds 41]      # about half a minute; prints Markdown

Run it from an installed ldsentry (`pip install .`, not editable: an editable install adds its own
import hook to every start). Each round runs, in a fresh random order:
- `python -c "import typer"`, the floor any Typer command line pays;
- `ldsentry --version`;
- `ldsentry validate --config sample-config.toml`, what the pre-commit hook runs on every commit;
- `ldsentry validate` of a config of 1,000 mappings.
Each command's time is divided by the `import typer` time of the same round, so that a change in
the machine's load during the run moves both sides of a ratio; the medians of those ratios are
reported with the median times. The first rounds only warm the file cache and are not counted.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WARM_UP_ROUNDS = 3
BASELINE = "import typer"


def big_config(mappings: int) -> str:
    """A valid config of `mappings` mappings: one Sentry project+environment each, 20 per LaunchDarkly project."""
    tables = [
        '[metric]\nevent_key = "sentry-errors"\n',
        *(
            f'[[mapping]]\nsentry_project = "service-{i:04d}"\nsentry_environment = "production"\n'
            f'ld_project = "project-{i // 20:03d}"\nld_environment = "production"\n'
            for i in range(mappings)
        ),
    ]
    return "\n".join(tables)


def run_once(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Wall seconds of one run; a failing command stops the benchmark (its time would mean nothing)."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}: {done.stderr.decode(errors='replace')}")
    return elapsed


def main() -> int:
    """Run the rounds and print the results as Markdown."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=41, help="counted rounds (each runs every command once)")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    ldsentry = shutil.which("ldsentry", path=str(Path(sys.executable).parent))
    if ldsentry is None:
        raise SystemExit(f"no ldsentry next to {sys.executable}: run `pip install .` into this Python first")
    order = random.Random(args.seed)

    with tempfile.TemporaryDirectory(prefix="ldsentry-startup-") as folder:
        work = Path(folder)
        shutil.copy(ROOT / "sample-config.toml", work / "sample-config.toml")
        (work / "big.toml").write_text(big_config(1000), encoding="utf-8")
        env = {"PATH": os.environ.get("PATH", ""), "HOME": folder, "NO_COLOR": "1"}
        commands = {
            BASELINE: [sys.executable, "-c", "import typer"],
            "ldsentry --version": [ldsentry, "--version"],
            "ldsentry validate (sample-config.toml)": [ldsentry, "validate", "--config", "sample-config.toml"],
            "ldsentry validate (1,000 mappings)": [ldsentry, "validate", "--config", "big.toml"],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        ratios: dict[str, list[float]] = {name: [] for name in commands if name != BASELINE}
        load_before = os.getloadavg()[0]
        for round_number in range(WARM_UP_ROUNDS + args.rounds):
            names = list(commands)
            order.shuffle(names)
            this_round = {name: run_once(commands[name], work, env) for name in names}
            if round_number < WARM_UP_ROUNDS:
                continue
            for name, elapsed in this_round.items():
                times[name].append(elapsed)
                if name != BASELINE:
                    ratios[name].append(elapsed / this_round[BASELINE])
        load_after = os.getloadavg()[0]

    print(
        f"Python {platform.python_version()} on {platform.machine()}; {args.rounds} rounds of interleaved runs "
        f"(random order per round, after {WARM_UP_ROUNDS} warm-up rounds); load average {load_before:.2f} "
        f"before, {load_after:.2f} after.\n"
    )
    print("| command | median wall time | median ratio to `import typer` in the same round |")
    print("|---|---|---|")
    print(f'| `python -c "import typer"` | {statistics.median(times[BASELINE]) * 1000:.0f} ms | 1 |')
    for name, per_round in ratios.items():
        print(f"| `{name}` | {statistics.median(times[name]) * 1000:.0f} ms | {statistics.median(per_round):.2f}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
