"""Two bot processes on one PostgreSQL database: bursts of answer presses, the periodic jobs run by both at once,
and the metrics endpoint's scrape time.

Each process is a real OS process (its own interpreter, event loop, engine and offline Discord), running half the
shards (`--shard-count 4`, shards 0-1 and 2-3), each with half the students, every student in a quiz of
`ROUNDS + 1` questions. A round is one burst of answer presses, each student answering their next question at
once (a fifth of them twice: double clicks), either by one process while the other is idle ("one process, half
the burst", the reference, once by each process) or by both at once ("two processes, the whole burst"). The
rounds alternate, `ROUNDS`: alone, together, together, alone, twice over, so the reference and the cluster are
measured on the same processes and database, as each grows, and on a shared machine a slow minute does not fall on
one side only.
Before each burst the same processes measure its floor in the same configuration: the same presses of the same
members on the same messages, each carrying the custom_id of a button that answers and changes nothing
(`button_floor`): what the offline Discord, discord.py and the machine take to deliver and acknowledge the burst
with no work in it. Together, the two processes start each floor and each burst at the same moment (each says it
is ready, the bench says go): one burst reaching both. The cluster's acknowledgement p99 should be no worse than
one process's; the bench reports it as measured, the same for the floors (what two processes at once do to presses
that do nothing), and each configuration's p99 over its own floor's.

While a process acknowledges a burst or its floor (until 99% of its presses are), the bench reads from Linux how
long its event loop's thread ran and how long it waited, runnable, for a CPU that something else had: waiting is
the machine's share of an acknowledgement's time, not the bot's; the time run says whether the work itself grew.

The processes are not pinned to CPUs: pinned, a process could not move off its core when the PostgreSQL
backends it woke ran there, and its acknowledgements took about twice as long (measured: 300 presses, 104 ms
unpinned, 227 ms pinned). On a two-core machine the two processes share the cores with PostgreSQL; one process
alone leaves it a core. Each process bounds its database waits and sizes its pool as shipped (`[database]` in
`config.toml`: 5 connections and 10 more in overflow; a burst's presses queue for them). With 20 and 20 the
cluster's acknowledgements were no faster (p99 0.88 to 1.23 times one process's in four runs).

Figures, for one process and for two: presses, answers recorded, presses answered "the database isn't answering,
try again" (and by what), how long presses waited for a database connection (p99, max) and until the last was
handled, acknowledgement p50/p99 with the floor and ratio, the time run and waited while acknowledging the burst
and its floor (mean of the bursts, and each burst's); duplicates in all (0); how far apart the processes started
their bursts together; the cluster's p99 over one process's, its floor's over one process's floor's, and its p99
over floor against one process's; for every periodic job, how many runs did the work and how many were skipped
because the other process led (one each); the stale attempts the sweep abandoned in all (each once); the scrape
time of `/metrics` after the bursts (target 50 ms), against a request the same server answers with a 404.
PostgreSQL only: SQLite is one process.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from sqlalchemy import func, select

from bench._harness import (
    Figure,
    add_floor_button,
    button_floor,
    latency_figures,
    ms,
    percentile,
    postgres_server,
)
from bench.engagement import DOUBLE_CLICK_SHARE, burst_package
from bot import metrics
from bot.app import CourseBot, database_from
from bot.clock import FixedClock
from bot.config import ClusterSettings, MetricsSettings, load_settings
from bot.health import Observability
from bot.scheduler import EVERY_PROCESS
from bot.services import content, tenancy
from db import migrate
from db.models import QuestionAnswer
from db.session import Database
from sandbox import DiscordSandbox, payloads
from sandbox.reply import Json, Reply
from sandbox.world import DEFAULT_GUILD_ID

BENCH = "cluster"
CONFIG = Path(__file__).resolve().parent.parent / "config.toml"
SHARD_COUNT = 4
PROCESS_SHARDS = ([0, 1], [2, 3])
SCRAPES = 50
REPORT_LIMIT = 16 * 1024 * 1024  # a process's report is one JSON line with every press's timings
ROUNDS = ("alone", "together", "together", "alone") * 2  # alone: each process in turn, the other idle
FLOOR_SETTLE_S = 0.5
ALL_SCALE = 0.02  # `python -m bench all`: the fewest presses, 40
FEWEST_PRESSES = 40  # 20 per process: the presses' setup (a member, an enrollment, a quiz each) is most of the run


async def run(*, backends: list[str], scale: float) -> AsyncIterator[Figure]:
    if "postgres" not in backends:
        return  # several processes share PostgreSQL only
    presses = max(FEWEST_PRESSES, int(2000 * scale))
    url = await fresh_cluster_database(postgres_server())
    reports, recorded = await rounds(url, presses // 2)
    for config, name in (("alone", "one_process"), ("together", "two_processes")):
        bursts = [burst for report in reports for burst in report["bursts"] if burst["config"] == config]
        yield Figure(BENCH, "postgres", f"{name}_bursts", len(bursts), "bursts")
        yield Figure(BENCH, "postgres", f"{name}_presses", sum(burst["presses"] for burst in bursts), "presses")
        yield Figure(BENCH, "postgres", f"{name}_answers_recorded", recorded[config], "answers")
        yield Figure(BENCH, "postgres", f"{name}_answers_expected", sum(b["students"] for b in bursts), "answers")
        kinds = sum((Counter(burst["database_fault_kinds"]) for burst in bursts), Counter())
        yield Figure(BENCH, "postgres", f"{name}_database_faults", kinds.total(), "presses")
        for kind, count in sorted(kinds.items()):
            yield Figure(BENCH, "postgres", f"{name}_database_faults_by_{kind}", count, "presses")
        # How long the presses queued for a database connection, and until the last was handled (the longest
        # burst): a wait fails only when no connection came back for `[database] pool_timeout_seconds`.
        waits = [wait for burst in bursts for wait in burst["connection_waits"]] or [0.0]
        yield Figure(BENCH, "postgres", f"{name}_connection_wait_p99", ms(percentile(waits, 99)), "ms")
        yield Figure(BENCH, "postgres", f"{name}_connection_wait_max", ms(max(waits)), "ms")
        handled = max(burst["handled_after"] for burst in bursts)
        yield Figure(BENCH, "postgres", f"{name}_all_presses_handled_after", round(handled, 2), "s")
    yield Figure(BENCH, "postgres", "duplicate_answers", recorded["duplicates"], "answers")
    acks = {config: ack_samples(reports, config) for config in ("alone", "together")}
    for figure in latency_figures(BENCH, "postgres", "one_process_half_burst_ack", *acks["alone"]):
        yield figure
    for figure in latency_figures(BENCH, "postgres", "two_processes_burst_ack", *acks["together"]):
        yield figure
    # Each burst on its own: how far one burst's p99 moves from the next on this machine.
    for worker, report in enumerate(reports):
        for number, burst in enumerate(report["bursts"], start=1):
            name = f"process{worker}_round{number}_{burst['config']}"
            p99, floor_p99 = percentile(burst["latencies"], 99), percentile(burst["floor"], 99)
            yield Figure(BENCH, "postgres", f"{name}_ack_p99", ms(p99), "ms", floor=ms(floor_p99))
            for part in ("acknowledging_ran", "acknowledging_waited", "floor_ran", "floor_waited"):
                yield Figure(BENCH, "postgres", f"{name}_{part}", ms(burst[part]), "ms")
    # While acknowledging (the burst, and its floor), how long each process ran and how long it waited for a CPU
    # another process had.
    for config, name in (("alone", "one_process"), ("together", "two_processes")):
        bursts = [burst for report in reports for burst in report["bursts"] if burst["config"] == config]
        for part in ("acknowledging_ran", "acknowledging_waited", "floor_ran", "floor_waited"):
            spent = [burst[part] for burst in bursts]
            yield Figure(BENCH, "postgres", f"{name}_{part}_mean", ms(sum(spent) / len(spent)), "ms")
    # How far apart the two processes started each burst they had together.
    together = [[b for b in report["bursts"] if b["config"] == "together"] for report in reports]
    starts_apart = [abs(first["started_at"] - second["started_at"]) for first, second in zip(*together, strict=True)]
    yield Figure(BENCH, "postgres", "two_processes_burst_starts_apart_max", ms(max(starts_apart)), "ms")
    (cluster_p99, cluster_floor), (alone_p99, alone_floor) = (
        (percentile(acks[config][0], 99), percentile(acks[config][1], 99)) for config in ("together", "alone")
    )
    # Against one process answering half the burst alone, as measured (the target: a ratio of at most 1)...
    yield Figure(BENCH, "postgres", "two_processes_ack_p99_against_one_process", ms(cluster_p99), "ms", ms(alone_p99))
    # ...what the machine does to presses that do nothing when both processes take them at once...
    floor_figure = "two_processes_floor_p99_against_one_process"
    yield Figure(BENCH, "postgres", floor_figure, ms(cluster_floor), "ms", ms(alone_floor))
    # ...and each configuration against its own floor.
    yield Figure(
        BENCH,
        "postgres",
        "two_processes_ack_over_floor_against_one_process",
        round(cluster_p99 / cluster_floor, 3),
        "x",
        round(alone_p99 / alone_floor, 3),
    )
    # A job about a process's own memory runs in every process (`EVERY_PROCESS`): not one to count once.
    for job_id in sorted(set(reports[0]["jobs"]) - EVERY_PROCESS):
        by_process = [report["jobs"][job_id] for report in reports]
        yield Figure(BENCH, "postgres", f"job_{job_id}_done", sum(ran["done"] for ran in by_process), "runs")
        yield Figure(BENCH, "postgres", f"job_{job_id}_skipped", sum(ran["skipped"] for ran in by_process), "runs")
    # Every attempt the bursts left open is abandoned once, by one of the processes, not once by each.
    abandoned = sum(report["abandoned"] for report in reports)
    yield Figure(BENCH, "postgres", "stale_attempts_abandoned_by_both_processes", abandoned, "attempts")
    yield Figure(BENCH, "postgres", "stale_attempts_left_by_the_bursts", presses // 2 * len(PROCESS_SHARDS), "attempts")
    scrapes = [sample for report in reports for sample in report["scrapes"]]
    not_found = [sample for report in reports for sample in report["not_found"]]
    for figure in latency_figures(BENCH, "postgres", "metrics_scrape", scrapes, not_found):
        yield figure


def ack_samples(reports: list[dict[str, Any]], config: str) -> tuple[list[float], list[float]]:
    """Every acknowledgement time of the bursts in `config` (seconds), and every floor sample measured before them."""
    bursts = [burst for report in reports for burst in report["bursts"] if burst["config"] == config]
    return [s for burst in bursts for s in burst["latencies"]], [s for burst in bursts for s in burst["floor"]]


async def fresh_cluster_database(server: Any) -> str:
    """A new database at head on `server` with the burst's course; its URL."""
    admin = await asyncpg.connect(server.set(drivername="postgresql").render_as_string(False))
    try:
        await admin.execute("DROP DATABASE IF EXISTS coursebot_cluster_bench WITH (FORCE)")
        await admin.execute("CREATE DATABASE coursebot_cluster_bench")
    finally:
        await admin.close()
    url = server.set(database="coursebot_cluster_bench").render_as_string(False)
    database = Database.from_url(url)
    try:
        await migrate.upgrade(database.engine)
        async with database.session_scope() as session:
            await tenancy.remember_guild(session, guild_id=DEFAULT_GUILD_ID, name="Bench")
            await content.import_package(
                session,
                guild_id=DEFAULT_GUILD_ID,
                actor_id=1,
                package=burst_package(len(ROUNDS) + 1),
                publish=True,
                now=now(),
            )
    finally:
        await database.dispose()
    return url


