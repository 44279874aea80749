"""Tools for the people who write triggers and messages: lint, preview, backtest."""
