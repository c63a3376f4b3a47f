//! PostgreSQL as a source and a target: [`PostgresSource`] reads a table or a query in key order
//! through a server-side cursor, a fetch at a time; [`PostgresTarget`] is the sink database,
//! whose [`PostgresSink`]s and [`PostgresDeadLetterSink`] collect a chunk's rows and write them
//! at the chunk's commit, one multi-row `INSERT ... ON CONFLICT` per table, in the transaction that
//! saves the source's position ([`ChunkCommit`]). Both open their connection again when the server
//! drops it, and a commit whose answer was lost is read back, never guessed.

use std::collections::VecDeque;
use std::io;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use postgres::Client;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::sql::{DeadLetterRow, POSITIONS_TABLE, counts_json, quote_ident, quote_name, read_counts};
use super::{ChunkCommit, Committed, DeadLetter, Item, Malformed, Position, Sink, Source, WriteError};
use crate::resources::pg::outcome_unknown;
use crate::resources::pg::tls::Connect;

/// Rows fetched from the cursor at a time by default.
const DEFAULT_FETCH_ROWS: usize = 1000;
/// Attempts after a lost connection before the run stops, and the first wait between them
/// (doubled each time: 0.1 s, 0.2 s, ... 3.2 s).
const RECONNECT_ATTEMPTS: u32 = 6;
const FIRST_WAIT: Duration = Duration::from_millis(100);
/// The cursor's name on the source's connection.
const CURSOR: &str = "fsm_stream_source";

fn pg_error(what: impl std::fmt::Display, e: &postgres::Error) -> io::Error {
    let detail = match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => e.to_string(),
    };
    let kind = if outcome_unknown(e) {
        io::ErrorKind::ConnectionAborted
    } else {
        io::ErrorKind::Other
    };
    io::Error::new(kind, format!("{what}: {detail}"))
}

/// The connection in `slot`, opened (again) if there is none or the server closed it.
fn live_client<'c>(slot: &'c mut Option<Client>, connect: &Connect) -> Result<&'c mut Client, postgres::Error> {
    let client = match slot.take().filter(|c| !c.is_closed()) {
        Some(c) => c,
        None => connect.connect()?,
    };
    Ok(slot.insert(client))
}

fn connect(url: &str) -> io::Result<Connect> {
    Connect::parse(url).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))
}