def now() -> datetime:
    return datetime.now(UTC)


async def answers(url: str) -> tuple[int, int]:
    """Answers recorded, and distinct (attempt, question) pairs answered: the difference is duplicates."""
    database = Database.from_url(url)
    try:
        async with database.session_scope() as session:
            recorded = await session.scalar(select(func.count()).select_from(QuestionAnswer))
            pairs = select(QuestionAnswer.attempt_id, QuestionAnswer.question_id).distinct().subquery()
            answered = await session.scalar(select(func.count()).select_from(pairs))
    finally:
        await database.dispose()
    return recorded or 0, answered or 0


async def rounds(url: str, students: int) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Two processes with `students` students each, through `ROUNDS`, then every job run by both at once; each
    process's report, and the answers recorded by the bursts of each configuration (and the duplicates)."""
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from bench.cluster import child; child()",
            json.dumps({"url": url, "shards": shards, "students": students, "worker": worker}),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=REPORT_LIMIT,
        )
        for worker, shards in enumerate(PROCESS_SHARDS)
    ]
    recorded = {"alone": 0, "together": 0}
    try:
        await told(children, None)
        for config in ROUNDS:
            before = await answers(url)
            for processes in [[process] for process in children] if config == "alone" else [children]:
                await told(processes, f"burst {config}", starts=2)
            recorded[config] += (await answers(url))[0] - before[0]
        await told(children, "jobs")
        reports = []
        for process in children:
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write(b"report\n")
            await process.stdin.drain()
            reports.append(json.loads(await process.stdout.readline()))
    finally:
        for process in children:
            if process.returncode is None:
                process.kill()
            await process.wait()
    total, distinct = await answers(url)
    return reports, {**recorded, "duplicates": total - distinct}


