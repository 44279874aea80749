"""Choosing the provider named by `ENGAGEMENT_PROVIDER`."""

from __future__ import annotations

from engagement.providers.base import Provider
from engagement.providers.channels import ChannelRouter
from engagement.providers.console import ConsoleProvider
from engagement.providers.file import FileProvider
from engagement.providers.line.push_api import LinePushProvider
from engagement.providers.twilio.messages_api import TwilioProvider, load_content_map
from engagement.providers.whatsapp.cloud_api import CloudApiProvider
from engagement.settings import Settings


class UnknownProviderError(ValueError):
    pass


def build_provider(settings: Settings) -> Provider:
    """The provider of `ENGAGEMENT_PROVIDER` for WhatsApp, with LINE (a channel token set) and SMS
    (an SMS sender set, through Twilio) beside it; the console and the file take every channel."""
    base = _base_provider(settings)
    if settings.provider not in ("whatsapp", "twilio"):
        return base  # the console and the file take every channel
    channels: dict[str, Provider] = {"whatsapp": base}
    token = settings.line_channel_token.get_secret_value()
    if token:
        channels["line"] = LinePushProvider(
            settings.line_api_base, token, read_timeout=settings.whatsapp_timeout.total_seconds()
        )
    if settings.twilio_sms_from:
        channels["sms"] = base if isinstance(base, TwilioProvider) else _twilio(settings, sender="")
    return ChannelRouter(channels)


def _twilio(settings: Settings, sender: str) -> TwilioProvider:
    return TwilioProvider(
        settings.twilio_account_sid,
        settings.twilio_auth_token.get_secret_value(),
        sender,
        base_url=settings.twilio_api_base,
        content=load_content_map(settings.twilio_content_sids),
        status_callback=settings.twilio_webhook_url or None,
        sms_sender=settings.twilio_sms_from,
        read_timeout=settings.whatsapp_timeout.total_seconds(),
    )


def _base_provider(settings: Settings) -> Provider:
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
        return _twilio(settings, settings.twilio_from)
    raise UnknownProviderError(
        f"ENGAGEMENT_PROVIDER={settings.provider!r} is not available; use whatsapp, twilio, console or file"
    )
