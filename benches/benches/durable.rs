//! What a durable run costs, in one run (issue 13): the same saga machine (four `reference`
//! states, each with a compensation, then an end state) over the same SQLite file store in WAL
//! mode (`synchronous = NORMAL`), run two ways. `reference`: `run_stored`, which saves the record
//! after each state. `durable`: `resume_stored` on a record not started yet, which saves the
//! run's position (state, pending compensations) with the record in the same write, and marks the
//! run finished at its end state (one write more: the end state has no function of its own).
//! Per run and per state; the two take turns, each keeps its fastest round.
//!
//! `cargo bench -p fsm-benches --bench durable`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fsm::runtime::resources::Sqlite;
use fsm::runtime::store::{RecordStore, SqliteStore};
use fsm::runtime::{Context, FnError};

/// The record: what the steps did.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Trip {
    id: u64,
    steps: Vec<u32>,
}

mod saga {
    fsm::fsm! {
        machine Saga {
            data: crate::Trip;
            data_mode: reference;
            start state flight { transform: step; compensate: undo; }
            state hotel { transform: step; compensate: undo; }
            state car { transform: step; compensate: undo; }
            state payment { transform: step; compensate: undo; }
            end state confirmed;
            flight -> hotel;
            hotel -> car;
            car -> payment;
            payment -> confirmed;
        }
    }
}

struct Fns;

impl saga::SagaFns for Fns {
    fn step(&self, trip: &mut Trip, _: &mut Context<'_>) -> Result<(), FnError> {
        trip.steps.push(black_box(trip.steps.len() as u32));
        Ok(())
    }
    fn undo(&self, trip: &mut Trip, _: &mut Context<'_>) -> Result<(), FnError> {
        trip.steps.pop();
        Ok(())
    }
}

/// States with a function (each saves), per run.
const STATES: u32 = 4;
/// Runs per round.
const RUNS: u64 = 400;
const ROUNDS: usize = 12;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(()); // `cargo bench -- --list`: nothing for the harness to list
    }
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("durable.db");
    let db = Sqlite::open(path.to_str().ok_or("temporary path")?)?;
    db.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")?;
    let store: Arc<dyn RecordStore<Trip>> = Arc::new(SqliteStore::new(db, "trips")?);
    let machine = saga::Saga::new(Fns);

    let mut next = 0u64;
    let mut fill = |n: u64| -> Result<Vec<String>, Box<dyn std::error::Error>> {
        let keys: Vec<String> = (next..next + n).map(|i| format!("trip-{i:08}")).collect();
        for (i, key) in keys.iter().enumerate() {
            store.insert(
                key,
                &Trip {
                    id: next + i as u64,
                    steps: Vec::new(),
                },
            )?;
        }
        next += n;
        Ok(keys)
    };
    // Both do the same work: the same end and record; the durable run writes once more.
    let (a, b) = (fill(1)?, fill(1)?);
    let plain = machine.run_stored(store.clone(), a[0].as_str())?.map_err(|f| f.error)?;
    let durable = machine
        .resume_stored(store.clone(), b[0].as_str())?
        .map_err(|f| f.error)?;
    let (va, vb) = (store.load(&a[0])?.version, store.load(&b[0])?.version);
    if plain.data.steps != durable.data.steps || plain.end != durable.end || !store.unfinished()?.is_empty() {
        return Err("the two runs disagree".into());
    }

    let (mut best_plain, mut best_durable) = (Duration::MAX, Duration::MAX);
    for _ in 0..ROUNDS {
        let keys = fill(RUNS)?;
        let t = Instant::now();
        for key in &keys {
            black_box(machine.run_stored(store.clone(), key.as_str())?.is_ok());
        }
        best_plain = best_plain.min(t.elapsed());
        let keys = fill(RUNS)?;
        let t = Instant::now();
        for key in &keys {
            black_box(machine.resume_stored(store.clone(), key.as_str())?.is_ok());
        }
        best_durable = best_durable.min(t.elapsed());
    }
    let per_run = |d: Duration| d.as_secs_f64() * 1e6 / RUNS as f64;
    let per_state = |d: Duration| per_run(d) / f64::from(STATES);
    println!(
        "durable/reference {:8.2} us/run {:7.2} us/state  ({} writes per run)\n\
         durable/durable   {:8.2} us/run {:7.2} us/state  ({} writes per run)  {:.3}x vs durable/reference\n\
         extra per state: {:.2} us",
        per_run(best_plain),
        per_state(best_plain),
        va - 1,
        per_run(best_durable),
        per_state(best_durable),
        vb - 1,
        best_durable.as_secs_f64() / best_plain.as_secs_f64(),
        per_state(best_durable) - per_state(best_plain),
    );
    Ok(())
}
