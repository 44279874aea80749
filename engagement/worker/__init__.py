"""`engagement worker`: the same job as a faust-streaming app on Kafka, with send claims in Redis."""
