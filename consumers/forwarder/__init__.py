"""consumers.forwarder: see README "Architecture"."""
