"""The comparisons behind BENCHMARKS.md, one module each; ``tools/benchmark_compare.py`` runs them."""
