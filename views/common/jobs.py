"""Job recovery when the server starts, from the router so every page (not only /train)
sees reconciled runs."""

from __future__ import annotations

from dashcore.errors import UserError
from dashcore.jobs.queue import startup
from dashcore.settings import Settings


def recover_jobs_once(settings: Settings) -> None:
    """Mark runs whose worker died with the last server as interrupted; start queued ones.

    Cheap after the first call in a server process (``startup`` remembers the data folder).
    A damaged run store is left for /train to explain.
    """
    try:
        startup(settings)
    except UserError:
        pass
