"""`engagement replay`: the engine over recorded events on the event-time clock.

May import: `core`, `decode`, `state_codec`, `config`, `events`, `timefmt`.
"""
