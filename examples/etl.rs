//! The ETL example: orders read from one database, validated, converted to euros with a rate table
//! read from the sink database, categorised (examples/machines/etl.yaml), and loaded into another
//! database, exactly once.
//!
//! ```text
//! cargo run --release --example etl -- --rows 1000000            # etl-source.db -> etl-sink.db
//! cargo run --release --example etl -- --source sqlite://in.db --sink sqlite://out.db
//! cargo run --release --example etl -- --source postgres://postgres@127.0.0.1:5432/test \
//!     --sink postgres://postgres@127.0.0.1:5432/test --rows 100000
//! ```
//!
//! The source table is `orders(id BIGINT PRIMARY KEY, customer, amount, currency, created_at)`;
//! `--rows N` (re)creates it with N generated rows, about 3% invalid (no customer, an amount that
//! is not a number, an unknown currency), unless it already holds those N rows. Valid orders land
//! in `orders_clean(id, customer, amount_eur, category)`, invalid ones in the dead-letter table
//! `orders_rejected(source, position, reason, message, payload)` with the reason. Each chunk is
//! committed in the sink database with the source's position, so a killed run started again with
//! the same command resumes after the last committed chunk: every order lands exactly once. A
//! PostgreSQL connection lost mid-run is opened again, and what its last commit did read back.

use std::process::ExitCode;

use clap::Parser;
use fsm_examples::orders::{DEFAULT_RATES, Order, OrderEtlEnd, Rates, etl_machine, generated_order};
use fsm_runtime::stream::{ChunkCommit, DeadLetter, Pipeline, Sink, Source, SqliteSource, SqliteTarget};

/// The job's name in the sink's position table.
const JOB: &str = "orders-etl";
/// The source's name in dead letters (half of their key).
const SOURCE_NAME: &str = "orders";

#[derive(Parser, Debug)]
#[command(about = "ETL: orders from one database to another, validated, in euros, exactly once")]
struct Args {
    /// Source database: a SQLite file (`sqlite://PATH` or a path) or `postgres://USER@HOST:PORT/DB`.
    #[arg(long, default_value = "etl-source.db")]
    source: String,
    /// Sink database, as --source.
    #[arg(long, default_value = "etl-sink.db")]
    sink: String,
    /// (Re)create the source table `orders` with N generated rows (about 3% invalid), and start
    /// the job over, unless the table already holds those N rows.
    #[arg(long, value_name = "N")]
    rows: Option<u64>,
    /// Rows per chunk: per transaction of the sink (1 to 1,000,000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    chunk_size: u32,
    /// Worker threads running the machine (1 to 256).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    workers: u16,
}

/// Where a database is.
enum Db {
    Sqlite(String),
    Postgres(String),
}

impl Db {
    fn parse(url: &str) -> Db {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Db::Postgres(url.to_string())
        } else {
            Db::Sqlite(url.strip_prefix("sqlite://").unwrap_or(url).to_string())
        }
    }
}

/// The sink side of a run: the clean table, the rejected table, the commits, the rates.
struct Target {
    clean: Box<dyn Sink<Order>>,
    rejected: Box<dyn Sink<DeadLetter<Order>>>,
    commit: Box<dyn ChunkCommit>,
    rates: Rates,
    describe: String,
}

pub(crate) fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

type BoxError = Box<dyn std::error::Error>;

fn run(args: &Args) -> Result<(), BoxError> {
    let (source, sink) = (Db::parse(&args.source), Db::parse(&args.sink));
    let mut start_over = false;
    if let Some(n) = args.rows {
        start_over = match &source {
            Db::Sqlite(path) => sqlite::generate(path, n)?,
            Db::Postgres(url) => pg::generate(url, n)?,
        };
        if start_over {
            eprintln!("generated {n} orders in {}", args.source);
        }
    }
    let target = match &sink {
        Db::Sqlite(path) => sqlite::target(path, start_over)?,
        Db::Postgres(url) => pg::target(url, start_over)?,
    };
    match &source {
        Db::Sqlite(path) => {
            let source = SqliteSource::<Order>::table(path, "orders", "id")
                .map_err(|e| format!("--source: {e}"))?
                .name(SOURCE_NAME);
            run_pipeline(args, source, target)
        }
        Db::Postgres(url) => run_pipeline(args, pg::source(url)?, target),
    }
}

