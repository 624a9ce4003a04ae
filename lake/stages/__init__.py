"""The pipeline stages the jobs in ``jobs/`` run: read at the edges, transform in the
layers (``lake.bronze``, ``lake.silver``), write through ``lake.delta``."""