/// Reads the rows of a table, or of a query, in the order of an integer key column, through a
/// server-side cursor (`DECLARE ... CURSOR`, then `FETCH n`), so memory holds one fetch whatever
/// the table's size. Each row is turned into JSON by the server (`row_to_json`) and decoded into
/// `T` with serde; a row that does not decode is an [`Item::Malformed`] (a dead letter) and the
/// stream goes on. The position is the last key read.
///
/// The record's line ([`Item::Record`], a dead letter's position) is the row's key. When the
/// connection is lost (the server restarted, an administrator terminated it), the source connects
/// again and declares its cursor again after the last key fetched, a few times with a growing
/// wait, before it gives up with the error.
pub struct PostgresSource<T> {
    connect: Connect,
    client: Option<Client>,
    /// The cursor is declared on `client`.
    declared: bool,
    name: Arc<str>,
    from: String,
    key: String,
    fetch_rows: usize,
    last_key: Option<i64>,
    rows: u64,
    fetched_key: Option<i64>,
    page: VecDeque<(i64, Item<T>)>,
    at_end: bool,
    /// Decode records from the JSON of this column instead of from the row.
    json_column: Option<String>,
    _record: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> PostgresSource<T> {
    /// Reads table `table` (`name` or `schema.name`) of the database at `url`, ordered by the
    /// integer column `key` (the primary key, or any indexed unique integer column).
    pub fn table(url: &str, table: &str, key: &str) -> io::Result<Self> {
        Self::open(
            url,
            table.to_string(),
            format!("SELECT * FROM {}", quote_name(table)),
            key,
        )
    }

    /// Reads the rows of `query` (a `SELECT`) ordered by its integer column `key`; the query is
    /// wrapped (`SELECT ... FROM (query) WHERE key > ... ORDER BY key`), so it must not end with its
    /// own `ORDER BY`/`LIMIT`.
    pub fn query(url: &str, query: &str, key: &str) -> io::Result<Self> {
        Self::open(url, "query".to_string(), query.to_string(), key)
    }

    fn open(url: &str, name: String, from: String, key: &str) -> io::Result<Self> {
        let connect = connect(url)?;
        let client = connect
            .connect()
            .map_err(|e| pg_error(format_args!("cannot connect to read `{name}`"), &e))?;
        let mut source = PostgresSource {
            connect,
            client: Some(client),
            declared: false,
            name: Arc::from(name),
            from,
            key: key.to_string(),
            fetch_rows: DEFAULT_FETCH_ROWS,
            last_key: None,
            rows: 0,
            fetched_key: None,
            page: VecDeque::new(),
            at_end: false,
            json_column: None,
            _record: PhantomData,
        };
        // A missing table or key column shows now, not at the first read.
        let probe = format!(
            "SELECT ({k})::int8 FROM ({from}) AS t LIMIT 0",
            k = quote_ident(key),
            from = source.from
        );
        if let Some(client) = source.client.as_mut() {
            client
                .query(&probe, &[])
                .map_err(|e| pg_error(format_args!("cannot read `{}`", source.name), &e))?;
        }
        Ok(source)
    }

    /// Rows fetched from the cursor at a time (at least 1; default 1000): what memory holds.
    pub fn fetch_rows(mut self, n: usize) -> Self {
        self.fetch_rows = n.max(1);
        self
    }

    /// The name in dead letters and messages (default the table's name, or `query`): keep it
    /// stable, it is half of a dead letter's key in a dead-letter table.
    pub fn name(mut self, name: &str) -> Self {
        self.name = Arc::from(name);
        self
    }

    /// Decodes each record from the JSON in column `column` (`json`, `jsonb` or text) instead of
    /// from the row's columns: for tables of records kept as JSON, `(id BIGINT PRIMARY KEY,
    /// record JSONB)`, as [`PostgresTarget::json_table`] writes them. A value that does not
    /// decode is a malformed item with the text as read. A missing column shows at the first
    /// read.
    pub fn json_column(mut self, column: &str) -> Self {
        self.json_column = Some(column.to_string());
        self
    }

    /// Declares the cursor after the last key fetched, in a read-only transaction of its own.
    fn declare(&mut self) -> Result<(), postgres::Error> {
        let client = live_client(&mut self.client, &self.connect)?;
        let after = match self.fetched_key {
            Some(k) => format!("WHERE {} > {k}", quote_ident(&self.key)),
            None => String::new(),
        };
        let json = match &self.json_column {
            Some(column) => format!("(t.{})::text", quote_ident(column)),
            None => "row_to_json(t)::text".to_string(),
        };
        client.batch_execute(&format!(
            "BEGIN READ ONLY; DECLARE {CURSOR} NO SCROLL CURSOR FOR
             SELECT {json}, ({k})::int8 FROM ({from}) AS t {after} ORDER BY {k}",
            k = quote_ident(&self.key),
            from = self.from
        ))?;
        self.declared = true;
        Ok(())
    }

    fn fetch(&mut self) -> Result<Vec<postgres::Row>, postgres::Error> {
        if !self.declared || self.client.as_ref().is_none_or(Client::is_closed) {
            self.declared = false;
            self.declare()?;
        }
        let sql = format!("FETCH {} FROM {CURSOR}", self.fetch_rows);
        live_client(&mut self.client, &self.connect)?.query(&sql, &[])
    }

    fn fetch_page(&mut self) -> io::Result<()> {
        let mut attempt = 0;
        let rows = loop {
            match self.fetch() {
                Ok(rows) => break rows,
                Err(e) if outcome_unknown(&e) && attempt < RECONNECT_ATTEMPTS => {
                    // Lost: connect again (the next fetch declares the cursor again).
                    self.client = None;
                    self.declared = false;
                    std::thread::sleep(FIRST_WAIT * 2u32.pow(attempt));
                    attempt += 1;
                }
                Err(e) => return Err(pg_error(format_args!("reading `{}`", self.name), &e)),
            }
        };
        if rows.len() < self.fetch_rows {
            self.at_end = true;
            if let Some(client) = &mut self.client {
                // Read-only: ending it cannot lose anything, and a failure here changes nothing.
                let _ = client.batch_execute("COMMIT");
            }
        }
        for row in rows {
            let (json, key): (Option<String>, Option<i64>) = match (row.try_get(0), row.try_get(1)) {
                (Ok(j), Ok(k)) => (j, k),
                (Err(e), _) | (_, Err(e)) => return Err(pg_error(format_args!("reading `{}`", self.name), &e)),
            };
            let Some(key) = key else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("`{}`: the key column `{}` holds NULL", self.name, self.key),
                ));
            };
            let json = json.unwrap_or_default();
            let line = key as u64;
            let item = match serde_json::from_str::<T>(&json) {
                Ok(data) => Item::Record { data, line },
                Err(e) => Item::Malformed(Malformed {
                    line,
                    error: e.to_string(),
                    raw: json,
                }),
            };
            self.fetched_key = Some(key);
            self.page.push_back((key, item));
        }
        Ok(())
    }
}

