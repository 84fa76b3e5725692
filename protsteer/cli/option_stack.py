"""Combine several click option decorators into one, for option groups shared between commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def stack_options(*decorators: Decorator) -> Decorator:
    """One decorator applying ``decorators`` so that the options appear in ``--help`` in argument order."""

    def apply(function: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply
