"""Choosing the provider named by `ENGAGEMENT_PROVIDER`."""

from __future__ import annotations

from engagement.providers.base import Provider
from engagement.providers.console import ConsoleProvider
from engagement.providers.file import FileProvider
from engagement.providers.twilio.messages_api import TwilioProvider, load_content_map
from engagement.providers.whatsapp.cloud_api import CloudApiProvider
from engagement.settings import Settings


class UnknownProviderError(ValueError):
    pass


def build_provider(settings: Settings) -> Provider:
    if settings.provider == "console":
        return ConsoleProvider()
    if settings.provider == "file":
        path = settings.provider_file or settings.state_dir / "sent.jsonl"
        return FileProvider(path)
    if settings.provider == "whatsapp":
        return CloudApiProvider(
            settings.whatsapp_api_base,
            settings.whatsapp_api_version,
            settings.whatsapp_phone_number_id,
            settings.whatsapp_token.get_secret_value(),
            read_timeout=settings.whatsapp_timeout.total_seconds(),
        )
    if settings.provider == "twilio":
        return TwilioProvider(
            settings.twilio_account_sid,
            settings.twilio_auth_token.get_secret_value(),
            settings.twilio_from,
            base_url=settings.twilio_api_base,
            content=load_content_map(settings.twilio_content_sids),
            status_callback=settings.twilio_webhook_url or None,
            read_timeout=settings.whatsapp_timeout.total_seconds(),
        )
    raise UnknownProviderError(
        f"ENGAGEMENT_PROVIDER={settings.provider!r} is not available; use whatsapp, twilio, console or file"
    )