impl<T: DeserializeOwned + Send> Source for PostgresSource<T> {
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
        // The cursor is declared again from there at the next fetch.
        if let Some(client) = &mut self.client {
            let _ = client.batch_execute("ROLLBACK");
        }
        self.declared = false;
        Ok(())
    }
}

/// The sink database: one connection shared by its sinks ([`PostgresTarget::table`],
/// [`PostgresTarget::dead_letters`]) and the chunk commits of one job. Give a clone to
/// [`Pipeline::commit_chunks`](super::Pipeline::commit_chunks): the sinks' rows of a chunk are
/// then written at its commit, one multi-row upsert per table, in the transaction that saves the
/// source's position in `fsm_stream_positions` (of the connection's `search_path`).
///
/// When the connection is lost during a commit, the target connects again and reads the saved
/// position back: if it is the chunk's, the commit landed; if not, the chunk is written again.
/// Guarantee: exactly once with `commit_chunks`; without it, each record is written at once in a
/// transaction of its own, and replays are idempotent (upserts by key).
#[derive(Clone)]
pub struct PostgresTarget {
    db: Arc<Mutex<TargetDb>>,
    name: Arc<str>,
}

struct TargetDb {
    connect: Connect,
    client: Option<Client>,
    job: String,
    chunked: bool,
    /// Per sink: its upsert (one parameter: a JSON array of rows) and the rows of this chunk.
    tables: Vec<Pending>,
}

struct Pending {
    sql: String,
    /// A JSON array being built: `[` then objects joined by commas.
    rows: Vec<u8>,
    count: usize,
}

impl Pending {
    fn clear(&mut self) {
        self.rows.clear();
        self.count = 0;
    }
}

impl TargetDb {
    fn client(&mut self) -> Result<&mut Client, postgres::Error> {
        live_client(&mut self.client, &self.connect)
    }
}

/// `create` (a `CREATE ... IF NOT EXISTS`) in a transaction holding an advisory lock: workers
/// starting together would otherwise race to create the same table, and all but one fail
/// (`IF NOT EXISTS` does not serialize them).
pub fn create_serialized(create: &str) -> String {
    format!("BEGIN; SELECT pg_advisory_xact_lock(7306545180424001); {create}; COMMIT")
}

/// A row of the position table: offset, line, read, dropped, counts.
type SavedRow = (i64, i64, i64, i64, String);

/// Rows of one chunk as the JSON array the upsert reads.
fn json_array(p: &Pending) -> String {
    let mut text = String::with_capacity(p.rows.len() + 2);
    text.push('[');
    text.push_str(&String::from_utf8_lossy(&p.rows));
    text.push(']');
    text
}

