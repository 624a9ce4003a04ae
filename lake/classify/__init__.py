"""Deprecated: classifier inference moved to ``science`` (``science.registry``, each
classifier's ``batch.py``, ``science.probability``). Kept only for
``science/stamp_classifier/train.py``, which imports ``apply_stamp_rules`` from here;
import ``science.stamp_classifier.rules.apply_stamp_rules`` instead. Remove this module
once nothing imports it.
"""
from science.stamp_classifier.rules import apply_stamp_rules

__all__ = ["apply_stamp_rules"]
