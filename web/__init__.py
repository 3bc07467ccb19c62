"""The HTTP app: feedback and unsubscribe links, click redirects (``paperdigest serve`` runs it).

Public face: :func:`create_app` ``(settings, store=None) -> Starlette``. Nothing is built at import time.
"""

from paperdigest.web.app import create_app

__all__ = ["create_app"]
