"""engagement: proactive e-commerce engagement over WhatsApp, decided by a pure event-time engine."""

__version__ = "0.1.0"
