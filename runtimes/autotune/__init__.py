"""``load(path)`` with ``backend="auto"``: the fastest backend and thread setting for this model on this
machine, chosen by measurement and remembered.

The first load of an ONNX artifact loads each candidate (:func:`candidates`): ONNX Runtime with its own
defaults (:data:`BASELINE`: what a bare ``InferenceSession(path)`` runs with) and at 1 and N intra-op
threads (N with and without spin-waiting), the numpy backend (MLP graphs only; it refuses
others at once) and, for models ONNX Runtime does not run in under :data:`OPENVINO_FROM_MS`, OpenVINO
at N and 1 threads where it is installed. It then times a few dozen calls of each on a random batch-1
input, interleaved round-robin (:data:`ROUNDS` blocks each, at most :data:`MAX_CALLS` calls and about
:data:`TIMING_BUDGET_S` seconds in all) and keeps ONNX Runtime's defaults unless another candidate is
clearly faster: by :data:`MARGIN` in median and in most rounds (:mod:`~runtimes.autotune.decision`; near-ties
of sub-millisecond models otherwise flip from one probe to the next). The rest are closed.
A winner from a backend other than the one the bundle's parity report was measured with (OpenVINO)
must first show its outputs are within the precision's budget (:mod:`~runtimes.autotune.accuracy`); if not,
the next in that order is taken and the reason recorded.
For a model of a few thousand parameters that costs milliseconds; for care-s0 about a second of timing
plus each candidate's load (OpenVINO compiles INT8 graphs for seconds, once: it caches them).

The decision and its figures go into ``$EDGE_SDK_CACHE/autotune.json`` (atomic write), keyed by the
artifact's sha256 (and its external-data files'), the onnxruntime / openvino / numpy versions, the
CPU model and the usable cores. A later load of the same artifact on the same machine loads the
chosen candidate directly: no probe. ``session.choice`` says what was chosen and how ("probe",
"cache", "request", "default"), ``session.probe`` holds the figures; ``edge-sdk doctor`` lists the cache.

The cache file is read defensively: unreadable, oversized, malformed or foreign content is ignored
(and re-probed); an entry can only select one of the candidates this module builds, compared as
data (a backend name from the table, a thread count, a spin flag), never a module, a path or a
thread count outside them.

Not probed: an explicit ``backend=`` or any backend option (``threads=``, ``providers=`` ...) from the
caller, engines (``.engine``: TensorRT), artifacts over :data:`MAX_PROBE_ARTIFACT_BYTES` or inputs over
:data:`MAX_PROBE_INPUT_BYTES`. ``EDGE_SDK_AUTOTUNE=0`` turns probing off (ONNX Runtime with its fixed
policy: one thread for small models, every core for large ones), ``EDGE_SDK_AUTOTUNE=refresh``
re-probes and overwrites the cached decision.

A probe measures the machine as it is at that moment. Probed on a quiet machine, the winner for a
small model is often every core with spin-waiting, which is the worst setting on a machine busy with
other work: there, pass ``threads=1`` (or set ``EDGE_SDK_AUTOTUNE=0``), or re-probe under the real load
with ``EDGE_SDK_AUTOTUNE=refresh``.

The package holds one idea a module, and this module re-exports their public names (import from here):

* :mod:`~runtimes.autotune.candidates`: the candidates (a backend from the table, its thread settings) and
  the ``EDGE_SDK_AUTOTUNE`` mode;
* :mod:`~runtimes.autotune.cache`: the cache file (its key, read defensively, written atomically, the
  ``edge-sdk doctor`` summary);
* :mod:`~runtimes.autotune.decision`: the rule that turns the probe's timings into an order to try;
* :mod:`~runtimes.autotune.accuracy`: the accuracy gate for a winner from a non-reference backend;
* :mod:`~runtimes.autotune.probe`: the probe itself, and :func:`choose` (cache or probe).
"""

from __future__ import annotations

from runtimes.autotune.accuracy import REFERENCE_BACKENDS
from runtimes.autotune.cache import (
    CACHE_FILE,
    CHOICE_KEYS,
    MAX_ENTRIES,
    MAX_FILE_BYTES,
    SCHEMA,
    cache_file,
    cache_key,
    cached_choice,
    figures,
    read_entries,
    remember,
    summary,
    versions,
)
from runtimes.autotune.candidates import BASELINE, ENV, Candidate, candidates, mode, thread_counts, usable_cores
from runtimes.autotune.decision import MARGIN, WINS_FRACTION, clearly_faster, ranking, wins_needed
from runtimes.autotune.probe import (
    LOAD_BUDGET_S,
    MAX_CALLS,
    MAX_PROBE_ARTIFACT_BYTES,
    MAX_PROBE_INPUT_BYTES,
    OPENVINO_FROM_MS,
    ROUNDS,
    SETTLE_BELOW_S,
    TIMING_BUDGET_S,
    Loader,
    choose,
    probe_feed,
)

__all__ = [
    "BASELINE", "MARGIN", "WINS_FRACTION", "clearly_faster", "ranking", "wins_needed",
    "CACHE_FILE", "CHOICE_KEYS", "ENV", "LOAD_BUDGET_S", "MAX_CALLS", "MAX_ENTRIES", "MAX_FILE_BYTES",
    "MAX_PROBE_ARTIFACT_BYTES", "MAX_PROBE_INPUT_BYTES", "OPENVINO_FROM_MS", "REFERENCE_BACKENDS", "ROUNDS", "SCHEMA",
    "SETTLE_BELOW_S", "TIMING_BUDGET_S", "Candidate", "Loader", "cache_file", "cache_key", "cached_choice",
    "candidates", "choose", "figures", "mode", "probe_feed", "read_entries", "remember", "summary", "thread_counts",
    "usable_cores", "versions",
]
