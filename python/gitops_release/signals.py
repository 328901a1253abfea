"""Signals during a deploy: SIGTERM, SIGINT and SIGHUP become a ``DeployInterrupted`` exception,
so the transaction that is running can restore the clone before the process ends.

A signal never cuts a git command in half: while one runs (``deferred()``), the signal is only
recorded, and raised as soon as the command has finished. A killed git would leave its
``index.lock`` behind, and the next run in the clone would fail on it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from gitops_release.errors import DeployInterrupted

HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class _State:
    armed = 0
    deferred = 0
    held = 0
    pending: int | None = None


_state = _State()


def _interrupted(signum: int) -> DeployInterrupted:
    name = signal.Signals(signum).name
    return DeployInterrupted(f"{name} stopped the deploy", signal_number=signum)


def _handler(signum: int, _frame: FrameType | None) -> None:
    if _state.deferred:
        _state.pending = _state.pending or signum
        return
    raise _interrupted(signum)


@contextmanager
def handled() -> Iterator[None]:
    """Turn the handled signals into DeployInterrupted inside the block (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _handler) for sig in HANDLED}
    _state.armed += 1
    try:
        yield
    finally:
        _state.armed -= 1
        for sig, old in previous.items():
            signal.signal(sig, old)
        if not _state.armed:
            _state.deferred -= _state.held
            _state.held = 0
            _state.pending = None


@contextmanager
def deferred() -> Iterator[None]:
    """Record a signal instead of raising it inside the block; raise it when the block ends."""
    _state.deferred += 1
    try:
        yield
    finally:
        _state.deferred -= 1
    check()


def pending() -> bool:
    """Whether a signal is recorded and waiting to be raised."""
    return _state.pending is not None


def check() -> None:
    """Raise the recorded signal, if any, unless a deferred block is running."""
    if _state.pending is not None and not _state.deferred:
        signum, _state.pending = _state.pending, None
        raise _interrupted(signum)


def hold() -> None:
    """From now on until the handled block ends, record signals and never raise them: the
    deploy has landed, and only its report is left to write."""
    _state.deferred += 1
    _state.held += 1


def discard() -> None:
    """Forget a recorded signal (the deploy is already being rolled back because of it)."""
    _state.pending = None
