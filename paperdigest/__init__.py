"""paperdigest: personalized research-paper digests.

The one import package of the distribution. Its rooms live in the repository's top-level folders and
are mapped here at install time (``pyproject.toml``, ``[tool.setuptools.package-dir]``):

``paperdigest.core`` settings, errors, keys, file helpers · ``paperdigest.store`` SQL ·
``paperdigest.ingest`` batches in · ``paperdigest.recommender`` the pure ranking library ·
``paperdigest.digest`` build, render, deliver · ``paperdigest.web`` the HTTP app ·
``paperdigest.scheduler`` when things happen · ``paperdigest.admin`` the CLI.
See ``docs/architecture.md``.
"""

__all__ = ["__version__"]

__version__ = "0.2.0"
