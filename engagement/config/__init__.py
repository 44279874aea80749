"""Configuration: marketer-editable triggers and messages (YAML), validated before anything runs.

May import: `core`, `decode`, `events`, `timefmt`.
"""
