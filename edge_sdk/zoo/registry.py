"""The model zoo as data: one frozen spec per model. Importing this module never imports torch.

A spec names its builder and trainer as "module:function" strings, so torch is imported only
when a model is actually created or trained.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_sdk.errors import UnknownModelError

WEIGHTS_DIR = Path(__file__).parent / "weights"
DIGIT_LABELS = tuple(str(i) for i in range(10))
CIFAR10_LABELS = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    task: str  # "classification" | "illuminant-estimation"
    input_shape: tuple[int, ...]  # one sample, without the batch dimension
    builder: str  # "module:function" returning an nn.Module; called with **config
    description: str
    config: dict[str, Any] = field(default_factory=dict)
    dataset: str | None = None  # the data its shipped weights were trained on
    trainer: str | None = None  # "module:function", see edge_sdk.training
    labels: tuple[str, ...] = ()
    preprocessing: dict[str, Any] = field(default_factory=dict)
    ships_weights: bool = False
    reference: str = ""

    @property
    def weights_path(self) -> Path:
        return WEIGHTS_DIR / f"{self.name}.safetensors"

    @property
    def weights_available(self) -> bool:
        return self.ships_weights and self.weights_path.is_file()


def resolve(target: str) -> Callable[..., Any]:
    """Import ``"package.module:attr"`` and return the attribute."""
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


_GRAY_28 = {"layout": "NCHW", "color": "gray", "size": [28, 28], "scale": 1 / 255, "mean": [0.0], "std": [1.0]}
_RGB_32 = {
    "layout": "NCHW", "color": "rgb", "size": [32, 32], "scale": 1 / 255,
    "mean": [0.4914, 0.4822, 0.4465], "std": [0.2470, 0.2435, 0.2616],
}
_RGB_224 = {
    "layout": "NCHW", "color": "rgb", "size": [224, 224], "scale": 1 / 255,
    "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
}

_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="emlp",
        task="illuminant-estimation",
        input_shape=(15,),
        builder="edge_sdk.zoo.emlp:build",
        trainer="edge_sdk.training.emlp:train",
        dataset="synthetic-dual-exposure",
        description=(
            "Exposure-based MLP (15-20-3, 383 params): unit-norm illuminant RGB from the dual-exposure "
            "feature (9) + long-frame gray-world/max-RGB/brightest-5% chromaticities (6)"
        ),
        preprocessing={
            "kind": "feature-vector",
            "feature": "dual-exposure-feature",
            "extractor": "def",  # a row of edge_sdk.pipelines.white_balance.AWB_EXTRACTORS
            "inputs": ["long", "short"],  # uint16 H x W x 3 linear raw RGB, same size
            "extractor_kwargs": ["white_level", "black_level"],
            "standardisation": "folded into the first Linear (raw features in)",
        },
        labels=("r", "g", "b"),
        ships_weights=True,
        reference="Afifi et al., ECCV 2024 (arXiv 2403.02449)",
    ),
    *(
        ModelSpec(
            name=name,
            task="illuminant-estimation",
            input_shape=(2 * 32 * 32 + 2 + (9 if with_def else 0),),  # edge_sdk.awb.histogram.histogram_width
            builder="edge_sdk.zoo.eccc:build",
            config={"with_def": with_def},
            trainer=f"edge_sdk.training.eccc:train_{name}",
            dataset="synthetic-dual-exposure",
            description=description,
            preprocessing={
                "kind": "feature-vector",
                "feature": "log-chroma-histograms" + ("+dual-exposure-feature" if with_def else ""),
                "extractor": "log-chroma-hist+def" if with_def else "log-chroma-hist",
                "inputs": ["long", "short"],
                "extractor_kwargs": ["white_level", "black_level"],
                "standardisation": "folded into the steering Linear (raw inputs)",
            },
            labels=("r", "g", "b"),
            ships_weights=True,
            reference="Afifi et al., ECCV 2024 (arXiv 2403.02449); Barron, ICCV 2015",
        )
        for name, with_def, description in (
            ("eccc", True, "Exposure-based convolutional colour constancy (6,192 params): CCC over log-chroma "
                           "histograms of the long frame, bias maps steered by the dual-exposure feature"),
            ("ccc", False, "Convolutional colour constancy (6,156 params): ECCC without the dual-exposure "
                           "feature (the ablation)"),
        )
    ),
    ModelSpec(
        name="compact-cnn",
        task="classification",
        input_shape=(1, 28, 28),
        builder="edge_sdk.zoo.compact_cnn:build",
        config={"in_channels": 1, "num_classes": 10, "variant": "mnist"},
        trainer="edge_sdk.training.compact_cnn:train",
        dataset="digits-28",
        description="~15k-parameter CNN, two-stage dual-input-output + progressive-unfreezing recipe",
        labels=DIGIT_LABELS,
        preprocessing=_GRAY_28,
        ships_weights=True,
        reference="Isong, arXiv 2501.15547",
    ),
    ModelSpec(
        name="compact-cnn-cifar",
        task="classification",
        input_shape=(3, 32, 32),
        builder="edge_sdk.zoo.compact_cnn:build",
        config={"in_channels": 3, "num_classes": 10, "variant": "cifar"},
        trainer="edge_sdk.training.compact_cnn:train",
        dataset="cifar-10 (bring your own: edge-sdk train compact-cnn-cifar --data DIR)",
        description="<20k-parameter CNN for 32x32 RGB; no shipped weights (CIFAR-10 is not bundled)",
        labels=CIFAR10_LABELS,
        preprocessing=_RGB_32,
        reference="Isong, arXiv 2501.15547",
    ),
    *(
        ModelSpec(
            name=f"care-{v}",
            task="classification",
            input_shape=(3, 224, 224),
            builder="edge_sdk.zoo.care:build",
            config={"variant": v, "num_classes": 1000},
            description=f"CARE-{v.upper()} linear-attention ViT, ImageNet config. ARCHITECTURE ONLY (random init)",
            labels=(),
            preprocessing=_RGB_224,
            reference="CARE Transformer, CVPR 2025 (arXiv 2411.16170)",
        )
        for v in ("s0", "s1", "s2")
    ),
    ModelSpec(
        name="care-tiny",
        task="classification",
        input_shape=(1, 28, 28),
        builder="edge_sdk.zoo.care:build",
        config={"variant": "tiny", "num_classes": 10, "in_channels": 1},
        trainer="edge_sdk.training.care_tiny:train",
        dataset="digits-28",
        description="Small CARE (same block design) for 28x28 inputs, trained on digits-28",
        labels=DIGIT_LABELS,
        preprocessing=_GRAY_28,
        ships_weights=True,
        reference="CARE Transformer, CVPR 2025 (arXiv 2411.16170)",
    ),
)

REGISTRY: dict[str, ModelSpec] = {s.name: s for s in _SPECS}


def list_models() -> list[str]:
    """Names of every model in the zoo, in table order."""
    return list(REGISTRY)


def get_spec(name: str) -> ModelSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownModelError(name, REGISTRY) from None
