"""``python -m paperdigest``: the same CLI as the ``paperdigest`` console script."""

from paperdigest.admin.cli import main

if __name__ == "__main__":
    main()
