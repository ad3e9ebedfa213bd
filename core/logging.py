"""JSON log lines: one object per line, carrying the request id and the tenant (``LOG_FORMAT=json``).

A log collector (Loki, Elasticsearch, CloudWatch) then needs no parsing rules, a multi-line
traceback stays one record, and every line of a request can be found by the request id that
its audit events and its ``X-Request-ID`` response header carry.

The request id and the tenant come from context variables the apps own (core imports none of
them): ``settings.LOGGING`` names the functions that read them, for example::

    "json": {"()": "core.logging.JsonFormatter",
             "context": {"request_id": "audit.context.current_request_id",
                         "tenant": "tenants.context.get_current_tenant"}}  # str(): the slug

Only the fields listed here are written: ``extra=`` attributes are left out on purpose, so a
secret passed along with a log call never reaches the line by accident.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping

from django.utils.module_loading import import_string


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, the context
    fields (request_id, tenant) when they have a value, and exc (the formatted traceback)."""

    def __init__(self, context: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self._context_paths = dict(context or {})
        self._context: dict[str, Callable[[], object]] | None = None

    def _getters(self) -> dict[str, Callable[[], object]]:
        # Imported at the first record, not when logging is configured (before apps load).
        if self._context is None:
            self._context = {name: import_string(path) for name, path in self._context_paths.items()}
        return self._context

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, getter in self._getters().items():
            try:
                value = getter()
            except Exception:  # noqa: BLE001, S112 - a log line is never lost to its context
                continue
            if value:
                line[name] = str(value)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)
