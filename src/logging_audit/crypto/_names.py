"""Checks for the names that end up in signed notes: stream origins and key names."""

from __future__ import annotations

import unicodedata

from logging_audit.errors import ConfigError

__all__ = ["check_key_name", "check_origin"]

_MAX_NAME = 1024


def _check(what: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{what} must be a non-empty string")
    if len(value) > _MAX_NAME:
        raise ConfigError(f"{what} is longer than {_MAX_NAME} characters")
    for char in value:
        if char == "+" or char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Cs"):
            raise ConfigError(
                f"{what} {value!r} contains {char!r}: whitespace, '+' and control "
                "characters are not allowed (C2SP signed-note)"
            )
    return value


def check_origin(origin: object) -> str:
    """Return ``origin`` if it can be a checkpoint origin line, else raise :class:`ConfigError`.

    C2SP tlog-checkpoint says an origin SHOULD contain neither whitespace nor
    ``+``; here that is a MUST, so the origin can also serve as the key name.
    """
    return _check("origin", origin)


def check_key_name(name: object) -> str:
    """Return ``name`` if it is a valid C2SP signed-note key name, else raise ConfigError."""
    return _check("key name", name)
