"""Stamp classifier (ALeRCE, Carrasco-Davis et al. 2021): a rotation-invariant CNN on the
three 21x21 center crops plus alert metadata; classes AGN, SN, VS, asteroid, bogus.

Public API::

    from science.stamp_classifier import StampClassifier, load, train_default
    model = load("var/science/stamp_classifier/<version>")      # or .../model.pt
    probs = model.predict_proba_alerts(alerts_pdf)              # (n, 5), model.classes_

See science/README.md.
"""
from __future__ import annotations

from .model import CLASSES, CUTOUTS, METADATA, MODEL_VERSION, StampClassifier, StampNet, alert_images, metadata_frame
from .stamps import crop, decode_cutout, normalize, pad_to_full

ARTIFACT = "model.pt"


def load(path) -> StampClassifier:
    return StampClassifier.load(path)


def train_default(out_dir=None, **kwargs):
    from .train import train_default as _train

    return _train(out_dir, **kwargs)


__all__ = ["StampClassifier", "StampNet", "CLASSES", "METADATA", "CUTOUTS", "MODEL_VERSION", "load",
           "train_default", "alert_images", "metadata_frame", "decode_cutout", "crop", "normalize",
           "pad_to_full", "ARTIFACT"]
