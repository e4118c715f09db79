"""The measurement store's SQLite schema: uploads, measurements and store versions.

See :mod:`model.store.measurements` for why it is built this way (one transaction per upload,
content hashes, nothing deleted). Kept apart so the store module holds only behaviour.
"""

__all__ = ["SCHEMA", "add_missing_columns"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    id            INTEGER PRIMARY KEY,
    source_files  TEXT    NOT NULL,   -- JSON list of file names
    content_hash  TEXT    NOT NULL,   -- SHA-256 of the files' bytes (names and order ignored)
    uploaded_by   TEXT    NOT NULL,
    uploaded_at   TEXT    NOT NULL,   -- ISO 8601 UTC
    n_added       INTEGER NOT NULL,
    n_already     INTEGER NOT NULL,
    accepted      TEXT    NOT NULL,   -- JSON list of accepted near-miss names
    notes         TEXT                -- JSON list of what reading assumed; NULL = recorded before notes were kept
);
CREATE TABLE IF NOT EXISTS measurements (
    id              INTEGER PRIMARY KEY,
    upload_id       INTEGER NOT NULL REFERENCES uploads(id),
    sample_id       TEXT    NOT NULL,
    recipe_id       TEXT    NOT NULL,
    thickness_um    REAL    NOT NULL,
    concentrations  TEXT    NOT NULL, -- JSON [[colorant, wt %], ...] in the upload's order
    reflectance     TEXT    NOT NULL, -- JSON list of 31 reflectance factors, 400-700 nm
    source          TEXT    NOT NULL,
    fluorescence_cts REAL,            -- fluorescence intensity in ct/s; NULL = no reading
    content_hash    TEXT    NOT NULL UNIQUE,
    excluded        INTEGER NOT NULL DEFAULT 0,
    excluded_reason TEXT,
    excluded_by     TEXT,
    excluded_at     TEXT
);
CREATE INDEX IF NOT EXISTS measurements_by_recipe ON measurements(recipe_id);
CREATE TABLE IF NOT EXISTS store_versions (
    version             TEXT PRIMARY KEY,
    dataset_fingerprint TEXT NOT NULL,
    measurement_ids     TEXT NOT NULL,  -- JSON list of included measurement ids
    created_at          TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id     INTEGER PRIMARY KEY,
    at     TEXT NOT NULL,
    user   TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
"""

# Columns added after the first release: (table, column, SQL type). A store created before
# gains them when opened (NULL in old rows: "no reading", "no notes kept"), so old stores keep working.
_ADDED_COLUMNS = (("measurements", "fluorescence_cts", "REAL"), ("uploads", "notes", "TEXT"))


def add_missing_columns(connection) -> None:
    """Bring a store created by an earlier Huecast up to :data:`SCHEMA` (idempotent)."""
    for table, column, sql_type in _ADDED_COLUMNS:
        present = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            connection.execute(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}")
