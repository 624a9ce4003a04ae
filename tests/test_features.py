"""Known-answer tests of the light-curve feature library (science.features)."""
from __future__ import annotations

import glob
import math
import os

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from science.features import Extractor, extract_features, feature_names
from science.features import drw, harmonics, mhps, spm, variability
from science.features.extractor import PeriodEvaluator
from science.features.preprocess import band_batch_from_arrays

RNG = np.random.default_rng(42)


def _detections(oid, t, mag, err, fid, **extra):
    n = len(t)
    frame = pd.DataFrame({
        "oid": oid, "candid": np.arange(n) + hash(oid) % 1000 * 10000, "mjd": t, "fid": fid,
        "magpsf": mag, "sigmapsf": err, "magpsf_corr": mag, "sigmapsf_corr": err,
        "sigmapsf_corr_ext": err, "corrected": False, "isdiffpos": 1, "rb": 0.9,
        "sgscore1": 0.5, "ra": 10.0, "dec": 20.0,
    })
    for key, value in extra.items():
        frame[key] = value
    return frame


def _sinusoid_object(oid="sin", period_days=0.7, amplitude=0.5, n=120, seed=1):
    rng = np.random.default_rng(seed)
    frames = []
    for fid, offset in ((1, 17.0), (2, 16.6)):
        t = np.sort(58000 + rng.uniform(0, 600, n))
        mag = offset + amplitude * np.sin(2 * np.pi * t / period_days) + rng.normal(0, 0.01, n)
        frames.append(_detections(oid, t, mag, np.full(n, 0.01), fid))
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------- API / robustness

def test_output_schema_matches_alerce_names(shared_data):
    alerce = pd.read_csv(shared_data / "labels" / "100_objects_features.csv")
    expected = set(alerce.columns) - {"objectId"}
    names = set(feature_names())
    assert expected <= names, sorted(expected - names)
    assert names - expected == {"Harmonics_chi_1", "Harmonics_chi_2"}


def test_too_few_detections_give_nulls_with_reason():
    few = _detections("few", np.arange(5.0), np.full(5, 18.0), np.full(5, 0.1), 1)
    bogus = _detections("bogus", np.arange(8.0), np.full(8, 18.0), np.full(8, 0.1), 1, rb=0.1)
    ok = _sinusoid_object("ok", n=30)
    out = extract_features(pd.concat([few, bogus, ok], ignore_index=True))
    assert list(out.index) == ["few", "bogus", "ok"]
    assert out.loc["few", "reason"] == "too_few_detections"
    assert out.loc["bogus", "reason"] == "no_valid_detections"
    assert out.loc["few", "n_det_used"] == 5 and out.loc["bogus", "n_det_used"] == 0
    assert out.loc[["few", "bogus"], list(feature_names())].isna().all().all()
    assert pd.isna(out.loc["ok", "reason"]) and out.loc["ok", "feature_version"]


def test_robust_to_nan_duplicates_zero_errors_single_band_and_string_isdiffpos():
    t = np.arange(20.0) * 3.1
    mag = 18 + 0.3 * np.sin(t / 5)
    err = np.full(20, 0.05)
    err[3] = 0.0            # zero error: dropped by 0 < sigma
    mag[4] = np.nan         # NaN magnitude: dropped
    det = _detections("x", t, mag, err, 1, isdiffpos=np.where(np.arange(20) % 2, "t", "f"))
    dup = det.iloc[[5]].assign(rb=0.6, magpsf=25.0)   # duplicate epoch with lower rb
    out = extract_features(pd.concat([det, dup], ignore_index=True))
    row = out.loc["x"]
    assert row["n_det_1"] == 18 and row["n_det_used"] == 18
    assert row["min_mag_1"] < 19           # the rb=0.6 duplicate (25 mag) was not kept
    assert row["n_pos_1"] + row["n_neg_1"] == 18 and row["n_pos_1"] > 0 and row["n_neg_1"] > 0
    assert np.isnan(row["Mean_2"]) and np.isfinite(row["Mean_1"])
    assert np.isfinite(row["Multiband_period"]) and np.isnan(row["Period_band_2"])


