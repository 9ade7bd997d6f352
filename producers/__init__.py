"""producers: see README "Architecture"."""
