"""`engagement run`: the whole job in one process, state in an embedded SQLite store."""
