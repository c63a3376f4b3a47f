//! `transaction:` declared on database resources (fixture `transactions.yaml`), through the
//! generated resources struct and a pipeline: `per_record` keeps only the writes of runs that end
//! in `done` (a run ending in the dead-letter state `failed`, and a panicking one, leave none),
//! `per_chunk` keeps every record's writes, committed with its chunk, and `manual` lets the
//! function commit or roll back. Real SQLite databases.
#![deny(warnings)]

mod support;

use fsm_runtime::resources::Transaction;
use fsm_runtime::stream::{IterSource, Pipeline, VecSink};
use support::machines::transactions::{Booked, BookedEnd, BookedResources};
use support::{Doc, Fns};

const N: i64 = 120;

fn values(db: &fsm_runtime::resources::Sqlite) -> Vec<i64> {
    db.query_map("SELECT value FROM t ORDER BY value", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn the_declared_modes_reach_the_handles() {
    let opened = BookedResources::open().unwrap();
    assert_eq!(opened.db.transaction_mode(), Some(Transaction::PerRecord));
    assert_eq!(opened.batch.transaction_mode(), Some(Transaction::PerChunk));
    assert_eq!(opened.notes.transaction_mode(), Some(Transaction::Manual));
}

#[test]
fn a_pipeline_commits_per_record_per_chunk_and_as_the_functions_say() {
    let opened = BookedResources::open().unwrap();
    for db in [&opened.db, &opened.batch, &opened.notes] {
        db.execute_batch("CREATE TABLE t (value INTEGER NOT NULL)").unwrap();
    }
    let machine = Booked::new(Fns, opened);
    // Every 4th document fails after its writes (to `failed`, a dead-letter state); 13 panics
    // before any.
    let docs = (1..=N).map(|v| if v % 4 == 0 { Doc::failing(v) } else { Doc::new(v) });
    let done = VecSink::new();
    let summary = Pipeline::new(&machine)
        .route(BookedEnd::Done, done.clone())
        .dead_letter_state(BookedEnd::Failed)
        .dead_letter(VecSink::new())
        .workers(2)
        .chunk_size(10)
        .run(IterSource::new(docs))
        .unwrap();
    assert!(summary.is_balanced(), "{summary}");
    let ok: Vec<i64> = (1..=N).filter(|v| v % 4 != 0 && *v != 13).collect();
    assert_eq!(done.len(), ok.len());

    let resources = machine.resources();
    // per_record: only the runs that ended in `done`.
    assert_eq!(values(&resources.db), ok);
    // per_chunk: every record that wrote, whatever its end.
    let wrote: Vec<i64> = (1..=N).filter(|v| *v != 13).collect();
    assert_eq!(values(&resources.batch), wrote);
    // manual: the even ones the function committed.
    let committed: Vec<i64> = ok.iter().copied().filter(|v| v % 2 == 0).collect();
    assert_eq!(values(&resources.notes), committed);
}