async def told(processes: list[asyncio.subprocess.Process], order: str | None, *, starts: int = 0) -> None:
    """Give every one of `processes` `order` at once (None: none, wait for their set-up) and wait until all are done.
    An order with `starts` (a burst's floor, then the burst) has each process say "ready" before each start, and
    tells all "go" once all are: each starts in both processes at the same moment, however long each took over what
    came before it."""
    await exchange(processes, order, expected="ready" if starts else "done")
    for start in range(1, starts + 1):
        await exchange(processes, "go", expected="ready" if start < starts else "done")


async def exchange(processes: list[asyncio.subprocess.Process], line: str | None, *, expected: str) -> None:
    """Write `line` (if any) to every one of `processes`, then read `expected` from each."""
    for process in processes:
        assert process.stdin is not None
        if line is not None:
            process.stdin.write(f"{line}\n".encode())
            await process.stdin.drain()
    for process in processes:
        assert process.stdout is not None
        said = (await process.stdout.readline()).decode().strip()
        if said != expected:
            raise RuntimeError(f"a bench process said {said!r} instead of {expected!r} to {line or 'set up'}")


def child() -> None:
    """One bench process: `python -c 'from bench.cluster import child; child()' OPTIONS_JSON`."""
    asyncio.run(serve(**json.loads(sys.argv[1])))


