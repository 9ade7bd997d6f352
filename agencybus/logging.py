"""structlog set up once per process: console lines in a terminal, JSON lines otherwise.

Context (``event_id``, ``agency``, ``topic``, ``case_id``) is bound with contextvars,
so every line a handler writes while processing one event carries it. A last
processor masks national IDs and account numbers in every logged string: callers
should never log them, and this is the defence in depth if one does.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, WrappedLogger

from agencybus.settings import Settings

# A UUID is left alone (its last group can be 12 digits); any other run of 12+ digits is masked
# (CCCD national IDs are 12 digits, bank account numbers often longer), as is whatever follows a
# ``nid:`` or ``bank:<BIN>:`` identity-token prefix, whatever its length.
_SENSITIVE = re.compile(
    r"(?P<uuid>\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b)"
    r"|(?P<prefix>\bnid:|\bbank:\d{6}:)(?P<token>[0-9A-Za-z]+)"
    r"|(?<!\d)(?P<digits>\d{12,})"
)
_KEEP_LAST = 3


def _mask_digits(value: str) -> str:
    return "*" * max(len(value) - _KEEP_LAST, 1) + value[-_KEEP_LAST:]


def _mask_match(match: re.Match[str]) -> str:
    if match.group("uuid"):
        return match.group("uuid")
    if match.group("prefix"):
        return match.group("prefix") + _mask_digits(match.group("token"))
    return _mask_digits(match.group("digits"))


def mask_text(text: str) -> str:
    """``text`` with national IDs and account numbers replaced by stars (last 3 characters kept)."""
    return _SENSITIVE.sub(_mask_match, text)


def mask_value(value: Any) -> Any:
    """Mask strings, recursively inside dicts, lists and tuples; other values unchanged."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {k: mask_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(mask_value(v) for v in value)
    return value


def mask_sensitive(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: mask national IDs and account numbers in every value of the line."""
    return {key: mask_value(value) for key, value in event_dict.items()}


def _renderer(log_format: str, stream: TextIO) -> structlog.typing.Processor:
    use_console = log_format == "console" or (log_format == "auto" and stream.isatty())
    if use_console:
        return structlog.dev.ConsoleRenderer(colors=stream.isatty())
    return structlog.processors.JSONRenderer(sort_keys=False, ensure_ascii=False)


class _NamedPrintLogger(structlog.PrintLogger):
    """A PrintLogger that knows the name it was asked for (``get_logger(name)``)."""

    def __init__(self, file: TextIO, name: str | None) -> None:
        super().__init__(file)
        self.name = name


class _LoggerFactory:
    """Makes loggers writing to ``stream``, or to whatever ``sys.stderr`` is at the time of the call.

    Resolving stderr late matters when it is swapped (CLI test runners, pytest capture): a logger
    never writes to a stream that was closed after configuration.
    """

    def __init__(self, stream: TextIO | None) -> None:
        self.stream = stream

    def __call__(self, *args: Any) -> _NamedPrintLogger:
        name = args[0] if args and isinstance(args[0], str) else None
        return _NamedPrintLogger(self.stream or sys.stderr, name)


def _add_logger_name(logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    name = getattr(logger, "name", None)
    if name:
        event_dict.setdefault("logger", name)
    return event_dict


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """stdlib handler for libraries' records, writing to the current ``sys.stderr``."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


_configured = False


def configure_logging(settings: Settings, *, stream: TextIO | None = None, force: bool = False) -> None:
    """Configure structlog (and the stdlib root logger) for this process; later calls are no-ops."""
    global _configured
    if _configured and not force:
        return
    level = getattr(logging, settings.log_level)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _add_logger_name,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            mask_sensitive,
            _renderer(settings.log_format, stream or sys.stderr),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_LoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    # Libraries (kafka-python, uvicorn, faust) log through the stdlib: WARNING and up unless debugging.
    root = logging.getLogger()
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        handler = _StderrHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level if level == logging.DEBUG else logging.WARNING)
    if level != logging.DEBUG:
        # kafka-python warns about slow selector tasks and retried connections; the callers report failures.
        logging.getLogger("kafka").setLevel(logging.ERROR)
    _configured = True


def reset_logging() -> None:
    """Back to structlog's defaults; the next configure_logging configures again (tests)."""
    global _configured
    structlog.reset_defaults()
    clear()
    _configured = False


def get_logger(name: str | None = None, **initial: Any) -> Any:
    """A lazy structlog logger (made at import, it still follows configure_logging); ``name`` → ``logger``."""
    if name is None:
        return structlog.get_logger(**initial)
    return structlog.get_logger(name, **initial)


def bind(**values: Any) -> None:
    """Bind values (event_id, agency, topic, case_id, ...) to every later log line of this context."""
    structlog.contextvars.bind_contextvars(**values)


def unbind(*keys: str) -> None:
    structlog.contextvars.unbind_contextvars(*keys)


def clear() -> None:
    structlog.contextvars.clear_contextvars()


@contextmanager
def bound(**values: Any) -> Iterator[None]:
    """Bind values for the duration of a ``with`` block (e.g. while processing one event)."""
    with structlog.contextvars.bound_contextvars(**values):
        yield


def current_context() -> MutableMapping[str, Any]:
    """The values bound in this context (for tests and for passing context to a thread)."""
    return dict(structlog.contextvars.get_contextvars())
