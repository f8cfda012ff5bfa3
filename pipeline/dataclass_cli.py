"""Command-line flags generated from a config dataclass, one per field.

A new config field is a new flag without touching any parser: ``--name``
(underscores become dashes), typed from the annotation, ``--flag`` /
``--no-flag`` for booleans, one or more values for tuples, nested
dataclasses flattened. Field metadata may add ``help``, ``choices`` and
``aliases``. Flags default to None, so only those given override a config.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any, Collection, Dict, Type, TypeVar

T = TypeVar("T")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _unwrap_optional(field_type: Any) -> Any:
    args = [a for a in typing.get_args(field_type) if a is not type(None)]
    if typing.get_origin(field_type) is typing.Union and len(args) == 1:
        return args[0]
    return field_type


def _default(field: dataclasses.Field) -> Any:
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def _argument_options(field: dataclasses.Field, field_type: Any) -> Dict[str, Any]:
    """argparse keyword arguments for one field's flag."""
    help_text = field.metadata.get("help", "")
    options: Dict[str, Any] = {
        "default": None,
        "help": f"{help_text} (default: {_default(field)!r})".strip(),
    }
    field_type = _unwrap_optional(field_type)
    if field_type is bool:
        options["action"] = argparse.BooleanOptionalAction
    elif typing.get_origin(field_type) is tuple:
        # Repeatable: "--tower-units 256 128" or, for values that begin with
        # "--", "--beam-pipeline-args=--runner=X --beam-pipeline-args=--project=P".
        options.update(action="extend", nargs="+", type=typing.get_args(field_type)[0])
    elif field_type in (int, float, str):
        options["type"] = field_type
    else:
        raise TypeError(f"no command-line flag for {field.name}: {field_type!r}")
    if "choices" in field.metadata:
        options["choices"] = field.metadata["choices"]
    return options


def add_dataclass_arguments(
    parser: argparse.ArgumentParser, cls: Type, exclude: Collection[str] = ()
) -> None:
    """Adds one flag per field of ``cls``, nested dataclasses flattened.

    ``exclude`` names fields the caller sets itself (a benchmark that loops
    over models and seeds takes no ``--model`` or ``--seed``).
    """
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if field.name in exclude:
            continue
        if dataclasses.is_dataclass(hints[field.name]):
            add_dataclass_arguments(parser, hints[field.name], exclude)
            continue
        names = [_flag(field.name), *field.metadata.get("aliases", ())]
        parser.add_argument(
            *names, dest=field.name, **_argument_options(field, hints[field.name])
        )


def apply_overrides(config: T, args: argparse.Namespace) -> T:
    """A copy of ``config`` with every field that ``args`` sets replaced."""
    changes: Dict[str, Any] = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(value):
            changes[field.name] = apply_overrides(value, args)
            continue
        given = getattr(args, field.name, None)
        if given is not None:
            changes[field.name] = tuple(given) if isinstance(given, list) else given
    return dataclasses.replace(config, **changes)
