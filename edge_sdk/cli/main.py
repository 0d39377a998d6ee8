"""The `edge-sdk` command line: one sub-command per module, errors as one-line messages.

Exit status: 0 success, 1 failure (any EdgeSDKError), 2 usage error, 130 interrupted.
``--debug`` shows the full traceback instead of the one-line message.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from edge_sdk import __version__
from edge_sdk.cli import (
    benchmark_cmd,
    build_cmd,
    demo_cmd,
    doctor_cmd,
    eval_cmd,
    export_cmd,
    models_cmd,
    run_cmd,
    train_cmd,
    validate_cmd,
)
from edge_sdk.errors import EdgeSDKError

COMMANDS = (demo_cmd, run_cmd, models_cmd, train_cmd, eval_cmd, export_cmd, validate_cmd, build_cmd, doctor_cmd,
            benchmark_cmd)

DESCRIPTION = """\
edge-sdk: take small vision models from a PyTorch checkpoint to a camera-fed program
on an edge device.

Start with `edge-sdk models` to see the zoo, and `edge-sdk COMMAND --help` for any command.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edge-sdk", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"edge-sdk {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for cmd in COMMANDS:
        cmd.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except EdgeSDKError as e:
        if args.debug:
            raise
        print(f"edge-sdk: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("edge-sdk: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug, not a user error: still one line unless --debug
        if args.debug:
            raise
        print(f"edge-sdk: internal error: {type(e).__name__}: {e} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
