//! The error-recovery example's travel booking saga (`examples/error_recovery.rs`): the trip
//! record, the machine generated from `machines/booking.yaml`, the agent that reserves and
//! releases in an SQLite database, and the tables it keeps.
//!
//! Tables, in the same database as the machine's record store (`booking_runs`):
//! `bookings(id, status)`, status `pending` while its run is under way, then `confirmed` or
//! `compensated`; `reservations(booking_id, kind, status)`, kind `flight`, `hotel` or `payment`,
//! status `active` or `released`. Every write is idempotent (an upsert or an update to a fixed
//! value), so a step run again after a crash, before its save reached the store, books nothing
//! twice.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use fsm_runtime::resources::Sqlite;
use fsm_runtime::{Context, FnError};
use serde::{Deserialize, Serialize};

#[allow(missing_docs)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/booking.rs"));
}

pub use generated::{Booking, BookingEnd, BookingErrorKind, BookingFns, BookingState};

/// The table of the machine's record store: one trip per booking, with its run's position.
pub const RUNS_TABLE: &str = "booking_runs";

/// A booking's trip, as the store keeps it (JSON).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trip {
    /// The booking's id (`bookings.id`).
    pub id: i64,
    /// What the steps did, in order (`flight`, `hotel`, `payment`, `confirm`), as saved.
    #[serde(default)]
    pub steps: Vec<String>,
    /// Set by the `confirm` step.
    #[serde(default)]
    pub confirmed: bool,
}

impl Trip {
    /// A trip not started yet.
    pub fn new(id: i64) -> Self {
        Trip { id, ..Trip::default() }
    }
}

/// The key of booking `id` in the store: zero-padded, so keys sort as ids do.
pub fn key_of(id: i64) -> String {
    format!("booking-{id:08}")
}

/// Creates the example's tables in `db` if they are missing.
pub fn create_tables(db: &Sqlite) -> Result<(), fsm_runtime::resources::ResourceError> {
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS bookings (id INTEGER PRIMARY KEY, status TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS reservations (
             booking_id INTEGER NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL,
             PRIMARY KEY (booking_id, kind));",
    )
}

/// A number in [0, 1) from `seed`: the same for the same seed, in every run (splitmix64).
fn unit(seed: u64) -> f64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// What the steps reserve in, and how often they fail.
pub struct Agent {
    db: Sqlite,
    failure_rate: f64,
    /// Attempts of each step of each booking so far in this process: the failures are drawn
    /// from the booking's id, the step and the attempt, so the same run fails the same way.
    attempts: Mutex<HashMap<(i64, &'static str), u64>>,
}

impl Agent {
    /// An agent writing reservations into `db`, each step failing with probability
    /// `failure_rate` (one failure in three `declined`, the others `unavailable`).
    pub fn new(db: Sqlite, failure_rate: f64) -> Self {
        Agent {
            db,
            failure_rate,
            attempts: Mutex::new(HashMap::new()),
        }
    }

    /// Whether attempt n of `kind` for the trip fails, and how.
    fn outcome(&self, trip: &Trip, kind: &'static str) -> Result<(), FnError> {
        let attempt = {
            let mut attempts = self.attempts.lock().unwrap_or_else(PoisonError::into_inner);
            let n = attempts.entry((trip.id, kind)).or_insert(0);
            *n += 1;
            *n
        };
        let step = match kind {
            "flight" => 1,
            "hotel" => 2,
            _ => 3,
        };
        let seed = (trip.id as u64).wrapping_mul(1_000_003) ^ (step << 40) ^ (attempt << 48);
        if unit(seed) >= self.failure_rate {
            return Ok(());
        }
        if unit(seed ^ 0x5555_5555) < 1.0 / 3.0 {
            Err(BookingErrorKind::Declined.error(format!("{kind} declined (attempt {attempt})")))
        } else {
            Err(BookingErrorKind::Unavailable.error(format!("no {kind} available (attempt {attempt})")))
        }
    }

