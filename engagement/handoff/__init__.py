"""Replies handed to people: a signed webhook and Chatwoot, behind the provider port (a hand-off
is queued, claimed and retried like a send, and survives a crash the same way).

May import: `providers`, `settings`, `timefmt`.
"""
