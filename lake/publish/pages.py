"""Static HTML pages, one per object alerted tonight, published with the night
(``catalog/<version>/objects/<oid>.html``) and linked from the nightly report.

A page holds the object's light curve per band (detections with error bars, upper
limits as open triangles, forced photometry as squares when the lake has it), its three
stamps (science, template, difference of its latest alert with stamps), class
probabilities of every classifier, and its features and statistics.

Plots are inline SVG written here rather than matplotlib figures: a night publishes
pages for every object it touched (1e4 and more), and a matplotlib figure costs tens of
milliseconds to draw, a few SVG elements microseconds; stamps are small PNGs
(``matplotlib.image.imsave``, no figure).
"""
from __future__ import annotations

import base64
import html
import io
import math
from collections import defaultdict

import numpy as np
import pyarrow.compute as pc

from lake import surveys

BAND_COLORS = {"u": "#1f77b4", "g": "#2ca02c", "r": "#d62728", "i": "#7f7f7f",
               "z": "#9467bd", "y": "#8c564b"}
STAMPS = ("cutoutScience", "cutoutTemplate", "cutoutDifference")
PAGE_STYLE = """body{font-family:system-ui,sans-serif;margin:1.5em;max-width:1100px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:2px 6px}
.stamps img{width:190px;height:190px;image-rendering:pixelated;margin-right:8px}
.band{font-weight:bold}"""
WIDTH, HEIGHT, PAD = 760, 320, 48


def page_path(oid: str) -> str:
    """Where an object's page goes, relative to the version's folder."""
    return f"objects/{oid}.html"


def _by_oid(table, oids) -> dict:
    out = defaultdict(list)
    if table is None:
        return out
    for row in table.to_table(filter=pc.field("oid").isin(list(oids))).to_pylist():
        out[row["oid"]].append(row)
    return out


def lightcurve_svg(detections: list[dict], limits: list[dict], forced: list[dict],
                   bands: dict) -> str:
    """Magnitude against MJD, brighter up, one colour per band."""
    points = [(r["mjd"], r["magpsf"]) for r in detections if _ok(r.get("magpsf"))]
    points += [(r["mjd"], r["diffmaglim"]) for r in limits if _ok(r.get("diffmaglim"))]
    points += [(r["mjd"], r["mag"]) for r in forced if _ok(r.get("mag"))]
    if not points:
        return "<p>No photometry.</p>"
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1 = min(xs) - 0.5, max(xs) + 0.5
    y0, y1 = min(ys) - 0.3, max(ys) + 0.3

    def X(x):
        return PAD + (x - x0) / (x1 - x0) * (WIDTH - 2 * PAD)

    def Y(y):   # magnitudes: brighter (smaller) at the top
        return PAD / 2 + (y - y0) / (y1 - y0) * (HEIGHT - 1.5 * PAD)

    parts = [f"<svg id='lightcurve' xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' "
             f"height='{HEIGHT}' font-size='11'>",
             f"<rect x='{PAD}' y='{PAD / 2}' width='{WIDTH - 2 * PAD}' "
             f"height='{HEIGHT - 1.5 * PAD}' fill='none' stroke='#999'/>"]
    for tick in _ticks(x0, x1):
        parts.append(f"<text x='{X(tick):.1f}' y='{HEIGHT - PAD / 2 + 4}' "
                     f"text-anchor='middle'>{tick:g}</text>")
    for tick in _ticks(y0, y1):
        parts.append(f"<text x='{PAD - 4}' y='{Y(tick) + 4:.1f}' text-anchor='end'>"
                     f"{tick:g}</text>")
    parts.append(f"<text x='{WIDTH / 2}' y='{HEIGHT - 4}' text-anchor='middle'>MJD</text>"
                 f"<text x='12' y='{HEIGHT / 2}' transform='rotate(-90 12 {HEIGHT / 2})' "
                 "text-anchor='middle'>magnitude</text>")
    for fid, band in bands.items():
        color = BAND_COLORS.get(band, "#000")
        for r in detections:
            if r["fid"] == fid and _ok(r.get("magpsf")):
                x, y, e = X(r["mjd"]), Y(r["magpsf"]), r.get("sigmapsf") or 0
                parts.append(f"<line x1='{x:.1f}' x2='{x:.1f}' y1='{Y(r['magpsf'] - e):.1f}' "
                             f"y2='{Y(r['magpsf'] + e):.1f}' stroke='{color}'/>"
                             f"<circle class='detection' cx='{x:.1f}' cy='{y:.1f}' r='3.5' "
                             f"fill='{color}'><title>{band} {r['mjd']:.4f}: "
                             f"{r['magpsf']:.2f}</title></circle>")
        for r in limits:
            if r["fid"] == fid and _ok(r.get("diffmaglim")):
                x, y = X(r["mjd"]), Y(r["diffmaglim"])
                parts.append(f"<path class='upper-limit' d='M{x - 4:.1f},{y - 3:.1f} "
                             f"L{x + 4:.1f},{y - 3:.1f} L{x:.1f},{y + 4:.1f} Z' fill='none' "
                             f"stroke='{color}' opacity='0.6'/>")
        for r in forced:
            if r["fid"] == fid and _ok(r.get("mag")):
                x, y = X(r["mjd"]), Y(r["mag"])
                parts.append(f"<rect class='forced' x='{x - 3:.1f}' y='{y - 3:.1f}' "
                             f"width='6' height='6' fill='none' stroke='{color}'/>")
    legend = [f"<tspan class='band' fill='{BAND_COLORS.get(b, '#000')}'>{b} </tspan>"
              for b in bands.values()]
    parts.append(f"<text x='{PAD + 6}' y='{PAD / 2 + 14}'>{''.join(legend)}"
                 "● detection ▽ upper limit □ forced</text></svg>")
    return "".join(parts)


