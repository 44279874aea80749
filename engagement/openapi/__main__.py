"""`python -m engagement.openapi`: the OpenAPI document of every operation, as `docs/openapi.json` keeps it."""

import json
import sys

from engagement.openapi.document import full_document

sys.stdout.write(json.dumps(full_document(), indent=1, sort_keys=True, ensure_ascii=False) + "\n")