fn run_pipeline<S: Source<Item = Order>>(args: &Args, source: S, target: Target) -> Result<(), BoxError> {
    let Target {
        clean,
        rejected,
        commit,
        rates,
        describe,
    } = target;
    let machine = etl_machine(rates);
    let summary = Pipeline::new(&machine)
        .route(OrderEtlEnd::Clean, clean)
        .dead_letter_state(OrderEtlEnd::Rejected)
        .dead_letter(rejected)
        .chunk_size(args.chunk_size as usize)
        .workers(usize::from(args.workers))
        .commit_chunks(commit)
        .run(source)?;
    eprintln!("{} -> {describe} (orders_clean, orders_rejected)", args.source);
    eprintln!("{summary}");
    if summary.read_this_run < summary.read {
        eprintln!(
            "resumed: this run read {}, after {} committed by earlier runs",
            summary.read_this_run,
            summary.read - summary.read_this_run
        );
    }
    if let Some(kb) = peak_memory_kb() {
        eprintln!("peak memory: {:.1} MB", kb as f64 / 1024.0);
    }
    if !summary.is_balanced() {
        return Err("the summary does not balance".into());
    }
    Ok(())
}

mod sqlite {
    use super::*;
    use rusqlite::{Connection, OptionalExtension, params};

    /// Creates `orders` with `n` generated rows unless the file holds them already (a marker
    /// table says how many were generated). Returns whether it (re)created them.
    pub(super) fn generate(path: &str, n: u64) -> Result<bool, BoxError> {
        let mut db = Connection::open(path).map_err(|e| format!("--source `{path}`: {e}"))?;
        db.busy_timeout(std::time::Duration::from_secs(10))?;
        let have: Option<i64> = db
            .query_row("SELECT rows FROM etl_generated", [], |r| r.get(0))
            .optional()
            .or_else(|e| match e {
                rusqlite::Error::SqliteFailure(..) => Ok(None),
                e => Err(e),
            })?;
        let n = i64::try_from(n).map_err(|_| "--rows: too many")?;
        if have == Some(n) {
            return Ok(false);
        }
        let tx = db.transaction()?;
        tx.execute_batch(
            "DROP TABLE IF EXISTS orders;
             DROP TABLE IF EXISTS etl_generated;
             CREATE TABLE orders (id BIGINT PRIMARY KEY, customer TEXT, amount TEXT, currency TEXT, created_at TEXT);
             CREATE TABLE etl_generated (rows INTEGER NOT NULL);",
        )?;
        {
            let mut insert = tx.prepare(
                "INSERT INTO orders (id, customer, amount, currency, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for id in 1..=n {
                let o = generated_order(id);
                insert.execute(params![o.id, o.customer, o.amount, o.currency, o.created_at])?;
            }
        }
        tx.execute("INSERT INTO etl_generated (rows) VALUES (?1)", [n])?;
        tx.commit()?;
        Ok(true)
    }

    pub(super) fn target(path: &str, start_over: bool) -> Result<Target, BoxError> {
        let target = SqliteTarget::open(path, JOB).map_err(|e| format!("--sink: {e}"))?;
        let rates = target.with_connection(|db| {
            db.execute_batch(
                "CREATE TABLE IF NOT EXISTS orders_clean (
                    id BIGINT PRIMARY KEY, customer TEXT NOT NULL, amount_eur TEXT NOT NULL, category TEXT NOT NULL);
                 CREATE TABLE IF NOT EXISTS rates (currency TEXT PRIMARY KEY, eur_per_unit TEXT NOT NULL);",
            )?;
            for (currency, rate) in DEFAULT_RATES {
                db.execute(
                    "INSERT INTO rates (currency, eur_per_unit) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    [currency, rate],
                )?;
            }
            let mut stmt = db.prepare("SELECT currency, eur_per_unit FROM rates")?;
            stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
                .collect::<Result<Vec<_>, _>>()
        })?;
        let rates = Rates::parse(rates.iter().map(|(c, r)| (c.as_str(), r.as_str())))?;
        let rejected = target.dead_letters::<Order>("orders_rejected")?;
        if start_over {
            target.reset()?;
            target.with_connection(|db| db.execute_batch("DELETE FROM orders_clean; DELETE FROM orders_rejected;"))?;
        }
        let clean = target.table::<Order>("orders_clean", "id", &["id", "customer", "amount_eur", "category"])?;
        Ok(Target {
            clean: Box::new(clean),
            rejected: Box::new(rejected),
            commit: Box::new(target),
            rates,
            describe: path.to_string(),
        })
    }
}

