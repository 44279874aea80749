"""The faust-streaming app: one thin agent over the input topics and the tick topic, a state table,
a timer that turns due wake-ups into ticks, and the HTTP API (ingest produces to the topics)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from aiokafka.partitioner import DefaultPartitioner

from engagement.console.backtests import forgetting_kept
from engagement.console.routes import add_console
from engagement.decision_feed.push import run_feed
from engagement.decision_feed.settings import decisions_webhook
from engagement.decode import Rejection, decode_event
from engagement.events import Event
from engagement.handoff.routing import sending_provider
from engagement.live.api_keys import KeyRing
from engagement.live.config_reload import ConfigWatcher, watch
from engagement.live.guard import KEYED_ROUTE, refuse_open_bind
from engagement.live.heavy_reads import HeavyReads
from engagement.live.http import Api, make_app, serve
from engagement.live.ingest import Taken, future_rejection
from engagement.live.line_webhook import line_webhook_settings
from engagement.live.metrics import Metrics, standard_metrics
from engagement.live.phone_owners import PhoneBook, phones_and_customers
from engagement.live.rate_limit import RateLimiter, Unlimited, burst_for, channel_rates
from engagement.live.security_reports import SecurityReport, SecurityReports
from engagement.live.supervisor import Supervisor
from engagement.live.twilio_webhook import twilio_webhook_settings
from engagement.live.whatsapp_webhook import WebhookSettings
from engagement.openapi.document import add_openapi
from engagement.providers.base import OutboundMessage, Provider
from engagement.providers.file import FileProvider
from engagement.settings import Settings
from engagement.sources.routes import add_sources, source_settings
from engagement.worker.admin import TABLE, committed_offsets
from engagement.worker.console_backend import worker_console
from engagement.worker.decision_feed import TopicDecisions
from engagement.worker.erasure_watch import ErasureWatch
from engagement.worker.outbox import RedisOutbox
from engagement.worker.progress import InputProgress
from engagement.worker.rate_limit import RedisGcra
from engagement.worker.recipient_budget import RedisRecipientBudget
from engagement.worker.reports import from_topics
from engagement.worker.restore_watch import RestoreWatch, reread_stalled_restores
from engagement.worker.sending import WorkerSender
from engagement.worker.service import Produce, WorkerService
from engagement.worker.source_memory import RedisMemory
from engagement.worker.table import PartitionedTable
from engagement.worker.topics import TopicNames, forget_message
from engagement.worker.webhook_port import RedisWebhookPort

log = logging.getLogger("engagement.worker")

TICK_INTERVAL_SECONDS = 0.25
TICK_DELIVERY_SECONDS = 5.0  # a tick the broker has not confirmed by then is asked again
HTTP_INGESTED = "engagement_http_ingested_total"  # produced to the topics; the agent counts them again
BATCH_MAX = 1000
BATCH_WITHIN_SECONDS = 0.1  # collecting a batch; trades up to this much latency for fewer table writes
PRODUCER_LINGER_SECONDS = 0.005
PRODUCER_BATCH_BYTES = 512 * 1024


def create_app(
    settings: Settings, engine: Any, partitions: int, host: str, watcher: ConfigWatcher | None = None
) -> faust.App:
    names = TopicNames(settings.topic_prefix)
    app = faust_app(settings, partitions)
    raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}
    inputs = app.topic(*names.inputs, names.ticks, partitions=partitions, **raw)
    out_topics = {name: app.topic(name, partitions=partitions, **raw) for name in names.all}
    table = app.Table(TABLE, partitions=partitions, key_type=bytes, value_type=bytes)
    metrics = watcher.metrics if watcher is not None else standard_metrics()
    metrics.describe(HTTP_INGESTED, "counter", "events taken over HTTP and produced to the topics, by result")
    provider = sending_provider(settings)
    outbox = RedisOutbox(settings.redis_url.get_secret_value(), settings.app_id)
    partitioner = DefaultPartitioner()
    all_partitions = list(range(partitions))

    def partition_of(cid: str) -> int:
        return int(partitioner(cid.encode(), all_partitions, all_partitions))

    states = PartitionedTable(table)
    send_log = provider.provider if isinstance(provider.provider, FileProvider) else None
    service = WorkerService(
        engine, states, producer_for(app), outbox, metrics, names, send_log=send_log, state_dir=settings.state_dir
    )
    progress = InputProgress(names.inputs)
    rebuild_wanted = [True]

    max_future = settings.max_future_skew.total_seconds()

    supervisor = Supervisor(metrics)

    @app.agent(inputs, concurrency=1)
    async def process(stream: Any) -> None:
        async for batch in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_SECONDS):

            async def handle(batch: list[Any] = batch) -> None:
                inputs, ticks = decoded(batch, progress, names.ticks, max_future, watcher, service)
                service.begin_batch(await phone_book(outbox, [item for _, _, _, item in inputs]))
                apply_batch(inputs, ticks, service, states, progress, app.consumer)
                await service.flush()

            try:
                await supervisor.until_done("batch", handle, service.drop_batch)
            except BaseException:
                keep_unacknowledged(batch)
                raise

    @app.on_rebalance_complete.connect
    async def _rebalanced(*_: Any, **__: Any) -> None:
        rebuild_wanted[0] = True

    @app.timer(TICK_INTERVAL_SECONDS)
    async def tick() -> None:
        await supervisor.once("timers", tick_round)

    async def tick_round() -> None:
        if app.rebalancing:
            return
        assigned = {tp.partition for tp in app.consumer.assignment() if tp.topic in names.inputs}
        metrics.set("engagement_assigned_partitions", len(assigned))
        if rebuild_wanted[0]:
            await read_committed(progress, settings, names, rebuild_wanted)
            log.info("partitions %s: %d with timers", sorted(assigned), service.rebuild(partition_of, assigned))
        await reread_stalled(app.consumer, progress, metrics)
        await send_due_ticks(service, progress, app.consumer, assigned, names.ticks)
        metrics.set("engagement_pending_timers", sum(len(c.wakeups) for c in service.partitions.values()))

    producing = TopicIngest(out_topics, names, outbox, metrics, partition_of)

    add_sender_task(app, settings, outbox, provider, supervisor, producing)
    add_decision_feed(app, settings, names, supervisor)
    erasures = add_upkeep_tasks(  # the erasure watch polls, and the console looks before a backtest
        app,
        supervisor,
        watcher,
        service,
        settings.config_poll.total_seconds(),
        ErasureWatch(outbox.erasure_mark, settings.state_dir),
    )
    add_http_task(app, settings, producing, outbox, supervisor, out_topics, host, service, provider, erasures)
    return app


def add_sender_task(
    app: faust.App,
    settings: Settings,
    outbox: RedisOutbox,
    provider: Provider,
    supervisor: Supervisor,
    producing: TopicIngest,
) -> None:
    """The sender: due sends from the Redis outbox to the provider; refusals back to the engine."""

    @app.task
    async def sender() -> None:
        quiet_library_debug_logs()
        limiter, budget = send_limiter(settings, outbox), budget_for(settings, outbox)
        call_timeout = settings.whatsapp_timeout.total_seconds()
        sending = WorkerSender(
            outbox,
            provider,
            supervisor.metrics,
            limiter,
            producing.ingest,
            budget,
            call_timeout,
            producing.publish_status,
            {
                channel: RedisGcra(outbox, rate, burst_for(rate), channel)
                for channel, rate in channel_rates(settings).items()
            },
        )
        await supervisor.run("sender", sending.run)


def add_decision_feed(app: faust.App, settings: Settings, names: TopicNames, supervisor: Supervisor) -> None:
    """Every decision to the shop's webhook, when one is set (`engagement.decision_feed`)."""
    webhook = decisions_webhook(settings)  # bad settings refuse to start
    if webhook is None:
        return
    source = TopicDecisions(settings.kafka_brokers, names.decisions, f"{settings.app_id}-decisions-webhook")

    @app.task
    async def decisions_feed() -> None:
        try:
            await supervisor.run("decisions_webhook", lambda: run_feed(source, webhook, supervisor.metrics))
        finally:
            await source.close()
            await webhook.close()