def _ok(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _ticks(lo: float, hi: float, n: int = 6) -> list[float]:
    """Round tick values, at most ~n of them (no overlapping labels).

    >>> _ticks(58400.2, 58431.9)
    [58410, 58420, 58430]
    """
    raw = (hi - lo) / n
    step = 10 ** math.floor(math.log10(raw))
    step = next(s * step for s in (1, 2, 5, 10) if s * step >= raw)
    first = math.ceil(lo / step) * step
    return [round(first + i * step, 6) for i in range(int((hi - first) / step) + 1)]


def stamp_png(blob) -> str | None:
    """A stamp (gzipped FITS) as a data-URI PNG, scaled between its 1st and 99.5th
    percentiles; None when it cannot be read."""
    from lake.publish.report import _stamp

    image = _stamp(blob) if blob else None
    if image is None:
        return None
    from matplotlib.image import imsave

    lo, hi = np.percentile(image, [1, 99.5])
    buffer = io.BytesIO()
    imsave(buffer, np.clip(image, lo, hi), cmap="gray", origin="lower", format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _table(rows: list[tuple], header: tuple) -> str:
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>"
                   for row in rows)
    return ("<table><tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr>" + body
            + "</table>")


def _fmt(value) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return "" if value is None else str(value)


def object_pages(config: dict, night: int, oids, datasets: dict) -> dict[str, str]:
    """HTML of the page of each object in ``oids``; ``datasets``: pyarrow datasets of the
    lake tables at the published versions (missing ones are left out of the pages)."""
    oids = sorted(set(oids))
    if not oids:
        return {}
    survey = surveys.of(config)
    bands = survey.bands
    objects = {r["oid"]: r for rows in _by_oid(datasets.get("object"), oids).values()
               for r in rows}
    detections = _by_oid(datasets.get("detection"), oids)
    limits = _by_oid(datasets.get("non_detection"), oids)
    forced = _forced(_by_oid(datasets.get("forced_photometry"), oids))
    probabilities = _by_oid(datasets.get("probability"), oids)
    features = {r["oid"]: r for rows in _by_oid(datasets.get("feature"), oids).values()
                for r in rows}
    latest_stamped = {}
    for oid in oids:
        stamped = [r for r in detections.get(oid, []) if r.get("has_stamp")]
        if stamped:
            latest_stamped[oid] = max(stamped, key=lambda r: r["mjd"])["candid"]
    cutouts = {}
    if datasets.get("cutout") is not None and latest_stamped:   # one scan for the night
        for row in datasets["cutout"].to_table(
                columns=["candid", *STAMPS],
                filter=pc.field("candid").isin(list(latest_stamped.values()))).to_pylist():
            cutouts[row["candid"]] = row
    pages = {}
    for oid in oids:
        dets = sorted(detections.get(oid, []), key=lambda r: r["mjd"])
        stamps = ""
        if oid in latest_stamped:
            candid = latest_stamped[oid]
            row = [cutouts[candid]] if candid in cutouts else []
            cells = []
            for kind in STAMPS:
                uri = stamp_png(row[0].get(kind)) if row else None
                label = kind.replace("cutout", "").lower()
                cells.append(f"<figure><img class='stamp' alt='{label}' src='{uri}'/>"
                             f"<figcaption>{label}</figcaption></figure>" if uri else
                             f"<figure><figcaption>{label}: unreadable</figcaption></figure>")
            stamps = (f"<h2>Stamps (candid {candid})</h2><div class='stamps' "
                      f"style='display:flex'>{''.join(cells)}</div>")
        probs = sorted(probabilities.get(oid, []),
                       key=lambda r: (r["classifier_name"], r["ranking"]))
        classes = (_table([(r["classifier_name"], r["classifier_version"], r["ranking"],
                            r["class_name"], r["probability"]) for r in probs],
                          ("classifier", "version", "rank", "class", "probability"))
                   if probs else "<p>Not classified.</p>")
        feats = features.get(oid, {})
        feature_rows = [(k, v) for k, v in sorted(feats.items())
                        if k != "oid" and isinstance(v, (int, float)) and _ok(v)]
        obj = objects.get(oid, {})
        summary = _table([(k, v) for k, v in obj.items() if k != "oid"], ("field", "value"))
        pages[oid] = (
            f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(oid)}"
            f"</title><style>{PAGE_STYLE}</style></head><body>"
            f"<p><a href='../report.html'>night {night}</a></p><h1 id='oid'>{html.escape(oid)}</h1>"
            f"<p>{len(dets)} detections, {len(limits.get(oid, []))} upper limits, "
            f"{len(forced.get(oid, []))} forced-photometry points</p>"
            f"<h2>Light curve</h2>{lightcurve_svg(dets, limits.get(oid, []), forced.get(oid, []), bands)}"
            f"{stamps}<h2>Classes</h2><div id='classes'>{classes}</div>"
            f"<h2>Object</h2>{summary}"
            f"<h2>Features</h2><div id='features'>"
            f"{_table(feature_rows, ('feature', 'value')) if feature_rows else '<p>No features.</p>'}"
            "</div></body></html>")
    return pages


def _forced(rows_by_oid: dict) -> dict:
    """Forced photometry as magnitudes where the flux is positive (ZTF: zero point
    ``magzpsci``, flux ``forcediffimflux``); other rows are left out of the plot."""
    out = {}
    for oid, rows in rows_by_oid.items():
        points = []
        for r in rows:
            flux, zp = r.get("forcediffimflux"), r.get("magzpsci")
            if _ok(flux) and _ok(zp) and flux > 0 and _ok(r.get("mjd")):
                points.append({"mjd": r["mjd"], "fid": r.get("fid"),
                               "mag": zp - 2.5 * math.log10(flux)})
        out[oid] = points
    return out