impl PostgresTarget {
    /// Connects to `url` as the sink of job `job`: the name under which its position is saved
    /// (one database can hold the positions of many jobs). Creates the position table if missing.
    pub fn open(url: &str, job: &str) -> io::Result<Self> {
        let connect = connect(url)?;
        let client = connect
            .connect()
            .map_err(|e| pg_error("cannot connect to the sink database", &e))?;
        let target = PostgresTarget {
            name: Arc::from(format!("the PostgreSQL sink (job `{job}`)")),
            db: Arc::new(Mutex::new(TargetDb {
                connect,
                client: Some(client),
                job: job.to_string(),
                chunked: false,
                tables: Vec::new(),
            })),
        };
        target.with_client(|c| {
            c.batch_execute(&create_serialized(&format!(
                "CREATE TABLE IF NOT EXISTS {POSITIONS_TABLE} (
                    job TEXT PRIMARY KEY,
                    position_offset BIGINT NOT NULL,
                    position_line BIGINT NOT NULL,
                    read BIGINT NOT NULL,
                    dropped BIGINT NOT NULL,
                    counts TEXT NOT NULL)"
            )))
        })?;
        Ok(target)
    }

    fn lock(&self) -> io::Result<MutexGuard<'_, TargetDb>> {
        self.db
            .lock()
            .map_err(|_| io::Error::other("the sink database's lock was poisoned by a panic"))
    }

    /// Runs `f` with the connection (to create tables, read a lookup table), before or after a
    /// run, not inside one.
    pub fn with_client<R>(&self, f: impl FnOnce(&mut Client) -> Result<R, postgres::Error>) -> io::Result<R> {
        let mut db = self.lock()?;
        let client = db.client().map_err(|e| pg_error(&self.name, &e))?;
        f(client).map_err(|e| pg_error(&self.name, &e))
    }

    /// Forgets the job's saved position: the next run starts from the beginning of its source.
    pub fn reset(&self) -> io::Result<()> {
        let job = self.lock()?.job.clone();
        self.with_client(|c| {
            c.execute(&format!("DELETE FROM {POSITIONS_TABLE} WHERE job = $1"), &[&job])
                .map(drop)
        })
    }

    fn register(&self, sql: String) -> io::Result<usize> {
        let mut db = self.lock()?;
        db.tables.push(Pending {
            sql,
            rows: Vec::new(),
            count: 0,
        });
        Ok(db.tables.len() - 1)
    }

    /// A sink upserting records into `table` (which must exist): the records of a chunk are
    /// serialized to JSON objects and written in one statement, `INSERT INTO table (columns)
    /// SELECT columns FROM json_populate_recordset(...) ON CONFLICT (key) DO UPDATE`, so the
    /// server converts each field to its column's type; a missing field is NULL, fields that are
    /// no column are ignored. A replayed record is never written twice. A row the table refuses
    /// fails the chunk's commit, and the run stops (one statement cannot tell which row it was).
    /// Two records of one chunk must not share a key.
    pub fn table<T: Serialize>(&self, table: &str, key: &str, columns: &[&str]) -> io::Result<PostgresSink<T>> {
        if !columns.contains(&key) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the key column `{key}` is not among the columns {columns:?} of `{table}`"),
            ));
        }
        let names: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
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
        let t = quote_name(table);
        let sql = format!(
            "INSERT INTO {t} ({cols}) SELECT {cols} FROM json_populate_recordset(NULL::{t}, $1::text::json)
             ON CONFLICT ({k}) {on_conflict}",
            cols = names.join(", "),
            k = quote_ident(key)
        );
        // A missing table or column shows now.
        self.with_client(|c| c.prepare(&sql).map(drop))?;
        Ok(PostgresSink {
            index: self.register(sql)?,
            target: self.clone(),
            buf: Vec::new(),
            _record: PhantomData,
        })
    }

    /// A sink upserting whole records as JSON into `table`, created if missing as
    /// `(KEY BIGINT PRIMARY KEY, record JSONB NOT NULL)`: the key is the record's integer field
    /// `key`, `record` the whole record. [`PostgresSource::json_column`] reads such a table back.
    /// As [`PostgresTarget::table`], the rows of a chunk are written at its commit (two records
    /// of one chunk must not share a key); a record without an integer field `key` is rejected
    /// (a dead letter).
    pub fn json_table<T: Serialize>(&self, table: &str, key: &str) -> io::Result<PostgresJsonSink<T>> {
        let t = quote_name(table);
        let k = quote_ident(key);
        self.with_client(|c| {
            c.batch_execute(&create_serialized(&format!(
                "CREATE TABLE IF NOT EXISTS {t} ({k} BIGINT PRIMARY KEY, record JSONB NOT NULL)"
            )))
        })?;
        // Each row is `{"key": .., "record": {..}}`: the record is taken whole, its key out of it.
        let sql = format!(
            "INSERT INTO {t} ({k}, record)
             SELECT (r.value->>'key')::int8, r.value->'record' FROM json_array_elements($1::text::json) AS r
             ON CONFLICT ({k}) DO UPDATE SET record = excluded.record"
        );
        self.with_client(|c| c.prepare(&sql).map(drop))?;
        Ok(PostgresJsonSink {
            index: self.register(sql)?,
            target: self.clone(),
            key: key.to_string(),
            buf: Vec::new(),
            _record: PhantomData,
        })
    }

    /// A dead-letter sink into `table`, created if missing with the columns `source`,
    /// `position` (the record's line, or key for database sources), `reason`, `message` and
    /// `payload` (the record as JSON, or the undecodable input), primary key
    /// `(source, position)`: a replayed dead letter replaces itself.
    pub fn dead_letters<T: Serialize>(&self, table: &str) -> io::Result<PostgresDeadLetterSink<T>> {
        let t = quote_name(table);
        self.with_client(|c| {
            c.batch_execute(&create_serialized(&format!(
                "CREATE TABLE IF NOT EXISTS {t} (
                    source TEXT NOT NULL,
                    position BIGINT NOT NULL,
                    reason TEXT NOT NULL,
                    message TEXT NOT NULL,
                    payload TEXT,
                    PRIMARY KEY (source, position))"
            )))
        })?;
        let sql = format!(
            "INSERT INTO {t} (source, position, reason, message, payload)
             SELECT source, position, reason, message, payload FROM json_populate_recordset(NULL::{t}, $1::text::json)
             ON CONFLICT (source, position) DO UPDATE SET
               reason = excluded.reason, message = excluded.message, payload = excluded.payload"
        );
        Ok(PostgresDeadLetterSink {
            index: self.register(sql)?,
            target: self.clone(),
            buf: Vec::new(),
            _record: PhantomData,
        })
    }

    /// Adds one row (a JSON object) to sink `index`'s rows of this chunk; written at once when
    /// the pipeline does not commit chunks.
    fn add(&self, index: usize, object: &[u8]) -> Result<(), WriteError> {
        let mut db = self.lock()?;
        let chunked = db.chunked;
        let Some(p) = db.tables.get_mut(index) else {
            return Err(WriteError::Io(io::Error::other("a sink of another target")));
        };
        if p.count > 0 {
            p.rows.push(b',');
        }
        p.rows.extend_from_slice(object);
        p.count += 1;
        if chunked {
            return Ok(());
        }
        let sql = p.sql.clone();
        let rows = json_array(p);
        p.clear();
        let client = db.client().map_err(|e| pg_error(&self.name, &e))?;
        client
            .execute(&sql, &[&rows])
            .map(drop)
            .map_err(|e| WriteError::Io(pg_error(format_args!("{}: writing a row", self.name), &e)))
    }

    /// One attempt at a chunk's commit: every sink's rows and the position, one transaction.
    fn try_commit(db: &mut TargetDb, state: &Committed) -> Result<(), postgres::Error> {
        let statements: Vec<(String, String)> = db
            .tables
            .iter()
            .filter(|p| p.count > 0)
            .map(|p| (p.sql.clone(), json_array(p)))
            .collect();
        let job = db.job.clone();
        let client = db.client()?;
        let mut tx = client.transaction()?;
        for (sql, rows) in &statements {
            tx.execute(sql.as_str(), &[rows])?;
        }
        tx.execute(
            &format!(
                "INSERT INTO {POSITIONS_TABLE} (job, position_offset, position_line, read, dropped, counts)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (job) DO UPDATE SET position_offset = excluded.position_offset,
                   position_line = excluded.position_line, read = excluded.read,
                   dropped = excluded.dropped, counts = excluded.counts"
            ),
            &[
                &job,
                &(state.position.offset as i64),
                &(state.position.line as i64),
                &(state.read as i64),
                &(state.dropped as i64),
                &counts_json(state),
            ],
        )?;
        tx.commit()
    }

    fn load_state(db: &mut TargetDb) -> Result<Option<SavedRow>, postgres::Error> {
        let job = db.job.clone();
        let client = db.client()?;
        let row = client.query_opt(
            &format!(
                "SELECT position_offset, position_line, read, dropped, counts FROM {POSITIONS_TABLE} WHERE job = $1"
            ),
            &[&job],
        )?;
        Ok(row.map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))))
    }
}

