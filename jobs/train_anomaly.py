"""Train the anomaly model: one isolation forest per top class over the light-curve features.

    python jobs/train_anomaly.py --simulated        # the default model (make models)

Reads the light-curve classifier's labeled feature set (simulated seasons plus the real
labeled curves of ../shared/data when present; its parquet cache under var/cache, which
`jobs/train_lc.py` fills first in `make models`) and writes a version folder with the safe
artifacts (model.json, forest.npz; no pickle), artifacts.json (sha256, checked at load),
metrics.json and MODEL_CARD.md into <models dir>/anomaly/<version>/, made `current`
(or into --out exactly, no pointer).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from science.anomaly import train as antrain  # noqa: E402
from science.lc_classifier import train as lctrain  # noqa: E402

log = logging.getLogger("train_anomaly")
DEFAULT_SHARED = REPO.parent / "shared" / "data"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--simulated", action="store_true", required=True,
                   help="train on the simulated seasons (+ real labeled curves)")
    p.add_argument("--trees", type=int, default=200, help="trees per forest")
    p.add_argument("--out", help="the version folder to write (no `current` pointer)")
    p.add_argument("--models-dir", default=str(REPO / "var" / "models"))
    p.add_argument("--shared-data", default=str(DEFAULT_SHARED))
    p.add_argument("--no-real", action="store_true", help="do not use ../shared/data")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cache", default=str(REPO / "var" / "cache"), help="feature cache folder")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    shared = None if args.no_real or not Path(args.shared_data).is_dir() else args.shared_data
    frame = lctrain.training_frames(shared, n_threads=args.threads, cache_dir=args.cache)
    model, metrics = antrain.train(frame, n_estimators=args.trees)
    out = Path(args.out) if args.out else Path(args.models_dir) / "anomaly" / model.version
    antrain.write_model(model, metrics, out, pointer=not args.out)
    log.info("%s %s written to %s; held-out AUC (other classes vs own): %s", model.name,
             model.version, out, metrics.get("heldout_auc_other_classes"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
