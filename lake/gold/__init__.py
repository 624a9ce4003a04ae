"""Gold layer: per-object products (``object``, ``magstat``, ``feature``) computed from
the whole history of every object, as ``DataFrame -> DataFrame`` functions."""
