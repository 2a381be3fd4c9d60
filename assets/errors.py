"""A failed step's error, with the values its message quotes left out: the one owner of that rule.

Dagster writes a step's exception (message, cause chain, stack) to the run's event log, the console (the CLI's
stderr, a scheduler's log) and, for runs launched by the UI, the schedule or the sensor, the run's compute log. The
messages of DuckDB, pandas, PyYAML and Python itself quote the value they choke on: `Could not convert string
'marie@x.fr' to INT32`, `invalid literal for int(): '0612345678'`, a YAML error's copy of the broken line of a
steward's decisions file with the e-mail on it. Every op is wrapped by `values_left_out`: an exception leaves
the step as a `StepError` naming the original type, its message scrubbed (pipeline/private_text.py, the one owner of
what counts as a value in a message), and without its cause chain (whose messages quote the same values). The stack (files, lines, code) is kept. Dagster's own errors and an op's `dg.Failure` pass.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable

import dagster as dg

from pipeline.private_text import scrub

# Dagster's own errors (a failed blocking check, an interrupted run) and a `dg.Failure` an op raises on purpose (its
# description written for the operator, counts only): their messages are not a library's quoting a value.
PASSED = (dg.DagsterError, dg.Failure)


_FORMAT = warnings.formatwarning


def _scrubbed_warning(message, category, filename, lineno, line=None) -> str:
    return _FORMAT(scrub(str(message)), category, filename, lineno, line)


# A library's warning is printed to the process's stderr: the CLI's, a launched run's compute log. pandas quotes the
# value it half read (`Parsed string "12/03/2024 MARIE" included an un-recognized timezone "MARIE"`): every warning
# is scrubbed as a step's error is, in every process that runs an op (they all import this module to build the job).
warnings.formatwarning = _scrubbed_warning


class StepError(Exception):
    """A step's exception with its values left out (`scrub`); the message starts with the original type."""


def scrubbed(error: Exception) -> StepError:
    return StepError(f"{type(error).__module__}.{type(error).__qualname__}: {scrub(str(error))}").with_traceback(
        error.__traceback__)


def values_left_out(fn: Callable) -> Callable:
    """An op's function whose exceptions leave it scrubbed (but `PASSED`). Put it under the op's decorator."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def generator(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except PASSED:
                raise
            except Exception as error:  # noqa: BLE001 (every type: any message may quote a value)
                raise scrubbed(error) from None
        wrapped = generator
    else:
        @functools.wraps(fn)
        def function(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except PASSED:
                raise
            except Exception as error:  # noqa: BLE001
                raise scrubbed(error) from None
        wrapped = function
    wrapped.values_left_out = True  # what tests/test_private_errors.py looks for on every op of the job
    return wrapped
