"""Prometheus metrics of one bot process: what an operator graphs and alerts on (docs/deploy.md, "Metrics").

Counters and histograms are module-level in one registry (`REGISTRY`) and updated where the work happens: the
command tree and the view store (interactions), each unit of work (its wait for a database connection), the LLM
client (calls, tokens, latency), the tutor's cache, the scheduler (job runs, duration, lag). What is only true at
scrape time (gateway latency per shard, shards connected, the database pool's connections) is read then by
`LiveCollector`. Updating a metric is a few dictionary lookups; nothing here does I/O, and nothing is served unless
`[metrics] enabled` (`bot.health` serves it). No Discord import: the tutor uses it too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from bot.app import CourseBot

REGISTRY = CollectorRegistry()

# Discord wants an answer within 3 s: the buckets are dense below it.
_ANSWER_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 5.0, 10.0, 30.0)
_SLOW_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

INTERACTIONS = Counter(
    "coursebot_interactions",
    "Interactions handled, by kind (command, autocomplete, component, modal), name and outcome (ok, error, unhandled)",
    ["kind", "name", "outcome"],
    registry=REGISTRY,
)
ACKNOWLEDGED = Histogram(
    "coursebot_interaction_ack_seconds",
    "From the interaction's arrival to its acknowledgement (Discord drops it after 3 s)",
    ["kind", "name"],
    buckets=_ANSWER_BUCKETS,
    registry=REGISTRY,
)
COMPLETED = Histogram(
    "coursebot_interaction_seconds",
    "From the interaction's arrival to the end of its handler",
    ["kind", "name"],
    buckets=_ANSWER_BUCKETS,
    registry=REGISTRY,
)
LLM_CALLS = Counter(
    "coursebot_llm_calls", "Model calls, by operation and outcome", ["operation", "outcome"], registry=REGISTRY
)
LLM_TOKENS = Counter("coursebot_llm_tokens", "Tokens the model counted, by direction", ["direction"], registry=REGISTRY)
LLM_SECONDS = Histogram(
    "coursebot_llm_call_seconds", "Model call latency", ["operation"], buckets=_SLOW_BUCKETS, registry=REGISTRY
)
JOB_RUNS = Counter(
    "coursebot_job_runs",
    "Periodic job runs, by outcome: done, failed, or skipped (another process leads this run)",
    ["job", "outcome"],
    registry=REGISTRY,
)
JOB_SECONDS = Histogram(
    "coursebot_job_seconds",
    "Periodic job duration (runs this process led)",
    ["job"],
    buckets=_SLOW_BUCKETS,
    registry=REGISTRY,
)
JOB_LAG = Histogram(
    "coursebot_job_lag_seconds",
    "How late a periodic job started after its scheduled time",
    ["job"],
    buckets=_SLOW_BUCKETS,
    registry=REGISTRY,
)


TUTOR_CACHE = Counter(
    "coursebot_tutor_cache_lookups",
    "Tutor answers by where they came from: replayed from the response cache, or written fresh",
    ["result"],
    registry=REGISTRY,
)
OUTBOX_BACKLOG = Gauge(
    "coursebot_outbox_backlog", "Outbox rows due and not sent yet, after the latest sender run", registry=REGISTRY
)
DB_CONNECTION_WAIT = Histogram(
    "coursebot_db_connection_wait_seconds",
    "How long a unit of work waited for its database connection (on SQLite, its write lock included)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)


def llm_call(operation: str, *, seconds: float, ok: bool) -> None:
    """One model call (`chat completion`, `chat stream`, `embeddings`, ...) and its latency."""
    LLM_CALLS.labels(operation, "ok" if ok else "error").inc()
    LLM_SECONDS.labels(operation).observe(seconds)


def llm_tokens(prompt: int | None, completion: int | None) -> None:
    """The tokens a model call used, as the server counted them (None: not reported)."""
    if prompt:
        LLM_TOKENS.labels("prompt").inc(prompt)
    if completion:
        LLM_TOKENS.labels("completion").inc(completion)


class LiveCollector(Collector):
    """What is read at scrape time from one bot: gateway latency and connection of each of its shards, the
    database pool's connections in use and in overflow."""

    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot

    def collect(self) -> Iterator[GaugeMetricFamily]:
        latency = GaugeMetricFamily(
            "coursebot_gateway_latency_seconds", "Heartbeat round trip of each shard", labels=["shard"]
        )
        connected = GaugeMetricFamily(
            "coursebot_shard_connected", "1 when the shard's gateway connection is open", labels=["shard"]
        )
        for shard_id, shard in sorted(self.bot.shards.items()):
            connected.add_metric([str(shard_id)], 0.0 if shard.is_closed() else 1.0)
            if shard.latency == shard.latency and shard.latency != float("inf"):  # NaN before the first heartbeat
                latency.add_metric([str(shard_id)], shard.latency)
        yield latency
        yield connected
        pool = self.bot.db.engine.sync_engine.pool
        in_use = GaugeMetricFamily("coursebot_db_connections_in_use", "Database connections checked out")
        in_use.add_metric([], float(getattr(pool, "checkedout", lambda: 0)()))
        yield in_use
        overflow = GaugeMetricFamily("coursebot_db_connections_overflow", "Connections open beyond the pool size")
        overflow.add_metric([], float(max(getattr(pool, "overflow", lambda: 0)(), 0)))
        yield overflow


def exposition() -> bytes:
    """Every metric in Prometheus' text format."""
    return generate_latest(REGISTRY)
