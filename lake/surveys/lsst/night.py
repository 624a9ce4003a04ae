"""Rubin's night: ``dayObs``. Standard library only (the file readers import it).

Rubin names a night by its ``dayObs``: the calendar date in the UTC-12h time zone, so that
a whole night at the observatory (Cerro Pachon, UTC-3/-4: dusk ~23:00 UTC, dawn ~10:00 UTC)
carries one date, the local date of its evening. Times in the packets are TAI
(``midpointMjdTai``); TAI - UTC is 37 s since 2017, taken off before the date is cut.

    dayObs = UTC date of (midpointMjdTai - 37 s - 12 h)
"""
from __future__ import annotations

import datetime

TAI_MINUS_UTC_DAYS = 37.0 / 86400.0
# dayObs rolls over at 12:00 UTC (UTC-12h midnight): mid-morning at the observatory.
DAYOBS_OFFSET_DAYS = 0.5
MJD_EPOCH = datetime.date(1858, 11, 17)


def day_obs(mjd_tai: float) -> int:
    """Rubin's dayObs (YYYYMMDD) of a TAI MJD.

    >>> day_obs(61105.09)    # 2026-03-06 02:10 UTC: the night that began on the 5th
    20260305
    >>> day_obs(61104.99)    # 2026-03-05 23:46 UTC: same night
    20260305
    >>> day_obs(61105.6)     # 2026-03-06 14:24 UTC: the next dayObs
    20260306
    """
    days = int((float(mjd_tai) - TAI_MINUS_UTC_DAYS - DAYOBS_OFFSET_DAYS) // 1)
    day = MJD_EPOCH + datetime.timedelta(days=days)
    return day.year * 10000 + day.month * 100 + day.day
