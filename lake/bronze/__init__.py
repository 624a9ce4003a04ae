"""Bronze layer: alerts decoded into flat staging rows (``decode``) and the landing
transforms for the bronze tables ``alert``, ``cutout`` and ``quarantine`` (``landing``)."""