def test_corrected_object_uses_corrected_magnitudes():
    det = _sinusoid_object("c", n=20)
    det["corrected"] = True
    det["magpsf_corr"] = det["magpsf"] - np.where(det["fid"] == 1, 1.0, 0.0)
    det["sigmapsf_corr_ext"] = 0.02
    out = extract_features(det)
    row = out.loc["c"]
    assert row["Mean_1"] == pytest.approx(det[det.fid == 1].magpsf.mean() - 1.0)
    assert row["Mean_2"] == pytest.approx(det[det.fid == 2].magpsf.mean())
    assert row["g-r_max_corr"] == pytest.approx(row["g-r_max"] - 1.0)
    assert row["g-r_mean_corr"] == pytest.approx(row["g-r_mean"] - 1.0)


def test_threads_give_identical_results():
    det = pd.concat([_sinusoid_object(f"o{i}", n=25, seed=i) for i in range(4)], ignore_index=True)
    one = extract_features(det)
    two = extract_features(det, n_threads=2)
    pd.testing.assert_frame_equal(one, two.loc[one.index])


# ---------------------------------------------------------------- per-group known answers

def test_sinusoid_period_amplitude_and_harmonics():
    det = _sinusoid_object(period_days=0.7, amplitude=0.5)
    out = extract_features(det).loc["sin"]
    assert out["Multiband_period"] == pytest.approx(0.7, rel=1e-3)
    assert out["Period_band_1"] == pytest.approx(0.7, rel=1e-3)
    assert out["Harmonics_mag_1_1"] == pytest.approx(0.5, rel=0.02)
    assert out["Harmonics_mag_3_1"] < 0.02
    assert out["Harmonics_mse_1"] < 3e-4
    # FATS amplitude: half the difference of the medians of the top and bottom 5%.
    assert 0.45 < out["Amplitude_1"] < 0.5
    assert out["PPE"] > 0 and out["Power_rate_2"] < 0.5 and out["Power_rate_1/2"] < 0.5
    assert out["delta_period_1"] < 1e-3


def test_period_reuse_refines_around_previous_period():
    det = _sinusoid_object(period_days=3.3, amplitude=0.3)
    previous = pd.DataFrame({"oid": ["sin"], "Multiband_period": [3.301], "PPE": [0.5]})
    out = extract_features(det, previous=previous).loc["sin"]
    assert out["Multiband_period"] == pytest.approx(3.3, rel=1e-3)
    assert out["PPE"] == 0.5


def test_linear_trend_features():
    t = np.arange(40.0) * 2.0
    mag = 18.0 + 0.01 * t
    band = band_batch_from_arrays([(t, mag, np.full(40, 0.05))])
    v = variability.variability_features(band)
    assert v["LinearTrend"][0] == pytest.approx(0.01, rel=1e-6)
    assert v["PairSlopeTrend"][0] == pytest.approx(29 / 30)
    assert v["MaxSlope"][0] == pytest.approx(0.01, rel=1e-6)


def test_variability_matches_reference_formulas():
    t = np.sort(RNG.uniform(0, 300, 60))
    m = 17 + RNG.normal(0, 0.2, 60)
    e = RNG.uniform(0.02, 0.1, 60)
    v = {k: x[0] for k, x in variability.variability_features(band_batch_from_arrays([(t, m, e)])).items()}
    assert v["Std"] == pytest.approx(np.std(m))
    assert v["Skew"] == pytest.approx(stats.skew(m))
    assert v["Q31"] == pytest.approx(np.percentile(m, 75) - np.percentile(m, 25))
    assert v["Mean"] == pytest.approx(m.mean())
    assert v["MedianAbsDev"] == pytest.approx(np.median(np.abs(m - np.median(m))))
    assert v["LinearTrend"] == pytest.approx(stats.linregress(t, m).slope)
    wmean = np.sum(m / e**2) / np.sum(1 / e**2)
    sigmap = np.sqrt(60 / 59) * (m - wmean) / e
    assert v["StetsonK"] == pytest.approx(np.sum(np.abs(sigmap)) / np.sqrt(60 * np.sum(sigmap**2)))
    assert v["AndersonDarling"] == pytest.approx(1 / (1 + np.exp(-10 * (stats.anderson(m).statistic - 0.3))))
    chi = np.sum((m - m.mean()) ** 2 / e**2)
    assert v["Pvar"] == pytest.approx(stats.chi2.cdf(chi, 59))
    assert v["ExcessVar"] == pytest.approx(np.sum((m - m.mean()) ** 2 - e**2) / (60 * m.mean() ** 2))
    assert 0 <= v["Beyond1Std"] <= 1 and 0 <= v["MedianBRP"] <= 1
    assert v["Autocor_length"] == 1.0   # white noise decorrelates at lag 1