def add_http_task(
    app: faust.App,
    settings: Settings,
    producing: TopicIngest,
    outbox: RedisOutbox,
    supervisor: Supervisor,
    out_topics: dict[str, Any],
    host: str,
    service: WorkerService,
    provider: Provider,
    erasures: ErasureWatch,
) -> None:
    """The HTTP API, behind the API keys; a server that would listen beyond loopback without
    keys is refused before the worker starts. `/healthz` reports the supervised tasks."""
    keys = KeyRing(settings.keys_file())
    refuse_open_bind(host, keys)

    @app.task
    async def http() -> None:
        names = TopicNames(settings.topic_prefix)
        reports = security_reports(settings, supervisor, out_topics[names.security])
        port = RedisWebhookPort(
            outbox, producing, reports.report, producing.publish_status, lambda: service.engine.answering.not_me_words
        )
        await serve_http(settings, producing, port, supervisor, host, keys, service, provider, erasures)


def keep_unacknowledged(batch: list[Any]) -> None:
    """A batch left unfinished (the worker stops in the middle of it) must not be acknowledged:
    faust's `take_events` acknowledges a batch however its body ends, so each message gets one
    more reference, and the acknowledgement leaves it uncommitted for the next owner to read."""
    for event in batch:
        event.message.incref()


