"""Base for Tessera's operator commands: bad arguments end in one line on stderr and exit 2."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.actors import Actor, system_actor


class OperatorCommand(BaseCommand):
    """A command whose usage errors are a single ``error: ...`` line with exit status 2."""

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)

        def one_line_error(message: str) -> NoReturn:
            sys.stderr.write(f"error: {message}\n")
            sys.exit(2)

        parser.error = one_line_error  # type: ignore[method-assign]
        return parser

    @property
    def actor(self) -> Actor:
        """The audit actor for what this command does: system, "manage.py <command>"."""
        return system_actor(f"manage.py {self.__module__.rsplit('.', 1)[-1]}")

    def fail(self, message: str) -> CommandError:
        """A CommandError that Django prints as one line and exits 2 with."""
        return CommandError(message, returncode=2)