def test_iar_phi_recovers_autoregressive_coefficient():
    n, phi = 400, 0.8
    x = np.zeros(n)
    for i in range(1, n):
        x[i] = phi * x[i - 1] + math.sqrt(1 - phi**2) * RNG.normal()
    band = band_batch_from_arrays([(np.arange(n, dtype=float), 17 + 0.1 * x, np.full(n, 1e-4))])
    assert variability.variability_features(band)["IAR_phi"][0] == pytest.approx(phi, abs=0.06)


def test_drw_recovers_timescale_within_factor_two():
    tau, sigma2, n = 40.0, 0.04, 500
    t = np.sort(RNG.uniform(0, 2000, n))
    y = np.zeros(n)
    y[0] = RNG.normal(0, math.sqrt(sigma2))
    for i in range(1, n):
        a = math.exp(-(t[i] - t[i - 1]) / tau)
        y[i] = a * y[i - 1] + math.sqrt(sigma2 * (1 - a * a)) * RNG.normal()
    err = np.full(n, 0.02)
    band = band_batch_from_arrays([(t, 18 + y + RNG.normal(0, 0.02, n), err)])
    out = drw.drw_features(band)
    assert tau / 2 < out["GP_DRW_tau"][0] < tau * 2
    assert sigma2 / 2 < out["GP_DRW_sigma"][0] < sigma2 * 2


def test_spm_recovers_supernova_parameters():
    true = dict(a=2.0, t0=10.0, gamma=20.0, beta=0.4, t_rise=4.0, t_fall=30.0)
    t = np.sort(np.r_[0.0, RNG.uniform(0, 120, 59)])
    flux = spm.spm_model(t, *true.values())
    flux_noisy = flux * (1 + RNG.normal(0, 0.01, t.size))
    mag = -2.5 * np.log10(flux_noisy) + 2.5 * 26 - 48.6
    band = band_batch_from_arrays([(t, mag, np.full(t.size, 0.02))])
    out = spm.spm_features(band)
    got = dict(zip(spm.NAMES[:6], (out[n][0] for n in spm.NAMES[:6])))
    assert got["SPM_A"] == pytest.approx(2.0, rel=0.1)
    assert got["SPM_t0"] == pytest.approx(10.0, abs=2.0)
    assert got["SPM_tau_fall"] == pytest.approx(30.0, rel=0.15)
    assert got["SPM_tau_rise"] == pytest.approx(4.0, rel=0.3)
    assert out["SPM_chi"][0] < 5


def test_mhps_separates_slow_and_fast_variability():
    t = np.sort(RNG.uniform(0, 600, 200))
    slow = 18 + 0.5 * np.sin(2 * np.pi * t / 300)
    fast = 18 + 0.5 * np.sin(2 * np.pi * t / 15)
    band = band_batch_from_arrays([(t, slow, np.full(200, 0.01)), (t, fast, np.full(200, 0.01))])
    out = mhps.mhps_features(band)
    assert out["MHPS_low"][0] > out["MHPS_high"][0]
    assert out["MHPS_ratio"][0] > out["MHPS_ratio"][1]
    assert out["MHPS_non_zero"][0] > 0 and set(out["MHPS_PN_flag"]) <= {0.0, 1.0}


def test_psi_features_of_folded_sinusoid():
    t = np.sort(RNG.uniform(0, 300, 200))
    m = 17 + 0.5 * np.sin(2 * np.pi * t / 2.0)
    band = band_batch_from_arrays([(t, m, np.full(200, 0.01))])
    out = harmonics.psi_features(band, np.array([2.0]))
    assert out["Psi_eta"][0] < 0.05      # smooth when folded at 2P
    assert 0.1 < out["Psi_CS"][0] < 0.5


