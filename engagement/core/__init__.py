"""The pure decision core: no I/O, no clock, no Kafka, Redis or HTTP. Shared by replay, run and worker."""
