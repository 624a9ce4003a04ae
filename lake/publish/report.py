"""The nightly report: one self-contained HTML page per night (plots as base64 PNG).

Sections, most urgent first: tonight's new objects (linked to their pages,
``lake.publish.pages``), depth and seeing per band and a sky map of the alerts; class
counts; the data-quality results; what each stage read and wrote and how long it took
(run table); quarantined inputs; example light curves with their stamps. Published with the night
(``catalog/<version>/report.html``).
"""
from __future__ import annotations

import base64
import gzip
import html
import io
import json
import logging

import deltalake
import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.dataset as pads

from lake import storage, surveys
from lake.quality.render import STYLE, html_fragment

log = logging.getLogger(__name__)

# Plot colour of each band letter (the survey maps its band ids to letters).
BAND_COLORS = {"u": "#1f77b4", "g": "#2ca02c", "r": "#d62728", "i": "#7f7f7f",
               "z": "#9467bd", "y": "#8c564b"}
EXAMPLES = 3


def _table(config, name, version=None):
    uri = storage.table_uri(config, name)
    options = storage.delta_storage_options(config)
    if not deltalake.DeltaTable.is_deltatable(uri, options):
        return None
    return deltalake.DeltaTable(uri, version=version, storage_options=options)


def _dataset(config, name, versions) -> pads.Dataset | None:
    table = _table(config, name, versions.get(name))
    return None if table is None else table.to_pyarrow_dataset()


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return ("<img alt='plot' src='data:image/png;base64,"
            + base64.b64encode(buffer.getvalue()).decode() + "'/>")


def _figure(width=6.0, height=3.2):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def runs_section(config, night, versions) -> str:
    ds = _dataset(config, "run", versions)
    if ds is None:
        return "<p>No run table.</p>"
    runs = ds.to_table(filter=pc.field("night") == night).to_pandas()
    if runs.empty:
        return "<p>No runs recorded for this night.</p>"
    runs = runs.sort_values("started_at")
    fig, ax = _figure()
    labels = [f"{r.stage}\n{r.started_at:%H:%M}" for r in runs.itertuples()]
    x = np.arange(len(runs))
    ax.bar(x - 0.27, runs["rows_in"], 0.27, label="rows in (files / objects)")
    ax.bar(x, runs["rows_out"], 0.27, label="rows out (alerts / objects)")
    ax.bar(x + 0.27, runs["quarantined"], 0.27, label="quarantined")
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel("count")
    ax.set_title(f"runs of night {night}")
    ax.legend(fontsize=8)
    rows = "".join(
        f"<tr><td>{html.escape(r.run_id)}</td><td>{r.stage}</td><td>{r.status}</td>"
        f"<td>{r.rows_in}</td><td>{r.rows_out}</td><td>{r.quarantined}</td>"
        f"<td>{r.duration_s:.1f}</td><td>{html.escape(str(r.code_version))}</td></tr>"
        for r in runs.itertuples())
    return (_png(fig) + "<table><tr><th>run</th><th>stage</th><th>status</th><th>in</th>"
            "<th>out</th><th>quarantined</th><th>seconds</th><th>code</th></tr>"
            + rows + "</table>")


def quarantine_section(config, night, versions) -> str:
    ds = _dataset(config, "quarantine", versions)
    if ds is None:
        return "<p>No quarantine table.</p>"
    q = ds.to_table(columns=["member", "error_class", "error_message", "size_bytes"],
                    filter=pc.field("night") == night).to_pandas()
    if q.empty:
        return "<p>No input was quarantined this night.</p>"
    counts = q["error_class"].value_counts()
    fig, ax = _figure(5, 0.4 + 0.35 * len(counts))
    ax.barh(counts.index[::-1], counts.values[::-1], color="#cf222e")
    ax.set_xlabel("files")
    ax.set_title(f"{len(q)} quarantined input files by error")
    sample = "".join(f"<tr><td>{html.escape(str(r.member))}</td><td>{r.error_class}</td>"
                     f"<td>{html.escape(str(r.error_message)[:160])}</td></tr>"
                     for r in q.head(10).itertuples())
    return (_png(fig) + "<table><tr><th>member</th><th>error</th><th>message</th></tr>"
            + sample + "</table>")


def _night_oids(config, night, versions) -> pd.Series:
    ds = _dataset(config, "alert", versions)
    if ds is None:
        return pd.Series([], dtype=object)
    object_id = surveys.of(config).object_id
    return ds.to_table(columns=[object_id], filter=pc.field("night") == night) \
        .to_pandas()[object_id].drop_duplicates()


