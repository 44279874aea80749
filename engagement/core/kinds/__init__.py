"""Per trigger kind: how events arm, move and cancel timers, and what a kind checks before it fires."""
