"""AgencyBus runtime shared by every role: settings, Kafka clients, embedded broker, logging, metrics, CLI."""

__version__ = "0.1.0"
