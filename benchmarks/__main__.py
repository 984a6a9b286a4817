"""`python -m benchmarks NAME [ARGS]` from a checkout: each benchmark prints a table and writes JSON.

Benchmarks are not shipped with the package and nothing in `agentmem` or `tests/` imports them."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

# Benchmark name -> module with main(argv) -> int.
BENCHMARKS = {
    "ingest": "benchmarks.ingest",
    "chunk-size": "benchmarks.chunk_size",
    "locomo": "benchmarks.locomo",
    "scale": "benchmarks.scale",
    "drift": "benchmarks.drift",
    "models": "benchmarks.models",
    "bm25-compare": "benchmarks.bm25_compare",
    "load": "benchmarks.load",
    "embed-fairness": "benchmarks.embed_fairness",
    "freshness-cost": "benchmarks.freshness_cost",
    "nfcorpus": "benchmarks.nfcorpus",
    "injection": "benchmarks.injection",
}


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(BENCHMARKS))
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    return int(importlib.import_module(BENCHMARKS[args.name]).main(args.rest))


if __name__ == "__main__":
    sys.exit(main())