def test_detection_and_non_detection_features_hand_made_case():
    det = _detections("sn", np.array([10.0, 12.0, 15.0, 20.0, 25.0, 30.0]),
                      np.array([19.0, 18.0, 17.5, 18.2, 18.8, 19.5]), np.full(6, 0.05), 1,
                      isdiffpos=[1, 1, 1, 1, -1, 1])
    non_det = pd.DataFrame({"oid": "sn", "fid": [1, 1, 1, 1, 2],
                            "mjd": [1.0, 5.0, 8.0, 22.0, 9.0],
                            "diffmaglim": [20.0, 20.5, 19.8, 20.2, 21.0]})
    row = extract_features(det, non_det).loc["sn"]
    assert row["n_det_1"] == 6 and row["n_pos_1"] == 5 and row["n_neg_1"] == 1
    assert row["positive_fraction_1"] == pytest.approx(5 / 6)
    assert row["first_mag_1"] == 19.0 and row["min_mag_1"] == 17.5
    assert row["delta_mag_fid_1"] == pytest.approx(2.0) and row["delta_mjd_fid_1"] == 20.0
    assert row["n_non_det_before_fid_1"] == 3 and row["n_non_det_after_fid_1"] == 1
    assert row["max_diffmaglim_before_fid_1"] == 20.5
    assert row["median_diffmaglim_before_fid_1"] == 20.0
    assert row["last_diffmaglim_before_fid_1"] == 19.8 and row["last_mjd_before_fid_1"] == 8.0
    assert row["dmag_non_det_fid_1"] == pytest.approx(20.0 - 17.5)
    assert row["dmag_first_det_fid_1"] == pytest.approx(19.8 - 19.0)
    assert row["max_diffmaglim_after_fid_1"] == 20.2
    assert np.isnan(row["n_det_2"]) and np.isnan(row["n_non_det_before_fid_2"])


def test_colors_and_context_with_wise():
    g = _detections("w", np.arange(6.0), np.full(6, 18.0), np.full(6, 0.05), 1)
    r = _detections("w", np.arange(6.0) + 0.5, np.full(6, 17.4), np.full(6, 0.05), 2)
    det = pd.concat([g, r], ignore_index=True).assign(W1=14.0, W2=13.5, W3=11.0, rb=0.8)
    row = extract_features(det).loc["w"]
    assert row["g-r_max"] == pytest.approx(0.6) and row["g-r_mean"] == pytest.approx(0.6)
    assert np.isnan(row["g-r_max_corr"])        # not corrected: ALeRCE leaves corr colors null
    assert row["W1-W2"] == pytest.approx(0.5) and row["g-W3"] == pytest.approx(7.0)
    assert row["rb"] == pytest.approx(0.8) and row["sgscore1"] == 0.5
    assert -90 <= row["gal_b"] <= 90 and 0 <= row["gal_l"] < 360


# ---------------------------------------------------------------- real data

@pytest.mark.realdata
def test_alerce_examples_real_objects(shared_data):
    base = shared_data / "lightcurves" / "alerce_examples"
    det = pd.read_parquet(base / "detections_sample.parquet").reset_index()
    nd = pd.read_parquet(base / "non_detections_sample.parquet").reset_index()
    out = extract_features(det, nd)
    assert len(out) == 10 and out["reason"].isna().all()
    core = ["Multiband_period", "PPE", "Mean_2", "Amplitude_2", "GP_DRW_tau_2", "MHPS_low_2",
            "SPM_A_2", "Harmonics_mag_1_2", "gal_b", "rb"]
    assert np.isfinite(out[core].to_numpy(float)).all()
    g_ok = out["n_det_1"] >= 6
    assert np.isfinite(out.loc[g_ok, ["Mean_1", "IAR_phi_1", "SF_ML_amplitude_1"]].to_numpy(float)).all()
    # The g and r best periods agree with the multiband one for these periodic stars.
    agree = np.abs(out["Period_band_1"] / out["Multiband_period"] - 1) < 0.01
    assert agree.mean() >= 0.7
    from science.features.compare import compare_with_alerce
    alerce = pd.read_csv(shared_data / "labels" / "100_objects_features.csv")
    report = compare_with_alerce(out, alerce)
    assert {"median_ours", "median_alerce", "agrees", "note"} <= set(report.columns)
    assert report["agrees"].mean() > 0.6


