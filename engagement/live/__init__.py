"""What both live runtimes share: the live watermark, HTTP ingest, metrics and the sender.

May import: `providers`, `config`, `settings`, `decode`, `core`, and the floor below them. Never a
feature (`console`, `sources`, ...) nor a runtime.
"""
