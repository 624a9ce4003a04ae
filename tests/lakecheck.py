"""Independent checks for the tests: read alerts with plain fastavro, read tables with
delta-rs. Deliberately shares no code with the pipeline."""
from __future__ import annotations

import glob
import io
import os
import tarfile

import deltalake
import fastavro
import pandas as pd


def alert_files(path: str) -> list[tuple[str, bytes]]:
    """(name, bytes) of every file in a tarball or folder."""
    if path.endswith(".tar.gz"):
        with tarfile.open(path) as archive:
            return [(os.path.basename(m.name), archive.extractfile(m).read())
                    for m in archive if m.isfile()]
    return [(os.path.basename(p), open(p, "rb").read())
            for p in sorted(glob.glob(os.path.join(path, "**", "*"), recursive=True))
            if os.path.isfile(p)]


def fastavro_counts(path: str) -> dict:
    """Alerts, unique detections (candid, oid) and non-detections (oid, fid, mjd)."""
    alerts, bad, detections, limits, candids = 0, 0, set(), set(), set()
    for _, data in alert_files(path):
        try:
            records = list(fastavro.reader(io.BytesIO(data)))
        except Exception:
            bad += 1
            continue
        for record in records:
            alerts += 1
            oid = record["objectId"]
            candids.add(record["candidate"]["candid"])
            detections.add((record["candidate"]["candid"], oid))
            for entry in record.get("prv_candidates") or []:
                if entry.get("candid") is None:
                    limits.add((oid, entry["fid"], round(entry["jd"] - 2400000.5, 9)))
                else:
                    detections.add((entry["candid"], oid))
    # Some real sets hold the same alert twice (same candid in two files).
    return {"alerts": alerts, "unique_alerts": len(candids), "corrupt": bad, "detections": len(detections),
            "non_detections": len(limits)}


def table(root, name: str, drop=("ingest_run_id",)) -> pd.DataFrame:
    """A Delta table as a DataFrame sorted by its key (then by every sortable column)."""
    from lake.tables import TABLES

    frame = deltalake.DeltaTable(os.path.join(str(root), name)).to_pandas()
    frame = frame.drop(columns=[c for c in drop if c in frame.columns])
    frame = frame[sorted(frame.columns)]
    sortable = [c for c in frame.columns if frame[c].dtype != object
                or frame[c].map(lambda v: isinstance(v, str) or v is None).all()]
    keys = [k for k in TABLES[name].keys if k in sortable] if name in TABLES else []
    order = keys + [c for c in sortable if c not in keys]
    return frame.sort_values(order, na_position="first").reset_index(drop=True)


def assert_same_tables(root_a, root_b, names) -> None:
    for name in names:
        exists = [os.path.isdir(os.path.join(str(r), name, "_delta_log")) for r in (root_a, root_b)]
        assert exists[0] == exists[1], f"{name} exists in only one lake"
        if not exists[0]:
            continue
        a, b = table(root_a, name), table(root_b, name)
        assert list(a.columns) == list(b.columns), name
        pd.testing.assert_frame_equal(a, b, check_dtype=False, obj=name)


def uncommitted_files(root, names) -> dict[str, list[str]]:
    """Data files in each table's folder that no version of the table holds (every
    version's file list, read with delta-rs)."""
    found = {}
    for name in names:
        path = os.path.join(str(root), name)
        if not os.path.isdir(os.path.join(path, "_delta_log")):
            continue
        latest = deltalake.DeltaTable(path)
        held = set()
        for version in range(latest.version() + 1):
            try:
                held.update(os.path.relpath(uri, path) for uri in
                            deltalake.DeltaTable(path, version=version).file_uris())
            except Exception:      # a version folded into a checkpoint and cleaned up
                continue
        on_disk = {os.path.relpath(p, path) for p in glob.glob(os.path.join(path, "**", "*.parquet"),
                                                               recursive=True)
                   if "_delta_log" not in p}
        if on_disk - held:
            found[name] = sorted(on_disk - held)
    return found