async def serve(*, url: str, shards: list[int], students: int, worker: int) -> None:
    """Set up `students` students, each with a quiz open, say "done", then obey the parent's orders (`burst
    CONFIG`, `jobs`, `report`) one line at a time, saying "done" after each."""
    # Discord's ids carry the worker that made them: the two processes' members never share an id.
    made = payloads.snowflake
    payloads.snowflake = lambda: made() | (worker << 17)  # type: ignore[assignment]
    settings = load_settings(CONFIG)
    settings = settings.model_copy(
        update={
            "cluster": ClusterSettings(shard_count=SHARD_COUNT, shards=shards),
            "metrics": MetricsSettings.model_construct(enabled=True, host="127.0.0.1", port=0),
        }
    )
    # As shipped (`[database]`): the pool, and the bounds on every wait (a pool wait of 10 s with no connection
    # given back).
    database = database_from(settings.database.model_copy(update={"url": url}))
    clock = FixedClock(now())
    bot = CourseBot(settings, database=database, clock=clock, freeze_heap=True)
    add_floor_button(bot)
    sandbox = DiscordSandbox(bot, timeout=300.0)
    observability = Observability(bot, settings)
    await sandbox.start()
    await observability.start()
    report: dict[str, Any] = {"bursts": []}
    try:
        questions = []
        for number in range(students):
            member = await sandbox.add_member(f"w{worker}student{number}")
            await sandbox.slash("course enroll", user=member, course="BURST")
            questions.append((member, await sandbox.slash("quiz start", user=member)))
        await button_floor(sandbox, [(reply, "A", member) for member, reply in questions[:20]])  # warm
        print("done", flush=True)
        while (order := (await asyncio.to_thread(sys.stdin.readline)).split()) != ["report"]:
            if order[0] == "burst":
                seed = worker * 100 + len(report["bursts"])
                burst, questions = await answer_burst(sandbox, questions, seed=seed, ready=ready_to_go)
                report["bursts"].append({"config": order[1], **burst})
            else:
                report.update(await run_jobs(bot, clock, observability))
                sandbox.assert_no_errors()
            print("done", flush=True)
    finally:
        await observability.stop()
        await sandbox.close()
        await database.dispose()
    print(json.dumps(report), flush=True)


