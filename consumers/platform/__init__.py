"""Platform-side takedown service: receives signed takedown requests, verifies, records, answers."""
