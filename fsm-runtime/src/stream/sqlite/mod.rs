//! SQLite as a source and a target: [`SqliteSource`] reads a table or a query in key order, a page
//! at a time; [`SqliteTarget`] is the sink database, whose [`SqliteSink`]s and
//! [`SqliteDeadLetterSink`] write into one transaction per chunk, committed with the source's
//! position ([`ChunkCommit`]).

use std::collections::VecDeque;
use std::io;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde::de::value::MapDeserializer;
use serde_json::{Map, Value};

mod row;

use self::row::{CellError, RowSerializer};
use super::sql::{
    DeadLetterRow, POSITIONS_TABLE, counts_json, db_error, quote_ident, quote_name, read_counts, record_object,
};
use super::{ChunkCommit, Committed, DeadLetter, Item, Malformed, Position, Sink, Source, WriteError};

/// Rows fetched per query by default.
const DEFAULT_PAGE_ROWS: usize = 1000;

/// Reads the rows of a table, or of a query, in the order of an integer key column, a page of rows
/// per query (keyset pagination: `WHERE key > last ORDER BY key LIMIT page`), so memory holds one
/// page whatever the table's size and the position is the last key read. Each row becomes a JSON
/// object of its columns (integers, reals, text; blobs as text, NULL as null), decoded into `T`
/// with serde; a row that does not decode is an [`Item::Malformed`] (a dead letter) and the stream
/// goes on.
///
/// The record's line ([`Item::Record`], a dead letter's position) is the row's key. Resumable:
/// [`Source::resume`] continues after a key, as [`Pipeline::commit_chunks`](super::Pipeline::commit_chunks)
/// and file checkpoints do. A key that is not an integer stops the run.
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// use fsm_runtime::stream::{Item, Source, SqliteSource};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("in.db");
/// let db = rusqlite::Connection::open(&path).map_err(std::io::Error::other)?;
/// db.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO t VALUES (1, 'a'), (2, 'b');")
///     .map_err(std::io::Error::other)?;
/// #[derive(serde::Deserialize)]
/// struct Row { id: i64, name: String }
/// let mut source = SqliteSource::<Row>::table(&path, "t", "id")?;
/// let mut names = Vec::new();
/// while let Some(item) = source.next_item()? {
///     if let Item::Record { data, .. } = item { names.push(data.name); }
/// }
/// assert_eq!(names, ["a", "b"]);
/// # Ok(()) }
/// ```
pub struct SqliteSource<T> {
    conn: Connection,
    name: Arc<str>,
    select: String,
    key: String,
    page_rows: usize,
    /// The key of the last row returned (not only fetched), and the rows returned.
    last_key: Option<i64>,
    rows: u64,
    /// The key of the last row fetched into `page`.
    fetched_key: Option<i64>,
    page: VecDeque<(i64, Item<T>)>,
    at_end: bool,
    /// Decode records from the JSON text of this column instead of from the row.
    json_column: Option<String>,
    _record: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> SqliteSource<T> {
    /// Reads table `table` of the database file at `path`, ordered by the integer column `key`
    /// (the primary key, or any indexed unique integer column).
    pub fn table(path: impl AsRef<std::path::Path>, table: &str, key: &str) -> io::Result<Self> {
        let name = format!("{}#{table}", path.as_ref().display());
        Self::open(path.as_ref(), name, format!("SELECT * FROM {}", quote_name(table)), key)
    }

    /// Reads the rows of `query` (a `SELECT`) ordered by its integer column `key`. The query is
    /// wrapped (`SELECT * FROM (query) WHERE key > ? ORDER BY key LIMIT ?`), so it may filter and
    /// join but must not end with its own `ORDER BY`/`LIMIT`.
    pub fn query(path: impl AsRef<std::path::Path>, query: &str, key: &str) -> io::Result<Self> {
        let name = format!("{}#query", path.as_ref().display());
        Self::open(path.as_ref(), name, format!("SELECT * FROM ({query})"), key)
    }

    fn open(path: &std::path::Path, name: String, from: String, key: &str) -> io::Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| db_error(format_args!("cannot open `{}`", path.display()), e))?;
        // A writer of the same file (a sink in it, another process) holds its lock while it
        // commits: wait for it rather than fail.
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| db_error(format_args!("cannot open `{}`", path.display()), e))?;
        let select = format!(
            "SELECT * FROM ({from}) WHERE {k} > ?1 ORDER BY {k} LIMIT ?2",
            k = quote_ident(key)
        );
        // A missing table or column shows now, not at the first read. (SQLite reads a quoted
        // name that is no column as a string, so the key column is looked up by name.)
        let columns: Vec<String> = conn
            .prepare_cached(&select)
            .map_err(|e| db_error(format_args!("cannot read `{name}`"), e))?
            .column_names()
            .map(str::to_string)
            .collect();
        if !columns.iter().any(|c| c == key) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "`{name}` has no such column `{key}` to order by (its columns: {})",
                    columns.join(", ")
                ),
            ));
        }
        Ok(SqliteSource {
            conn,
            name: Arc::from(name),
            select,
            key: key.to_string(),
            page_rows: DEFAULT_PAGE_ROWS,
            last_key: None,
            rows: 0,
            fetched_key: None,
            page: VecDeque::new(),
            at_end: false,
            json_column: None,
            _record: PhantomData,
        })
    }

    /// Rows fetched per query (at least 1; default 1000): what memory holds of the table.
    pub fn page_rows(mut self, n: usize) -> Self {
        self.page_rows = n.max(1);
        self
    }

    /// The name in dead letters and messages (default `PATH#TABLE`, or `PATH#query`): keep it
    /// stable, it is half of a dead letter's key in a dead-letter table.
    pub fn name(mut self, name: &str) -> Self {
        self.name = Arc::from(name);
        self
    }

    /// Decodes each record from the JSON text in column `column` instead of from the row's
    /// columns: for tables of records kept as JSON, `(id INTEGER PRIMARY KEY, record TEXT)`, as
    /// [`SqliteTarget::json_table`] writes them. Text that does not decode is a malformed item
    /// with the text as read.
    pub fn json_column(mut self, column: &str) -> Self {
        self.json_column = Some(column.to_string());
        self
    }

    fn fetch_page(&mut self) -> io::Result<()> {
        let after = self.fetched_key.unwrap_or(i64::MIN);
        let limit = i64::try_from(self.page_rows).unwrap_or(i64::MAX);
        let mut stmt = self
            .conn
            .prepare_cached(&self.select)
            .map_err(|e| db_error(format_args!("reading `{}`", self.name), e))?;
        let columns: Vec<String> = stmt.column_names().map(str::to_string).collect();
        let Some(key_index) = columns.iter().position(|c| *c == self.key) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{}` has no key column `{}`", self.name, self.key),
            ));
        };
        let json_index = match &self.json_column {
            None => None,
            Some(column) => match columns.iter().position(|c| c == column) {
                Some(i) => Some(i),
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("`{}` has no column `{column}` of records as JSON", self.name),
                    ));
                }
            },
        };
        let mut rows = stmt
            .query(params![after, limit])
            .map_err(|e| db_error(format_args!("reading `{}`", self.name), e))?;
        let mut n = 0;
        let mut values = Vec::with_capacity(columns.len());
        while let Some(row) = rows
            .next()
            .map_err(|e| db_error(format_args!("reading `{}`", self.name), e))?
        {
            n += 1;
            let key = match row.get_ref(key_index) {
                Ok(ValueRef::Integer(k)) => k,
                other => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "`{}`: the key column `{}` holds {other:?} after key {after}, not an integer",
                            self.name, self.key
                        ),
                    ));
                }
            };
            if let Some(i) = json_index {
                let text = match row.get_ref(i) {
                    Ok(ValueRef::Text(t) | ValueRef::Blob(t)) => t,
                    Ok(_) => &[][..],
                    Err(e) => return Err(db_error(format_args!("reading `{}`", self.name), e)),
                };
                let line = key as u64;
                let item = match serde_json::from_slice::<T>(text) {
                    Ok(data) => Item::Record { data, line },
                    Err(e) => Item::Malformed(Malformed {
                        line,
                        error: e.to_string(),
                        raw: String::from_utf8_lossy(text).into_owned(),
                    }),
                };
                self.fetched_key = Some(key);
                self.page.push_back((key, item));
                continue;
            }
            values.clear();
            let read_row = |values: &mut Vec<Value>| {
                for i in 0..columns.len() {
                    match row.get_ref(i) {
                        Ok(v) => values.push(json_of(v)),
                        Err(e) => return Err(db_error(format_args!("reading `{}`", self.name), e)),
                    }
                }
                Ok(())
            };
            read_row(&mut values)?;
            // Decoded as if the row were a JSON object, without building the object.
            let fields = columns.iter().map(String::as_str).zip(values.drain(..));
            // A record's line is its key; negative keys keep their bits.
            let line = key as u64;
            let item = match T::deserialize(MapDeserializer::<_, serde_json::Error>::new(fields)) {
                Ok(data) => Item::Record { data, line },
                Err(e) => {
                    read_row(&mut values)?;
                    let object: Map<String, Value> = columns.iter().cloned().zip(values.drain(..)).collect();
                    Item::Malformed(Malformed {
                        line,
                        error: e.to_string(),
                        raw: Value::Object(object).to_string(),
                    })
                }
            };
            self.fetched_key = Some(key);
            self.page.push_back((key, item));
        }
        if n < self.page_rows {
            self.at_end = true;
        }
        Ok(())
    }
}

fn json_of(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        ValueRef::Text(t) | ValueRef::Blob(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
    }
}

impl<T: DeserializeOwned + Send> Source for SqliteSource<T> {
    type Item = T;

    fn next_item(&mut self) -> io::Result<Option<Item<T>>> {
        if self.page.is_empty() && !self.at_end {
            self.fetch_page()?;
        }
        Ok(self.page.pop_front().map(|(key, item)| {
            self.last_key = Some(key);
            self.rows += 1;
            item
        }))
    }

    fn name(&self) -> Arc<str> {
        self.name.clone()
    }

    /// The last key read (its bits in `offset`) and the rows read (`line`).
    fn position(&self) -> Option<Position> {
        Some(Position {
            offset: self.last_key.map_or(0, |k| k as u64),
            line: self.rows,
        })
    }

    fn resume(&mut self, at: Position) -> io::Result<()> {
        self.page.clear();
        self.at_end = false;
        self.rows = at.line;
        self.last_key = (at.line > 0).then_some(at.offset as i64);
        self.fetched_key = self.last_key;
        Ok(())
    }
}

/// The sink database: one connection shared by its sinks ([`SqliteTarget::table`],
/// [`SqliteTarget::dead_letters`]) and the chunk commits of one job. Give a clone to
/// [`Pipeline::commit_chunks`](super::Pipeline::commit_chunks): the sinks then write into one
/// transaction per chunk, committed with the source's position in the table
/// `fsm_stream_positions` (job, position, counts), so every record lands exactly once, however
/// often the job is killed and started again.
///
/// Guarantee: exactly once with `commit_chunks`; without it, each write commits on its own and
/// replays are idempotent (upserts by key).
#[derive(Clone)]
pub struct SqliteTarget {
    db: Arc<Mutex<TargetDb>>,
    name: Arc<str>,
}

struct TargetDb {
    conn: Connection,
    job: String,
    /// A transaction is open (writes since the last commit).
    in_transaction: bool,
    /// Whether the pipeline commits chunks; if not, each write commits at once.
    chunked: bool,
}

impl SqliteTarget {
    /// Opens (creating it if missing) the database file at `path` as the sink of job `job`: the
    /// name under which its position is saved (one database can hold the positions of many jobs).
    pub fn open(path: impl AsRef<std::path::Path>, job: &str) -> io::Result<Self> {
        let path = path.as_ref();
        let conn = Connection::open(path).map_err(|e| db_error(format_args!("cannot open `{}`", path.display()), e))?;
        let target = SqliteTarget {
            name: Arc::from(format!("`{}` (job `{job}`)", path.display())),
            db: Arc::new(Mutex::new(TargetDb {
                conn,
                job: job.to_string(),
                in_transaction: false,
                chunked: false,
            })),
        };
        target.with_connection(|conn| {
            conn.busy_timeout(std::time::Duration::from_secs(10))?;
            conn.execute_batch(&format!(
                "CREATE TABLE IF NOT EXISTS {POSITIONS_TABLE} (
                    job TEXT PRIMARY KEY,
                    position_offset INTEGER NOT NULL,
                    position_line INTEGER NOT NULL,
                    read INTEGER NOT NULL,
                    dropped INTEGER NOT NULL,
                    counts TEXT NOT NULL)"
            ))
        })?;
        Ok(target)
    }

    fn lock(&self) -> io::Result<MutexGuard<'_, TargetDb>> {
        self.db
            .lock()
            .map_err(|_| io::Error::other("the sink database's lock was poisoned by a panic"))
    }

    /// Runs `f` with the connection (to create tables, read a lookup table). Not inside a chunk's
    /// transaction: call it before or after the run.
    pub fn with_connection<R>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<R>) -> io::Result<R> {
        let db = self.lock()?;
        f(&db.conn).map_err(|e| db_error(&self.name, e))
    }

    /// Forgets the job's saved position: the next run starts from the beginning of its source.
    pub fn reset(&self) -> io::Result<()> {
        let db = self.lock()?;
        db.conn
            .execute(&format!("DELETE FROM {POSITIONS_TABLE} WHERE job = ?1"), [&db.job])
            .map_err(|e| db_error(&self.name, e))?;
        Ok(())
    }

    /// A sink upserting records into `table` (which must exist): each record is serialized to a
    /// JSON object whose fields fill `columns` (a missing field is NULL; nested values are
    /// stored as JSON text), and a row whose `key` is already there is updated, so a replayed
    /// record is never written twice. A record the table refuses (a constraint) is rejected:
    /// it goes to the dead letters and the stream goes on.
    pub fn table<T: Serialize>(&self, table: &str, key: &str, columns: &[&str]) -> io::Result<SqliteSink<T>> {
        self.sink(table, key, columns, false)
    }

    /// A sink upserting whole records as JSON into `table`, created if missing as
    /// `(KEY INTEGER PRIMARY KEY, record TEXT NOT NULL)`: the key is the record's field `key`,
    /// `record` its JSON. A record without an integer `key` field is rejected (dead letter).
    /// [`SqliteSource::json_column`] reads such a table back.
    pub fn json_table<T: Serialize>(&self, table: &str, key: &str) -> io::Result<SqliteSink<T>> {
        self.with_connection(|conn| {
            conn.execute_batch(&format!(
                "CREATE TABLE IF NOT EXISTS {} ({} INTEGER PRIMARY KEY, record TEXT NOT NULL)",
                quote_name(table),
                quote_ident(key)
            ))
        })?;
        self.sink(table, key, &[key, "record"], true)
    }

    fn sink<T: Serialize>(&self, table: &str, key: &str, columns: &[&str], json: bool) -> io::Result<SqliteSink<T>> {
        if !columns.contains(&key) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the key column `{key}` is not among the columns {columns:?} of `{table}`"),
            ));
        }
        let names: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
        let marks: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
        let updates: Vec<String> = names
            .iter()
            .zip(columns)
            .filter(|(_, c)| **c != key)
            .map(|(n, _)| format!("{n} = excluded.{n}"))
            .collect();
        let on_conflict = if updates.is_empty() {
            "DO NOTHING".to_string()
        } else {
            format!("DO UPDATE SET {}", updates.join(", "))
        };
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) {on_conflict}",
            quote_name(table),
            names.join(", "),
            marks.join(", "),
            quote_ident(key)
        );
        self.with_connection(|conn| conn.prepare_cached(&sql).map(drop))?;
        Ok(SqliteSink {
            target: self.clone(),
            sql,
            columns: columns.iter().map(|c| c.to_string()).collect(),
            table: table.to_string(),
            values: Vec::with_capacity(columns.len()),
            json,
            _record: PhantomData,
        })
    }

    /// A dead-letter sink into `table`, created if missing with the columns `source`,
    /// `position` (the record's line, or key for database sources), `reason`, `message` and
    /// `payload` (the record as JSON, or the undecodable input), primary key
    /// `(source, position)`: a replayed dead letter replaces itself.
    pub fn dead_letters<T: Serialize>(&self, table: &str) -> io::Result<SqliteDeadLetterSink<T>> {
        let t = quote_name(table);
        self.with_connection(|conn| {
            conn.execute_batch(&format!(
                "CREATE TABLE IF NOT EXISTS {t} (
                    source TEXT NOT NULL,
                    position INTEGER NOT NULL,
                    reason TEXT NOT NULL,
                    message TEXT NOT NULL,
                    payload TEXT,
                    PRIMARY KEY (source, position))"
            ))
        })?;
        Ok(SqliteDeadLetterSink {
            target: self.clone(),
            sql: format!(
                "INSERT INTO {t} (source, position, reason, message, payload) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (source, position) DO UPDATE SET
                   reason = excluded.reason, message = excluded.message, payload = excluded.payload"
            ),
            _record: PhantomData,
        })
    }

    /// Runs one statement of a sink inside the chunk's transaction (opened if needed).
    fn write(&self, what: Writing<'_>, sql: &str, values: &[SqlValue]) -> Result<(), WriteError> {
        let mut db = self.lock()?;
        if db.chunked && !db.in_transaction {
            db.conn
                .execute_batch("BEGIN IMMEDIATE")
                .map_err(|e| db_error(format_args!("{}: cannot begin a transaction", self.name), e))?;
            db.in_transaction = true;
        }
        let result = db
            .conn
            .prepare_cached(sql)
            .and_then(|mut stmt| stmt.execute(rusqlite::params_from_iter(values.iter())));
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                if db.in_transaction && db.conn.is_autocommit() {
                    // SQLite rolled the whole transaction back (a trigger's RAISE(ROLLBACK), a
                    // full disk): the chunk's earlier writes are gone, so the run must stop.
                    db.in_transaction = false;
                    return Err(WriteError::Io(db_error(
                        format_args!("{}: writing {what} rolled the chunk's transaction back", self.name),
                        e,
                    )));
                }
                match e.sqlite_error_code() {
                    Some(ErrorCode::ConstraintViolation) => Err(WriteError::Rejected(format!("{what}: {e}"))),
                    _ => Err(WriteError::Io(db_error(
                        format_args!("{}: writing {what}", self.name),
                        e,
                    ))),
                }
            }
        }
    }
}

impl ChunkCommit for SqliteTarget {
    fn name(&self) -> String {
        self.name.to_string()
    }

    fn load(&mut self) -> io::Result<Option<Committed>> {
        let mut db = self.lock()?;
        db.chunked = true;
        let row = db
            .conn
            .query_row(
                &format!(
                    "SELECT position_offset, position_line, read, dropped, counts FROM {POSITIONS_TABLE} WHERE job = ?1"
                ),
                [&db.job],
                |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, i64>(3)?,
                        row.get::<_, String>(4)?,
                    ))
                },
            )
            .optional()
            .map_err(|e| db_error(format_args!("{}: reading the saved position", self.name), e))?;
        let Some((offset, line, read, dropped, counts)) = row else {
            return Ok(None);
        };
        let mut state = Committed {
            position: Position {
                offset: offset as u64,
                line: line as u64,
            },
            read: read as u64,
            dropped: dropped as u64,
            ..Committed::default()
        };
        read_counts(&mut state, &counts)?;
        Ok(Some(state))
    }

    fn commit(&mut self, state: &Committed) -> io::Result<()> {
        let mut db = self.lock()?;
        if !db.in_transaction {
            db.conn
                .execute_batch("BEGIN IMMEDIATE")
                .map_err(|e| db_error(format_args!("{}: cannot begin a transaction", self.name), e))?;
            db.in_transaction = true;
        }
        let saved = db.conn.execute(
            &format!(
                "INSERT INTO {POSITIONS_TABLE} (job, position_offset, position_line, read, dropped, counts)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (job) DO UPDATE SET position_offset = excluded.position_offset,
                   position_line = excluded.position_line, read = excluded.read,
                   dropped = excluded.dropped, counts = excluded.counts"
            ),
            params![
                db.job,
                state.position.offset as i64,
                state.position.line as i64,
                state.read as i64,
                state.dropped as i64,
                counts_json(state)
            ],
        );
        let committed = saved.and_then(|_| db.conn.execute_batch("COMMIT"));
        if let Err(e) = committed {
            if !db.conn.is_autocommit() {
                let _ = db.conn.execute_batch("ROLLBACK");
            }
            db.in_transaction = false;
            return Err(db_error(format_args!("{}: the chunk was rolled back", self.name), e));
        }
        db.in_transaction = false;
        Ok(())
    }

    fn rollback(&mut self) {
        if let Ok(mut db) = self.lock() {
            if !db.conn.is_autocommit() {
                let _ = db.conn.execute_batch("ROLLBACK");
            }
            db.in_transaction = false;
        }
    }
}

/// What a sink writes, for messages (formatted only when there is one to give).
#[derive(Clone, Copy)]
enum Writing<'a> {
    Row(&'a str),
    DeadLetter,
}

impl std::fmt::Display for Writing<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Writing::Row(table) => write!(f, "a row of `{table}`"),
            Writing::DeadLetter => f.write_str("a dead letter"),
        }
    }
}

/// Upserts records into a table of a [`SqliteTarget`] (see [`SqliteTarget::table`]).
pub struct SqliteSink<T> {
    target: SqliteTarget,
    sql: String,
    table: String,
    columns: Vec<String>,
    values: Vec<SqlValue>,
    /// Columns: the key and the whole record as JSON.
    json: bool,
    _record: PhantomData<fn(&T)>,
}

/// A JSON value as an SQLite value: booleans as 0/1, arrays and objects as JSON text.
fn sql_of(v: Option<&Value>) -> SqlValue {
    match v {
        None | Some(Value::Null) => SqlValue::Null,
        Some(Value::Bool(b)) => SqlValue::Integer(i64::from(*b)),
        Some(Value::Number(n)) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => SqlValue::Integer(i),
            // Beyond i64 the value would become a float: kept exact, as text.
            (None, Some(u)) => SqlValue::Text(u.to_string()),
            (None, None) => n.as_f64().map_or(SqlValue::Null, SqlValue::Real),
        },
        Some(Value::String(s)) => SqlValue::Text(s.clone()),
        Some(other) => SqlValue::Text(other.to_string()),
    }
}

impl<T: Serialize> Sink<T> for SqliteSink<T> {
    fn write(&mut self, record: &T) -> Result<(), WriteError> {
        self.values.clear();
        self.values.resize(self.columns.len(), SqlValue::Null);
        if self.json {
            let mut row = RowSerializer {
                columns: &self.columns[..1],
                cells: &mut self.values[..1],
                key: None,
            };
            match record.serialize(&mut row) {
                Ok(()) | Err(CellError::Nested) => {}
                Err(e) => return Err(WriteError::Rejected(e.to_string())),
            }
            if !matches!(self.values[0], SqlValue::Integer(_)) {
                return Err(WriteError::Rejected(format!(
                    "the record has no integer field `{}` to key it by",
                    self.columns[0]
                )));
            }
            let json = serde_json::to_string(record)
                .map_err(|e| WriteError::Rejected(format!("cannot serialize the record: {e}")))?;
            self.values[1] = SqlValue::Text(json);
            return self.target.write(Writing::Row(&self.table), &self.sql, &self.values);
        }
        let mut row = RowSerializer {
            columns: &self.columns,
            cells: &mut self.values,
            key: None,
        };
        match record.serialize(&mut row) {
            Ok(()) => {}
            // A nested field: the slow way, through a JSON object (nested values as JSON text).
            Err(CellError::Nested) => {
                let object = record_object(record).map_err(WriteError::Rejected)?;
                self.values.clear();
                self.values.extend(self.columns.iter().map(|c| sql_of(object.get(c))));
            }
            Err(e) => return Err(WriteError::Rejected(e.to_string())),
        }
        self.target.write(Writing::Row(&self.table), &self.sql, &self.values)
    }
}

/// Upserts dead letters into a table of a [`SqliteTarget`] (see [`SqliteTarget::dead_letters`]).
pub struct SqliteDeadLetterSink<T> {
    target: SqliteTarget,
    sql: String,
    _record: PhantomData<fn(&T)>,
}

impl<T: Serialize> Sink<DeadLetter<T>> for SqliteDeadLetterSink<T> {
    fn write(&mut self, letter: &DeadLetter<T>) -> Result<(), WriteError> {
        let row = DeadLetterRow::of(letter).map_err(WriteError::Rejected)?;
        let values = [
            SqlValue::Text(row.source),
            SqlValue::Integer(row.position),
            SqlValue::Text(row.reason.to_string()),
            SqlValue::Text(row.message),
            row.payload.map_or(SqlValue::Null, SqlValue::Text),
        ];
        self.target.write(Writing::DeadLetter, &self.sql, &values)
    }
}