impl ChunkCommit for PostgresTarget {
    fn name(&self) -> String {
        self.name.to_string()
    }

    fn load(&mut self) -> io::Result<Option<Committed>> {
        let mut db = self.lock()?;
        db.chunked = true;
        let row = Self::load_state(&mut db)
            .map_err(|e| pg_error(format_args!("{}: reading the saved position", self.name), &e))?;
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
        let mut attempt = 0;
        let result = loop {
            match Self::try_commit(&mut db, state) {
                Ok(()) => break Ok(()),
                Err(e) if outcome_unknown(&e) && attempt < RECONNECT_ATTEMPTS => {
                    // The answer was lost: the commit may have landed. Connect again and read
                    // the saved position back before writing anything again.
                    db.client = None;
                    let mut landed = None;
                    while attempt < RECONNECT_ATTEMPTS {
                        std::thread::sleep(FIRST_WAIT * 2u32.pow(attempt));
                        attempt += 1;
                        match Self::load_state(&mut db) {
                            Ok(saved) => {
                                landed = Some(saved.is_some_and(|(offset, line, read, ..)| {
                                    offset == state.position.offset as i64
                                        && line == state.position.line as i64
                                        && read == state.read as i64
                                }));
                                break;
                            }
                            Err(e) if outcome_unknown(&e) => db.client = None,
                            Err(e) => {
                                return Err(pg_error(
                                    format_args!("{}: reading the saved position back", self.name),
                                    &e,
                                ));
                            }
                        }
                    }
                    match landed {
                        Some(true) => break Ok(()),
                        // Not landed: write the chunk again on the new connection.
                        Some(false) => {}
                        None => {
                            break Err(pg_error(
                                format_args!("{}: the connection was lost and could not be opened again", self.name),
                                &e,
                            ));
                        }
                    }
                }
                Err(e) => break Err(pg_error(format_args!("{}: the chunk was rolled back", self.name), &e)),
            }
        };
        for p in &mut db.tables {
            p.clear();
        }
        result
    }

