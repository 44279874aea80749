"""WhatsApp providers: Meta's Cloud API (Graph API over httpx)."""
