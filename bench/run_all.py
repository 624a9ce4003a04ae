"""`make bench`: every stage's benchmark, each printed next to its reference."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

STAGES = ["simulate", "ingest", "features", "classify", "xmatch"]

if __name__ == "__main__":
    for stage in STAGES:
        print(f"\n=== {stage} ===")
        importlib.import_module(stage).main([])
