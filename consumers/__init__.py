"""Consumers: State Bank payment-block service, steering-committee dashboard, agency alert forwarder."""
