"""Digest workers on a broker-backed queue (Dramatiq over Redis or RabbitMQ).

With ``PAPERDIGEST_QUEUE_URL`` set, ``paperdigest run`` stays the one clock: its tick enqueues chunks
of due readers (:class:`workers.client.TickQueue`), and ``paperdigest worker`` processes consume them
(:func:`workers.process.run_workers`), each chunk through the same ``send_digests`` call the in-process
tick makes. Without a queue URL nothing here is imported.

Public API:

- :func:`workers.broker.make_broker` ``(settings) -> dramatiq.Broker``, :func:`workers.broker.check_broker`
- :class:`workers.client.TickQueue` ``(store, settings, broker)`` with ``enqueue(due, now)``
- :func:`workers.tasks.run_chunk` ``(store, settings, payload, ranker)``: one chunk, idempotent
- :func:`workers.process.run_workers` ``(settings, processes) -> int``
"""

__all__: list[str] = []