def _s82_subset(shared_data, n):
    base = shared_data / "lightcurves" / "s82_rrlyrae"
    truth = pd.read_csv(base / "periods.csv").set_index("Num")["Per"]
    files = sorted(glob.glob(str(base / "light-curves" / "*.csv")))[:n]  # n=None: all
    frames = []
    for f in files:
        d = pd.read_csv(f)
        num = int(os.path.basename(f)[:-4])
        d = d[d.band.isin(["g", "r"])]
        frames.append(pd.DataFrame({"oid": num, "mjd": d.time, "fid": d.band.map({"g": 1, "r": 2}),
                                    "magpsf": d.mag, "sigmapsf": d.magerr, "rb": 1.0,
                                    "isdiffpos": 1, "corrected": False}))
    return pd.concat(frames, ignore_index=True), truth


def _within_one_percent(out, truth):
    true = truth.reindex([int(str(o).removeprefix("S82_")) for o in out.index]).to_numpy()
    return np.abs(out["Multiband_period"].to_numpy() / true - 1) < 0.01


@pytest.mark.realdata
@pytest.mark.slow
def test_s82_rr_lyrae_period_recovery(shared_data):
    """All Stripe 82 RR Lyrae, SDSS photometry: the alias-resolving search recovers far
    more periods within 1% than ALeRCE's own search (which mostly lands on 1 c/d aliases
    and, over SDSS's ~3000 d baseline, steps over the narrow peaks)."""
    det, truth = _s82_subset(shared_data, None)
    out = Extractor(period_only := PeriodEvaluator())(det)
    assert period_only.group == "period" and len(out) > 200
    recovered = _within_one_percent(out, truth).mean()
    alerce = _within_one_percent(Extractor(PeriodEvaluator(resolve_aliases=False))(det), truth).mean()
    assert recovered >= 0.88           # measured 0.90 (issue target 0.95, not reached yet)
    assert recovered >= alerce + 0.3   # measured 0.35 with ALeRCE's exact search


@pytest.mark.realdata
@pytest.mark.slow
def test_s82_rr_lyrae_period_recovery_ztf_like(shared_data):
    """The same stars as ZTF would see them (science/lc_classifier/data.py's conversion:
    difference photometry, ZTF noise and detection limit, the last 900 days)."""
    from science.lc_classifier.data import s82_rrlyrae_detections

    truth = pd.read_csv(shared_data / "lightcurves" / "s82_rrlyrae" / "periods.csv").set_index("Num")["Per"]
    det = s82_rrlyrae_detections(shared_data, ztf_like=True)
    out = Extractor(PeriodEvaluator())(det)
    assert len(out) > 200
    recovered = _within_one_percent(out, truth).mean()
    alerce = _within_one_percent(Extractor(PeriodEvaluator(resolve_aliases=False))(det), truth).mean()
    assert recovered >= 0.62           # measured 0.66 (issue target 0.80, not reached yet)
    assert recovered >= alerce + 0.15  # measured 0.42 with ALeRCE's exact search


@pytest.mark.realdata
@pytest.mark.slow
def test_bts_snia_spm_converges(shared_data):
    files = sorted(glob.glob(str(shared_data / "lightcurves" / "bts_snia" / "light-curves" / "*.csv")))[:120]
    curves = []
    for f in files:
        d = pd.read_csv(f)
        for band in ("g", "R"):
            b = d[d.band == band].sort_values("time").drop_duplicates("time")
            b = b[np.isfinite(b.mag) & (b.magerr > 0)]
            if len(b) >= 6:
                curves.append((b.time.to_numpy(), b.mag.to_numpy(), b.magerr.to_numpy()))
    out = spm.spm_features(band_batch_from_arrays(curves))
    params = np.column_stack([out[n] for n in spm.NAMES[:6]])
    n_points = np.array([len(c[0]) for c in curves])
    # SPM_chi has N - 6 degrees of freedom: undefined (NaN, as in ALeRCE) at exactly 6 points.
    chi_ok = np.where(n_points > 6, out["SPM_chi"] < 1e3, np.isnan(out["SPM_chi"]))
    converged = np.isfinite(params).all(axis=1) & chi_ok
    assert len(curves) > 100
    assert converged.mean() >= 0.95
