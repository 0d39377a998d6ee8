"""A walk through the whole CLI: every command answers --help, -q, --json (JSON on stdout, errors too),
a bad choice (exit 2, with a suggestion) and a misspelled model name (a suggestion).

The commands and their choice options are read from the real parser, so a command or an option added
later is walked too.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge_sdk.cli.main import build_parser
from tests.conftest import REPO

PARSER = build_parser()
SUB = next(a for a in PARSER._actions if isinstance(a, argparse._SubParsersAction))
COMMANDS: dict[str, argparse.ArgumentParser] = dict(SUB.choices)

# a call per command that fails fast, before any long work, with a one-line error (exit 1)
FAILING = {
    "demo": ["--frames", "0"],
    "run": ["compact-cnm", "synthetic://digits"],
    "models": None,  # cannot fail: its --json success is walked instead
    "train": ["emlq"],
    "eval": ["emlq"],
    "export": ["compact-cnm", "-o", "{tmp}/bundle"],
    "validate": ["{tmp}/no-such-bundle"],
    "build": ["{tmp}/no-such-bundle"],
    "check": ["{tmp}/no-such-bundle"],
    "doctor": None,
    "benchmark": ["{tmp}/no-such-bundle"],
    "debug-quant": ["compact-cnm"],
}
MISSPELLED = {"run": ["compact-cnm", "synthetic://digits"], "train": ["emlq"], "eval": ["emlq"],
              "export": ["compact-cnm", "-o", "{tmp}/b"], "benchmark": ["compact-cnm"],
              "debug-quant": ["compact-cnm"]}
RIGHT = {"compact-cnm": "compact-cnn", "emlq": "emlp"}


def _required(p: argparse.ArgumentParser) -> list[str]:
    """Placeholder values for a command's positionals and required options."""
    argv: list[str] = []
    for a in p._actions:
        if not a.option_strings and a.nargs != "?" and not isinstance(a, argparse._SubParsersAction):
            argv.append("x")
        elif a.option_strings and a.required:
            argv += [a.option_strings[0], "x"]
    return argv


def _misspell(word: str) -> str:
    return word[:-2] + word[-1]  # a letter left out


def _choice_options() -> list[tuple[str, str, str]]:
    """(command, option, longest choice) for every option with choices in every command."""
    out = []
    for name, p in COMMANDS.items():
        for a in p._actions:
            if a.choices and a.option_strings and not isinstance(a, argparse._SubParsersAction):
                choice = max((str(c) for c in a.choices), key=len)
                if len(choice) >= 4:
                    out.append((name, a.option_strings[-1], choice))
    return out


def test_the_walk_covers_every_command() -> None:
    assert set(COMMANDS) == set(FAILING), "a new command: add it to FAILING"
    assert len(_choice_options()) >= 8  # backends, precisions, targets, formats, calibration methods...


@pytest.mark.parametrize("cmd", sorted(COMMANDS))
def test_help_quiet_json_and_debug_are_everywhere(cli, cmd: str) -> None:
    r = cli(cmd, "--help")
    assert r.code == 0 and "examples:" in r.out, cmd
    for flag in ("--json", "--quiet", "-q", "--debug"):
        assert flag in r.out, (cmd, flag)
    args = PARSER.parse_args([cmd, *_required(COMMANDS[cmd]), "-q", "--json", "--debug"])
    assert args.quiet is True and args.json is True and args.debug is True
    assert isinstance(PARSER._option_string_actions["--debug"], argparse._StoreTrueAction)


@pytest.mark.parametrize("cmd", sorted(c for c, argv in FAILING.items() if argv is not None))
def test_errors_are_json_on_stdout_with_json(cli, cmd: str, tmp_path: Path) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in FAILING[cmd] or []]
    r = cli(cmd, *argv, "--json", "-q")
    assert r.code == 1, (cmd, r.out, r.err)
    err = json.loads(r.out)["error"]
    assert err["exit_code"] == 1 and err["type"] and err["message"]
    assert r.err.startswith("edge-sdk: error: ") and len(r.err.strip().splitlines()) == 1  # a human still sees it
    plain = cli(cmd, *argv)
    assert plain.code == 1 and plain.out == "" and "Traceback" not in plain.err


@pytest.mark.parametrize("cmd", sorted(COMMANDS))
def test_usage_errors_are_json_too(cli, cmd: str) -> None:
    r = cli(cmd, *_required(COMMANDS[cmd]), "--no-such-flag", "--json")
    assert r.code == 2
    err = json.loads(r.out)["error"]
    assert err == {"type": "UsageError", "message": err["message"], "exit_code": 2}
    assert "--no-such-flag" in err["message"]


@pytest.mark.parametrize("cmd, option, choice", _choice_options())
def test_a_bad_choice_exits_2_and_suggests(cli, cmd: str, option: str, choice: str) -> None:
    wrong = _misspell(choice)
    assert wrong != choice
    r = cli(cmd, *_required(COMMANDS[cmd]), option, wrong, "--json")
    assert r.code == 2, (cmd, option, r.err)
    message = json.loads(r.out)["error"]["message"]
    assert f"did you mean {choice!r}" in message and option in message
    assert f"did you mean {choice!r}" in r.err


@pytest.mark.parametrize("cmd", sorted(MISSPELLED))
def test_a_misspelled_model_name_gets_a_suggestion(cli, cmd: str, tmp_path: Path) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in MISSPELLED[cmd]]
    r = cli(cmd, *argv)
    assert r.code == 1
    assert f"did you mean {RIGHT[argv[0]]!r}" in r.err.lower(), r.err


def test_a_misspelled_uri_scheme_gets_a_suggestion(cli) -> None:
    r = cli("run", "compact-cnn", "synthetc://digits", "-q")
    assert r.code == 1 and "synthetic://" in r.err
    from edge_sdk.camera import open_sink
    from edge_sdk.errors import SourceError

    with pytest.raises(SourceError, match="did you mean dir://"):
        open_sink("dri://out/")


def test_json_success_is_one_document_and_quiet_is_accepted(cli) -> None:
    r = cli("doctor", "--json", "-q")  # models --json: tests/edge_sdk/test_cli_basics.py
    assert r.code == 0, r.err
    assert "backends" in json.loads(r.out)
    assert cli("doctor", "-q").code == 0


def _edge_sdk(*args: str, **kw: object) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "edge_sdk", *args], cwd=REPO, env=env,  # type: ignore[call-overload]
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def test_a_closed_pipe_ends_quietly() -> None:
    """`edge-sdk doctor --json | head -c 1`: the reader goes away; no BrokenPipeError, no traceback."""
    proc = _edge_sdk("doctor", "--json")
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.read(1)  # what `head -c 1` does: read a little, then close
    proc.stdout.close()
    err = proc.stderr.read().decode()
    code = proc.wait(timeout=120)
    assert first == b"{"
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err, err
    assert code in (0, 141)  # 141: the write after the close failed (128 + SIGPIPE), as a C tool reports


def test_a_closed_pipe_before_any_output() -> None:
    proc = _edge_sdk("doctor", "--json")
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # nobody reads at all
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err, err


def test_piped_output_is_line_buffered_and_bars_are_off() -> None:
    code = ("import os, sys; from edge_sdk.cli.main import _stream_setup; _stream_setup(); "
            "print(sys.stdout.line_buffering, sys.stderr.line_buffering, os.environ.get('TQDM_DISABLE'))")
    env = {k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"}
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, env=env, timeout=60)
    assert r.stdout.split() == ["True", "True", "1"], r.stderr
