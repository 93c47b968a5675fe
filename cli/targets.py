"""PROJECT/PIPELINE as a click argument type, so a bad one is a usage error (exit 64)."""

from __future__ import annotations

import click

from cli.domain import BadTarget, Target, parse_target


class TargetType(click.ParamType):
    name = "PROJECT/PIPELINE"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> Target:
        if isinstance(value, Target):
            return value
        try:
            return parse_target(str(value))
        except BadTarget as exc:
            self.fail(str(exc), param, ctx)


TARGET = TargetType()
