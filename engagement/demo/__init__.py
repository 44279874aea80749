"""The newcomer's demo: a short shop stream at live pace, with triggers whose windows are seconds."""
