"""Auto white balance on the device: dual-exposure feature, classical baselines, metrics (numpy + OpenCV).

Nothing here imports torch or colour-science. EMLP itself lives in :mod:`edge_sdk.zoo.emlp`.
"""

from __future__ import annotations

from edge_sdk.awb.baselines import BASELINES, gray_edge, gray_world, shades_of_gray, white_patch
from edge_sdk.awb.features import dual_exposure_feature, extract_features, extract_single_frame_features
from edge_sdk.awb.metrics import angular_error_deg, summarize

__all__ = [
    "BASELINES",
    "angular_error_deg",
    "dual_exposure_feature",
    "extract_features",
    "extract_single_frame_features",
    "gray_edge",
    "gray_world",
    "shades_of_gray",
    "summarize",
    "white_patch",
]
