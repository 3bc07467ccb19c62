"""The operator's report: what the dashboard at ``/admin`` and ``paperdigest report`` show.

- :func:`collect` ``(store, settings, ...) -> OperatorReport``: the numbers, read in one transaction.
- :func:`render_report` ``(report, ...) -> str``: one self-contained HTML page, charts as inline SVG.

Nothing here speaks HTTP; the web room serves the same page behind a login.
"""

from __future__ import annotations

from paperdigest.reports.data import OperatorReport, collect
from paperdigest.reports.html import render_report

__all__ = ["OperatorReport", "collect", "render_report"]
