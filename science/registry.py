"""The classifiers the classify stage runs: one ``Classifier`` line each.

Each entry says which ``classifier_name`` values it writes, which input rows it needs
(``FEATURES``: the ``feature`` table rows of the touched objects that have features;
``FIRST_ALERTS``: each touched object's first alert with its three cutouts), its batch
function (pandas rows + model -> probability rows, the UDF body), how to load its model
from a resolved version folder, and the setting that holds its models folder. The stage
resolves every entry's model first (``resolve_models``: one clear ``ModelMissing`` before
any work), then for each entry builds the input, applies ``entry.udf(ref)`` with
``mapInPandas`` and merges all rows into ``probability``.

An entry may write a table of its own (``table``, rows in its ``schema``, e.g. the
anomaly scores) and finish its staged rows (``finish``: the anomaly ranks in the night);
an ``optional`` entry without a trained model is skipped with a warning.

Adding a classifier: a folder ``science/<name>/`` with its model, training, card,
``batch.py`` (``probabilities(pdf, model)`` and ``load_model(ref)``) and one line below.

Settings (``models`` section)::

    models:
      lc_dir: var/models/lc_classifier        # a models folder (relative: to the project root)
      lc_classifier: {version: 1.0.0+brf.abcdef12}   # optional pin; default: its `current`
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Mapping

from .artifacts import ModelMissing, ModelRef, model_ref
from .cache import batches_udf
from .probability import PROBABILITY_SCHEMA
from .anomaly import batch as anomaly_batch
from .lc_classifier import batch as lc_batch
from .stamp_classifier import batch as stamp_batch

log = logging.getLogger(__name__)
FEATURES = "features"
FIRST_ALERTS = "first_alerts"


@dataclass(frozen=True)
class Classifier:
    name: str                        # its models folder's usual name and its pin key
    writes: tuple[str, ...]          # classifier_name values of its probability rows
    input: str                       # FEATURES or FIRST_ALERTS
    batch: Callable                  # (input rows, model) -> probability rows
    load: Callable                   # (ModelRef) -> model
    dir_setting: str                 # models.<dir_setting>: its models folder
    default_dir: str
    table: str = "probability"       # the table its rows go to, in that table's layout:
    schema: str = PROBABILITY_SCHEMA
    finish: Callable | None = None   # (staged rows, night=, survey=) -> rows to merge
    optional: bool = False           # without a trained model: skipped with a warning
    surveys: tuple[str, ...] = ("ztf",)   # whose objects it was trained on and classifies

    def models_folder(self, models: Mapping | None):
        return (models or {}).get(self.dir_setting) or self.default_dir

    def pinned_version(self, models: Mapping | None) -> str | None:
        pin = (models or {}).get(self.name)
        return pin.get("version") if isinstance(pin, Mapping) else None

    def resolve(self, models: Mapping | None, root=None) -> ModelRef:
        """Its model as the settings say (pinned version, else ``current``)."""
        return model_ref(self.models_folder(models), self.pinned_version(models), root,
                         hint=f"models.{self.dir_setting}")

    def udf(self, ref: ModelRef):
        """A mapInPandas function: input batches -> probability rows; the model is
        loaded once per worker process (``science.cache``)."""
        return batches_udf(ref, self.load, self.batch)


REGISTRY: tuple[Classifier, ...] = (
    Classifier("lc_classifier", ("lc_classifier_top", "lc_classifier"), FEATURES,
               lc_batch.probabilities, lc_batch.load_model, "lc_dir", "var/models/lc_classifier"),
    Classifier("stamp_classifier", ("stamp_classifier",), FIRST_ALERTS,
               stamp_batch.probabilities, stamp_batch.load_model, "stamp_dir",
               "var/models/stamp_classifier"),
    Classifier("anomaly", (), FEATURES, anomaly_batch.scores, anomaly_batch.load_model,
               "anomaly_dir", "var/models/anomaly", table="anomaly",
               schema=anomaly_batch.SCORE_SCHEMA, finish=anomaly_batch.rank_in_night,
               optional=True),
)


def for_survey(survey: str, registry=None) -> tuple[Classifier, ...]:
    """The entries that classify ``survey``'s objects (the others are skipped for it)."""
    return tuple(e for e in (REGISTRY if registry is None else registry) if survey in e.surveys)


def resolve_models(models: Mapping | None, root=None, registry=None) -> dict[str, ModelRef]:
    """{entry name: its resolved model} for every entry of ``registry`` (default
    ``REGISTRY``); raises ``ModelMissing`` (an optional entry without a model is left
    out, with a warning)."""
    resolved = {}
    for entry in (REGISTRY if registry is None else registry):
        try:
            resolved[entry.name] = entry.resolve(models, root)
        except ModelMissing as missing:
            if not entry.optional:
                raise
            log.warning("%s skipped: %s", entry.name, missing)
    return resolved


__all__ = ["Classifier", "REGISTRY", "FEATURES", "FIRST_ALERTS", "for_survey",
           "resolve_models"]
