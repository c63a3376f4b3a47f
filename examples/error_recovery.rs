//! Error recovery: a travel booking saga over SQLite (machines/booking.yaml), whose runs survive
//! a crash of the process.
//!
//! ```text
//! cargo run --release --example error_recovery -- [--bookings N] [--failure-rate P] [--db PATH] [--resume]
//! ```
//!
//! Each booking reserves a flight, reserves a hotel, charges the payment and confirms. Each step
//! fails with probability P (drawn from the booking's id, the step and the attempt): `unavailable`
//! is retried (3 attempts in all), `declined` is not; a step that still fails ends the run in
//! `cancelled`, which undoes the steps completed, last first. The database (default `bookings.db`
//! in the current directory) holds `bookings(id, status)`, `confirmed` or `compensated` once
//! done, `reservations(booking_id, kind, status)` and the machine's record store `booking_runs`,
//! where each run's position is saved with its trip (a durable run, `resume_stored`).
//!
//! Without `--resume` the example starts over: it empties its tables and makes N bookings. Kill
//! it (`kill -9`) in the middle, then run the same command with `--resume`: the unfinished runs
//! continue from their last saved state (compensating those that were), then the bookings not
//! made yet are. At the end it checks and prints the invariant: a confirmed booking has 3 active
//! reservations, a compensated one none; the exit status is 1 when it does not hold.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use fsm_examples::booking::{Agent, Booking, BookingEnd, RUNS_TABLE, Trip, census, create_tables, key_of};
use fsm_runtime::resources::Sqlite;
use fsm_runtime::store::{RecordStore, SqliteStore, StoreError};

#[derive(Parser, Debug)]
#[command(about = "A travel booking saga over SQLite whose runs survive a crash (kill -9, then --resume)")]
struct Args {
    /// How many bookings to make in all.
    #[arg(long, default_value_t = 1000)]
    bookings: u32,
    /// The probability that a step fails (0 to 1).
    #[arg(long, default_value_t = 0.1)]
    failure_rate: f64,
    /// The SQLite database.
    #[arg(long, default_value = "bookings.db")]
    db: String,
    /// Continue after a crash: finish the unfinished bookings, then make the rest (without it,
    /// the example starts over).
    #[arg(long)]
    resume: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error_recovery: {e}");
            ExitCode::FAILURE
        }
    }
}

type Error = Box<dyn std::error::Error>;

fn run(args: &Args) -> Result<bool, Error> {
    if !(0.0..=1.0).contains(&args.failure_rate) {
        return Err(format!("--failure-rate must be between 0 and 1, not {}", args.failure_rate).into());
    }
    let db = Sqlite::open(&args.db)?;
    db.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")?;
    if !args.resume {
        db.execute_batch(&format!(
            "DROP TABLE IF EXISTS bookings; DROP TABLE IF EXISTS reservations; DROP TABLE IF EXISTS {RUNS_TABLE};"
        ))?;
    }
    create_tables(&db)?;
    let store: Arc<dyn RecordStore<Trip>> = Arc::new(SqliteStore::new(db.clone(), RUNS_TABLE)?);
    let machine = Booking::new(Agent::new(db.clone(), args.failure_rate));

    if args.resume {
        // The runs a crash interrupted, as the store lists them; then the bookings still
        // pending (a run that finished just before the crash answers its outcome at once, one
        // that never saved starts now).
        let unfinished = store.unfinished()?;
        println!("resuming {} unfinished runs", unfinished.len());
        for key in &unfinished {
            finish(&machine, &store, &db, key)?;
        }
        let pending: Vec<i64> = db.with(|conn| {
            let mut stmt = conn.prepare("SELECT id FROM bookings WHERE status = 'pending' ORDER BY id")?;
            let ids = stmt.query_map([], |row| row.get(0))?;
            ids.collect()
        })?;
        for id in pending {
            start(&machine, &store, &db, id)?;
        }
    }
    let made: i64 = db.with(|conn| conn.query_row("SELECT coalesce(max(id), 0) FROM bookings", [], |r| r.get(0)))?;
    for id in made + 1..=i64::from(args.bookings) {
        start(&machine, &store, &db, id)?;
    }

    let census = census(&db)?;
    println!(
        "{} bookings: {} confirmed, {} compensated, {} pending",
        census.bookings, census.confirmed, census.compensated, census.pending
    );
    if census.holds() {
        println!("invariant holds: every confirmed booking has 3 active reservations, every compensated one none");
    } else {
        println!(
            "invariant broken for bookings {:?} (a confirmed booking must have 3 active reservations, a compensated one none)",
            census.broken
        );
    }
    Ok(census.holds())
}

/// Makes booking `id` (or finishes it): its row, its trip in the store, its run.
fn start(machine: &Booking<Agent>, store: &Arc<dyn RecordStore<Trip>>, db: &Sqlite, id: i64) -> Result<(), Error> {
    db.with(|conn| {
        conn.execute(
            "INSERT INTO bookings (id, status) VALUES (?1, 'pending') ON CONFLICT (id) DO NOTHING",
            [id],
        )
    })?;
    let key = key_of(id);
    match store.insert(&key, &Trip::new(id)) {
        Ok(_) | Err(StoreError::Exists { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    finish(machine, store, db, &key)
}

/// Runs the booking under `key` to its end, durably, from where its store says it is; then its
/// status.
fn finish(machine: &Booking<Agent>, store: &Arc<dyn RecordStore<Trip>>, db: &Sqlite, key: &str) -> Result<(), Error> {
    let outcome = machine
        .resume_stored(store.clone(), key)?
        .map_err(|failure| format!("booking `{key}` failed: {}", failure.error))?;
    let status = match outcome.end {
        BookingEnd::Confirmed => "confirmed",
        BookingEnd::Cancelled => "compensated",
    };
    let id = outcome.data.id;
    db.with(|conn| {
        conn.execute(
            "UPDATE bookings SET status = ?1 WHERE id = ?2",
            rusqlite::params![status, id],
        )
    })?;
    Ok(())
}
