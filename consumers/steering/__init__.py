"""consumers.steering: see README "Architecture"."""
