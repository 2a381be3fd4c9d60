"""A library's message with the values it quotes left out: the one owner of that rule, for whatever leaves a run as text
(a failed step's error, assets/errors.py; a training session Splink refused; a warning a library prints to a run's
compute log: assets/errors.py).

The messages of DuckDB, pandas, PyYAML, email-validator and Python itself quote the value they choke on, mostly between
quotes (`Could not convert string 'marie@x.fr' to INT32`, a YAML error's copy of the broken line) but often not:
DuckDB's `Could not cast value 99999999999999991433150857216.000000 to DECIMAL(38,9)` (an amount column holding a card
number), `with value 6.99887766e+20`, `Date out of range: 671234567-1-1`; pandas' `unable to parse: Marie Durand, at
position 0`, `year 9999999 is out of range: 9999999-01-01`, `cannot convert input 100000000000000000000 with the unit`.
`scrub` replaces by `…`: quoted spans, source snippets (a line and the `^` line under it), a number or date named after
`value`/`input` or a colon the messages above use, anything holding an `@`, and any run of six digits or more (a phone
written `06 71 23 45 67` or `0671234567`, a card, an amount), wherever it stands. What is left says what failed and
where (the type, the column, `line 5, column 12`, a file's path and drop day)."""

from __future__ import annotations

import re

MARK = "…"
_CARET = re.compile(r"\s*\^+\s*")  # the line under a quoted source line pointing at the fault (YAML, DuckDB)
# A quote that opens a value (at the line's start, after a space or `([{=:,`; not `can't`), up to the last quote of
# the same kind on the line (`'O'Brien'` whole), or to the line's end when none closes it (a YAML error's excerpt).
_QUOTED = re.compile(r"""(?<![^\s(\[{=:,])(['"]).*\1|(?<![^\s(\[{=:,])['"].*$""")
# A value named by the word before it (DuckDB: `with value 1e+23`, `Could not cast value 1e+29`; pandas: `convert input
# 1e+20 with the unit`), or given after a colon by the phrases that introduce one (pandas: `unable to parse: Marie
# Durand, at position 0`, `is out of range: 9999999-01-01`, `Out of bounds nanosecond timestamp: 22178562370-11-22`; DuckDB: `Date out of range: 671234567-1-1`).
_NAMED = re.compile(r"\b((?:with|cast) value|convert input) \S+")
_AFTER_COLON = re.compile(r"\b(unable to parse|out of range|Unknown string format|could not convert [\w ]+?|timestamp): [^,\n]+",
                          re.IGNORECASE)
_AT = re.compile(r"\S*@\S*")
# Six digits or more, single spaces, dots or dashes between them allowed only where a phone has them (`06 71 23 45 67`,
# `06.71.23.45.67`, `+33 6 71 23 45 67`): a date (`2026-11-27`), a time or a line number stays.
_DIGITS = re.compile(r"(?<![\w.])\+?\d(?:[ .]?\d){5,}(?:\.\d+)?(?:e[+-]?\d+)?(?![\w])", re.IGNORECASE)


def scrub(text: str) -> str:
    """`text` without what may be a personal value (see the module's docstring)."""
    lines = text.splitlines()
    kept = [line for i, line in enumerate(lines) if not _CARET.fullmatch(line)
            and not (i + 1 < len(lines) and _CARET.fullmatch(lines[i + 1]))]
    out = []
    for line in kept:
        line = _QUOTED.sub(f"'{MARK}'", line)
        line = _NAMED.sub(rf"\1 {MARK}", line)
        line = _AFTER_COLON.sub(rf"\1: {MARK}", line)
        line = _AT.sub(MARK, line)
        out.append(_DIGITS.sub(MARK, line))
    return "\n".join(out)
