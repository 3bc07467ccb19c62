"""The HTTP app (``paperdigest serve``): feedback links, reader settings, archive, feed, subscribe.

Public face: :func:`create_app` ``(settings, store=None) -> Starlette``. Nothing is built at import time.
"""

from paperdigest.web.app import create_app

__all__ = ["create_app"]