    fn rollback(&mut self) {
        if let Ok(mut db) = self.lock() {
            for p in &mut db.tables {
                p.clear();
            }
        }
    }
}

/// Upserts records into a table of a [`PostgresTarget`] (see [`PostgresTarget::table`]).
pub struct PostgresSink<T> {
    target: PostgresTarget,
    index: usize,
    buf: Vec<u8>,
    _record: PhantomData<fn(&T)>,
}

impl<T: Serialize> Sink<T> for PostgresSink<T> {
    fn write(&mut self, record: &T) -> Result<(), WriteError> {
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, record)
            .map_err(|e| WriteError::Rejected(format!("cannot serialize the record: {e}")))?;
        if self.buf.first() != Some(&b'{') {
            return Err(WriteError::Rejected(
                "a record must serialize as an object (a struct or a map) to fill columns".to_string(),
            ));
        }
        self.target.add(self.index, &self.buf)
    }
}

/// Upserts whole records as JSON into a table of a [`PostgresTarget`] (see
/// [`PostgresTarget::json_table`]).
pub struct PostgresJsonSink<T> {
    target: PostgresTarget,
    index: usize,
    key: String,
    buf: Vec<u8>,
    _record: PhantomData<fn(&T)>,
}

impl<T: Serialize> Sink<T> for PostgresJsonSink<T> {
    fn write(&mut self, record: &T) -> Result<(), WriteError> {
        let value = serde_json::to_value(record)
            .map_err(|e| WriteError::Rejected(format!("cannot serialize the record: {e}")))?;
        let Some(key) = value.get(&self.key).and_then(serde_json::Value::as_i64) else {
            return Err(WriteError::Rejected(format!(
                "the record has no integer field `{}` to key it by",
                self.key
            )));
        };
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, &serde_json::json!({ "key": key, "record": value }))
            .map_err(|e| WriteError::Rejected(format!("cannot serialize the record: {e}")))?;
        self.target.add(self.index, &self.buf)
    }
}

/// Upserts dead letters into a table of a [`PostgresTarget`] (see
/// [`PostgresTarget::dead_letters`]).
pub struct PostgresDeadLetterSink<T> {
    target: PostgresTarget,
    index: usize,
    buf: Vec<u8>,
    _record: PhantomData<fn(&T)>,
}

#[derive(Serialize)]
struct DeadLetterJson<'a> {
    source: &'a str,
    position: i64,
    reason: &'a str,
    message: &'a str,
    payload: Option<&'a str>,
}

impl<T: Serialize> Sink<DeadLetter<T>> for PostgresDeadLetterSink<T> {
    fn write(&mut self, letter: &DeadLetter<T>) -> Result<(), WriteError> {
        let row = DeadLetterRow::of(letter).map_err(WriteError::Rejected)?;
        self.buf.clear();
        let json = DeadLetterJson {
            source: &row.source,
            position: row.position,
            reason: row.reason,
            message: &row.message,
            payload: row.payload.as_deref(),
        };
        serde_json::to_writer(&mut self.buf, &json)
            .map_err(|e| WriteError::Rejected(format!("cannot serialize the dead letter: {e}")))?;
        self.target.add(self.index, &self.buf)
    }
}
