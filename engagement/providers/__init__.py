"""Message providers behind one port: console, file (and WhatsApp Cloud API, Twilio).

May import: `config`, `settings`, `privacy`, `core`, `events`.
"""
