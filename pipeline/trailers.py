"""A CSV export's trailer line: its last line, a label and the record count the exporting system wrote
(`TRAILER|1523`, `EOF;1523;20261127`, `T|1523|45872.50` with a control total, `Total records: 1523`).

Mainframes, ERPs and file-transfer conventions close a file so that the receiver can tell a whole file from one
cut short. Read as a record, the trailer was bad data (`2 fields where the header has 6`), counted in the source's
quarantine share (a delta of three records a day read 25 % bad and blocked every run), and its count was never
compared: a transfer that stopped after 6 of 10 records loaded its 6 without a word, and a full export cut by less
than the shrink guard retired the customers it lost. Here a trailer is recognised and its count checked.

A line is a trailer when it is its file's last, opens with a label (words without digits) followed by numbers only,
at least one a whole number, and either does not have the header's width (`TRAILER|1523` in a `;` file is one
field) or its label is a trailer's word (`TRAILER;1523;;;;` has it). Never a record: a record cut short keeps its
id, name or e-mail, which are not numbers. Its count is the whole number among its numbers that equals the file's
records; a day (`20261127`) and amounts are not counts. A trailer none of whose whole numbers is the file's records
says the file is incomplete.

A count taking the header and/or trailer line in too (`TRAILER|16` under 14 records: the file's lines) is learned, not
assumed: on first sight it reads as a mismatch (a file two records short looks the same), said with the lines it may
count; once the source's earlier trailers (pipeline/delivery_history.py) all counted exactly those one or two lines
more, a trailer counting them is the whole file's (HABIT_REASON), and one counting any other number still a mismatch,
so a real shortfall is never read as the habit. A source whose earlier files all ended in a trailer expects one: a
file without it is flagged (its transfer may have stopped before the end), said in extract.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

_CELLS = re.compile(r"[|;,\t:]")
_LABEL = re.compile(r"[^\W\d_]+(?:[ _.#-]+[^\W\d_]+)*[.#]?")  # `TRAILER`, `Total records`, `EOF`, `T`
_NUMBER = re.compile(r"[+-]?\d+(?:[.,]\d+)*")
_WHOLE = re.compile(r"\d+")
_WORDS = {"trailer", "trl", "trlr", "tlr", "eof", "end", "footer", "total", "totals", "count", "records", "record",
          "summe", "anzahl", "fin"}
_FIRST_WORD = re.compile(r"[^\W\d_]+")

MATCHED_REASON = "a trailer line (the export's record count, as many as the file holds): not a record"
HABIT_REASON = ("a trailer line (the export's record count with its header and/or trailer line, as the source's earlier "
                "trailers count): not a record")
MISMATCH_REASON = ("a trailer line whose record count is not the file's number of records: the file is incomplete "
                   "(a transfer cut short?) or the count is wrong")

REASONS = (MATCHED_REASON, HABIT_REASON, MISMATCH_REASON)  # a trailer line's, whatever its count
HABITS = {1: "its records and its header (or trailer) line", 2: "the file's lines, header and trailer included"}


@dataclass
class Trailer:
    counts: list[int]  # the whole numbers it holds that may be a record count

    def matches(self, records: int) -> bool:
        """Whether it counts `records`, or holds no count at all."""
        return not self.counts or records in self.counts

    def lines_counted(self, records: int) -> int:
        """How many lines beside the `records` it counts when it counts the header and/or trailer line too (1 or 2;
        the fewest), else 0."""
        return 0 if self.matches(records) else next((k for k in HABITS if records + k in self.counts), 0)


def _day(text: str) -> bool:
    try:
        datetime.strptime(text, "%Y%m%d")
    except ValueError:
        return False
    return len(text) == 8


def trailer(line: str, delimiter: str, width: int) -> Trailer | None:
    """The trailer `line` is (its file's last line; `width`: the header's fields), or None."""
    cells = [c.strip() for c in _CELLS.split(line)]
    cells = [c for c in cells if c]
    if len(cells) < 2 or not _LABEL.fullmatch(cells[0]) or not all(_NUMBER.fullmatch(c) for c in cells[1:]):
        return None
    if len(line.split(delimiter)) == width and _FIRST_WORD.match(cells[0])[0].lower() not in _WORDS:
        return None
    counts = [int(c) for c in cells[1:] if _WHOLE.fullmatch(c) and not _day(c)]
    if not counts and not any(_WHOLE.fullmatch(c) for c in cells[1:]):
        return None  # a label and amounts: a total row, which the footer rules read
    return Trailer(counts)
