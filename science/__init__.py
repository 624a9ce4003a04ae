"""Trained models of alert-lake: the light-curve classifier and the stamp classifier."""
