"""Model card of the light-curve classifier (markdown)."""
from __future__ import annotations

from ..card import confusion_markdown, json_block, level_summary, write_card
from .model import FILL_VALUE, TAXONOMY


def write_model_card(model, metrics: dict, path):
    header = {
        "classifier_name": model.name,
        "version": model.version,
        "backend": type(model).__name__,
        "trees per model": model.n_estimators,
        "training data sha256": model.training_data_hash_,
        "training rows": getattr(model, "n_train_", "?"),
        "training sources": ", ".join(f"{k}: {v}" for k, v in getattr(model, "training_sources_", {}).items()),
        "features": len(model.feature_names_in_),
    }
    missing = (f"NaN/inf filled with {FILL_VALUE:g} (ALeRCE)" if model.backend == "brf"
               else "NaN kept; xgboost learns the branch of missing values")
    sections = [("Model", f"Hierarchical: top model {list(TAXONOMY)} and one model per top class; "
                 f"P(leaf) = P(top) x P(leaf | top). Missing values: {missing}. "
                 "Classes: " + "; ".join(f"{t}: {', '.join(v)}" for t, v in TAXONOMY.items()) + ".")]
    sim = metrics.get("simulated_test")
    if sim:
        sections.append(("Held-out simulated test set, top level",
                         level_summary(sim["top"]) + "\n\n" + confusion_markdown(sim["top"])))
        sections.append(("Held-out simulated test set, leaf level",
                         level_summary(sim["leaf"]) + "\n\n" + confusion_markdown(sim["leaf"])))
    masked = metrics.get("simulated_test_masked")
    if masked:
        sections.append(("Control: held-out simulated set with the real-unknown features missing",
                         "The features converted real curves cannot carry (non-detections, sgscore1) "
                         "are missing on every real row and on simulated rows so that half of each "
                         "class misses them in training (`train.mask_like_real`). Here they are removed "
                         "from every held-out simulated row: " + level_summary(masked["leaf"])
                         + f" (leaf); other classes called SNIa: {masked['share_SNIa_among_other_classes']:.3f}, "
                         f"called RRL: {masked['share_RRL_among_other_classes']:.3f} (a model reading "
                         "'missing' as 'real curve' would call them SNIa/RRL)."))
    real = metrics.get("real", {})
    if real:
        lines = []
        for key in ("bts_snia_heldout", "s82_rrl_heldout"):
            if key in real:
                lines.append(f"- {key}: " + ", ".join(f"{k} = {v:.3f}" if isinstance(v, float) else f"{k} = {v}"
                                                      for k, v in real[key].items() if k != "leaf_counts")
                             + f"; predicted leaves {real[key].get('leaf_counts')}")
        a = real.get("alerce_100")
        if a:
            lines.append(f"- ALeRCE's own feature vectors of 100 labeled objects (features matched "
                         f"{a['features_matched']}): top: {level_summary(a['top'])}; leaf: {level_summary(a['leaf'])}")
            lines.append("\nLeaf confusion on those 100:\n\n" + confusion_markdown(a["leaf"]))
        sections.append(("Real data", "\n".join(lines)))
    tr = metrics.get("transfer_sim_only")
    if tr:
        sections.append(("Transfer check: simulated-only model on all real light curves",
                         "\n".join(f"- {k}: " + ", ".join(f"{kk} = {vv:.3f}" if isinstance(vv, float) else f"{kk} = {vv}"
                                                       for kk, vv in v.items()) for k, v in tr.items())))
    for extra in ("comparison", "timing_s", "training_rows"):
        if extra in metrics:
            sections.append((extra, json_block(metrics[extra])))
    sections.append(("Feature list", ", ".join(model.feature_names_in_)))
    sections.append(("Limitations", "Trained mostly on simulated light curves (simulator) plus "
                     "the real BTS SN Ia and Stripe 82 RR Lyrae curves at hand (Stripe 82 converted to what "
                     "ZTF difference imaging would report, see science/README.md). Each real set is one "
                     "class from one source, so its held-out share can still profit from traits of that "
                     "source; the transfer check (simulated rows only) is the stricter measure. Retrain "
                     "with `jobs/train_lc.py --labels` on an ALeRCE-format labeled set when one is "
                     "available."))
    return write_card(path, f"Model card: {model.name} {model.version}", header, sections)
