"""Migration scripts of the platform register, oldest first."""
