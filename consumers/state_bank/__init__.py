"""consumers.state_bank: see README "Architecture"."""
