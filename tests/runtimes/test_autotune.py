"""backend="auto" on ONNX: a bounded probe on first load, its decision cached on disk, the cache read defensively."""

from __future__ import annotations

import json

import numpy as np
import pytest

import runtimes
from runtimes import autotune
from runtimes.autotune import accuracy, probe
from runtimes.autotune import cache as autotune_cache


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGE_SDK_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(autotune.ENV, raising=False)
    return tmp_path / "cache" / autotune.CACHE_FILE


def _entries(path) -> dict:
    return json.loads(path.read_text())["entries"]


def test_first_load_probes_and_keeps_the_defaults_unless_clearly_beaten(zoo_bundle, cache) -> None:
    s = runtimes.load(zoo_bundle("compact-cnn"))
    assert s.choice is not None and s.choice["by"] == "probe" and s.probe is not None
    ms, rounds = s.probe["ms"], s.probe["round_ms"]
    labels = {c.label: c for c in autotune.candidates()}
    assert {"onnxruntime 1 thread", "onnxruntime defaults"} <= set(ms) <= set(labels)
    assert set(rounds) == set(ms) and all(len(r) == autotune.ROUNDS for r in rounds.values())
    chosen = autotune.Candidate(s.choice["backend"], s.choice["threads"], s.choice["spin"])
    expected = autotune.ranking({labels[k]: v for k, v in ms.items()}, {labels[k]: v for k, v in rounds.items()})
    assert chosen == expected[0] and s.backend == chosen.backend and s.probe["baseline"] == "onnxruntime defaults"
    base = "onnxruntime defaults"
    if chosen.label != base:  # a challenger: faster by the margin and in most rounds
        assert ms[chosen.label] <= (1 - autotune.MARGIN) * ms[base]
        assert sum(a < b for a, b in zip(rounds[chosen.label], rounds[base])) >= autotune.wins_needed(autotune.ROUNDS)
    assert s.threads == chosen.threads or chosen.threads is None
    assert "Conv" in s.probe["skipped"]["numpy"]  # the numpy backend refused the CNN at once
    assert all(2 + autotune.ROUNDS <= n <= 2 + autotune.MAX_CALLS for n in s.probe["calls"].values())  # bounded
    [entry] = _entries(cache).values()
    assert entry["choice"] == chosen.as_json() and entry["ms"] == ms
    y = s(np.zeros((3, 1, 28, 28), np.float32))
    assert y.shape == (3, 10)


def test_second_load_does_not_probe(zoo_bundle, cache, monkeypatch) -> None:
    first = runtimes.load(zoo_bundle("compact-cnn"))

    def no_probe(*args, **kwargs):
        raise AssertionError("probed again")

    monkeypatch.setattr(probe, "_probe", no_probe)
    again = runtimes.load(zoo_bundle("compact-cnn"))
    assert again.choice is not None and first.choice is not None
    assert again.choice["by"] == "cache"
    assert {k: again.choice[k] for k in autotune.CHOICE_KEYS} == {k: first.choice[k] for k in autotune.CHOICE_KEYS}
    assert again.probe is not None and again.probe["cached"] and again.probe["ms"] == first.probe["ms"]


def test_mlp_probe_includes_the_numpy_backend(mlp_bundle, cache) -> None:
    s = runtimes.load(mlp_bundle)
    assert s.probe is not None and "numpy" in s.probe["ms"]
    x = np.random.default_rng(0).standard_normal((4, 9)).astype(np.float32)
    np.testing.assert_allclose(s(x), runtimes.load(mlp_bundle, backend="onnxruntime")(x), rtol=1e-5, atol=1e-6)


def test_openvino_competes_where_installed(zoo_bundle, cache, monkeypatch) -> None:
    pytest.importorskip("openvino")
    monkeypatch.setattr(probe, "OPENVINO_FROM_MS", 0.0)  # compact-cnn is far under the usual bar
    s = runtimes.load(zoo_bundle("compact-cnn"))
    assert s.probe is not None
    assert {f"openvino {t} thread{'s' if t > 1 else ''}" for t in autotune.thread_counts()} <= set(s.probe["ms"])


def test_openvino_is_not_tried_for_fast_models(mlp_bundle, cache) -> None:
    s = runtimes.load(mlp_bundle)
    assert s.probe is not None
    assert all(c.backend != "openvino" or c.label in s.probe["skipped"] for c in autotune.candidates())


@pytest.mark.parametrize("content", [
    b"\x00\xff not json",
    b"[" * 100_000,  # nesting deeper than the parser's recursion limit
    b'{"schema": "edge-sdk-autotune/2", "entries": []}',
    b'{"schema": "edge-sdk-autotune/1", "entries": {}}',  # decided by the older rule: probed again
    b'{"schema": "someone-else/9", "entries": {}}',
    b" " * (autotune.MAX_FILE_BYTES + 1),
])
def test_corrupt_cache_file_is_ignored_and_replaced(zoo_bundle, cache, content) -> None:
    cache.parent.mkdir(parents=True)
    cache.write_bytes(content)
    s = runtimes.load(zoo_bundle("compact-cnn"))
    assert s.choice is not None and s.choice["by"] == "probe"
    assert len(_entries(cache)) == 1


