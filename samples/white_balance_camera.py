"""Auto white balance from a dual-exposure camera: (long, short) pair -> EMLP/ECCC/CCC -> gains -> corrected frame.

    python samples/white_balance_camera.py [INPUT_URI] [OUTPUT_URI] [--model emlp|eccc|ccc] [--max-frames N]

    python samples/white_balance_camera.py                                  # 30 synthetic scenes, headless
    python samples/white_balance_camera.py synthetic://dual-exposure?count=30 file://wb.mp4
    python samples/white_balance_camera.py synthetic://dual-exposure?count=30 --model eccc
    python samples/white_balance_camera.py "dual://?long=file://long.mp4&short=file://short.mp4" dir://out/
    python samples/white_balance_camera.py "v4l2:///dev/video0?layout=side-by-side" display://0

Each output frame shows the long exposure as captured (left) beside the white-balanced one
(right), with the gains, the estimated illuminant and, for synthetic scenes, the angular error
against the true illuminant. --model is a bundle directory or a zoo name (exported on first use); its
manifest says which features the model takes (edge_sdk.pipelines.AWB_EXTRACTORS).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import edge_sdk
from edge_sdk.bundles import resolve_bundle
from edge_sdk.pipelines import WhiteBalance
from edge_sdk.pipelines.draw import draw_white_balance


def angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    cos = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input_uri", nargs="?", default="synthetic://dual-exposure?count=30")
    p.add_argument("output_uri", nargs="?", default="null://")
    p.add_argument("--model", default="emlp", help="bundle directory or zoo name: emlp (default), eccc, ccc")
    p.add_argument("--max-frames", type=int, help="stop after N frames")
    args = p.parse_args()

    white_balance = WhiteBalance(resolve_bundle(args.model))
    errors: list[float] = []
    frames = 0
    start = time.perf_counter()
    with edge_sdk.open_dual_source(args.input_uri) as camera, edge_sdk.open_sink(args.output_uri) as output:
        for pair in camera:  # DualFrame: long and short exposure, meta
            result = white_balance(pair)  # illuminant, gains, corrected long exposure, timings
            output.write(draw_white_balance(result))  # before | after, gains, illuminant, timings
            if "illuminant" in pair.meta:  # ground truth: synthetic scenes
                errors.append(angle_deg(result.illuminant, pair.meta["illuminant"]))
            frames += 1
            if frames == args.max_frames:
                break
    fps = frames / (time.perf_counter() - start)
    metric = f" angular_error_deg={np.mean(errors):.2f}" if errors else ""
    print(f"summary: frames={frames} fps={fps:.1f}{metric}")


if __name__ == "__main__":
    try:
        main()
    except edge_sdk.EdgeSDKError as e:
        sys.exit(f"error: {e}")
