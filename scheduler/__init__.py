"""When things happen: the due rules, the scheduler's jobs, ``paperdigest run`` and the demo.

Public API:

- :func:`scheduler.due.due_digests` ``(readers, *, now, periods_done, last_digest_at, newest_batch)
  -> list[DueDigest]`` and :func:`scheduler.due.period_for` ``(reader, now, newest_batch_id=None) -> str``
- :class:`scheduler.service.SchedulerService` ``(store, settings, *, clock=system_clock, fetchers=None,
  send=None, refit=None, ingest=None, enqueue=None)`` with ``poll()``, ``tick()``, ``refit()``,
  ``recover()``, ``due(now=None)``
- :func:`scheduler.runner.run_forever` ``(service, settings) -> int``;
  :class:`scheduler.lock.SchedulerLock` ``(store)``; :func:`scheduler.demo.run_demo` ``(folder, *, echo)``
"""

__all__: list[str] = []
