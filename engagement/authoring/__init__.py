"""Tools for the people who write triggers and messages: lint, preview, backtest.

May import: `live`, `outcomes`, `replay`, `providers`, `config`, `decode`, `core`, and below.
"""
