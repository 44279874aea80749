"""`engagement worker`: the same job as a faust-streaming app on Kafka, with send claims in Redis.

May import: the features (`console`, `sources`, `decision_feed`, `openapi`) and everything below. Never `embedded`.
"""
