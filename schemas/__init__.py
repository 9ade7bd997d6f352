"""The AgencyBus contract: Avro schemas (every released version), pydantic models, topics, codec, identity."""
