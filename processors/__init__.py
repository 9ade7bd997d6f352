"""processors: see README "Architecture"."""