async def read_committed(
    progress: InputProgress, settings: Settings, names: TopicNames, rebuild_wanted: list[bool]
) -> None:
    """The group's committed offsets after a rebalance; a failed read is tried again next round."""
    rebuild_wanted[0] = False  # a rebalance during the read asks again
    try:
        progress.rebalanced(await committed_offsets(settings.kafka_brokers, settings.app_id, names.inputs))
    except BaseException:
        rebuild_wanted[0] = True
        raise


async def reread_stalled(consumer: Any, progress: InputProgress, metrics: Metrics) -> None:
    """Input partitions whose unread messages never arrive are read again (see `InputProgress.stalled`).
    Where nothing was fetched yet, the broker is asked for the partitions' ends (every few seconds)."""
    unfetched = progress.unfetched(consumer)
    now = time.monotonic()
    if not unfetched:
        progress.broker_ends = {}
    elif now - progress.ends_asked_at >= ASK_ENDS_SECONDS:
        try:
            progress.learn_ends(await asyncio.wait_for(consumer.highwaters(*unfetched), ASK_TIMEOUT_SECONDS))
        except Exception:  # the broker's answer is a hint: without it, nothing changes
            progress.broker_ends = {}
            log.debug("the ends of partitions not fetched yet could not be read")
        progress.ends_asked_at = time.monotonic()  # the next ask a while after this one ends
    for tp, offset in progress.stalled(consumer, now):
        log.warning("%s[%d]: messages not delivered; reading again from offset %d", tp.topic, tp.partition, offset)
        metrics.inc("engagement_partition_rereads_total")
        await consumer.seek(tp, offset)


ASK_ENDS_SECONDS = 5.0
ASK_TIMEOUT_SECONDS = 1.0  # the timers' loop waits no longer for the broker's answer


def add_upkeep_tasks(
    app: faust.App,
    supervisor: Supervisor,
    watcher: ConfigWatcher | None,
    service: WorkerService,
    poll: float,
    erasures: ErasureWatch,
) -> ErasureWatch:
    """Stalled table restores read again; trigger and message files reloaded when they change; the
    console's kept backtests deleted when any worker erased a customer (the erasure watch is returned:
    the console looks at it too, before a backtest)."""
    metrics = supervisor.metrics

    @app.task
    async def erasure_watch() -> None:
        await supervisor.run("erasure_watch", erasures.run)

    @app.task
    async def restore_watch() -> None:
        await supervisor.run(
            "restore_watch", lambda: reread_stalled_restores(app, metrics, RestoreWatch(), time.monotonic)
        )

    if watcher is not None:
        reloading = watcher

        @app.task
        async def reload_config() -> None:
            await supervisor.run("config", lambda: watch(reloading, service.use_engine, poll))

    return erasures


