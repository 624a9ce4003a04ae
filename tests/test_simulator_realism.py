"""Realism: simulated alerts against real ZTF alerts (../shared/data/ztf).

Criterion (simulator.realism): per quantity, two-sample Kolmogorov-Smirnov statistic
D <= 0.25 and the simulated median (mean for frac_* indicators) within a stated tolerance
of the real one. Compared with the schema-4.02 sample of 2023-10-18 (562 alerts, which
passed rb >= 0.55, so the simulated alerts are cut the same way): magpsf, sigmapsf,
diffmaglim, rb, fwhm, distnr, the fraction with distnr < 1.4 px, number of
prv_candidates, and cutout pixel statistics (science background median, science /
template / difference noise rms, difference peak S/N); with the 2018-11-29 public night
(unaltered PS1 cross-match): sgscore1, distpsnr1. The table is printed (pytest -s) and
written to $ALERT_LAKE_REPORT_DIR/simulator_realism.csv when that is set.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from simulator import realism, simulate_season

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


@pytest.fixture(scope="module")
def report(shared_data, tmp_path_factory):
    real_402 = realism.read_alert_files(
        sorted((shared_data / "ztf/alerts/v4.02_20231018").glob("*.avro"))
    )
    real_2018 = realism.read_alert_files([shared_data / "ztf/nights/ztf_public_20181129.tar.gz"])
    out = tmp_path_factory.mktemp("realism")
    paths = simulate_season(
        "20231018", 1, 1500, seed=3, out=out, processes=2, export_lightcurves=False
    )
    sim = realism.read_alert_files(paths)
    table = realism.realism_report(sim, real_402, real_2018)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print("\n" + table.to_string())
    if os.environ.get("ALERT_LAKE_REPORT_DIR"):
        table.to_csv(
            Path(os.environ["ALERT_LAKE_REPORT_DIR"]) / "simulator_realism.csv", index=False
        )
    return table


def test_real_samples_were_read(report):
    assert (report.n_real > 400).all() and (report.n_sim > 1000).all()


@pytest.mark.parametrize("field", list(realism.TOLERANCES_402) + list(realism.TOLERANCES_2018))
def test_simulated_distribution_matches_real(report, field):
    row = report.set_index("field").loc[field]
    assert row.ks <= row.max_ks, f"{field}: KS {row.ks} > {row.max_ks}\n{row}"
    assert abs(row.median_sim - row.median_real) <= row.median_tol, (
        f"{field}: medians differ\n{row}"
    )