async def ready_to_go() -> None:
    """Tell the parent this process is ready for what comes next (a floor, a burst), and wait until it says go."""
    print("ready", flush=True)
    if (order := (await asyncio.to_thread(sys.stdin.readline)).strip()) != "go":
        raise RuntimeError(f"the bench said {order!r} instead of 'go'")


async def answer_burst(
    sandbox: DiscordSandbox,
    questions: list[tuple[Json, Reply]],
    *,
    seed: int,
    ready: Callable[[], Awaitable[None]],
) -> tuple[dict[str, Any], list[tuple[Json, Reply]]]:
    """Every student presses their question's first answer at once, a fifth of them twice; the same presses as a
    floor first (`button_floor`: acknowledged, nothing done). Each starts when `ready` returns. The burst's figures,
    and each student's next question."""
    doubled = questions + questions[: int(len(questions) * DOUBLE_CLICK_SHARE)]
    random.Random(seed).shuffle(doubled)
    presses = [(reply, "A", member) for member, reply in doubled]
    gc.collect()
    gc.freeze()  # as `coursebot run` does; the offline Discord's world lives in this process too
    await ready()
    floor_delivered = asyncio.get_running_loop().time()
    async with RunQueueWatch() as floor_watch:
        floor = await button_floor(sandbox, presses)
    floor_ran, floor_waited = floor_watch.until(acknowledged_by(sandbox, floor_delivered))
    # Straight after a floor burst a burst of presses acknowledged three to four times slower (400 presses: the
    # first at 786 ms, not 184 ms) with no work left on the loop (no task, callback, due timer or I/O; not garbage
    # collection); 50 ms later it did not. Not found why; the burst waits a moment, outside its timing.
    await asyncio.sleep(FLOOR_SETTLE_S)
    await ready()
    faults = FaultCounter()
    logging.getLogger("cogs.errors").addHandler(faults)
    waits: list[float] = []
    sandbox.bot.db.on_connection_wait = waits.append
    started, started_at = time.perf_counter(), time.time()
    first_delivery = asyncio.get_running_loop().time()
    async with RunQueueWatch() as watch:
        replies = await sandbox.click_many(presses)
    handled_after = time.perf_counter() - started
    ran, waited = watch.until(acknowledged_by(sandbox, first_delivery))
    sandbox.bot.db.on_connection_wait = metrics.DB_CONNECTION_WAIT.observe
    logging.getLogger("cogs.errors").removeHandler(faults)
    # Of a double click, the press that was recorded has the next question (the other was told it was answered).
    following = {
        reply.user_id: reply for reply in replies if any(component.matches("A") for component in reply.components)
    }
    burst = {
        "students": len(questions),
        "presses": len(doubled),
        "started_at": started_at,
        "floor": floor,
        "latencies": [reply.acknowledged_after for reply in replies if reply.acknowledged_after is not None],
        "handled_after": handled_after,
        "acknowledging_ran": ran,
        "acknowledging_waited": waited,
        "floor_ran": floor_ran,
        "floor_waited": floor_waited,
        "connection_waits": waits,
        "database_fault_kinds": dict(faults.kinds),
    }
    ids = [(member, int(member["user"]["id"])) for member, _ in questions]
    next_questions = [(member, following[user_id]) for member, user_id in ids if user_id in following]
    return burst, next_questions


