"""Pure functions that turn one raw value into its canonical form (no I/O, no DuckDB)."""


def missing(value: object) -> bool:
    """None, NaN (pandas' missing value) or blank text."""
    if value is None:
        return True
    if isinstance(value, float):
        return value != value  # NaN
    return isinstance(value, str) and not value.strip()
