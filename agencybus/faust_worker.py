"""Run a faust app as a worker without faust's terminal spinner.

faust's Worker draws a progress spinner that turns on every log record, and to see them
all it sets the root logger to DEBUG. Every ``logger.debug`` in faust and aiokafka (one
or more per message produced) then builds a LogRecord that the handler throws away:
about 5% of a loaded processors worker's CPU. Without the spinner the root logger keeps
the level the worker was started with.
"""

from __future__ import annotations

import logging
from typing import Any

import faust


class Worker(faust.Worker):
    """faust.Worker, minus the spinner and its DEBUG root logger."""

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        self.spinner = None


def run_worker(app: faust.App, loglevel: str, **kwargs: Any) -> None:
    """Start ``app`` in this process until it is stopped (SIGINT/SIGTERM)."""
    Worker(app, loglevel=loglevel, **kwargs).execute_from_commandline()
