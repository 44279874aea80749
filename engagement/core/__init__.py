"""The pure decision core: no I/O, no clock, no Kafka, Redis or HTTP. Shared by replay, run and worker.

May import: `events`, `timefmt`. Nothing that reads files, clocks or networks.
"""
