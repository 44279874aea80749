"""Twilio's WhatsApp Messages API behind the provider port."""
