"""`engagement run`: the whole job in one process, state in an embedded SQLite store.

May import: the features (`console`, `sources`, `decision_feed`, `openapi`) and everything below. Never `worker`.
"""
