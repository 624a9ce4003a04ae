"""Anomaly scores: one isolation forest per top class (Periodic, Stochastic, Transient)
over the light-curve features, trained on simulated seasons (``train.py``), stored as safe
arrays (``model.py``: no pickle), applied by the classify stage as a UDF (``batch.py``,
registered in ``science.registry``) into the ``anomaly`` table."""
from .model import AnomalyModel, load, fit

__all__ = ["AnomalyModel", "load", "fit"]
