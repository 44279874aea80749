"""Deployment settings from the environment (prefix `ENGAGEMENT_`, CONTRACT.md §7).

May import: `core`, `events`, `limits`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from engagement.core.durations import Duration
from engagement.core.engine import EngineSettings
from engagement.events import _check_zone
from engagement.limits import Limits

_DOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+\.?\Z")


_E164 = re.compile(r"^\+[1-9][0-9]{6,14}\Z")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ENGAGEMENT_", extra="ignore", frozen=True)

    kafka_brokers: str = "127.0.0.1:9092"
    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    triggers_dir: Path | None = None
    messages_dir: Path | None = None
    state_dir: Path = Path("./engagement-state")
    http_port: int = Field(default=8080, ge=1, le=65535)
    default_timezone: str = "UTC"
    allowed_lateness: Duration = timedelta(seconds=30)
    config_poll: Duration = Field(
        default=timedelta(seconds=2),
        description="how often run and the workers look for changed trigger and message files (0s: never)",
    )
    partitions: int = Field(default=4, ge=1, description="partitions of every engagement topic")
    worker_store: str = Field(default="rocksdb", pattern="^(rocksdb|memory)$")
    app_id: str = Field(
        default="engagement",
        pattern=r"^[A-Za-z0-9._-]+$",
        description="the workers' consumer group, changelog name and Redis key namespace",
    )
    kafka_session_timeout: Duration = Field(
        default=timedelta(seconds=10), description="how long a silent worker keeps its partitions"
    )
    topic_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9._-]*$", description="put before every topic name")
    provider: str = "console"
    provider_file: Path | None = None
    whatsapp_api_base: str = "https://graph.facebook.com"
    whatsapp_api_version: str = "v23.0"
    whatsapp_phone_number_id: str = ""
    whatsapp_token: SecretStr = SecretStr("")
    whatsapp_app_secret: SecretStr = SecretStr("")
    whatsapp_verify_token: SecretStr = SecretStr("")
    whatsapp_max_rps: float = Field(default=80.0, gt=0)
    twilio_api_base: str = "https://api.twilio.com"
    twilio_account_sid: str = ""
    twilio_auth_token: SecretStr = SecretStr("")
    twilio_from: str = Field(default="", description="whatsapp:+E.164 sender, or a Messaging Service SID (MG...)")
    twilio_content_sids: Path | None = Field(
        default=None, description="YAML or JSON file: {template name: {language: ContentSid}}"
    )
    twilio_webhook_url: str = Field(
        default="",
        description="public URL of POST /v1/webhooks/twilio: status callbacks go there, signatures are checked on it",
    )
    twilio_sms_from: str = Field(
        default="", description="the SMS sender: +E.164, or a Messaging Service SID (MG...); empty: no SMS"
    )
    sms_max_rps: float = Field(default=10.0, gt=0, description="SMS sends per second (Twilio queues what is above)")
    line_api_base: str = Field(default="https://api.line.me", description="the LINE Messaging API's address")
    line_max_rps: float = Field(default=2000.0, gt=0, description="LINE pushes per second (LINE allows 2,000)")
    line_channel_token: SecretStr = Field(
        default=SecretStr(""), description="the LINE channel access token; empty: no LINE sends"
    )
    line_channel_secret: SecretStr = Field(
        default=SecretStr(""), description="the LINE channel secret: x-line-signature of webhooks is checked with it"
    )
    handoff_url: str = Field(
        default="", description="where replies for people are POSTed as signed JSON (hand-off; optional)"
    )
    handoff_secret: SecretStr = Field(
        default=SecretStr(""), description="the HMAC-SHA256 key of X-Engagement-Signature on hand-offs"
    )
    decisions_webhook_url: str = Field(
        default="", description="where every decision is POSTed as signed JSON, in batches (optional)"
    )
    decisions_webhook_secret: SecretStr = Field(
        default=SecretStr(""), description="the HMAC-SHA256 key of X-Engagement-Signature on the decisions webhook"
    )
    shopify_secret: SecretStr = Field(
        default=SecretStr(""), description="the Shopify app's client secret: X-Shopify-Hmac-Sha256 is checked with it"
    )
    shopify_secret_previous: SecretStr = Field(
        default=SecretStr(""), description="the secret before a rotation, accepted too until it is cleared"
    )
    segment_secret: SecretStr = Field(
        default=SecretStr(""), description="the Segment webhook's shared secret: X-Signature is checked with it"
    )
    shopline_token: SecretStr = Field(
        default=SecretStr(""), description="the token in SHOPLINE's webhook address (/v1/sources/shopline?token=...)"
    )
    chatwoot_url: str = Field(default="", description="a Chatwoot server hand-offs go to (optional)")
    chatwoot_account_id: int = Field(default=0, ge=0)
    chatwoot_inbox_id: int = Field(default=0, ge=0, description="the Chatwoot API inbox hand-offs open in")
    chatwoot_api_token: SecretStr = SecretStr("")
    console_url: str = Field(
        default="", description="the console's public address, for the customer's page in a hand-off"
    )
    security_webhook_url: str = Field(
        default="", description="where a customer's 'not me' answer to a login alert is POSTed as JSON (optional)"
    )
    whatsapp_daily_recipients: int = Field(
        default=0,
        ge=0,
        description="the messaging tier: unique recipients per moving 24 h (250, 1000, 10000, 100000; 0: no limit)",
    )
    whatsapp_timeout: Duration = Field(
        default=timedelta(seconds=30),
        description="how long a send waits for Meta's answer; after that its outcome is unknown (never resent)",
    )

    api_keys_file: Path | None = Field(
        default=None,
        description="the API keys (NAME SCOPES sha256:HEX per line); default STATE_DIR/api_keys",
    )
    max_future_skew: Duration = Field(
        default=timedelta(minutes=5), description="live ingest rejects events dated further ahead of the wall clock"
    )
    global_holdout_percent: float = Field(
        default=0.0,
        ge=0.0,
        le=100.0,
        description="share of customers (deterministic per customer) no marketing trigger messages: the global "
        "control group of engagement report; security and utility messages still go",
    )
    retention_days: int = Field(
        default=90, ge=1, le=3650, description="stored decisions and send logs are kept this long"
    )
    max_body_bytes: int = Field(
        default=4 * 1024 * 1024, ge=64 * 1024, le=64 * 1024 * 1024, description="the largest HTTP request body taken"
    )
    whatsapp_business_account_id: str = ""
    http_idle_timeout: Duration = Field(
        default=timedelta(seconds=15), description="a connection that sends no complete request in this time is closed"
    )
    http_body_timeout: Duration = Field(
        default=timedelta(seconds=30), description="a request whose body has not arrived whole by then is answered 408"
    )

    link_domains: str = Field(
        default="",
        description="the shop's own domains (comma-separated, e.g. shop.example.com,t-cat.com.tw): the only "
        "hosts a link from an event (tracking_url) may name in a message; other links are left out",
    )

    @field_validator("link_domains")
    @classmethod
    def _domains(cls, value: str) -> str:
        for domain in value.split(","):
            name = domain.strip().lower()
            if name and not _DOMAIN.match(name):
                raise ValueError(f"{domain.strip()!r} is not a domain name (letters, digits, - and dots)")
        return value

    test_numbers: str = Field(
        default="",
        description="the phone numbers (E.164, comma-separated) the console may send a test message to",
    )
    console_require_approval: bool = Field(
        default=False,
        description="maker/checker: a console edit is proposed by one key and published by another admin key",
    )

    @field_validator("test_numbers")
    @classmethod
    def _numbers(cls, value: str) -> str:
        for number in value.split(","):
            if number.strip() and not _E164.match(number.strip()):
                raise ValueError(f"{number.strip()!r} is not an E.164 number such as +886912345678")
        return value

    def allowed_test_numbers(self) -> frozenset[str]:
        return frozenset(n.strip() for n in self.test_numbers.split(",") if n.strip())

    def domains(self) -> tuple[str, ...]:
        return tuple(d.strip().lower().rstrip(".") for d in self.link_domains.split(",") if d.strip())

    def http_limits(self) -> Limits:
        return Limits(
            self.max_body_bytes, self.http_body_timeout.total_seconds(), self.http_idle_timeout.total_seconds()
        )

    @field_validator("default_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _check_zone(value)

    def keys_file(self) -> Path:
        return self.api_keys_file or self.state_dir / "api_keys"

    def engine_settings(self) -> EngineSettings:
        return EngineSettings(
            default_timezone=self.default_timezone,
            allowed_lateness=self.allowed_lateness.total_seconds(),
            global_holdout_percent=self.global_holdout_percent,
            link_domains=self.domains(),
        )
