//! What the SQL stores (`SqliteStore`, `PostgresStore`) share: the table's statements, version
//! conversions, the outcome of a save, and the JSON codec.

use super::StoreError;

/// A table name the database stores accept: letters, digits and `_`, not starting with a digit,
/// so it can be spliced into SQL.
pub(super) fn check_table(table: &str) -> Result<(), StoreError> {
    let ok = table
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && table.len() <= 63;
    if ok {
        Ok(())
    } else {
        Err(StoreError::Backend(
            format!("`{table}` is not a table name (letters, digits and `_`, not starting with a digit)").into(),
        ))
    }
}

/// The SQL of a database store over one table, with the backend's parameter style (`?1` or `$1`).
pub(super) struct Statements {
    pub(super) create: String,
    pub(super) load: String,
    pub(super) save: String,
    pub(super) insert: String,
    pub(super) version: String,
    /// The record, its version and the position of its durable run.
    pub(super) load_run: String,
    /// As `save`, with the position (`{p4}`) and whether the run is over (`{p5}`).
    pub(super) save_run: String,
    pub(super) unfinished: String,
    /// Whether the table has the columns of durable runs (an older table has not).
    pub(super) has_position: String,
    /// Adds them.
    pub(super) add_position: String,
}

impl Statements {
    /// For `table` (checked), `param` names the n-th parameter, `int` is the version's type.
    pub(super) fn new(table: &str, param: &str, int: &str) -> Result<Self, StoreError> {
        check_table(table)?;
        let [p1, p2, p3, p4, p5] = [1, 2, 3, 4, 5].map(|n| format!("{param}{n}"));
        Ok(Statements {
            create: format!(
                "CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY, version {int} NOT NULL, data TEXT NOT NULL, \
                 position TEXT, finished INTEGER)"
            ),
            load: format!("SELECT version, data FROM {table} WHERE key = {p1}"),
            save: format!("UPDATE {table} SET data = {p1}, version = version + 1 WHERE key = {p2} AND version = {p3}"),
            insert: format!(
                "INSERT INTO {table} (key, version, data) VALUES ({p1}, 1, {p2}) ON CONFLICT (key) DO NOTHING"
            ),
            version: format!("SELECT version FROM {table} WHERE key = {p1}"),
            load_run: format!("SELECT version, data, position FROM {table} WHERE key = {p1}"),
            save_run: format!(
                "UPDATE {table} SET data = {p1}, version = version + 1, position = {p4}, finished = {p5} \
                 WHERE key = {p2} AND version = {p3}"
            ),
            unfinished: format!("SELECT key FROM {table} WHERE position IS NOT NULL AND finished = 0 ORDER BY key"),
            has_position: if param == "?" {
                format!("SELECT count(*) FROM pragma_table_info('{table}') WHERE name = 'position'")
            } else {
                format!(
                    "SELECT count(*) FROM information_schema.columns WHERE table_name = '{}' \
                     AND column_name = 'position' AND table_schema = ANY (current_schemas(false))",
                    table.to_ascii_lowercase()
                )
            },
            add_position: if param == "?" {
                format!(
                    "ALTER TABLE {table} ADD COLUMN position TEXT; ALTER TABLE {table} ADD COLUMN finished INTEGER;"
                )
            } else {
                format!(
                    "ALTER TABLE {table} ADD COLUMN IF NOT EXISTS position TEXT, ADD COLUMN IF NOT EXISTS finished INTEGER"
                )
            },
        })
    }
}

pub(super) fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(e))
}

/// A version as the databases store it (a signed 64-bit integer).
pub(super) fn version_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(super) fn version_sql(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The outcome of an `UPDATE ... WHERE version = ?` that changed `changed` rows, `found` being
/// the version then in the table (read only when nothing changed).
pub(super) fn saved(key: &str, expected: u64, changed: u64, found: Option<i64>) -> Result<u64, StoreError> {
    match (changed, found) {
        (1, _) => Ok(expected.saturating_add(1)),
        (_, Some(found)) => Err(StoreError::Conflict {
            key: key.to_owned(),
            expected,
            found: version_of(found),
        }),
        (_, None) => Err(StoreError::NotFound { key: key.to_owned() }),
    }
}

pub(super) fn inserted(key: &str, changed: u64) -> Result<u64, StoreError> {
    if changed == 1 {
        Ok(1)
    } else {
        Err(StoreError::Exists { key: key.to_owned() })
    }
}

pub(super) fn decode<D: serde::de::DeserializeOwned>(key: &str, json: &str) -> Result<D, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Codec {
        key: key.to_owned(),
        reason: format!("cannot decode the stored JSON: {e}"),
    })
}

pub(super) fn encode<D: serde::Serialize>(key: &str, data: &D) -> Result<String, StoreError> {
    serde_json::to_string(data).map_err(|e| StoreError::Codec {
        key: key.to_owned(),
        reason: format!("cannot encode as JSON: {e}"),
    })
}

/// The position saved in a row, read back: `None` for a row no durable run saved.
pub(super) fn decode_run(key: &str, text: Option<String>) -> Result<Option<super::SavedRun>, StoreError> {
    match text {
        None => Ok(None),
        Some(text) => super::SavedRun::decode(&text)
            .map(Some)
            .map_err(|reason| StoreError::Position {
                key: key.to_owned(),
                reason,
            }),
    }
}