async def send_due_ticks(
    service: WorkerService, progress: InputProgress, consumer: Any, assigned: set[int], ticks: str
) -> None:
    """Ask, through the ticks topic, for the timers the watermark has passed on each partition."""
    now = time.time()
    for partition in assigned:
        behind = progress.lagging(consumer, partition)
        if behind:
            progress.report_held(consumer, partition, behind, service.next_wakeup(partition), now)
        due = service.due_ticks(partition, now, behind)
        deliveries: list[Awaitable[object]] = []
        try:
            for cid, upto in due:
                body = json.dumps({"customer_id": cid, "upto": upto}).encode()
                deliveries.append(await service.produce(ticks, cid.encode(), body, partition))
        finally:
            # a tick the broker did not take (or has not confirmed in time) leaves its wake-up due
            # for the next round: a tick that arrives twice decides nothing the second time
            confirmed = await delivered_in_time(deliveries, TICK_DELIVERY_SECONDS)
            late = [cid for (cid, _), ok in zip(due, confirmed, strict=False) if not ok]
            if late:
                log.warning("partition %d: %d ticks not confirmed by the broker; asking again", partition, len(late))
            service.due_again(partition, late + [cid for cid, _ in due[len(confirmed) :]])


async def delivered_in_time(deliveries: list[Awaitable[object]], timeout: float) -> list[bool]:
    """Which of the queued messages the broker confirmed within `timeout` seconds."""
    if not deliveries:
        return []
    futures = [asyncio.ensure_future(d) for d in deliveries]
    await asyncio.wait(futures, timeout=timeout)
    return [f.done() and not f.cancelled() and f.exception() is None for f in futures]


async def delivered(topic: Any, **message: Any) -> object:
    """Send one message and wait until the broker has it (faust's `send` only queues it)."""
    return await (await topic.send(**message))


def producer_for(app: faust.App) -> Produce:
    async def produce(topic: str, key: bytes, value: bytes, partition: int | None) -> Awaitable[object]:
        """Queue a message with the app's producer (faust's own, without a topic's per-message
        bookkeeping: a batch's decisions are many); the answer is awaited for its delivery."""
        delivered: Awaitable[object] = await app.producer.send(topic, key or None, value, partition, None, None)
        return delivered

    return produce


class TopicIngest:
    """The worker's side of the HTTP API: events produced to the input topics, erasures to the
    ticks topic (so the worker that owns the customer's partition carries them out)."""

    def __init__(
        self,
        topics: dict[str, Any],
        names: TopicNames,
        outbox: RedisOutbox,
        metrics: Metrics,
        partition_of: Callable[[str], int],
    ) -> None:
        self.topics, self.names, self.outbox, self.metrics, self.partition_of = (
            topics,
            names,
            outbox,
            metrics,
            partition_of,
        )

    async def ingest(self, events: list[Event]) -> Taken:
        """A profile update whose phone number another customer holds is refused here already; the
        agent, which applies the update in event-time order and moves the phone index with the
        customer's state, checks again (for what backends produce to the topics themselves, and for
        two requests that race for one number)."""
        book = await phone_book(self.outbox, list(events))
        refused: dict[int, Rejection] = {}
        deliveries = []
        for n, event in enumerate(events):
            refusal = book.refusal(event)
            if refusal is not None:
                refused[n] = refusal
                continue
            book.take(event)  # a second customer in this request is refused
            value = event.model_dump_json(exclude_none=True, by_alias=True).encode()
            topic = self.topics[self.names.for_event(event.type)]
            deliveries.append(await topic.send(key=event.customer_id.encode(), value=value))
        await asyncio.gather(*deliveries)  # on the broker before the request is answered
        if refused:
            self.metrics.inc("engagement_phone_claims_refused_total", len(refused))
        return Taken(0, sorted(refused.items()))

    async def publish_status(self, key: str, line: bytes) -> None:
        """A line of the statuses topic (a provider's status, a fail-over, a delivery), keyed by send."""
        await delivered(self.topics[self.names.statuses], key=key.encode(), value=line)

    async def forget(self, customer_id: str) -> dict[str, int]:
        await delivered(
            self.topics[self.names.ticks],
            key=customer_id.encode(),
            value=forget_message(customer_id),
            partition=self.partition_of(customer_id),
        )
        return {"queued": 1}


Decoded = list[tuple[float, int, Any, Event | Rejection]]


def decoded(
    batch: Any,
    progress: InputProgress,
    ticks: str,
    max_future: float,
    watcher: ConfigWatcher | None,
    service: WorkerService,
) -> tuple[Decoded, list[Any]]:
    """`decode_batch`, after a look for a new configuration when the batch holds an event type this
    worker does not know: another worker may have taken a newly declared type over HTTP already."""
    inputs, tick_events = decode_batch(batch, progress, ticks, time.time(), max_future)
    if watcher is not None and any(_unknown_type(item) for _, _, _, item in inputs) and watcher.may_look():
        fresh = watcher.check()
        if fresh is not None:
            service.use_engine(fresh)
            inputs, tick_events = decode_batch(batch, progress, ticks, time.time(), max_future)
    return inputs, tick_events