def class_section(config, night, versions, oids) -> tuple[str, pd.DataFrame | None]:
    ds = _dataset(config, "probability", versions)
    if ds is None:
        return "<p>No probability table yet (classifiers not run).</p>", None
    p = ds.to_table(filter=pc.field("ranking") == 1).to_pandas()
    p = p[p["oid"].isin(set(oids))]
    if p.empty:
        return "<p>No classifications for the objects of this night.</p>", None
    parts = []
    for name, group in p.groupby("classifier_name"):
        counts = group["class_name"].value_counts().sort_index()
        fig, ax = _figure(6, 0.5 + 0.3 * len(counts))
        ax.barh(counts.index[::-1], counts.values[::-1])
        ax.set_xlabel("objects (most probable class)")
        ax.set_title(f"{name}: {len(group)} objects of night {night}")
        parts.append(_png(fig))
    return "".join(parts), p


def _stamp(blob) -> np.ndarray | None:
    try:
        from astropy.io import fits

        data = gzip.decompress(blob) if blob[:2] == b"\x1f\x8b" else blob
        with fits.open(io.BytesIO(data)) as hdul:
            return np.nan_to_num(np.asarray(hdul[0].data, dtype=float))
    except Exception:
        return None


def examples_section(config, night, versions, oids, best) -> str:
    det = _dataset(config, "detection", versions)
    if det is None or oids.empty:
        return "<p>No detections.</p>"
    dets = det.to_table(columns=["oid", "candid", "mjd", "fid", "magpsf", "sigmapsf",
                                 "has_stamp"],
                        filter=pc.field("oid").isin(list(oids))).to_pandas()
    chosen = dets.groupby("oid").size().sort_values(ascending=False, kind="stable") \
        .head(EXAMPLES).index.tolist()
    non = _dataset(config, "non_detection", versions)
    nondets = (non.to_table(columns=["oid", "mjd", "fid", "diffmaglim"],
                            filter=pc.field("oid").isin(chosen)).to_pandas()
               if non is not None else pd.DataFrame(columns=["oid", "mjd", "fid", "diffmaglim"]))
    cut = _dataset(config, "cutout", versions)
    parts = []
    import matplotlib.pyplot as plt

    for oid in chosen:
        d = dets[dets["oid"] == oid].sort_values("mjd")
        n = nondets[nondets["oid"] == oid]
        fig = plt.figure(figsize=(10, 3))
        grid = fig.add_gridspec(1, 5)
        ax = fig.add_subplot(grid[0, :2])
        for fid, band in surveys.of(config).bands.items():
            color = BAND_COLORS.get(band, "#000000")
            b = d[d["fid"] == fid]
            if len(b):
                ax.errorbar(b["mjd"], b["magpsf"], b["sigmapsf"], fmt="o", color=color,
                            ms=4, label=band)
            u = n[n["fid"] == fid]
            if len(u):
                ax.plot(u["mjd"], u["diffmaglim"], "v", color=color, alpha=0.35, ms=4)
        ax.invert_yaxis()
        ax.set_xlabel("MJD")
        ax.set_ylabel("magpsf")
        title = oid
        if best is not None:
            mine = best[best["oid"] == oid]
            if len(mine):
                title += " | " + ", ".join(f"{r.class_name} ({r.probability:.2f})"
                                           for r in mine.itertuples())
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
        stamps = d[d["has_stamp"].fillna(False)]
        if cut is not None and len(stamps):
            candid = int(stamps["candid"].iloc[-1])
            row = cut.to_table(filter=pc.field("candid") == candid).to_pylist()
            for i, kind in enumerate(("cutoutScience", "cutoutTemplate", "cutoutDifference")):
                image = _stamp(row[0][kind]) if row and row[0].get(kind) else None
                sub = fig.add_subplot(grid[0, 2 + i])
                sub.set_axis_off()
                if image is not None:
                    lo, hi = np.percentile(image, [1, 99.5])
                    sub.imshow(image, cmap="gray", origin="lower", vmin=lo, vmax=hi)
                sub.set_title(kind.replace("cutout", "").lower(), fontsize=8)
        parts.append(_png(fig))
    return "".join(parts)


REPORT_TABLES = ("alert", "cutout", "quarantine", "run", "detection", "non_detection",
                 "probability", "object", "feature", "forced_photometry")


def _versions(config, versions):
    from lake.quality.runner import table_versions

    return {**table_versions(config, REPORT_TABLES), **versions}


