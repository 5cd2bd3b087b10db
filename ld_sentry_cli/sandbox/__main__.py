"""`python -m ld_sentry_cli.sandbox [--scenario FILE] [--port N]`: serve the emulator until Ctrl-C.

Prints the base URL on stdout once the socket is bound, for subprocess users (the benchmark);
read the log through the `/_sandbox/` admin routes.
"""

from __future__ import annotations

import argparse
import sys

from ld_sentry_cli.sandbox.app import build_app
from ld_sentry_cli.sandbox.scenario_parser import ScenarioError, demo_scenario_path
from ld_sentry_cli.sandbox.server import serve_forever


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, build the sandbox and serve it."""
    parser = argparse.ArgumentParser(prog="python -m ld_sentry_cli.sandbox", description=__doc__)
    parser.add_argument("--scenario", default=str(demo_scenario_path()), help="scenario TOML (default: demo)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    try:
        sandbox = build_app(args.scenario)
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    def announce(url: str) -> None:
        print(url, flush=True)

    serve_forever(sandbox, args.host, args.port, on_ready=announce)
    return 0


if __name__ == "__main__":
    sys.exit(main())
