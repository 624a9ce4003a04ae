"""Rubin (LSST) alert packets and nights for tests, benchmarks and demos.

``packets``: records of any official schema version (``lsst-alert-packet``), encoded as
Avro containers or in the Kafka wire framing."""
