"""Message providers behind one port: console, file (and WhatsApp Cloud API, Twilio)."""
