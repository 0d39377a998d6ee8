"""A human-readable conversion report (``report.md``) written beside every bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from converters.parity import metric_text
from converters.validate import BATCH
from runtimes.manifest import Manifest


def render_report(m: Manifest, artifact: Path) -> str:
    size_kb = artifact.stat().st_size / 1024
    lines = [
        f"# {m.model} — {m.precision}",
        "",
        f"- artifact: `{m.artifact}` ({size_kb:.1f} KiB, sha256 `{m.artifact_sha256[:16]}…`)",
        f"- task: {m.task}; opset {m.opset}; created {m.created}",
        "- inputs: " + ", ".join(f"`{t.name}` {list(t.shape)} {t.dtype}" for t in m.inputs),
        "- outputs: " + ", ".join(f"`{t.name}` {list(t.shape)} {t.dtype}" for t in m.outputs),
        "- versions: " + ", ".join(f"{k} {v}" for k, v in m.versions.items()),
        "",
        "## Parity against PyTorch FP32",
        "",
    ]
    p = m.parity or {}
    if p:
        met = p["metric"]
        verdict = "pass" if p["passed"] else ("**overridden** (--allow-accuracy-loss)" if p["override"] else "FAIL")
        lines += [
            f"Validated on: {p['dataset']} ({p['samples']} held-out samples). Budget: {p['budget']['rule']}. "
            f"Verdict: {verdict}.",
            "",
            "| output | SQNR (dB) | max abs | mean abs | argmax agreement |",
            "|---|---|---|---|---|",
        ]
        for name, s in p["outputs"].items():
            agree = f"{100 * s['argmax_agreement']:.2f} %" if "argmax_agreement" in s else "—"
            sqnr = f"{s['sqnr_db']:.1f}" if s.get("sqnr_db") is not None else "—"
            lines.append(f"| {name} | {sqnr} | {s['max_abs']:.3g} | {s['mean_abs']:.3g} | {agree} |")
        source = f" ({met['source']})" if met.get("source") else ""
        if met["name"] == "output_sqnr":  # PyTorch against itself has no finite SQNR: the candidate's figure only
            lines += ["", f"Task metric `output_sqnr`: {metric_text(met)} (budget: {p['budget']['rule']})."]
        else:
            lines += ["", f"Task metric `{met['name']}`{source}: reference {met['reference']:.4g}, candidate "
                          f"{met['candidate']:.4g}, Δ {met['delta']:+.4g} {met['unit']}".rstrip() + "."]
        lines += _validation(m.extra.get("validation"))
    if m.precision == "int8-dynamic":
        from converters.quantize import DYNAMIC_NOTE

        lines += ["", f"Note: {DYNAMIC_NOTE}. The figures above were measured in batches of {BATCH}."]
    if m.calibration:
        lines += ["", "## Calibration", ""] + [f"- {k}: {v}" for k, v in m.calibration.items()]
        if "data" not in m.calibration:
            lines.append("- data: not recorded")
    mixed = m.extra.get("mixed_precision")
    if isinstance(mixed, dict):
        lines += _mixed(mixed)
    auto = m.extra.get("auto")
    if auto:
        lines += ["", "## Precision choice (--precision auto)", "", "| precision | median latency (ms) | size (KiB) | "
                  "metric Δ | within budget | nodes in float |", "|---|---|---|---|---|---|"]
        for row in auto["candidates"]:
            lines.append(f"| {row['precision']} | {row['latency_ms']:.4f} | {row['size_kib']:.1f} | "
                         f"{row['delta']:+.4g} | {'yes' if row['passed'] else 'no'} | {row.get('float_nodes', 0)} |")
        lines += ["", auto["reason"]]
    return "\n".join(lines) + "\n"


def _validation(v: Any) -> list[str]:
    """Where the validation samples came from, and which ones were held out of calibration."""
    if not isinstance(v, dict):
        return []
    held = v.get("held_out")
    if v.get("source") == "calibration" and isinstance(held, dict):
        which = held.get("files") or held.get("indices") or []
        shown = ", ".join(f"`{w}`" for w in which[:20]) + (f" and {len(which) - 20} more" if len(which) > 20 else "")
        return ["", f"No validation data was given: {len(which)} of the {held.get('of')} calibration samples were held "
                    f"out of calibration to validate ({held.get('rule')}): {shown}."]
    if v.get("source") == "random":
        return ["", "**No validation data was given**: parity was checked on seeded random inputs, which says little "
                    "about a trained model (export again with --val-data or --calib)."]
    return []


def _mixed(r: dict[str, Any]) -> list[str]:
    """The mixed-precision section: what stayed float, how much is INT8, why, and what it bought."""
    before, after = r["metric_before"], r["metric_after"]
    lines = [
        "", "## Mixed precision (nodes kept in float to meet the budget)", "",
        f"Full {r['precision']} broke the budget, so the most sensitive nodes stay in float: "
        f"{len(r['float_nodes'])} of {r['quantizable_nodes']} quantizable nodes.", "",
        f"- kept in float: {', '.join(f'`{n}`' for n in r['float_nodes'])}",
        f"- INT8 share: {100 * r['int8_mac_fraction']:.1f} % of MACs, {100 * r['int8_weight_fraction']:.1f} % of "
        "weights",
        f"- `{after['name']}`: full INT8 {before['candidate']:.4g}, mixed {after['candidate']:.4g} {after['unit']}"
        + ("" if after["name"] == "output_sqnr" else f" (reference {after['reference']:.4g} {after['unit']})"),
        "", f"Sensitivity ({r['sensitivity_measure']}; most sensitive first):", "",
        "| node(s) | op | MACs | SQNR (dB) |", "|---|---|---|---|",
    ]
    for row in r["sensitivity"]:
        lines.append(f"| {', '.join(row['nodes'])} | {row['op_type']} | {row['macs']:,} | {row['sqnr_db']:.1f} |")
    return lines
