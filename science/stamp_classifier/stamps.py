"""Cutout decoding and preprocessing for the stamp classifier.

ZTF cutouts are gzipped FITS files holding one 63x63 float32 image (smaller at the edge of
a CCD, e.g. 53x63 or 63x44). ``decode_cutout`` reads them: a fast path parses the
primary header itself (a plain 2-D image, BITPIX -32/-64/16/32, optional BSCALE/BZERO)
and anything else goes through ``astropy.io.fits``; both give the same array.

``crop`` pads a small cutout back to 63x63 with NaN (on the side the CCD edge cut off,
from the candidate's ``xpos``/``ypos`` when known) and takes the central 21x21;
``normalize`` scales each image to [0, 1] over its finite pixels (min-max, as ALeRCE)
and sets NaN to 0.

>>> import gzip, io
>>> import numpy as np
>>> from astropy.io import fits
>>> img = np.arange(53 * 63, dtype=np.float32).reshape(63, 53)
>>> buf = io.BytesIO(); fits.PrimaryHDU(img).writeto(buf)
>>> blob = gzip.compress(buf.getvalue())
>>> out = decode_cutout(blob); out.shape, bool(np.array_equal(out, img))
((63, 53), True)
>>> bool(np.array_equal(decode_cutout(blob, fast=False), img))
True
>>> crop(out, xpos=5.0).shape
(21, 21)
"""
from __future__ import annotations

import gzip
import io
import zlib

import numpy as np

FULL = 63
CROP = 21
CCD_NX, CCD_NY = 3072, 3080  # ZTF quadrant size (pixels)
_BITPIX = {-32: ">f4", -64: ">f8", 16: ">i2", 32: ">i4", 8: "u1"}


def _gunzip(blob: bytes) -> bytes:
    if blob[:2] == b"\x1f\x8b":
        try:
            return zlib.decompress(blob, 47)  # gzip header, faster than gzip.decompress
        except zlib.error:
            pass
        try:
            return gzip.decompress(blob)
        except (OSError, EOFError, zlib.error):
            pass
        # a damaged member (bad CRC, truncated): keep what inflates, without the check
        flags = blob[3]
        pos = 10
        if flags & 4:
            pos += 2 + int.from_bytes(blob[10:12], "little")
        for bit in (8, 16):
            if flags & bit:
                pos = blob.index(b"\0", pos) + 1
        if flags & 2:
            pos += 2
        return zlib.decompressobj(-15).decompress(blob[pos:])
    return blob


def _fast(raw: bytes):
    """Parse a simple primary HDU; None when it is anything else."""
    if not raw.startswith(b"SIMPLE  ="):
        return None
    cards = {}
    pos = 0
    while pos + 80 <= len(raw):
        card = raw[pos:pos + 80]
        pos += 80
        key = card[:8].strip()
        if key == b"END":
            break
        if card[8:10] == b"= ":
            value = card[10:].split(b"/", 1)[0].strip()
            cards[key] = value
    else:
        return None
    data_start = ((pos + 2879) // 2880) * 2880
    try:
        if int(cards.get(b"NAXIS", b"0")) != 2:
            return None
        bitpix = int(cards[b"BITPIX"])
        nx, ny = int(cards[b"NAXIS1"]), int(cards[b"NAXIS2"])
        scale = float(cards.get(b"BSCALE", b"1").replace(b"D", b"E"))
        zero = float(cards.get(b"BZERO", b"0").replace(b"D", b"E"))
    except (KeyError, ValueError):
        return None
    if bitpix not in _BITPIX or b"BLANK" in cards:
        return None
    dtype = np.dtype(_BITPIX[bitpix])
    n = nx * ny
    if data_start + n * dtype.itemsize > len(raw):
        return None
    img = np.frombuffer(raw, dtype, n, data_start).reshape(ny, nx).astype(np.float32)
    if scale != 1.0 or zero != 0.0:
        img = img * np.float32(scale) + np.float32(zero)
    return img


def decode_cutout(blob: bytes, fast: bool = True) -> np.ndarray:
    """Image (ny, nx) float32 of a (gzipped) FITS cutout; a damaged gzip member is
    inflated as far as it goes (pixels past a truncation are NaN: ``decode_or_nan``)."""
    raw = _gunzip(bytes(blob))
    if fast:
        img = _fast(raw)
        if img is not None:
            return img
    from astropy.io import fits

    with fits.open(io.BytesIO(raw), memmap=False) as hdul:
        for hdu in hdul:
            if hdu.data is not None:
                return np.asarray(hdu.data, dtype=np.float32)
    raise ValueError("no image in cutout")


def decode_or_nan(blob) -> np.ndarray:
    """``decode_cutout``, or an all-NaN 63x63 image (-> zeros after normalization) when
    the cutout is missing or undecodable: one bad stamp never fails a batch."""
    if blob is None or (isinstance(blob, float) and np.isnan(blob)):
        return np.full((FULL, FULL), np.nan, np.float32)
    if isinstance(blob, np.ndarray):
        return blob
    try:
        return decode_cutout(blob)
    except Exception:  # noqa: BLE001 - real cutouts can be damaged
        return np.full((FULL, FULL), np.nan, np.float32)


def pad_to_full(img: np.ndarray, xpos=None, ypos=None, size: int = FULL) -> np.ndarray:
    """Pad a cutout cut by a CCD edge back to size x size with NaN. The missing pixels go
    on the side of the edge: the low side when the candidate is within size/2 pixels of
    the CCD's first column/row (``xpos``/``ypos``, 1-based), else the high side."""
    ny, nx = img.shape
    if ny >= size and nx >= size:
        return img[:size, :size]
    half = size // 2

    def before(missing, pos, extent):
        if missing <= 0:
            return 0
        if pos is not None and np.isfinite(pos) and pos - 1 < half:
            return missing
        if pos is not None and np.isfinite(pos) and pos > extent - half - 1:
            return 0
        return missing // 2

    my, mx = max(size - ny, 0), max(size - nx, 0)
    by, bx = before(my, ypos, CCD_NY), before(mx, xpos, CCD_NX)
    out = np.full((size, size), np.nan, np.float32)
    out[by:by + min(ny, size), bx:bx + min(nx, size)] = img[:size, :size]
    return out


def crop(img: np.ndarray, xpos=None, ypos=None, size: int = CROP) -> np.ndarray:
    """Central ``size`` x ``size`` pixels (after padding edge cutouts to 63x63)."""
    full = pad_to_full(np.asarray(img, np.float32), xpos, ypos)
    lo = (FULL - size) // 2
    return full[lo:lo + size, lo:lo + size]


def normalize(stack: np.ndarray) -> np.ndarray:
    """Per-image min-max scaling to [0, 1] over finite pixels; NaN/inf -> 0.
    ``stack``: (..., H, W)."""
    x = np.array(stack, dtype=np.float32, copy=True)
    bad = ~np.isfinite(x)
    x[bad] = np.nan
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo = np.nanmin(x, axis=(-2, -1), keepdims=True)
            hi = np.nanmax(x, axis=(-2, -1), keepdims=True)
        span = hi - lo
        x = (x - lo) / np.where(span > 0, span, 1.0)
    x[~np.isfinite(x)] = 0.0
    return x


def cutout_tensor(science, template, difference, xpos=None, ypos=None) -> np.ndarray:
    """(3, 21, 21) float32 input of one alert from three decoded images."""
    return normalize(np.stack([crop(science, xpos, ypos), crop(template, xpos, ypos),
                               crop(difference, xpos, ypos)]))
