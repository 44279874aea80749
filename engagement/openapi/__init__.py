"""The OpenAPI 3.1 description of the HTTP API (`GET /openapi.json`), built from the routes an
application serves and the models that validate and build what they take and answer.

May import: `live` and below. Never a runtime, nor another feature.
"""
