"""`customer360 audience`: the customers marketing may contact on one channel, and the list to suppress with it.

Read from the restricted copy (the published customers only: never an erased customer nor one past retention).
A customer is in the audience when `contactable_<channel>` holds, i.e. the surviving contact point of that channel
is valid and that very point has a current opt-in, and the opt-in does not need re-permission (older than the
re-permission period without interaction). Only the fields the channel needs leave the building.

The suppression list goes with every audience file: whoever sends the campaign removes these identifiers from any
other list they hold. It holds hashes only: SHA-256 of `email:<match key>` (lower case, `+tag` and Gmail dots
removed) or `phone:<E.164>`, for every point with an opt-out on that channel, every e-mail a record says bounced
(`undeliverable`), and every identifier of an erased customer (`identity.erasure_registry`, read from the warehouse) but those another customer shares."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipeline import audience_log
from pipeline.marts.segmentation import SEGMENT_NAMES, tier_names
from pipeline.normalise.address import country_code
from pipeline.private_files import memory_db, replaced_whole

# What each channel needs to reach a person, and nothing more.
CHANNEL_FIELDS = {
    "email": ["customer_id", "first_name", "last_name", "email"],
    "sms": ["customer_id", "first_name", "mobile"],
    "phone": ["customer_id", "first_name", "last_name", "phone"],
    "post": ["customer_id", "civility", "first_name", "last_name", "street", "postcode", "city", "state", "country"],
}
POINT_KIND = {"email": "email", "sms": "phone", "phone": "phone"}


@dataclass
class Audience:
    path: Path
    suppression_path: Path
    customers: int
    left_out_repermission: int
    suppressed: int


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    schema, name = table.split(".")
    return {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns "
                                      "WHERE table_schema = ? AND table_name = ?", [schema, name]).fetchall()}


def _write(con: duckdb.DuckDBPyConnection, query: str, params: list, out: Path) -> None:
    """The file, owner-only, swapped in whole: CSV or Parquet by its extension."""
    frame = con.execute(query, params).df()
    with replaced_whole(out) as tmp:
        if out.suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False)


def build_audience(restricted: Path, warehouse: Path | None, channel: str, out: Path,
                   segments: list[str] | None = None, tiers: list[str] | None = None,
                   countries: list[str] | None = None) -> Audience:
    """The audience file and its suppression list beside it. `warehouse`: where erased customers' identifiers are
    read (None: no erased identifiers). Everything is read before anything is written, so a failure leaves no
    audience without its suppression list."""
    if channel not in CHANNEL_FIELDS:
        raise ValueError(f"channel must be one of {sorted(CHANNEL_FIELDS)}, not {channel!r}")
    if out.suffix not in (".csv", ".parquet"):
        raise ValueError(f"{out}: write a .csv or a .parquet file")
    segments = _known(segments, SEGMENT_NAMES, "segment")
    tiers = _known(tiers, tier_names(), "tier")
    countries = _countries(countries)
    erased = _erased(warehouse) if warehouse else []
    with duckdb.connect(str(restricted), read_only=True) as con:
        available = _columns(con, "marts.customer_360")
        fields = [f for f in CHANNEL_FIELDS[channel] if f in available]
        where, params = [f"contactable_{channel}"], []
        if segments:
            where.append("rfm_segment IN (SELECT unnest(?))")
            params.append(segments)
        if tiers:
            where.append("loyalty_tier IN (SELECT unnest(?))")
            params.append(tiers)
        if countries:  # a campaign in one country's language, or under its law
            where.append("country IN (SELECT unnest(?))")
            params.append(countries)
        repermission = f"needs_repermission_{channel}"
        fresh = f"NOT coalesce({repermission}, false)" if repermission in available else "true"
        base = f"FROM marts.customer_360 c WHERE {' AND '.join(where)}"
        left_out = con.execute(f"SELECT count(*) {base} AND NOT ({fresh})", params).fetchone()[0]
        customers = con.execute(f"SELECT count(*) {base} AND {fresh}", params).fetchone()[0]
        opted_out = _opted_out(con, channel)
        sent = con.execute(f"SELECT customer_id, {audience_log.POINT_SQL[channel]} {base} AND {fresh} "
                           "ORDER BY customer_id", params).fetchall()
        suppression = out.with_name(f"{out.stem}.suppression.csv")
        with memory_db() as mem:  # the suppression list first: an audience is never left without it
            mem.execute("CREATE TABLE s (identifier_hash VARCHAR, kind VARCHAR, reason VARCHAR)")
            if opted_out + erased:  # none yet (no opt-out, no erasure): DuckDB refuses an empty executemany
                mem.executemany("INSERT INTO s VALUES (?, ?, ?)", opted_out + erased)
            _write(mem, "SELECT DISTINCT * FROM s ORDER BY ALL", [], suppression)
            suppressed = mem.execute("SELECT count(DISTINCT identifier_hash) FROM s").fetchone()[0]
        _write(con, f"SELECT {', '.join(fields)} {base} AND {fresh} ORDER BY customer_id", params, out)
    audience_log.append(restricted, channel, out, sent)  # whom it holds, for the consent proof
    return Audience(out, suppression, customers, left_out, suppressed)


def _known(wanted: list[str] | None, names: list[str] | tuple[str, ...], what: str) -> list[str] | None:
    """`wanted` as the marts spell them (`At risk` is `at_risk`); a name no customer can have is an error, not an
    empty audience."""
    if not wanted:
        return wanted
    spelled = [w.strip().lower().replace(" ", "_").replace("-", "_") for w in wanted]
    unknown = [w for w, s in zip(wanted, spelled, strict=True) if s not in names]
    if unknown:
        raise ValueError(f"no {what} {', '.join(map(repr, unknown))}: the {what}s are {', '.join(names)}")
    return spelled


def _countries(wanted: list[str] | None) -> list[str] | None:
    """`wanted` as ISO 3166 codes, as staging reads a country column (`de`, `Deutschland`, `Germany`: DE); a value
    naming no country is an error, not an empty audience."""
    if not wanted:
        return wanted
    codes = [country_code(w) for w in wanted]
    if unknown := [w for w, code in zip(wanted, codes, strict=True) if code is None]:
        raise ValueError(f"no country {', '.join(map(repr, unknown))}: give an ISO code (FR, DE) or a country's name")
    return codes


def _opted_out(con: duckdb.DuckDBPyConnection, channel: str) -> list[tuple]:
    """Hashes of the points whose current state on this channel is an opt-out (post has no point), and, for e-mail,
    of the addresses a live record says bounced (reason `undeliverable`)."""
    kind = POINT_KIND.get(channel)
    columns = _columns(con, "marts.contact_points")
    if kind is None or f"consent_{channel}" not in columns:
        return []
    bounced = "undeliverable_since IS NOT NULL" if channel == "email" and "undeliverable_since" in columns else "false"
    return con.execute(f"""SELECT DISTINCT sha256(kind || ':' || contact_point_key), kind,
                                  CASE WHEN consent_{channel} = 'opt_out' THEN 'opt_out' ELSE 'undeliverable' END
                           FROM marts.contact_points WHERE kind = ? AND (consent_{channel} = 'opt_out' OR {bounced})""",
                       [kind]).fetchall()


def _erased(warehouse: Path) -> list[tuple]:
    if not warehouse.exists():
        raise ValueError(f"no warehouse at {warehouse} to read the erased customers' identifiers from (the suppression "
                         "list needs them): give --warehouse, or --warehouse '' to leave them out")
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.IOException as exc:  # a run is writing it (one writer, no reader from another process)
        raise ValueError(f"the warehouse {warehouse} is being written by a run: try again when it ends") from exc
    with con:
        if not (columns := _columns(con, "identity.erasure_registry")):
            return []
        # a point the erased customer shared with another (a household's landline) is still the other's to reach
        mine = " AND NOT coalesce(shared, false)" if "shared" in columns else ""
        return con.execute("SELECT identifier_hash, kind, 'erased' FROM identity.erasure_registry "
                           f"WHERE kind IN ('email', 'phone'){mine}").fetchall()
