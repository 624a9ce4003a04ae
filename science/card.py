"""Markdown model cards shared by both classifiers.

>>> m = {"simulated_test": {"top": {"labels": ["A", "B"], "confusion": [[3, 1], [0, 4]], "n": 8,
...      "macro_precision": 0.9, "macro_recall": 0.875, "macro_f1": 0.87, "accuracy": 0.875}}}
>>> print(confusion_markdown(m["simulated_test"]["top"]))
| true \\ predicted | A | B |
|---|---|---|
| A | 3 | 1 |
| B | 0 | 4 |
"""
from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path


def confusion_markdown(level: dict) -> str:
    labels = level["labels"]
    lines = ["| true \\ predicted | " + " | ".join(labels) + " |",
             "|---" * (len(labels) + 1) + "|"]
    for name, row in zip(labels, level["confusion"]):
        lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines)


def level_summary(level: dict) -> str:
    return (f"n = {level['n']}, macro precision {level['macro_precision']:.3f}, "
            f"macro recall {level['macro_recall']:.3f}, macro F1 {level['macro_f1']:.3f}, "
            f"accuracy {level['accuracy']:.3f}")


def write_card(path, title: str, header: dict, sections: list[tuple[str, str]]) -> Path:
    """Write a markdown card: a title, a key/value table, then (heading, body) sections."""
    lines = [f"# {title}", "", "| field | value |", "|---|---|"]
    for k, v in header.items():
        lines.append(f"| {k} | {v} |")
    lines.append(f"| written | {_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} |")
    for heading, body in sections:
        lines += ["", f"## {heading}", "", body.rstrip()]
    path = Path(path)
    path.write_text("\n".join(lines) + "\n")
    return path


def json_block(obj) -> str:
    return "```json\n" + json.dumps(obj, indent=1, default=str) + "\n```"
