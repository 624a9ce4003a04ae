"""Reading ZTF alert files: Avro containers (``avro``) and where they come from (``sources``)."""
