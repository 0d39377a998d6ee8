"""`edge-sdk models`: the zoo as a table (name, task, params, MACs, input shape, weights)."""

from __future__ import annotations

import argparse
from typing import Any

from edge_sdk.cli.output import format_table, human_count, print_json
from edge_sdk.zoo.registry import REGISTRY
from runtimes.errors import install_hint

HELP = "list the model zoo with parameter and MAC counts"
DESCRIPTION = """\
List every model in the zoo: task, parameters, MACs for one sample, input shape (C,H,W or
features), and whether trained weights ship with the package. Parameters and MACs are measured
on the spot on torch's meta device (needs the host install); MACs count convolutions and matrix
products, the convention of the papers.

examples:
  edge-sdk models
  edge-sdk models --json | jq '.[] | select(.weights_shipped)'
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("models", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def describe_models() -> list[dict[str, Any]]:
    try:
        import torch  # noqa: F401

        from edge_sdk.zoo.profile import profile_model
        have_torch = True
    except ImportError:
        have_torch = False
    rows = []
    for spec in REGISTRY.values():
        prof = profile_model(spec.name) if have_torch else None
        rows.append({
            "name": spec.name,
            "task": spec.task,
            "params": prof.params if prof else None,
            "macs": prof.macs if prof else None,
            "input_shape": list(spec.input_shape),
            "weights_shipped": spec.weights_available,
            "dataset": spec.dataset,
            "description": spec.description,
        })
    return rows


def run(args: argparse.Namespace) -> int:
    rows = describe_models()
    if args.json:
        print_json(rows)
        return 0
    table = [
        (
            r["name"], r["task"],
            human_count(r["params"]) if r["params"] is not None else "n/a",
            human_count(r["macs"]) if r["macs"] is not None else "n/a",
            "x".join(map(str, r["input_shape"])),
            "yes" if r["weights_shipped"] else "no (architecture only)" if not r["dataset"] else "no",
        )
        for r in rows
    ]
    print(format_table(["name", "task", "params", "MACs", "input", "weights"], table))
    if any(r["params"] is None for r in rows):
        print(f"\nparams/MACs need torch: install the host extras ({install_hint('host')})")
    return 0
