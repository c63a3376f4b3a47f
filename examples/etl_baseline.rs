//! The ETL example's baseline (scripts/etl_bench.sh): the same work as `etl` over SQLite, as a
//! plain rusqlite loop a person would write without the framework. One statement steps through
//! `orders` in key order; each order is validated, converted and categorised by the same
//! functions (examples/orders.rs); valid ones are upserted into `orders_clean`, invalid ones into
//! `orders_rejected` (same columns, same payload); every `--chunk-size` orders the position is
//! saved and the transaction committed, as `etl` does.
//!
//! With two `postgres://` URLs, the same over PostgreSQL with the `postgres` crate: a portal read
//! `--chunk-size` rows at a time, each chunk's rows in one multi-row `INSERT ... ON CONFLICT` per
//! table, committed with the position.
//!
//! ```text
//! cargo run --release --example etl_baseline -- --source etl-source.db --sink etl-baseline.db
//! cargo run --release --example etl_baseline -- --source postgres://... --sink postgres://...
//! ```

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use fsm_examples::orders::{DEFAULT_RATES, Order, Rates, categorize, to_eur, validate_change};
use rusqlite::{Connection, OpenFlags, params};

#[derive(Parser, Debug)]
#[command(about = "The ETL example's work as a plain rusqlite loop (the benchmark's baseline)")]
struct Args {
    /// Source SQLite file (made by `etl --rows N`).
    #[arg(long, default_value = "etl-source.db")]
    source: String,
    /// Sink SQLite file.
    #[arg(long, default_value = "etl-baseline.db")]
    sink: String,
    /// Orders per transaction.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    chunk_size: u32,
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    if args.source.starts_with("postgres://") {
        return run_postgres(args);
    }
    let started = Instant::now();
    let source = Connection::open_with_flags(&args.source, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let sink = Connection::open(&args.sink)?;
    sink.execute_batch(
        "CREATE TABLE IF NOT EXISTS orders_clean (
            id BIGINT PRIMARY KEY, customer TEXT NOT NULL, amount_eur TEXT NOT NULL, category TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS orders_rejected (
            source TEXT NOT NULL, position INTEGER NOT NULL, reason TEXT NOT NULL, message TEXT NOT NULL,
            payload TEXT, PRIMARY KEY (source, position));
         CREATE TABLE IF NOT EXISTS rates (currency TEXT PRIMARY KEY, eur_per_unit TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS positions (job TEXT PRIMARY KEY, last_key INTEGER NOT NULL, read INTEGER NOT NULL);",
    )?;
    for (currency, rate) in DEFAULT_RATES {
        sink.execute(
            "INSERT INTO rates (currency, eur_per_unit) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            [currency, rate],
        )?;
    }
    let pairs: Vec<(String, String)> = sink
        .prepare("SELECT currency, eur_per_unit FROM rates")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let rates = Rates::parse(pairs.iter().map(|(c, r)| (c.as_str(), r.as_str())))?;

    let mut select = source.prepare("SELECT id, customer, amount, currency, created_at FROM orders ORDER BY id")?;
    let mut rows = select.query([])?;
    let (mut read, mut clean, mut rejected) = (0u64, 0u64, 0u64);
    let chunk = u64::from(args.chunk_size);
    sink.execute_batch("BEGIN IMMEDIATE")?;
    let mut last_key = 0i64;
    while let Some(row) = rows.next()? {
        let mut order = Order {
            id: row.get(0)?,
            customer: row.get(1)?,
            amount: row.get(2)?,
            currency: row.get(3)?,
            created_at: row.get(4)?,
            ..Order::default()
        };
        match validate_change(&order, &rates) {
            Ok(change) => {
                change(&mut order);
                to_eur(&mut order, &rates);
                categorize(&mut order);
                sink.prepare_cached(
                    "INSERT INTO orders_clean (id, customer, amount_eur, category) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (id) DO UPDATE SET customer = excluded.customer,
                       amount_eur = excluded.amount_eur, category = excluded.category",
                )?
                .execute(params![order.id, order.customer, order.amount_eur, order.category])?;
                clean += 1;
            }
            Err(why) => {
                let message = format!("validate failed in state `validate`: {why} (state `rejected`)");
                sink.prepare_cached(
                    "INSERT INTO orders_rejected (source, position, reason, message, payload)
                     VALUES ('orders', ?1, 'error_state', ?2, ?3)
                     ON CONFLICT (source, position) DO UPDATE SET reason = excluded.reason,
                       message = excluded.message, payload = excluded.payload",
                )?
                .execute(params![order.id, message, serde_json::to_string(&order)?])?;
                rejected += 1;
            }
        }
        read += 1;
        last_key = order.id;
        if read % chunk == 0 {
            save_position(&sink, last_key, read)?;
            sink.execute_batch("COMMIT; BEGIN IMMEDIATE")?;
        }
    }
    save_position(&sink, last_key, read)?;
    sink.execute_batch("COMMIT")?;
    let elapsed = started.elapsed();
    eprintln!(
        "read {read} records in {elapsed:.2?} ({:.0} records/s)",
        read as f64 / elapsed.as_secs_f64()
    );
    eprintln!("  check: read {read} = written {clean} + dead-lettered {rejected}");
    Ok(())
}

fn save_position(sink: &Connection, last_key: i64, read: u64) -> rusqlite::Result<()> {
    sink.prepare_cached(
        "INSERT INTO positions (job, last_key, read) VALUES ('baseline', ?1, ?2)
         ON CONFLICT (job) DO UPDATE SET last_key = excluded.last_key, read = excluded.read",
    )?
    .execute(params![last_key, read as i64])
    .map(drop)
}

fn run_postgres(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    use postgres::types::ToSql;
    use postgres::{Client, NoTls};
    let started = Instant::now();
    let mut source = Client::connect(&args.source, NoTls)?;
    let mut sink = Client::connect(&args.sink, NoTls)?;
    sink.batch_execute(
        "CREATE TABLE IF NOT EXISTS orders_clean (
            id BIGINT PRIMARY KEY, customer TEXT NOT NULL, amount_eur NUMERIC(14, 2) NOT NULL, category TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS orders_rejected (
            source TEXT NOT NULL, position BIGINT NOT NULL, reason TEXT NOT NULL, message TEXT NOT NULL,
            payload TEXT, PRIMARY KEY (source, position));
         CREATE TABLE IF NOT EXISTS rates (currency TEXT PRIMARY KEY, eur_per_unit TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS positions (job TEXT PRIMARY KEY, last_key BIGINT NOT NULL, read BIGINT NOT NULL);",
    )?;
    for (currency, rate) in DEFAULT_RATES {
        sink.execute(
            "INSERT INTO rates (currency, eur_per_unit) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&currency, &rate],
        )?;
    }
    let pairs: Vec<(String, String)> = sink
        .query("SELECT currency, eur_per_unit FROM rates", &[])?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let rates = Rates::parse(pairs.iter().map(|(c, r)| (c.as_str(), r.as_str())))?;

    let mut read_tx = source.transaction()?;
    let portal = read_tx.bind(
        "SELECT id, customer, amount, currency, created_at FROM orders ORDER BY id",
        &[],
    )?;
    let (mut read, mut clean, mut rejected) = (0u64, 0u64, 0u64);
    loop {
        let rows = read_tx.query_portal(&portal, i32::try_from(args.chunk_size)?)?;
        if rows.is_empty() {
            break;
        }
        // Each chunk: its valid and invalid orders as the parameters of one multi-row insert each.
        let mut good: Vec<(i64, String, String, String)> = Vec::new();
        let mut bad: Vec<(i64, String, String)> = Vec::new();
        let mut last_key = 0i64;
        for row in &rows {
            let mut order = Order {
                id: row.get(0),
                customer: row.get(1),
                amount: row.get(2),
                currency: row.get(3),
                created_at: row.get(4),
                ..Order::default()
            };
            last_key = order.id;
            match validate_change(&order, &rates) {
                Ok(change) => {
                    change(&mut order);
                    to_eur(&mut order, &rates);
                    categorize(&mut order);
                    good.push((
                        order.id,
                        order.customer.unwrap_or_default(),
                        order.amount_eur.unwrap_or_default(),
                        order.category.unwrap_or_default(),
                    ));
                }
                Err(why) => {
                    let message = format!("validate failed in state `validate`: {why} (state `rejected`)");
                    bad.push((order.id, message, serde_json::to_string(&order)?));
                }
            }
        }
        read += rows.len() as u64;
        clean += good.len() as u64;
        rejected += bad.len() as u64;
        let mut tx = sink.transaction()?;
        if !good.is_empty() {
            let mut sql = String::from("INSERT INTO orders_clean (id, customer, amount_eur, category) VALUES ");
            let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(good.len() * 4);
            for (i, (id, customer, eur, category)) in good.iter().enumerate() {
                let n = i * 4;
                sql.push_str(&format!(
                    "{}(${}, ${}, ${}::text::numeric, ${})",
                    if i > 0 { ", " } else { "" },
                    n + 1,
                    n + 2,
                    n + 3,
                    n + 4
                ));
                params.extend([id as &(dyn ToSql + Sync), customer, eur, category]);
            }
            sql.push_str(
                " ON CONFLICT (id) DO UPDATE SET customer = excluded.customer, amount_eur = excluded.amount_eur, category = excluded.category",
            );
            tx.execute(sql.as_str(), &params)?;
        }
        if !bad.is_empty() {
            let mut sql =
                String::from("INSERT INTO orders_rejected (source, position, reason, message, payload) VALUES ");
            let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(bad.len() * 3);
            for (i, (id, message, payload)) in bad.iter().enumerate() {
                let n = i * 3;
                sql.push_str(&format!(
                    "{}('orders', ${}, 'error_state', ${}, ${})",
                    if i > 0 { ", " } else { "" },
                    n + 1,
                    n + 2,
                    n + 3
                ));
                params.extend([id as &(dyn ToSql + Sync), message, payload]);
            }
            sql.push_str(
                " ON CONFLICT (source, position) DO UPDATE SET reason = excluded.reason, message = excluded.message, payload = excluded.payload",
            );
            tx.execute(sql.as_str(), &params)?;
        }
        tx.execute(
            "INSERT INTO positions (job, last_key, read) VALUES ('baseline', $1, $2)
             ON CONFLICT (job) DO UPDATE SET last_key = excluded.last_key, read = excluded.read",
            &[&last_key, &(read as i64)],
        )?;
        tx.commit()?;
    }
    read_tx.commit()?;
    let elapsed = started.elapsed();
    eprintln!(
        "read {read} records in {elapsed:.2?} ({:.0} records/s)",
        read as f64 / elapsed.as_secs_f64()
    );
    eprintln!("  check: read {read} = written {clean} + dead-lettered {rejected}");
    Ok(())
}
