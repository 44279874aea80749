"""Reading the business account's templates: `GET {base}/{version}/{WABA-ID}/message_templates`,
every page (Meta pages with `paging.cursors.after` and says `paging.next` while more follow).

The token goes only to the configured Graph host: the next page is asked for with the cursor,
never by following a URL from the answer. Pages and answers are bounded.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import ValidationError

from engagement.config.template_registry import TemplateRecord

FIELDS = "id,name,language,status,category,components,quality_score,parameter_format"
PAGE_SIZE = 100
MAX_PAGES = 500
MAX_ANSWER_BYTES = 8 * 2**20


class TemplateSyncError(RuntimeError):
    """The Graph API could not be read; the message says what it answered (never the token)."""


def fetch_templates(
    base_url: str,
    version: str,
    account_id: str,
    token: str,
    transport: httpx.BaseTransport | None = None,
    timeout: float = 30.0,
) -> list[TemplateRecord]:
    if not account_id or not token:
        raise TemplateSyncError(
            "templates sync needs ENGAGEMENT_WHATSAPP_BUSINESS_ACCOUNT_ID and ENGAGEMENT_WHATSAPP_TOKEN"
        )
    url = f"{base_url.rstrip('/')}/{version}/{account_id}/message_templates"
    records: list[TemplateRecord] = []
    params: dict[str, str | int] = {"fields": FIELDS, "limit": PAGE_SIZE}
    with httpx.Client(
        headers={"Authorization": f"Bearer {token}"}, timeout=timeout, transport=transport, follow_redirects=False
    ) as client:
        for _ in range(MAX_PAGES):
            page = _page(client, url, params)
            for item in page.get("data") or []:
                try:
                    records.append(TemplateRecord.model_validate(item))
                except ValidationError as exc:
                    raise TemplateSyncError(
                        f"a template in the answer is not readable: {exc.errors()[0]['msg']}"
                    ) from None
            paging = page.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not paging.get("next") or not isinstance(after, str) or not after:
                return records
            params = {**params, "after": after}
    raise TemplateSyncError(f"more than {MAX_PAGES} pages of templates; stopped")


def _page(client: httpx.Client, url: str, params: dict[str, str | int]) -> dict[str, Any]:
    try:
        response = client.get(url, params=params)
    except httpx.HTTPError as exc:
        raise TemplateSyncError(f"the Graph API did not answer: {type(exc).__name__}") from None
    return _answer(response)


def _answer(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of a 200, or the Graph API's error as a `TemplateSyncError`."""
    if len(response.content) > MAX_ANSWER_BYTES:
        raise TemplateSyncError(f"an answer of {len(response.content):,} bytes; at most {MAX_ANSWER_BYTES:,}")
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict):
        error = body.get("error") if isinstance(body, dict) else None
        detail = f"{error.get('message')} (code {error.get('code')})" if isinstance(error, dict) else "no error body"
        raise TemplateSyncError(f"the Graph API answered {response.status_code}: {detail}")
    return body


def submit_template(
    base_url: str,
    version: str,
    account_id: str,
    token: str,
    payload: dict[str, Any],
    transport: httpx.BaseTransport | None = None,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """`POST .../message_templates`: Meta's answer (`id`, `status`, `category`)."""
    if not account_id or not token:
        raise TemplateSyncError(
            "templates submit needs ENGAGEMENT_WHATSAPP_BUSINESS_ACCOUNT_ID and ENGAGEMENT_WHATSAPP_TOKEN"
        )
    url = f"{base_url.rstrip('/')}/{version}/{account_id}/message_templates"
    with httpx.Client(
        headers={"Authorization": f"Bearer {token}"}, timeout=timeout, transport=transport, follow_redirects=False
    ) as client:
        try:
            response = client.post(url, json=payload)
        except httpx.HTTPError as exc:
            raise TemplateSyncError(f"the Graph API did not answer: {type(exc).__name__}") from None
    return _answer(response)