    /// Reserves `kind` for the trip: an upsert to `active`, so that doing it twice books once.
    /// A failure leaves nothing active (releases what an earlier attempt may have written).
    fn reserve(&self, trip: &mut Trip, kind: &'static str) -> Result<(), FnError> {
        if let Err(e) = self.outcome(trip, kind) {
            self.release(trip, kind)?;
            return Err(e);
        }
        self.db
            .with(|conn| {
                conn.execute(
                    "INSERT INTO reservations (booking_id, kind, status) VALUES (?1, ?2, 'active')
                     ON CONFLICT (booking_id, kind) DO UPDATE SET status = 'active'",
                    rusqlite::params![trip.id, kind],
                )
            })
            .map_err(|e| FnError::with_source(format!("reserving the {kind}"), e))?;
        trip.steps.push(kind.to_owned());
        Ok(())
    }

    /// Releases `kind` for the trip: an update to `released`, nothing when it was never
    /// reserved; doing it twice releases once.
    fn release(&self, trip: &Trip, kind: &'static str) -> Result<(), FnError> {
        self.db
            .with(|conn| {
                conn.execute(
                    "UPDATE reservations SET status = 'released' WHERE booking_id = ?1 AND kind = ?2",
                    rusqlite::params![trip.id, kind],
                )
            })
            .map(drop)
            .map_err(|e| FnError::with_source(format!("releasing the {kind}"), e))
    }
}

impl BookingFns for Agent {
    fn reserve_flight(&self, trip: &mut Trip, _: &mut Context<'_>) -> Result<(), FnError> {
        self.reserve(trip, "flight")
    }
    fn release_flight(&self, trip: &mut Trip, _: &mut Context<'_>) -> Result<(), FnError> {
        self.release(trip, "flight")
    }
    fn reserve_hotel(&self, trip: &mut Trip, _: &mut Context<'_>) -> Result<(), FnError> {
        self.reserve(trip, "hotel")
    }
    fn release_hotel(&self, trip: &mut Trip, _: &mut Context<'_>) -> Result<(), FnError> {
        self.release(trip, "hotel")
    }
    fn charge(&self, trip: &mut Trip, _: &mut Context<'_>) -> Result<(), FnError> {
        self.reserve(trip, "payment")
    }
    fn refund(&self, trip: &mut Trip, _: &mut Context<'_>) -> Result<(), FnError> {
        self.release(trip, "payment")
    }
    fn confirm(&self, trip: &mut Trip, _: &mut Context<'_>) -> Result<(), FnError> {
        trip.steps.push("confirm".to_owned());
        trip.confirmed = true;
        Ok(())
    }
}

/// What the invariant check found: bookings by status, and those that break it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Census {
    /// Bookings in all.
    pub bookings: u64,
    /// `confirmed` ones.
    pub confirmed: u64,
    /// `compensated` ones.
    pub compensated: u64,
    /// Still `pending` (their run unfinished).
    pub pending: u64,
    /// Ids whose reservations break the invariant: a confirmed booking without exactly 3
    /// active reservations, a compensated one with any.
    pub broken: Vec<i64>,
}

impl Census {
    /// Whether the invariant holds and every booking is done.
    pub fn holds(&self) -> bool {
        self.broken.is_empty() && self.pending == 0
    }
}

/// Counts the bookings and checks the invariant: a confirmed booking has 3 active
/// reservations, a compensated one none.
pub fn census(db: &Sqlite) -> Result<Census, fsm_runtime::resources::ResourceError> {
    db.with(|conn| {
        let mut census = Census::default();
        let mut rows = conn.prepare(
            "SELECT b.id, b.status,
                    (SELECT count(*) FROM reservations r WHERE r.booking_id = b.id AND r.status = 'active')
             FROM bookings b ORDER BY b.id",
        )?;
        let rows = rows.query_map([], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?, row.get::<_, i64>(2)?))
        })?;
        for row in rows {
            let (id, status, active) = row?;
            census.bookings += 1;
            let ok = match status.as_str() {
                "confirmed" => {
                    census.confirmed += 1;
                    active == 3
                }
                "compensated" => {
                    census.compensated += 1;
                    active == 0
                }
                _ => {
                    census.pending += 1;
                    true
                }
            };
            if !ok {
                census.broken.push(id);
            }
        }
        Ok(census)
    })
}
