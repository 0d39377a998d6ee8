"""The pieces of tools/benchmark_compare.py that its conclusions rest on (no timing is asserted)."""

from __future__ import annotations

import sys

import pytest
import torch

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "tools"))

from benchmarks.attention import bytes_written, stream  # noqa: E402
from benchmarks.harness import Check, Section, interleaved, single_calls  # noqa: E402


def test_bytes_written_counts_fresh_tensors_not_views() -> None:
    x = torch.randn(1, 32, 16, 16)
    assert bytes_written(torch, lambda: stream(x)) == 3 * x.nbytes  # three fresh tensors
    assert bytes_written(torch, lambda: x.reshape(32, -1).transpose(0, 1)) == 0  # views allocate nothing
    assert bytes_written(torch, lambda: torch.cat([x, x], 1)) == 2 * x.nbytes


def test_attention_writes_a_fixed_multiple_of_its_input() -> None:
    from edge_sdk.zoo.care_blocks import LinearAttention

    lin = LinearAttention(32, 16).eval()
    with torch.inference_mode():
        per = [bytes_written(torch, lambda s=s: lin(torch.randn(1, 32, s, s))) / (32 * s * s * 4) for s in (16, 32)]
    assert per[0] == pytest.approx(per[1], rel=0.05) and 6 < per[0] < 12  # O(N) memory, ~8x the input


def test_timing_methods_time_every_contender() -> None:
    calls = {"a": 0, "b": 0}

    def bump(k: str) -> None:
        calls[k] += 1

    t = single_calls({"a": lambda: bump("a"), "b": lambda: bump("b")}, rounds=5, warmup=1)
    assert set(t) == {"a", "b"} and all(v >= 0 for v in t.values()) and calls == {"a": 6, "b": 6}
    t = interleaved({"a": lambda: bump("a")}, rounds=3, block_s=0.001)
    assert set(t) == {"a"} and t["a"] >= 0


def test_verdicts_and_markdown() -> None:
    s = Section(9, "title", "target text", short="t")
    s.check("x / y", 4.9, "≤ 4.5×", False, why="floor 6.9×")
    s.check("y / x", 1.2, "≤ 1.5×", True)
    s.check("context", 3.0, "-", None)
    md = s.md()
    assert "| x / y | 4.90× | ≤ 4.5× | **not met** (floor 6.9×) |" in md
    assert "| y / x | 1.20× | ≤ 1.5× | **met** |" in md and "| context | 3.00× | - | shown |" in md
    assert Check("a", 1.0, "-", False).verdict() == "**not met**"