def acknowledged_by(sandbox: DiscordSandbox, delivered: float) -> float:
    """The loop time by which 99% of the interactions delivered since `delivered` (loop time) were acknowledged."""
    interactions = sandbox.http.interactions.values()
    return percentile([i.responded_at for i in interactions if i.received_at >= delivered and i.responded_at], 99)


class RunQueueWatch:
    """How long this process's event loop thread ran, and waited runnable for a CPU while another process had it
    (Linux's per-thread scheduler statistics), from entering to a loop time: sampled every few milliseconds."""

    def __init__(self) -> None:
        self._path = f"/proc/self/task/{threading.get_native_id()}/schedstat"
        self._samples: list[tuple[float, int, int]] = []

    def _sample(self) -> None:
        with open(self._path) as stats:
            ran, waited, _ = map(int, stats.read().split())
        self._samples.append((asyncio.get_running_loop().time(), ran, waited))

    async def _keep_sampling(self) -> None:
        while True:
            await asyncio.sleep(0.005)
            self._sample()

    async def __aenter__(self) -> RunQueueWatch:
        self._sample()
        self._sampler = asyncio.create_task(self._keep_sampling())
        return self

    async def __aexit__(self, *_: object) -> None:
        self._sampler.cancel()
        self._sample()

    def until(self, moment: float) -> tuple[float, float]:
        """Seconds run and waited from entering to the first sample at or after `moment` (loop time)."""
        _, ran_from, waited_from = self._samples[0]
        _, ran_to, waited_to = next(sample for sample in self._samples if sample[0] >= moment)
        return (ran_to - ran_from) / 1e9, (waited_to - waited_from) / 1e9


async def run_jobs(bot: CourseBot, clock: FixedClock, observability: Observability) -> dict[str, Any]:
    """Every periodic job once, a day later (every attempt the bursts left open is stale: the sweep has work to
    do), then the metrics endpoint scraped: how many runs of each job did the work or were skipped, the attempts
    abandoned, the scrape times."""
    clock.advance(hours=25)
    jobs = bot.scheduler.get_jobs()
    before = {job.id: {outcome: runs(job.id, outcome) for outcome in ("done", "skipped")} for job in jobs}
    sweeps = SweepCounter()
    logging.getLogger("bot.scheduler").addHandler(sweeps)
    logging.getLogger("bot.scheduler").setLevel(logging.INFO)
    await asyncio.gather(*(job.func(*job.args) for job in jobs))
    ran = {
        job.id: {outcome: runs(job.id, outcome) - before[job.id][outcome] for outcome in ("done", "skipped")}
        for job in jobs
    }
    scrapes, not_found = await scrape_times(observability.address)
    return {"jobs": ran, "abandoned": sweeps.count, "scrapes": scrapes, "not_found": not_found}


class SweepCounter(logging.Handler):
    """Counts the stale attempts the sweep reports it abandoned (`abandon_stale_quiz_attempts` logs how many)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Abandoned "):
            self.count += int(record.getMessage().split()[1])


class FaultCounter(logging.Handler):
    """Counts the presses the error handler answered with "the database isn't answering, try again", and by what
    (`kinds`: the error's class, e.g. the pool's TimeoutError)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.kinds: Counter[str] = Counter()

    @property
    def count(self) -> int:
        return self.kinds.total()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Database not answering"):
            error = record.args[-1] if isinstance(record.args, tuple) and record.args else None
            self.kinds[type(error).__name__] += 1


def runs(job_id: str, outcome: str) -> float:
    return metrics.REGISTRY.get_sample_value("coursebot_job_runs_total", {"job": job_id, "outcome": outcome}) or 0.0


async def scrape_times(address: str) -> tuple[list[float], list[float]]:
    """Seconds per `GET /metrics`, and per request the same server answers with a 404 (the floor)."""
    scrapes, not_found = [], []
    async with aiohttp.ClientSession() as client:
        for _ in range(SCRAPES):
            for path, samples in (("/metrics", scrapes), ("/nothing", not_found)):
                started = time.perf_counter()
                async with client.get(address + path) as response:
                    await response.read()
                samples.append(time.perf_counter() - started)
    return scrapes, not_found
