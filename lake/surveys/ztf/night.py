"""ZTF's nights: of an alert (from the candidate's Julian date) and of an archive file
(``ztf_public_YYYYMMDD.tar.gz``). Standard library only: the file readers import it."""
from __future__ import annotations

import datetime
import os
import re

JD_TO_MJD = 2400000.5
# Any 8-digit 20YYMMDD date not inside a longer number (ZTF's archive names it so).
NIGHT_IN_NAME = re.compile(r"(?:^|[^0-9])(20\d{2}[01]\d[0-3]\d)(?:[^0-9]|$)")


def night_of_jd(jd: float) -> int:
    """Observing night (UTC date, YYYYMMDD) of a Julian date.

    >>> night_of_jd(2458451.75)
    20181129
    """
    day = datetime.date(1858, 11, 17) + datetime.timedelta(days=int((jd - JD_TO_MJD) // 1))
    return day.year * 10000 + day.month * 100 + day.day


def night_from_name(name: str) -> int | None:
    """Night in a file name like ``ztf_public_20181129.tar.gz`` (a real calendar date).

    >>> night_from_name("s3://b/ztf_public_20181129.tar.gz")
    20181129
    >>> night_from_name("516171791415015025.avro") is None
    True
    >>> night_from_name("ztf_public_20241399.tar.gz") is None
    True
    """
    match = NIGHT_IN_NAME.search(os.path.basename(name))
    if not match:
        return None
    try:
        datetime.datetime.strptime(match.group(1), "%Y%m%d")
    except ValueError:
        return None
    return int(match.group(1))
