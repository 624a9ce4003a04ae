"""Stamp classifier (Carrasco-Davis et al. 2021), PyTorch CPU.

Input of one alert: the science, template and difference cutouts, each center-cropped
to 21x21 (edge-of-CCD cutouts padded back to 63x63 first), each min-max normalized,
NaN -> 0 (``stamps.py``); plus 23 metadata values (``METADATA``). Network: two conv
blocks (3x3 convolutions, ReLU, 2x2 max pooling) shared by the four rotations
(0/90/180/270 degrees) of the stamp; the dense image representations of the four
rotations are averaged (cyclic pooling, so the output is exactly rotation invariant up
to float rounding), concatenated with the standardized metadata, then two dense layers
and a softmax over AGN, SN, VS, asteroid, bogus.

Metadata: sentinels (values <= -99, e.g. ZTF's -999 for "no match") and NaN are
missing; each column is standardized with the training median and scale (IQR/1.349),
clipped to +-10, and missing values set to 0 (the training median).

>>> import numpy as np, torch
>>> net = StampNet(n_meta=len(METADATA)).eval()
>>> x = torch.randn(2, 3, 21, 21); m = torch.randn(2, len(METADATA))
>>> a = net(x, m); b = net(torch.rot90(x, 1, dims=(2, 3)), m)
>>> bool(torch.allclose(a, b, atol=1e-5)), tuple(a.shape)
(True, (2, 5))
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import stamps as st

MODEL_VERSION = "1.0.0"
CLASSES = ["AGN", "SN", "VS", "asteroid", "bogus"]
METADATA = ["sgscore1", "sgscore2", "sgscore3", "distpsnr1", "distpsnr2", "distpsnr3",
            "isdiffpos", "fwhm", "magpsf", "sigmapsf", "ra", "dec", "diffmaglim", "classtar",
            "ndethist", "ncovhist", "ecl_lat", "ecl_long", "gal_lat", "gal_long",
            "non_detections", "chinr", "sharpnr"]
CUTOUTS = ("cutoutScience", "cutoutTemplate", "cutoutDifference")
CONFIG_FILE = "model.json"


class StampNet(nn.Module):
    def __init__(self, n_meta: int, n_classes: int = 5, c1: int = 16, c2: int = 32,
                 dense: int = 64, dropout: float = 0.2):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(3, c1, 3, padding=1), nn.ReLU(), nn.Conv2d(c1, c1, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),  # 21 -> 10
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.Conv2d(c2, c2, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),  # 10 -> 5
            nn.Flatten(), nn.Linear(c2 * 25, dense), nn.ReLU())
        self.head = nn.Sequential(nn.Linear(dense + n_meta, dense), nn.ReLU(), nn.Dropout(dropout),
                                  nn.Linear(dense, n_classes))

    def forward(self, x: torch.Tensor, meta: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        rot = torch.cat([x, torch.rot90(x, 1, (2, 3)), torch.rot90(x, 2, (2, 3)),
                         torch.rot90(x, 3, (2, 3))])
        h = self.conv(rot).view(4, n, -1).mean(0)
        return self.head(torch.cat([h, meta], 1))


# --- metadata ----------------------------------------------------------------------------
_ROT: dict = {}


def _rotation(frame: str) -> np.ndarray:
    """3x3 matrix taking ICRS unit vectors to ``frame`` (computed once with astropy)."""
    if frame not in _ROT:
        from astropy.coordinates import SkyCoord
        import astropy.units as u

        basis = SkyCoord(ra=[0.0, 90.0, 0.0] * u.deg, dec=[0.0, 0.0, 90.0] * u.deg, frame="icrs")
        out = basis.transform_to(frame).cartesian
        _ROT[frame] = np.vstack([out.x.value, out.y.value, out.z.value])  # columns: images of e_i
    return _ROT[frame]


def sky_coordinates(ra, dec) -> dict:
    """Ecliptic (barycentric mean, J2000) and galactic longitude/latitude in degrees."""
    ra, dec = np.radians(np.asarray(ra, float)), np.radians(np.asarray(dec, float))
    v = np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])
    out = {}
    for name, frame in (("ecl", "barycentricmeanecliptic"), ("gal", "galactic")):
        w = _rotation(frame) @ v
        out[f"{name}_long"] = np.degrees(np.arctan2(w[1], w[0])) % 360.0
        out[f"{name}_lat"] = np.degrees(np.arcsin(np.clip(w[2], -1, 1)))
    return out


def metadata_frame(pdf: pd.DataFrame) -> pd.DataFrame:
    """The METADATA columns of alert rows (candidate fields; derived ones computed)."""
    def num(name):
        if name in pdf.columns:
            return pd.to_numeric(pdf[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        return np.full(len(pdf), np.nan)

    out = {}
    for name in METADATA:
        if name == "isdiffpos":
            s = pdf["isdiffpos"] if "isdiffpos" in pdf.columns else pd.Series(["t"] * len(pdf))
            if s.dtype == object:
                out[name] = s.astype(str).str.lower().isin(["t", "1", "true", "+1"]).to_numpy(float)
            else:
                out[name] = (pd.to_numeric(s, errors="coerce").to_numpy(float) > 0).astype(float)
        elif name not in ("ecl_lat", "ecl_long", "gal_lat", "gal_long", "non_detections"):
            out[name] = num(name)
    out.update(sky_coordinates(num("ra"), num("dec")))
    out["non_detections"] = num("ncovhist") - num("ndethist")
    return pd.DataFrame({k: out[k] for k in METADATA}, index=pdf.index)


class StampClassifier:
    """Trainable wrapper: fit / predict_proba / save / load, classes_, version."""

    name = "stamp_classifier"

    def __init__(self, epochs: int = 6, batch_size: int = 256, lr: float = 3e-3,
                 weight_decay: float = 1e-4, seed: int = 0, n_threads: int = 2,
                 c1: int = 16, c2: int = 32, dense: int = 64):
        self.epochs, self.batch_size, self.lr, self.weight_decay = epochs, batch_size, lr, weight_decay
        self.seed, self.n_threads = seed, n_threads
        self.arch = {"c1": c1, "c2": c2, "dense": dense}
        self.classes_ = np.array(CLASSES)
        self.metadata_ = list(METADATA)
        self.net = None
        self.center_ = None
        self.scale_ = None
        self.version = None
        self.training_data_hash_ = None
        self.weights_sha256_ = None
        self.history_ = []

    # --- inputs ---------------------------------------------------------------------
    def _meta(self, meta: pd.DataFrame) -> np.ndarray:
        m = meta.reindex(columns=self.metadata_).to_numpy(dtype=np.float64, na_value=np.nan)
        m = np.where(np.isfinite(m) & (m > -99), m, np.nan)
        z = (m - self.center_) / self.scale_
        return np.nan_to_num(np.clip(z, -10, 10), nan=0.0).astype(np.float32)

    def fit(self, images: np.ndarray, meta: pd.DataFrame, y, X_val=None, y_val=None):
        """images: (n, 3, 21, 21) normalized stamps (``stamps.normalize``); meta: the
        METADATA columns (``metadata_frame``); y: class names."""
        y = np.asarray(y).astype(str)
        codes = np.array([CLASSES.index(c) for c in y])
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        m = meta.reindex(columns=self.metadata_).to_numpy(dtype=np.float64, na_value=np.nan)
        m = np.where(np.isfinite(m) & (m > -99), m, np.nan)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            self.center_ = np.nan_to_num(np.nanmedian(m, axis=0))
            q = np.nanpercentile(m, [25, 75], axis=0)
        scale = np.nan_to_num((q[1] - q[0]) / 1.349)
        std = np.nan_to_num(np.nanstd(m, axis=0))
        self.scale_ = np.where(scale > 1e-9, scale, np.where(std > 1e-9, std, 1.0))
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(images, np.float32).tobytes())
        h.update(np.ascontiguousarray(np.nan_to_num(m, nan=-1e30)).tobytes())
        h.update("\n".join(y).encode())
        self.training_data_hash_ = h.hexdigest()
        self.version = f"{MODEL_VERSION}+cnn.{self.training_data_hash_[:8]}"
        X = torch.from_numpy(np.ascontiguousarray(images, np.float32))
        M = torch.from_numpy(self._meta(meta))
        Y = torch.from_numpy(codes)
        counts = np.bincount(codes, minlength=len(CLASSES)).astype(float)
        weight = torch.tensor(np.where(counts > 0, len(codes) / (len(CLASSES) * np.maximum(counts, 1)), 0.0),
                              dtype=torch.float32)
        prev = torch.get_num_threads()
        torch.set_num_threads(self.n_threads)
        try:
            self.net = StampNet(len(self.metadata_), len(CLASSES), **self.arch)
            opt = torch.optim.AdamW(self.net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
            steps = self.epochs * int(np.ceil(len(Y) / self.batch_size))
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.lr, total_steps=max(steps, 1))
            loss_fn = nn.CrossEntropyLoss(weight=weight)
            for epoch in range(self.epochs):
                self.net.train()
                perm = torch.from_numpy(rng.permutation(len(Y)))
                total = 0.0
                for i in range(0, len(Y), self.batch_size):
                    idx = perm[i:i + self.batch_size]
                    xb = X[idx]
                    # augmentation: random flips (rotations are built into the network)
                    if rng.random() < 0.5:
                        xb = torch.flip(xb, (3,))
                    opt.zero_grad()
                    loss = loss_fn(self.net(xb, M[idx]), Y[idx])
                    loss.backward()
                    opt.step()
                    sched.step()
                    total += float(loss.detach()) * len(idx)
                self.history_.append({"epoch": epoch + 1, "loss": total / len(Y)})
        finally:
            torch.set_num_threads(prev)
        self.net.eval()
        return self

    def predict_proba(self, images: np.ndarray, meta: pd.DataFrame, batch: int = 128) -> np.ndarray:
        """(n, 5) probabilities in ``classes_`` order.

        Small batches are faster on CPU: the four rotations' first-block activations of
        128 stamps (~14 MB) stay in cache; 4096 stamps (~460 MB) ran ~4x slower per alert."""
        M = torch.from_numpy(self._meta(meta))
        X = torch.from_numpy(np.ascontiguousarray(images, np.float32))
        out = []
        with torch.inference_mode():
            for i in range(0, len(X), batch):
                out.append(torch.softmax(self.net(X[i:i + batch], M[i:i + batch]), 1).numpy())
        return np.concatenate(out).astype(np.float64) if out else np.zeros((0, len(CLASSES)))

    def predict(self, images, meta) -> np.ndarray:
        return self.classes_[self.predict_proba(images, meta).argmax(1)]

    def predict_proba_alerts(self, pdf: pd.DataFrame) -> np.ndarray:
        """Probabilities for alert rows holding the three cutouts (gzipped FITS bytes or
        2-D arrays) and candidate metadata columns."""
        return self.predict_proba(alert_images(pdf), metadata_frame(pdf))

    # --- persistence -------------------------------------------------------------------
    def config(self) -> dict:
        """Everything but the weights, as JSON-able values (``model.json``)."""
        return {"arch": self.arch, "metadata": self.metadata_, "center": self.center_.tolist(),
                "scale": self.scale_.tolist(), "version": self.version, "hash": self.training_data_hash_,
                "history": self.history_, "classes": list(self.classes_),
                "params": {"epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr,
                           "weight_decay": self.weight_decay, "seed": self.seed}}

    def save(self, path) -> Path:
        """``path`` (model.pt): the network's state dict only (tensors: loading it runs no
        code); beside it ``model.json``: the configuration, the normalization and the
        sha256 of model.pt, which ``load`` verifies."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(self.net.state_dict(), path)
        self.weights_sha256_ = file_sha256(path)
        cfg = {**self.config(), "weights_file": path.name, "weights_sha256": self.weights_sha256_}
        (path.parent / CONFIG_FILE).write_text(json.dumps(cfg, indent=1))
        return path

    @classmethod
    def load(cls, path):
        path = Path(path)
        if path.is_dir():
            path = path / "model.pt"
        cfg = json.loads((path.parent / CONFIG_FILE).read_text())
        digest = file_sha256(path)
        if digest != cfg["weights_sha256"]:
            raise ValueError(f"{path}: sha256 {digest} differs from the {cfg['weights_sha256']} recorded "
                             f"in {CONFIG_FILE}; refusing to load")
        model = cls(**cfg["params"], **cfg["arch"])
        model.metadata_ = cfg["metadata"]
        model.center_ = np.array(cfg["center"])
        model.scale_ = np.array(cfg["scale"])
        model.version = cfg["version"]
        model.training_data_hash_ = cfg["hash"]
        model.history_ = cfg["history"]
        model.classes_ = np.array(cfg["classes"])
        model.weights_sha256_ = digest
        model.net = StampNet(len(model.metadata_), len(model.classes_), **model.arch)
        model.net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        model.net.eval()
        return model


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def alert_images(pdf: pd.DataFrame) -> np.ndarray:
    """(n, 3, 21, 21) normalized stamps of alert rows (decodes gzipped FITS bytes)."""
    n = len(pdf)
    out = np.zeros((n, 3, st.CROP, st.CROP), np.float32)
    xpos = pdf["xpos"].to_numpy(float) if "xpos" in pdf.columns else np.full(n, np.nan)
    ypos = pdf["ypos"].to_numpy(float) if "ypos" in pdf.columns else np.full(n, np.nan)
    cols = [pdf[c].to_numpy() if c in pdf.columns else np.full(n, None) for c in CUTOUTS]
    for i in range(n):
        for j in range(3):
            out[i, j] = st.crop(st.decode_or_nan(cols[j][i]), xpos[i], ypos[i])
    return st.normalize(out)


def metadata_hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()
