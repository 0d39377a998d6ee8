"""Export the zoo's deployable models at every precision and print the README's parity table.

    python tools/conversion_table.py [--out DIR] [--json FILE]

Each row is a real export + validation run (the same code path as `edge-sdk export`).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from converters import export
from runtimes.manifest import read_manifest

MODELS = ("emlp", "compact-cnn", "care-tiny", "care-s0")
PRECISIONS = ("fp32", "fp16", "int8", "int8-cpu")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, help="keep the bundles here (default: a temp dir)")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = ap.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="edge-sdk-table-"))
    rows = []
    for name in MODELS:
        sizes = {}
        for precision in PRECISIONS:
            t0 = time.perf_counter()
            bundle = export(name, root / f"{name}-{precision}", precision=precision, show_progress=False,
                            log=lambda m: None)
            m = read_manifest(bundle)
            sizes[precision] = (bundle / m.artifact).stat().st_size
            p = m.parity or {}
            met = p["metric"]
            rows.append({
                "model": name, "precision": precision, "size_kib": sizes[precision] / 1024,
                "size_vs_fp32": sizes[precision] / sizes["fp32"], "metric": met["name"], "unit": met["unit"],
                "reference": met["reference"], "candidate": met["candidate"], "delta": met["delta"],
                "budget": p["budget"]["rule"], "passed": p["passed"], "data": p["dataset"],
                "seconds": time.perf_counter() - t0,
            })
            print(f"{name} {precision}: done in {rows[-1]['seconds']:.0f} s", flush=True)
    print("\n| model | precision | size (KiB) | × FP32 | metric (data) | PyTorch FP32 | bundle | Δ | budget | ok |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if r["metric"] == "output_sqnr":  # no labels: the candidate's SQNR against PyTorch is the figure
            ref, cand, delta = "—", f"SQNR {r['candidate']:.1f} dB", "—"
        else:
            ref, cand, delta = f"{r['reference']:.4g}", f"{r['candidate']:.4g}", f"{r['delta']:+.3g} {r['unit']}"
        print(f"| {r['model']} | {r['precision']} | {r['size_kib']:.1f} | {r['size_vs_fp32']:.2f} | "
              f"{r['metric']} ({r['data']}) | {ref} | {cand} | {delta} | {r['budget']} | "
              f"{'yes' if r['passed'] else 'NO'} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