def _unknown_type(item: object) -> bool:
    return isinstance(item, Rejection) and item.field == "type" and item.reason.startswith("unknown event type")


def decode_batch(
    batch: Any, progress: InputProgress, ticks: str, now: float, max_future: float
) -> tuple[Decoded, list[Any]]:
    """A batch's input events decoded (bad ones, and ones dated too far ahead, as rejections) in
    event-time order, and its ticks."""
    inputs: Decoded = []
    tick_events: list[Any] = []
    for n, event in enumerate(batch):
        message = event.message
        progress.record(message.topic, message.partition, message.offset)
        if message.topic == ticks:
            tick_events.append(event)
            continue
        item = decode_event(event.value)
        t = float("-inf")
        if not isinstance(item, Rejection):
            t = item.occurred_at.timestamp()
            refused = future_rejection(item, now, max_future, t)
            if refused is not None:
                item, t = refused, float("-inf")
        inputs.append((t, n, event, item))
    inputs.sort(key=lambda entry: (entry[0], entry[1]))
    return inputs, tick_events


async def phone_book(outbox: RedisOutbox, items: list[Event | Rejection]) -> PhoneBook:
    """The phone index as a batch starts, for the numbers and customers of its profile updates
    (one Redis call, and none for a batch without phone numbers)."""
    phones, customers = phones_and_customers(item for item in items if not isinstance(item, Rejection))
    owners, numbers = await outbox.phone_index(phones, customers)
    return PhoneBook(owners.get, numbers.get)


def apply_batch(
    inputs: Decoded,
    tick_events: list[Any],
    service: WorkerService,
    states: PartitionedTable,
    progress: InputProgress,
    consumer: Any,
) -> None:
    """Apply a decoded batch to the service (which writes nothing until `flush`). Input events go
    in event-time order: a batch mixes topics, and Kafka orders none across them (a login decided
    on arrival must see the profile update produced before it). Ticks go last, and then the timers
    the batch's events let fall due on its partitions (a tick through the ticks topic is for a
    partition whose events do not carry its clock, and costs a message and a state write more)."""
    lagging: dict[int, frozenset[str]] = {}
    for t, _, event, item in inputs:
        states.processing(event)
        message = event.message
        partition = message.partition
        behind = lagging.get(partition)
        if behind is None:
            behind = lagging[partition] = progress.lagging(consumer, partition)
        service.on_event(message.topic, partition, message.offset, event.value, time.time(), behind, item, t)
    for event in tick_events:
        states.processing(event)
        tick = json.loads(event.value)
        if tick.get("forget"):
            service.on_forget(event.message.partition, tick["customer_id"])
        else:
            service.on_tick(event.message.partition, tick["customer_id"], float(tick["upto"]), time.time())
    now = time.time()
    for partition, behind in lagging.items():
        service.decide_due(partition, now, behind)