@pytest.mark.parametrize("choice", [
    {"backend": "runtimes.evil:Session", "threads": 1, "spin": None},
    {"backend": "onnxruntime", "threads": 10**9, "spin": None},
    {"backend": "onnxruntime", "threads": True, "spin": None},
    {"backend": "onnxruntime", "threads": 1, "spin": "yes"},
    {"backend": "onnxruntime", "threads": 1, "spin": None, "module": "os"},
    "onnxruntime",
])
def test_hostile_cache_entry_chooses_nothing_outside_the_candidates(zoo_bundle, cache, choice, tmp_path) -> None:
    bundle = zoo_bundle("compact-cnn")
    key = autotune.cache_key(bundle / "model.onnx", runtimes.read_manifest(bundle))
    trace = tmp_path / "ran"
    cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps({"schema": autotune.SCHEMA, "entries": {key: {
        "choice": choice, "ms": {f"__import__('os').system('touch {trace}')": 0.0, "x" * 10_000: "1e309"}}}}))
    s = runtimes.load(bundle)
    assert s.choice is not None and s.choice["by"] == "probe"
    assert not trace.exists()
    assert json.dumps(_entries(cache)[key]["choice"]) != json.dumps(choice)  # replaced by the probe's own (1 != true)


def test_cache_entry_selects_among_known_candidates(zoo_bundle, cache) -> None:
    bundle = zoo_bundle("compact-cnn")
    key = autotune.cache_key(bundle / "model.onnx", runtimes.read_manifest(bundle))
    pick = autotune.Candidate("onnxruntime", 1)
    cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps({"schema": autotune.SCHEMA, "entries": {key: {
        "choice": pick.as_json(), "ms": {pick.label: 0.05, "bogus": -1}}}}))
    s = runtimes.load(bundle)
    assert s.choice == {**pick.as_json(), "by": "cache"} and s.threads == 1
    assert s.probe is not None and s.probe["ms"] == {pick.label: 0.05}  # figures sanitised: no negative "bogus"


def test_explicit_backend_or_threads_skip_the_probe(zoo_bundle, cache) -> None:
    bundle = zoo_bundle("compact-cnn")
    s = runtimes.load(bundle, backend="onnxruntime")
    assert s.choice is not None and s.choice["by"] == "request" and s.probe is None
    s = runtimes.load(bundle, threads=2)
    assert s.choice is not None and s.choice["by"] == "default" and s.threads == 2 and s.probe is None
    assert not cache.exists()


def test_autotune_off_and_refresh(zoo_bundle, cache, monkeypatch) -> None:
    bundle = zoo_bundle("compact-cnn")
    monkeypatch.setenv(autotune.ENV, "0")
    s = runtimes.load(bundle)
    assert s.choice is not None and s.choice["by"] == "default" and s.backend == "onnxruntime"
    assert not cache.exists()
    monkeypatch.setenv(autotune.ENV, "refresh")
    for _ in range(2):
        s = runtimes.load(bundle)
        assert s.choice is not None and s.choice["by"] == "probe"


def test_key_follows_artifact_versions_and_cpu(zoo_bundle, tmp_path, monkeypatch) -> None:
    bundle = zoo_bundle("compact-cnn")
    m = runtimes.read_manifest(bundle)
    key = autotune.cache_key(bundle / "model.onnx", m)
    assert key == autotune.cache_key(bundle / "model.onnx", None)  # the bare file hashes the same
    monkeypatch.setattr(autotune_cache, "versions", lambda: {"onnxruntime": "onnxruntime 0.0"})
    assert autotune.cache_key(bundle / "model.onnx", m) != key
    monkeypatch.undo()
    monkeypatch.setattr(autotune_cache, "_cpu", lambda: "another CPU")
    assert autotune.cache_key(bundle / "model.onnx", m) != key


def test_broken_file_fails_as_before(tmp_path, cache) -> None:
    from runtimes.errors import ManifestError

    junk = tmp_path / "model.onnx"
    junk.write_bytes(b"junk" * 100)
    with pytest.raises(ManifestError, match="onnxruntime cannot load"):
        runtimes.load(junk)
    assert not cache.exists()


def test_accuracy_gate_for_backends_other_than_the_reference(zoo_bundle, tmp_path, cache) -> None:
    pytest.importorskip("openvino")
    import onnx
    from onnx import numpy_helper

    bundle = zoo_bundle("compact-cnn", "int8-cpu")
    ref = runtimes.load(bundle, backend="onnxruntime")
    feed = autotune.probe_feed(ref.inputs)
    assert feed is not None

    def problem(candidate):
        return accuracy._accuracy_problem(candidate, ref, probe._caller(candidate, feed), probe._caller(ref, feed))

    assert problem(runtimes.load(bundle, backend="openvino")) is None  # golden samples within budget
    assert problem(runtimes.load(bundle / "model.onnx", backend="openvino")) is None  # SQNR on the probe input
    model = onnx.load(str(bundle / "model.onnx"))
    w = max(model.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    w.CopyFrom(numpy_helper.from_array(-numpy_helper.to_array(w), w.name))  # the same graph, another model
    onnx.save(model, str(tmp_path / "other.onnx"))
    why = problem(runtimes.load(tmp_path / "other.onnx", backend="openvino"))
    assert why is not None and "SQNR" in why
