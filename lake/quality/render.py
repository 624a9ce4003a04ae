"""Readable renderings of a validation result: markdown (console, logs) and HTML."""
from __future__ import annotations

import html as _html
import json


def _cell(value, limit: int = 80) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _what(row: dict) -> str:
    kwargs = json.loads(row["kwargs"]) if row.get("kwargs") else {}
    kwargs.pop("column", None)
    kwargs.pop("meta", None)
    return ", ".join(f"{k}={v}" for k, v in sorted(kwargs.items()))


def _found(row: dict) -> str:
    if row.get("error"):
        return "error: " + row["error"]
    if row.get("unexpected_count"):
        sample = row.get("unexpected_sample") or ""
        return f"{row['unexpected_count']} of {row.get('element_count')} rows, e.g. {sample}"
    return f"observed {row.get('observed')}" if row.get("observed") is not None else ""


def markdown(result) -> str:
    s = result.summary()
    status = "PASSED" if s["success"] else "FAILED: publication blocked"
    lines = [f"# Data quality, night {s['night']}: {status}", "",
             f"validation `{s['validation_id']}`: {s['expectations']} expectations, "
             f"{s['failed']} failed, {s['warnings']} warnings", "",
             "| table | expectations | failed | warnings | Delta version |",
             "|---|---:|---:|---:|---:|"]
    for table, t in sorted(s["tables"].items()):
        lines.append(f"| {table} | {t['expectations']} | {t['failed']} | {t['warnings']} | "
                     f"{s['versions'].get(table, '-')} |")
    bad = [r for r in result.rows if not r["success"]]
    if bad:
        lines += ["", "## Failed expectations", "",
                  "| severity | check | expectation | column | rule | found |",
                  "|---|---|---|---|---|---|"]
        for r in bad:
            lines.append(f"| {r['severity']} | {r['check_name']} | {r['expectation']} | "
                         f"{r['column_name'] or ''} | {_cell(_what(r))} | "
                         f"{_cell(_found(r), 120)} |".replace("\n", " "))
    if s["notes"]:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in s["notes"]]
    return "\n".join(lines) + "\n"


def html_fragment(result) -> str:
    """The result as an HTML fragment (embedded in the nightly report)."""
    e = _html.escape
    s = result.summary()
    color = "#1a7f37" if s["success"] else "#cf222e"
    out = [f"<p style='color:{color};font-weight:bold'>"
           f"{'PASSED' if s['success'] else 'FAILED: publication blocked'}"
           f" &mdash; {s['expectations']} expectations, {s['failed']} failed, "
           f"{s['warnings']} warnings (validation <code>{e(s['validation_id'])}</code>)</p>",
           "<table><tr><th>table</th><th>expectations</th><th>failed</th><th>warnings</th>"
           "<th>Delta version</th></tr>"]
    for table, t in sorted(s["tables"].items()):
        style = " style='background:#ffebe9'" if t["failed"] else ""
        out.append(f"<tr{style}><td>{e(table)}</td><td>{t['expectations']}</td>"
                   f"<td>{t['failed']}</td><td>{t['warnings']}</td>"
                   f"<td>{s['versions'].get(table, '-')}</td></tr>")
    out.append("</table>")
    bad = [r for r in result.rows if not r["success"]]
    if bad:
        out.append("<h3>Failed expectations</h3><table><tr><th>severity</th><th>check</th>"
                   "<th>expectation</th><th>column</th><th>rule</th><th>found</th></tr>")
        for r in bad:
            out.append("<tr>" + "".join(f"<td>{e(_cell(v, 200))}</td>" for v in (
                r["severity"], r["check_name"], r["expectation"], r["column_name"] or "",
                _what(r), _found(r))) + "</tr>")
        out.append("</table>")
    if s["notes"]:
        out.append("<ul>" + "".join(f"<li>{e(n)}</li>" for n in s["notes"]) + "</ul>")
    return "\n".join(out)


STYLE = ("body{font-family:sans-serif;margin:2em;max-width:1200px}"
         "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
         "padding:3px 8px;font-size:13px;text-align:left}th{background:#f4f4f4}")


def html(result) -> str:
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Data quality "
            f"{result.night}</title><style>{STYLE}</style></head><body>"
            f"<h1>Data quality, night {result.night}</h1>{html_fragment(result)}</body></html>")
