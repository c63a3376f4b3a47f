//! The error-recovery example (`examples/error_recovery.rs`) run as a user runs it: killed with
//! SIGKILL in the middle of its bookings, then run again with `--resume` (killed once more, then
//! to the end), it ends with N bookings, each confirmed one with its 3 reservations active and
//! each compensated one with none, every run saved as finished. Progress is observed in the
//! database, not by sleeping.
#![cfg(unix)]

mod common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rusqlite::Connection;

const N: i64 = 3000;

fn command(dir: &Path, resume: bool) -> Command {
    let mut cmd = Command::new(common::example_binary("error_recovery"));
    cmd.current_dir(dir).args([
        "--bookings",
        &N.to_string(),
        "--failure-rate",
        "0.3",
        "--db",
        "trips.db",
    ]);
    if resume {
        cmd.arg("--resume");
    }
    cmd
}

/// Bookings done so far (confirmed or compensated).
fn done(db: &Path) -> i64 {
    let Ok(conn) = Connection::open(db) else { return 0 };
    let _ = conn.busy_timeout(Duration::from_secs(5));
    conn.query_row("SELECT count(*) FROM bookings WHERE status <> 'pending'", [], |r| {
        r.get(0)
    })
    .unwrap_or(0)
}

/// Polls until `ready` holds, then kills the example with SIGKILL. Fails if it ends first.
fn kill_when(child: &mut Child, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while !ready() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the example ended ({status}) before it could be killed");
        }
        assert!(Instant::now() < deadline, "the example made no progress");
        std::thread::sleep(Duration::from_millis(2));
    }
    let killed = Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(!status.success(), "{status}");
}

fn spawn(dir: &Path, resume: bool) -> Child {
    command(dir, resume)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn killed_mid_run_then_resumed_it_ends_with_every_booking_and_the_invariant() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("trips.db");

    let mut child = spawn(dir.path(), false);
    kill_when(&mut child, || done(&db) >= 20);
    let first = done(&db);
    assert!(first < N, "killed mid-run");

    let mut child = spawn(dir.path(), true);
    kill_when(&mut child, || done(&db) > first + 20);
    let second = done(&db);
    assert!(second < N, "killed mid-run again");

    let out = command(dir.path(), true).output().unwrap();
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    assert!(printed.contains("resuming "), "{printed}");
    assert!(printed.contains(&format!("{N} bookings: ")), "{printed}");
    assert!(printed.contains("invariant holds"), "{printed}");

    // The database says the same, checked here on its own.
    let conn = Connection::open(&db).unwrap();
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(count("SELECT count(*) FROM bookings"), N);
    assert_eq!(
        count("SELECT count(*) FROM bookings WHERE status NOT IN ('confirmed', 'compensated')"),
        0
    );
    assert_eq!(
        count(
            "SELECT count(*) FROM bookings b WHERE b.status = 'confirmed' AND 3 <> \
             (SELECT count(*) FROM reservations r WHERE r.booking_id = b.id AND r.status = 'active')"
        ),
        0,
        "a confirmed booking has its 3 reservations active"
    );
    assert_eq!(
        count(
            "SELECT count(*) FROM reservations r JOIN bookings b ON b.id = r.booking_id \
             WHERE b.status = 'compensated' AND r.status = 'active'"
        ),
        0,
        "a compensated booking has none"
    );
    assert!(count("SELECT count(*) FROM bookings WHERE status = 'confirmed'") > 0);
    assert!(count("SELECT count(*) FROM bookings WHERE status = 'compensated'") > 0);
    // Every run saved as over, one per booking.
    assert_eq!(count("SELECT count(*) FROM booking_runs WHERE finished = 1"), N);
    assert_eq!(count("SELECT count(*) FROM booking_runs"), N);
}

#[test]
fn the_failure_rate_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(common::example_binary("error_recovery"))
        .current_dir(dir.path())
        .args(["--failure-rate", "1.5", "--bookings", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out).contains("--failure-rate must be between 0 and 1"),
        "{}",
        text(&out)
    );
}
