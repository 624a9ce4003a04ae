"""Per-object pages and the nightly report, rendered in headless Chromium: the DOM
Chromium builds holds the key elements (light curve points per detection and upper
limit, three stamps, class table, links between report and pages) and a screenshot of
the expected size is taken."""
from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

pytest_plugins = ["tests.demolake"]

NIGHT = 20181129
pytestmark = pytest.mark.realdata
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]


def chromium(*args) -> subprocess.CompletedProcess:
    if not Path(CHROMIUM).exists():
        pytest.skip("headless Chromium not installed (apt-get install chromium "
                    "chromium-driver; `make ci` does it)")
    return subprocess.run([CHROMIUM, *FLAGS, *args], capture_output=True, text=True,
                          timeout=180, check=True)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def published(demo_lake, tmp_path_factory):
    from lake.publish import publish

    root = tmp_path_factory.mktemp("pages") / "publish"
    config = {**demo_lake, "publish": {"root": str(root)}}
    manifest = publish(config, NIGHT, gate=False)
    return config, manifest, root / "catalog" / manifest["version"]


def test_every_object_of_the_night_has_a_page_linked_from_the_report(published):
    import deltalake
    import pyarrow.compute as pc

    from lake import storage

    config, manifest, folder = published
    alerts = deltalake.DeltaTable(storage.table_uri(config, "alert")).to_pyarrow_table(
        columns=["objectId", "night"])
    tonight = set(alerts.filter(pc.field("night") == NIGHT).column("objectId").to_pylist())
    pages = {p.stem for p in (folder / "objects").glob("*.html")}
    assert pages == tonight and manifest["pages"]["objects"] == len(tonight)
    report = (folder / "report.html").read_text()
    linked = set(re.findall(r"href='objects/([^']+)\.html'", report))
    assert linked and linked <= pages
    # the report leads with the night: new objects, depth and seeing, sky map, classes,
    # data quality, stage timings
    order = [report.index(k) for k in ("id='new-objects'", "id='depth'", "id='skymap'",
                                       "<h2>Classes", "<h2>Data quality", "<h2>Stages")]
    assert order == sorted(order)


def test_object_page_in_chromium(published, tmp_path):
    import deltalake
    import pyarrow.compute as pc

    from lake import storage

    config, manifest, folder = published
    det = deltalake.DeltaTable(storage.table_uri(config, "detection")).to_pyarrow_table(
        columns=["oid", "has_stamp"])
    non = deltalake.DeltaTable(storage.table_uri(config, "non_detection")).to_pyarrow_table(
        columns=["oid"])
    counts = det.group_by("oid").aggregate([("has_stamp", "sum"), ("oid", "count")])
    pages = {p.stem for p in (folder / "objects").glob("*.html")}
    rows = sorted((r for r in counts.to_pylist() if r["oid"] in pages and r["has_stamp_sum"]),
                  key=lambda r: (-r["oid_count"], r["oid"]))
    oid = rows[0]["oid"]
    page = folder / "objects" / f"{oid}.html"
    dom = chromium("--dump-dom", page.as_uri()).stdout
    assert f"<h1 id=\"oid\">{oid}</h1>" in dom
    assert dom.count('class="detection"') == rows[0]["oid_count"]
    assert dom.count('class="upper-limit"') == non.filter(pc.field("oid") == oid).num_rows
    stamps = re.findall(r'<img class="stamp" alt="(\w+)" src="data:image/png;base64,', dom)
    assert stamps == ["science", "template", "difference"]
    probability = deltalake.DeltaTable(storage.table_uri(config, "probability")) \
        .to_pyarrow_table().filter(pc.field("oid") == oid)
    start = dom.index('id="classes"')
    classes = dom[start:dom.index("</div>", start)]
    assert classes.count("<tr>") == probability.num_rows + 1
    assert 'href="../report.html"' in dom
    shot = tmp_path / "object.png"
    chromium("--window-size=1200,1600", f"--screenshot={shot}", page.as_uri())
    assert png_size(shot) == (1200, 1600) and shot.stat().st_size > 20_000


def test_report_in_chromium(published, tmp_path):
    config, manifest, folder = published
    report = folder / "report.html"
    dom = chromium("--dump-dom", report.as_uri()).stdout
    assert f"<h1>Night {NIGHT}</h1>" in dom and 'id="skymap"' in dom
    assert re.search(r'<h3 id="new-objects">\d+ new objects</h3>', dom)
    # stage timings are real (seconds of work, not a 0.0001 placeholder)
    seconds = [float(s) for s in re.findall(r"<td>(\d+\.\d)</td><td>0\.1\.0", dom)]
    assert seconds and all(s > 0 for s in seconds)
    shot = tmp_path / "report.png"
    chromium("--window-size=1200,2400", f"--screenshot={shot}", report.as_uri())
    assert png_size(shot) == (1200, 2400) and shot.stat().st_size > 50_000
