"""Follow-up candidates: tonight's young transients (``select.py``, table ``candidate``) in
the spirit of ALeRCE's SN Hunter, and their TNS AT report (``tns.py``, written to a file by
``jobs/export_tns.py``, never sent)."""
from .select import CANDIDATE_DEFAULTS, candidate_settings, select_candidates, write_candidates

__all__ = ["CANDIDATE_DEFAULTS", "candidate_settings", "select_candidates", "write_candidates"]
