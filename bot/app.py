"""create_app(settings, ...) -> a Bolt App with every Slack surface registered. No work at import."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App, BoltResponse
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.knowledge.ledger import Ledger
from bot.listeners import actions, assistant, commands, digest, events, home
from bot.listeners.guard import Guard
from bot.observability import count_error
from bot.services.feedback import FeedbackStore
from bot.settings import Settings

logger = logging.getLogger(__name__)
LISTENER_THREADS = 96
WORK_THREADS = 2  # CPU-bound answers on 2 cores: more threads only fight over the GIL (and the acks)


class Pool(ThreadPoolExecutor):
    """A thread pool that can start all its threads up front (`prestart`)."""

    def __init__(self, size: int, name: str):
        super().__init__(max_workers=size, thread_name_prefix=name)
        self.size = size

    def prestart(self) -> None:
        """Start every thread now. A pool otherwise starts one per submit, under a lock shared by every pool in
        the process, so the first burst of slash commands queued its acks behind thread starts (measured: half
        the ack path's samples in a 200-command burst)."""
        started = threading.Barrier(self.size + 1)
        for _ in range(self.size):
            self.submit(started.wait)
        started.wait()


class WorkPool(Pool):
    """The answers' pool. Nobody reads a submitted task's result, so a task that raises is logged and counted here
    (Bolt's error handler never sees work handed over after the acknowledgement)."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        def logged() -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception:
                count_error("listener")
                logger.exception("work handed over by a listener failed (%s)", getattr(fn, "__name__", fn))
                return None
        return super().submit(logged)


def build_client(settings: Settings) -> WebClient:
    base_url = settings.slack_api_url if settings.slack_api_url.endswith("/") else settings.slack_api_url + "/"
    # a 429 waits for its Retry-After, a dropped connection is tried again; each a bounded number of times
    retries = [ConnectionErrorRetryHandler(max_retry_count=2), RateLimitErrorRetryHandler(max_retry_count=2)]
    return WebClient(token=settings.slack_bot_token, base_url=base_url, timeout=15, retry_handlers=retries)


POOLS = "_revenue_bot_pools"  # the app's listener and work pools, for drain()


def prestart(app: App) -> None:
    """Before serving: every listener and work thread started (see Pool.prestart)."""
    for pool in getattr(app, POOLS, ()):
        pool.prestart()


def drain(app: App, timeout: float) -> bool:
    """On shutdown: take no new work and wait up to `timeout` seconds for in-flight listeners and answers to
    finish (their replies are posted). True when everything finished in time."""
    deadline = time.monotonic() + timeout
    done = True
    for pool in getattr(app, POOLS, ()):
        pool.shutdown(wait=False, cancel_futures=False)
        for thread in list(getattr(pool, "_threads", ())):
            thread.join(max(0.0, deadline - time.monotonic()))
            done = done and not thread.is_alive()
    return done


def create_app(settings: Settings, *, services: Any, client: WebClient | None = None,
               feedback: FeedbackStore | None = None) -> App:
    listeners = Pool(LISTENER_THREADS, "listener")
    app = App(
        client=client or build_client(settings),
        signing_secret=settings.slack_signing_secret or "",
        token_verification_enabled=False,  # no auth.test at start: the app boots without Slack reachable
        process_before_response=False,  # ack first, then the listener keeps working
        raise_error_for_unhandled_request=False,
        logger=logging.getLogger("bot.slack"),
        # Bolt's default pool has 5 threads: a burst of slash commands would wait for a free one
        # before even being acknowledged. Acks must never queue behind work.
        listener_executor=listeners,
    )
    guard = Guard(settings)
    # both follow the store's current client (an embedded store reopens it after another process's ingest)
    feedback = feedback or FeedbackStore(lambda: services.store.client, settings.collection_prefix)
    ledger = Ledger(lambda: services.store.client, settings.collection_prefix)

    @app.middleware
    def skip_retries(body: dict[str, Any], request: Any, next: Any) -> BoltResponse | None:  # noqa: A002
        # Slack re-delivers an event it thinks we missed; the first delivery is already being
        # answered, so a retry is acknowledged and dropped (never a second answer).
        if request.headers.get("x-slack-retry-num") or (body.get("retry_attempt") or 0) > 0:
            return BoltResponse(status=200, body="")
        return next()

    @app.error
    def handle_error(error: Exception, body: dict[str, Any]) -> None:
        logger.exception("unhandled error for %s", body.get("type") or body.get("command"), exc_info=error)

    work = WorkPool(WORK_THREADS, "work")
    setattr(app, POOLS, (listeners, work))
    commands.register(app, services=services, guard=guard, work=work, ledger=ledger)
    events.register(app, services=services, guard=guard, work=work, ledger=ledger)
    assistant.register(app, services=services, guard=guard, work=work, ledger=ledger)
    actions.register(app, services=services, guard=guard, feedback=feedback, ledger=ledger)
    digest.register(app, services=services, guard=guard, ledger=ledger)
    home.register(app, services=services)
    return app
