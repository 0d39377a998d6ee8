"""The `edge-sdk` command line: one sub-command per module, errors as one-line messages.

Exit status: 0 success, 1 failure (any EdgeSDKError), 2 usage error, 130 interrupted.
``--debug`` (before or after the command) shows the full traceback instead of the one-line message.
With ``--json`` every outcome is one JSON object on stdout, errors included:
``{"error": {"type": "ManifestError", "message": "...", "exit_code": 1}}``.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
import warnings
from collections.abc import Sequence
from typing import Any, NoReturn

from edge_sdk import __version__
from edge_sdk.cli import (
    benchmark_cmd,
    build_cmd,
    check_cmd,
    debug_quant_cmd,
    demo_cmd,
    doctor_cmd,
    eval_cmd,
    export_cmd,
    models_cmd,
    run_cmd,
    train_cmd,
    validate_cmd,
)
from edge_sdk.cli.output import print_json
from edge_sdk.errors import EdgeSDKError, install_hint

# module -> the extra that brings it (pyproject.toml); a missing one is a one-line hint, not "internal error"
OPTIONAL_MODULES = {m: "host" for m in ("torch", "onnxscript", "onnxconverter_common", "safetensors", "colour",
                                        "sklearn", "skimage")} | {"matplotlib": "plots", "tensorrt": "tensorrt",
                                                                  "polygraphy": "tensorrt"}

COMMANDS = (demo_cmd, run_cmd, models_cmd, train_cmd, eval_cmd, export_cmd, validate_cmd, build_cmd, doctor_cmd,
            benchmark_cmd, debug_quant_cmd, check_cmd)

DESCRIPTION = """\
edge-sdk: take small vision models from a PyTorch checkpoint to a camera-fed program
on an edge device.

Start with `edge-sdk models` to see the zoo, and `edge-sdk COMMAND --help` for any command.
"""


class UsageError(EdgeSDKError):
    """Bad command-line usage (exit status 2)."""

    def __init__(self, message: str, parser: argparse.ArgumentParser) -> None:
        super().__init__(message)
        self.parser = parser


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is raised (so ``--json`` can report it) instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(_suggest(message), self)


def _suggest(message: str) -> str:
    """argparse's "invalid choice: 'fp61' (choose from ...)" plus "did you mean 'fp16'?"."""
    m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if m is None:
        return message
    choices = re.findall(r"'([^']*)'", m.group(2)) or [c.strip() for c in m.group(2).split(",")]
    close = difflib.get_close_matches(m.group(1), choices, n=1, cutoff=0.5)
    return f"{message}; did you mean {close[0]!r}?" if close else message


def _stream_setup() -> None:
    """Piped output arrives a line at a time (a log tail sees progress), and tqdm bars stay out of logs."""
    for stream in (sys.stdout, sys.stderr):
        if not stream.isatty() and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(line_buffering=True)
            except (ValueError, OSError):  # a stream that cannot be reconfigured (closed, replaced)
                pass
    if not sys.stderr.isatty():
        os.environ.setdefault("TQDM_DISABLE", "1")  # read when tqdm is first imported (lazily, by the commands)


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      file: Any = None, line: str | None = None) -> None:
    """Our own warnings (skipped data, random weights) as one line, like the errors; others as Python shows them."""
    if category.__module__.split(".")[0] in ("converters", "edge_sdk", "runtimes"):
        print(f"edge-sdk: warning: {message}", file=sys.stderr)
    else:
        _show_warning(message, category, filename, lineno, file, line)


_show_warning = warnings.showwarning


def _silence_stdout() -> None:
    """After a closed pipe (``edge-sdk doctor --json | head``): send the rest to /dev/null, no traceback."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # not a real file descriptor (tests' captured streams)
        pass


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="edge-sdk", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"edge-sdk {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for cmd in COMMANDS:
        cmd.add_parser(sub)
    for p in sub.choices.values():  # `edge-sdk run ... --debug` works as well as `edge-sdk --debug run ...`
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show full tracebacks")
        if "--quiet" not in p._option_string_actions:  # -q is accepted everywhere (scripts pass it blindly)
            p.add_argument("--quiet", "-q", action="store_true", help="no progress output (this command prints none)")
    return parser


def _wants_json(args: Any, argv: Sequence[str]) -> bool:
    flag = getattr(args, "json", None) if args is not None else None
    if flag is None:  # not parsed (usage error): look at the words themselves
        return "--json" in argv or any(str(a).startswith("--json=") for a in argv)
    return flag is True or flag == "-"


def _fail(message: str, kind: str, code: int, as_json: bool, prefix: str = "edge-sdk: error: ",
          details: dict[str, Any] | None = None) -> int:
    if as_json:
        print_json({"error": {"type": kind, "message": message, "exit_code": code, **(details or {})}})
    print(f"{prefix}{message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    _stream_setup()
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warning
        return _main(parser, argv)


def _main(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    args: Any = None
    try:
        args = parser.parse_args(argv)
        if not hasattr(args, "func"):
            parser.print_help(sys.stderr)
            return 2
        code = int(args.func(args))
        sys.stdout.flush()  # a closed pipe shows here, inside the handlers below, not at interpreter exit
        return code
    except BrokenPipeError:  # the reader went away (| head): that is how pipes end, not an error
        _silence_stdout()
        return 141  # 128 + SIGPIPE, what a C tool killed by the signal reports
    except UsageError as e:
        e.parser.print_usage(sys.stderr)
        return _fail(str(e), "UsageError", 2, _wants_json(args, argv), prefix=f"{e.parser.prog}: error: ")
    except EdgeSDKError as e:
        if args is not None and args.debug:
            raise
        report: Any = getattr(e, "report", None)  # ParityError: the whole parity report goes with the JSON error
        details = {"parity": report.to_json()} if report is not None and hasattr(report, "to_json") else None
        return _fail(str(e), type(e).__name__, 1, _wants_json(args, argv), details=details)
    except KeyboardInterrupt:
        return _fail("interrupted", "KeyboardInterrupt", 130, _wants_json(args, argv), prefix="edge-sdk: ")
    except ModuleNotFoundError as e:  # an optional extra this install lacks (the thin device install has no torch)
        extra = OPTIONAL_MODULES.get((e.name or "").split(".")[0])
        if extra is None or (args is not None and args.debug):
            raise
        return _fail(f"this command needs {e.name}, which is not installed here; install the {extra} extras: "
                     f"{install_hint(extra)}", "MissingDependencyError", 1, _wants_json(args, argv))
    except MemoryError:
        if args is not None and args.debug:
            raise
        return _fail("out of memory (the input or model is too large for this machine)", "MemoryError", 1,
                     _wants_json(args, argv))
    except OSError as e:  # the environment, not a bug: permissions, disk full, a path that vanished
        if args is not None and args.debug:
            raise
        where = f": {e.filename}" if e.filename else ""
        return _fail(f"{e.strerror or e}{where}", type(e).__name__, 1, _wants_json(args, argv))
    except Exception as e:  # a bug, not a user error: still one line unless --debug
        if args is not None and args.debug:
            raise
        return _fail(f"{type(e).__name__}: {e} (rerun with --debug for the traceback)", "InternalError", 1,
                     _wants_json(args, argv), prefix="edge-sdk: internal error: ")


if __name__ == "__main__":
    sys.exit(main())
