"""Silver layer: detections, non-detections, forced photometry and the per-alert
cross-match tables, as ``DataFrame -> DataFrame`` functions of the staged alerts."""
