"""The decisions webhook's settings, checked at start: a URL that is one, and a secret long enough
that a receiver can tell a decision from a forgery."""

from __future__ import annotations

import httpx

from engagement.decision_feed.webhook import DecisionsWebhook
from engagement.settings import Settings

MIN_SECRET = 16


class FeedSettingsError(ValueError):
    """Settings the decisions webhook cannot work with; the runtime refuses to start."""


def decisions_webhook(settings: Settings) -> DecisionsWebhook | None:
    url = settings.decisions_webhook_url
    if not url:
        return None
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise FeedSettingsError(f"ENGAGEMENT_DECISIONS_WEBHOOK_URL: not a URL ({exc})") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise FeedSettingsError("ENGAGEMENT_DECISIONS_WEBHOOK_URL: an http(s) URL with a host is expected")
    secret = settings.decisions_webhook_secret.get_secret_value()
    if len(secret) < MIN_SECRET:
        raise FeedSettingsError(
            f"ENGAGEMENT_DECISIONS_WEBHOOK_SECRET: at least {MIN_SECRET} characters, so that the receiver can tell "
            "a decision from a forgery"
        )
    return DecisionsWebhook(url, secret)
