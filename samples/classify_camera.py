"""Classify camera frames with a small CNN and draw the top-k labels on each frame.

    python samples/classify_camera.py [INPUT_URI] [OUTPUT_URI] [--model compact-cnn] [--max-frames N]

    python samples/classify_camera.py                                       # 100 digits, headless
    python samples/classify_camera.py synthetic://digits?count=100 file://digits.mp4
    python samples/classify_camera.py v4l2:///dev/video0 display://0 --model bundles/compact-cnn-int8
    python samples/classify_camera.py dir://photos/ dir://labelled/ --model bundles/my-net   # your own model

--model is a bundle directory (any precision: fp32, fp16, int8) or a zoo name (exported on first
use). Preprocessing (colour, size, normalisation) and labels come from the bundle's manifest, so a
colour camera works with the gray-scale digits model and the other way round, and a model of your own
works once exported with `edge-sdk export net.py:make --task classification --labels labels.txt ...`.
The summary counts the top-1 labels seen (top1=cat:12,dog:3).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

import edge_sdk
from edge_sdk.bundles import resolve_bundle
from edge_sdk.pipelines import Classifier
from edge_sdk.pipelines.draw import draw_prediction


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input_uri", nargs="?", default="synthetic://digits?count=100")
    p.add_argument("output_uri", nargs="?", default="null://")
    p.add_argument("--model", default="compact-cnn", help="bundle directory or zoo name (default compact-cnn)")
    p.add_argument("--max-frames", type=int, help="stop after N frames")
    args = p.parse_args()

    classifier = Classifier(resolve_bundle(args.model), top_k=3)
    frames = correct = labelled = 0
    seen: Counter[str] = Counter()
    start = time.perf_counter()
    with edge_sdk.open_source(args.input_uri) as camera, edge_sdk.open_sink(args.output_uri) as output:
        for frame in camera:  # Frame: image (BGR), index, timestamp, meta
            prediction = classifier(frame)  # top-k labels and scores, stage timings
            output.write(draw_prediction(frame.image, prediction))
            seen[prediction.label] += 1
            truth = frame.meta.get("label")  # synthetic://digits knows the digit
            if truth is not None:
                labelled += 1
                correct += int(str(truth) == prediction.label)
            frames += 1
            if frames == args.max_frames:
                break
    fps = frames / (time.perf_counter() - start)
    metric = f" accuracy={correct / labelled:.3f}" if labelled else ""
    top1 = ",".join(f"{label}:{n}" for label, n in seen.most_common(10))
    print(f"summary: frames={frames} fps={fps:.1f}{metric} top1={top1}")


if __name__ == "__main__":
    try:
        main()
    except edge_sdk.EdgeSDKError as e:
        sys.exit(f"error: {e}")
