"""Per-process model cache: each worker process loads a model once and keeps it.

Keyed by the model's version folder and the sha256 of its manifest (``ModelRef``), so
another version, or the same folder retrained, is a different entry; an entry of the same
folder with another checksum is dropped when the new one is loaded. Never keyed by
modification time: a touched file is not a new model.
"""
from __future__ import annotations

import threading

from .artifacts import ModelRef, model_ref

_CACHE: dict = {}
_LOCK = threading.Lock()


def load_cached(ref: ModelRef, loader):
    """``loader(ref)``, called once per process for each ``ref``."""
    key = (ref.folder, ref.manifest_sha256)
    model = _CACHE.get(key)
    if model is None:
        with _LOCK:
            model = _CACHE.get(key)
            if model is None:
                model = loader(ref)
                for old in [k for k in _CACHE if k[0] == ref.folder]:
                    del _CACHE[old]
                _CACHE[key] = model
    return model


def as_ref(model, hint: str) -> ModelRef:
    """A resolved ``ModelRef`` as it is; a version folder or a models folder (with its
    ``current`` pointer) resolved on the caller's side (the driver)."""
    return model if isinstance(model, ModelRef) else model_ref(model, hint=hint)


def batches_udf(ref: ModelRef, loader, batch):
    """A mapInPandas function: input batches -> ``batch(pdf, model)``, the model loaded
    once per worker process with its first batch."""
    def run(batches):
        model = None
        for pdf in batches:
            if model is None:
                model = load_cached(ref, loader)
            yield batch(pdf, model)
    return run


def clear_cache() -> None:
    with _LOCK:
        _CACHE.clear()


__all__ = ["as_ref", "batches_udf", "load_cached", "clear_cache"]
