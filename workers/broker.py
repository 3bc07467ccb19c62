"""The Dramatiq broker for ``PAPERDIGEST_QUEUE_URL``, and the one actor: deliver a chunk of digests.

Why Dramatiq (not Celery): messages are acknowledged only after the actor returns (Celery acks on
receipt unless told otherwise), retries with exponential backoff and a dead-letter queue are built in
and on by default, Redis and RabbitMQ are both first-class, and it is one small dependency with no
result backend or beat process to run — our clock is APScheduler in ``paperdigest run``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from paperdigest.core import Settings
from paperdigest.core.errors import ConfigError, PaperdigestError

__all__ = ["ACTOR_NAME", "MAX_RETRIES", "BrokerUnavailable", "check_broker", "declare_actor", "make_broker"]

log = logging.getLogger("paperdigest.workers")

ACTOR_NAME = "deliver_chunk"
MAX_RETRIES = 5  # then the chunk goes to the dead-letter queue (<queue>.XQ)
_MIN_BACKOFF_MS = 2_000
_MAX_BACKOFF_MS = 120_000
# A worker that dies holding a Redis message: others requeue it after this long without heartbeat.
_REDIS_HEARTBEAT_MS = 15_000


class BrokerUnavailable(PaperdigestError):
    """The queue broker cannot be reached."""

    exit_code = 2


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or 'localhost'}:{parts.port or ''}".rstrip(":")


def make_broker(settings: Settings) -> Any:
    """A Dramatiq broker for ``settings.queue_url`` with bounded retries (not yet connected)."""
    if settings.queue_url is None:
        raise ConfigError("PAPERDIGEST_QUEUE_URL is not set (needed for queue workers)")
    from dramatiq.middleware import AgeLimit, Callbacks, Pipelines, Retries, ShutdownNotifications, TimeLimit

    url = settings.queue_url.get()
    middleware = [AgeLimit(), TimeLimit(), ShutdownNotifications(), Callbacks(), Pipelines(),
                  Retries(max_retries=MAX_RETRIES, min_backoff=_MIN_BACKOFF_MS, max_backoff=_MAX_BACKOFF_MS)]
    scheme = urlsplit(url).scheme
    if scheme in ("redis", "rediss"):
        from dramatiq.brokers.redis import RedisBroker

        return RedisBroker(url=url, namespace=settings.queue_name, middleware=middleware,
                           heartbeat_timeout=_REDIS_HEARTBEAT_MS)
    if scheme in ("amqp", "amqps"):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        # confirm_delivery: enqueue returns only once RabbitMQ has the message.
        return RabbitmqBroker(url=url, middleware=middleware, confirm_delivery=True)
    raise ConfigError(f"PAPERDIGEST_QUEUE_URL: must be a redis:// or amqp:// URL, got scheme {scheme!r}")


def check_broker(broker: Any, settings: Settings) -> None:
    """Connect once; raises :class:`BrokerUnavailable` with one line naming the broker."""
    where = _where(settings.queue_url.get() if settings.queue_url else "")
    pika_log = logging.getLogger("pika")
    level = pika_log.level
    pika_log.setLevel(logging.CRITICAL)  # pika logs a traceback per failed attempt; we say it once
    try:
        if hasattr(broker, "client"):
            broker.client.ping()
        else:
            broker.connection  # noqa: B018 - opening the connection is the check
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BrokerUnavailable(f"cannot reach the queue broker at {where} (PAPERDIGEST_QUEUE_URL): "
                                f"{reason}") from None
    finally:
        pika_log.setLevel(level)


def declare_actor(broker: Any, settings: Settings, fn: Callable[[dict[str, Any]], None]) -> Any:
    """Register ``fn`` as the chunk actor on ``broker``'s queue; returns the actor (``.send(payload)``)."""
    import dramatiq

    return dramatiq.actor(fn, actor_name=ACTOR_NAME, queue_name=settings.queue_name, broker=broker,
                          max_retries=MAX_RETRIES)