def night_pages(config: dict, night: int, versions: dict[str, int]) -> dict[str, str]:
    """The pages (``lake.publish.pages``) of the objects alerted in ``night``."""
    from lake.publish.pages import object_pages

    versions = _versions(config, versions)
    datasets = {name: ds for name in REPORT_TABLES
                if (ds := _dataset(config, name, versions)) is not None}
    return object_pages(config, night, _night_oids(config, night, versions), datasets)


def night_section(config, night, versions, oids, pages: bool) -> str:
    """What the night shift reads first: new objects (linked to their pages), the
    night's depth and seeing per band, and a sky map of its alerts."""
    from lake.publish.pages import page_path

    det = _dataset(config, "detection", versions)
    if det is None or oids.empty:
        return "<p>No detections this night.</p>"
    columns = [c for c in ("oid", "night", "fid", "diffmaglim", "fwhm", "ra", "dec")
               if c in det.schema.names]
    rows = det.to_table(columns=columns, filter=pc.field("oid").isin(list(oids))).to_pandas()
    first = rows.groupby("oid")["night"].min()
    new = sorted(first[first == night].index)
    tonight = rows[rows["night"] == night]
    bands = surveys.of(config).bands

    def link(oid):
        name = html.escape(oid)
        return f"<a class='object' href='{page_path(oid)}'>{name}</a>" if pages else name

    shown = new[:200]
    parts = [f"<h3 id='new-objects'>{len(new)} new objects</h3>"
             f"<p>{', '.join(link(o) for o in shown)}"
             f"{' ...' if len(new) > len(shown) else ''}</p>"]
    stats = []
    for fid, band in bands.items():
        b = tonight[tonight["fid"] == fid]
        if len(b):
            seeing = b["fwhm"].median() if "fwhm" in b else float("nan")
            stats.append(f"<tr><td>{band}</td><td>{len(b)}</td>"
                         f"<td>{b['diffmaglim'].median():.2f}</td><td>{seeing:.2f}</td></tr>")
    parts.append("<table id='depth'><tr><th>band</th><th>detections</th><th>median depth "
                 "(diffmaglim, mag)</th><th>median seeing (FWHM, px)</th></tr>"
                 + "".join(stats) + "</table>")
    if len(tonight) and "ra" in tonight:
        fig, ax = _figure(7, 3.5)
        for fid, band in bands.items():
            b = tonight[tonight["fid"] == fid]
            if len(b):
                ax.scatter(b["ra"], b["dec"], s=4, color=BAND_COLORS.get(band, "#000"),
                           label=band)
        ax.set_xlim(360, 0)
        ax.set_xlabel("RA (deg)")
        ax.set_ylabel("Dec (deg)")
        ax.set_title(f"sky map: {len(tonight)} detections of night {night}")
        ax.legend(fontsize=7, markerscale=3)
        parts.append(_png(fig).replace("alt='plot'", "alt='sky map' id='skymap'"))
    if pages:
        parts.append(f"<p>Pages of all {len(oids)} objects alerted tonight: "
                     f"<code>objects/&lt;oid&gt;.html</code>, e.g. "
                     + ", ".join(link(o) for o in sorted(oids)[:5]) + "</p>")
    return "".join(parts)


def nightly_report(config: dict, night: int, versions: dict[str, int], validation=None,
                   tables: dict | None = None, pages: bool = False) -> str:
    """The report of ``night`` from the lake's tables at ``versions`` (HTML text);
    ``pages``: link the objects' pages (published beside it)."""
    versions = _versions(config, versions)
    oids = _night_oids(config, night, versions)
    classes, best = class_section(config, night, versions, oids)
    sections = [
        ("Tonight", night_section(config, night, versions, oids, pages)),
        ("Classes", classes),
        ("Data quality", html_fragment(validation) if validation is not None
         else "<p>Published without a data-quality gate.</p>"),
        ("Stages", runs_section(config, night, versions)),
        ("Quarantined inputs", quarantine_section(config, night, versions)),
        ("Example light curves and stamps", examples_section(config, night, versions, oids,
                                                              best)),
    ]
    if tables:
        rows = "".join(f"<tr><td>{name}</td><td>{t['rows']}</td><td>{len(t['files'])}</td>"
                       f"<td>{html.escape(json.dumps(t['sources']))}</td></tr>"
                       for name, t in tables.items())
        sections.append(("Published tables", "<table><tr><th>table</th><th>rows</th>"
                         "<th>files</th><th>Delta versions</th></tr>" + rows + "</table>"))
    body = "".join(f"<h2>{title}</h2>{content}" for title, content in sections)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Night {night}</title>"
            f"<style>{STYLE}</style></head><body><h1>Night {night}</h1>"
            f"<p>{len(oids)} objects alerted.</p>{body}</body></html>")