async def serve_http(
    settings: Settings,
    producing: TopicIngest,
    port: RedisWebhookPort,
    supervisor: Supervisor,
    host: str,
    keys: KeyRing,
    service: WorkerService,
    provider: Provider,
    erasures: ErasureWatch,
) -> None:
    """The HTTP API of the worker: ingest produces to the topics; erasure goes to the owning
    worker through the ticks topic; the WhatsApp and Twilio webhooks; the report, read from the
    topics with the live configuration's attribution windows."""
    gate = HeavyReads()  # reports and the console's reads: a few at once
    whatsapp = WebhookSettings(
        settings.whatsapp_verify_token.get_secret_value(),
        settings.whatsapp_app_secret.get_secret_value(),
        port,
        templates_dir=settings.messages_dir,  # a template webhook updates its registry there
    )
    api = Api(
        forget=forgetting_kept(producing.forget, settings.state_dir),  # here, and the owner's own
        webhook=whatsapp,
        twilio=twilio_webhook_settings(settings, port),
        line=line_webhook_settings(settings, port),
        health=supervisor.health,
        report=lambda since: report_of(service.engine, settings, since, gate),
    )
    metrics = supervisor.metrics
    app = make_app(
        producing,
        metrics,
        keys,
        api,
        HTTP_INGESTED,
        settings.http_limits(),
        settings.max_future_skew.total_seconds(),
    )
    # the features beside the core API, each knowing nothing of this runtime
    console = worker_console(
        settings,
        lambda: service.engine,
        gate,
        state_of=held_by(service, producing.partition_of),
        owner_of=producing.outbox.customer_for_phone,
        send_test=test_sender(provider),
        erasures_elsewhere=erasures.up_to_date,
    )
    add_console(app, console, app[KEYED_ROUTE])
    memory = RedisMemory(producing.outbox)
    sources = source_settings(settings, memory, lambda: service.engine.source_options)
    add_sources(app, sources, producing.ingest, keys, metrics)
    add_openapi(app)
    await serve(app, host, settings.http_port)
    log.info("worker http on %s:%d with %d API keys", host, settings.http_port, len(keys))


async def report_of(engine: Any, settings: Settings, since: float | None, gate: HeavyReads) -> list[dict[str, Any]]:
    async with gate.slot():
        return await from_topics(engine, settings, since)


def held_by(service: WorkerService, partition_of: Callable[[str], int]) -> Callable[[str], Awaitable[Any]]:
    async def state_of(customer_id: str) -> Any:
        return service.held_state(partition_of(customer_id), customer_id)

    return state_of


def test_sender(provider: Provider) -> Callable[[OutboundMessage], Awaitable[str]]:
    async def send(message: OutboundMessage) -> str:
        return (await provider.send(message)).provider_message_id

    return send


def security_reports(settings: Settings, supervisor: Supervisor, topic: Any) -> SecurityReports:
    """A "not me" report goes to the security topic, and to the webhook URL when one is set."""

    async def publish(report: SecurityReport) -> None:
        await delivered(topic, key=report.customer_id.encode(), value=report.to_json())

    return SecurityReports(settings.security_webhook_url, supervisor.metrics, publish, supervisor)


def budget_for(settings: Settings, outbox: RedisOutbox) -> RedisRecipientBudget | None:
    """The messaging tier's unique recipients per 24 h, shared by all workers (None: no limit)."""
    limit = settings.whatsapp_daily_recipients
    return RedisRecipientBudget(outbox, limit) if limit else None


def send_limiter(settings: Settings, outbox: RedisOutbox) -> RateLimiter:
    """WhatsApp's throughput limit, shared by all workers through Redis."""
    if settings.provider not in ("whatsapp", "twilio"):
        return Unlimited()
    return RedisGcra(outbox, settings.whatsapp_max_rps, burst_for(settings.whatsapp_max_rps))


def quiet_library_debug_logs() -> None:
    """The worker's log setup leaves the libraries' loggers at NOTSET, so aiokafka and faust build a
    debug record per message sent only for the handler to drop it: a tenth of the CPU."""
    for name in ("aiokafka", "faust", "mode"):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.INFO:
            logger.setLevel(logging.INFO)


def faust_app(settings: Settings, partitions: int) -> faust.App:
    return faust.App(
        settings.app_id,
        broker=f"kafka://{settings.kafka_brokers}",
        store=f"rocksdb://{settings.state_dir / 'worker'}" if settings.worker_store == "rocksdb" else "memory://",
        datadir=str(settings.state_dir / "worker"),
        topic_partitions=partitions,
        topic_replication_factor=1,
        web_enabled=False,
        processing_guarantee="at_least_once",
        broker_commit_every=10_000,
        broker_max_poll_records=2000,
        stream_buffer_maxsize=16_384,
        broker_commit_interval=1.0,
        # a batch's state writes (changelog) and decisions go out in a few large produce requests
        # rather than one per message: a request is a socket write and a broker round trip
        producer_linger=PRODUCER_LINGER_SECONDS,
        producer_max_batch_size=PRODUCER_BATCH_BYTES,
        table_standby_replicas=0,
        broker_session_timeout=settings.kafka_session_timeout.total_seconds(),
        broker_heartbeat_interval=min(3.0, settings.kafka_session_timeout.total_seconds() / 4),
    )
