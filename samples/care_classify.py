"""Classify frames with a CARE linear-attention transformer (CVPR 2025 block design).

    python samples/care_classify.py [INPUT_URI] [OUTPUT_URI] [--model care-tiny] [--max-frames N]

    python samples/care_classify.py                                         # care-tiny on 100 digits
    python samples/care_classify.py synthetic://digits?count=100 file://care.mp4
    python samples/care_classify.py dir://photos/ --model care-s0 --max-frames 50   # speed only

care-tiny is trained on digits-28 (28 x 28 gray). care-s0 is the ImageNet-sized CARE-S0
(224 x 224 RGB, 1000 classes) as ARCHITECTURE ONLY (random init): its labels mean nothing, but run
on an image directory or a camera it measures what the real network would cost on this device
(see the per-stage milliseconds printed at the end). --model is a bundle directory or a zoo name
(exported on first use).
"""

from __future__ import annotations

import argparse
import sys
import time

import edge_sdk
from edge_sdk.bundles import resolve_bundle
from edge_sdk.pipelines import Classifier, Timings
from edge_sdk.pipelines.draw import draw_prediction


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input_uri", nargs="?", default="synthetic://digits?count=100")
    p.add_argument("output_uri", nargs="?", default="null://")
    p.add_argument("--model", default="care-tiny", help="bundle directory or zoo name (default care-tiny)")
    p.add_argument("--max-frames", type=int, help="stop after N frames")
    args = p.parse_args()

    classifier = Classifier(resolve_bundle(args.model), top_k=3)
    total = Timings()  # summed per-stage milliseconds
    frames = correct = labelled = 0
    start = time.perf_counter()
    with edge_sdk.open_source(args.input_uri) as camera, edge_sdk.open_sink(args.output_uri) as output:
        for frame in camera:  # Frame: image (BGR), index, timestamp, meta
            prediction = classifier(frame)  # top-k labels and scores, stage timings
            output.write(draw_prediction(frame.image, prediction))
            for stage, ms in prediction.timings.ms.items():
                total.ms[stage] = total.ms.get(stage, 0.0) + ms
            truth = frame.meta.get("label")
            if truth is not None:
                labelled += 1
                correct += int(str(truth) == prediction.label)
            frames += 1
            if frames == args.max_frames:
                break
    fps = frames / (time.perf_counter() - start)
    stages = " ".join(f"{k}_ms={v / max(frames, 1):.2f}" for k, v in total.ms.items() if v)
    metric = f" accuracy={correct / labelled:.3f}" if labelled else ""
    print(f"summary: frames={frames} fps={fps:.1f}{metric} {stages}")


if __name__ == "__main__":
    try:
        main()
    except edge_sdk.EdgeSDKError as e:
        sys.exit(f"error: {e}")