mod pg {
    use super::*;
    use fsm_runtime::resources::Postgres;
    use fsm_runtime::stream::{PostgresSource, PostgresTarget};
    use std::io::Write;

    /// Creates `orders` with `n` generated rows (COPY) unless the database holds them already.
    /// Returns whether it (re)created them.
    pub(super) fn generate(url: &str, n: u64) -> Result<bool, BoxError> {
        let db = Postgres::connect(url).map_err(|e| format!("--source: {e}"))?;
        let n = i64::try_from(n).map_err(|_| "--rows: too many")?;
        let have: Option<i64> = db.with(|c| {
            c.batch_execute("CREATE TABLE IF NOT EXISTS etl_generated (rows BIGINT NOT NULL)")?;
            Ok(c.query_opt("SELECT rows FROM etl_generated", &[])?.map(|r| r.get(0)))
        })?;
        if have == Some(n) {
            return Ok(false);
        }
        db.with(|c| {
            let mut tx = c.transaction()?;
            tx.batch_execute(
                "DROP TABLE IF EXISTS orders;
                 CREATE TABLE orders (id BIGINT PRIMARY KEY, customer TEXT, amount TEXT, currency TEXT, created_at TEXT);
                 DELETE FROM etl_generated;",
            )?;
            {
                let mut copy = tx.copy_in("COPY orders (id, customer, amount, currency, created_at) FROM STDIN")?;
                let mut line = String::new();
                let text = |v: &Option<String>| v.clone().unwrap_or_else(|| "\\N".to_string());
                for id in 1..=n {
                    let o = generated_order(id);
                    line.clear();
                    line.push_str(&format!(
                        "{}\t{}\t{}\t{}\t{}\n",
                        o.id,
                        text(&o.customer),
                        text(&o.amount),
                        text(&o.currency),
                        text(&o.created_at)
                    ));
                    // A failed write shows as the copy's error at `finish`.
                    if copy.write_all(line.as_bytes()).is_err() {
                        break;
                    }
                }
                copy.finish()?;
            }
            tx.execute("INSERT INTO etl_generated (rows) VALUES ($1)", &[&n])?;
            tx.commit()
        })?;
        Ok(true)
    }

    pub(super) fn target(url: &str, start_over: bool) -> Result<Target, BoxError> {
        let target = PostgresTarget::open(url, JOB).map_err(|e| format!("--sink: {e}"))?;
        let rates = target.with_client(|c| {
            c.batch_execute(
                "CREATE TABLE IF NOT EXISTS orders_clean (
                    id BIGINT PRIMARY KEY, customer TEXT NOT NULL, amount_eur NUMERIC(14, 2) NOT NULL, category TEXT NOT NULL);
                 CREATE TABLE IF NOT EXISTS rates (currency TEXT PRIMARY KEY, eur_per_unit TEXT NOT NULL);",
            )?;
            for (currency, rate) in DEFAULT_RATES {
                c.execute(
                    "INSERT INTO rates (currency, eur_per_unit) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[&currency, &rate],
                )?;
            }
            let rows = c.query("SELECT currency, eur_per_unit FROM rates", &[])?;
            Ok(rows.iter().map(|r| (r.get::<_, String>(0), r.get::<_, String>(1))).collect::<Vec<_>>())
        })?;
        let rates = Rates::parse(rates.iter().map(|(c, r)| (c.as_str(), r.as_str())))?;
        let rejected = target.dead_letters::<Order>("orders_rejected")?;
        if start_over {
            target.reset()?;
            target.with_client(|c| c.batch_execute("TRUNCATE orders_clean, orders_rejected"))?;
        }
        let clean = target.table::<Order>("orders_clean", "id", &["id", "customer", "amount_eur", "category"])?;
        Ok(Target {
            clean: Box::new(clean),
            rejected: Box::new(rejected),
            commit: Box::new(target),
            rates,
            describe: "the PostgreSQL sink".to_string(),
        })
    }

    pub(super) fn source(url: &str) -> Result<PostgresSource<Order>, BoxError> {
        Ok(PostgresSource::table(url, "orders", "id")
            .map_err(|e| format!("--source: {e}"))?
            .name(SOURCE_NAME))
    }
}

/// Peak resident memory of this process (Linux: `VmHWM` in /proc/self/status).
fn peak_memory_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
