"""Camera pipelines: white balance from dual exposures, classification. Results carry stage timings."""

from edge_sdk.pipelines.classifier import Classifier, Prediction
from edge_sdk.pipelines.timing import Timings
from edge_sdk.pipelines.white_balance import WhiteBalance, WhiteBalanceResult, apply_gains, to_display

__all__ = ["Classifier", "Prediction", "Timings", "WhiteBalance", "WhiteBalanceResult", "apply_gains", "to_display"]
