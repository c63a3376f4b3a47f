//! PostgreSQL writes whose connection is terminated before the client sees the answer: the write
//! may have been committed. The store must find out (read the row back) rather than report a
//! failure and let a retry apply the change twice; a run must apply each state's changes once.
//!
//! The sessions are terminated deterministically, with no timing: the store connects through a
//! proxy in this test that reads the PostgreSQL protocol. Armed with [`Trap::AfterCommit`], it
//! holds back the server's answer to a write until the server's `ReadyForQuery` (the implicit
//! transaction has committed), terminates that session with `pg_terminate_backend` from a second
//! connection, and closes the client's socket: the commit landed, the answer never arrives.
//! Armed with [`Trap::BeforeSend`], it terminates the session instead of passing the statement on:
//! nothing was applied.
//!
//! The tests connect to `FSM_TEST_POSTGRES_URL` (`postgres://user@host:port/db`); they skip without
//! it, and fail when `CI=true`.
#![deny(warnings)]

use fsm_runtime::resources::Postgres;
use fsm_runtime::store::{PostgresStore, RecordStore, StoreError, Versioned};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The record of the tests.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    /// How many times `bump` was applied to it.
    pub n: u32,
}

fsm::fsm! {
    /// One `reference` state that adds 1, retried when it fails.
    machine Bumper {
        data: crate::Tally;
        data_mode: reference;
        start state start;
        state bumped {
            transform: bump;
            retry: { attempts: 3, delay_seconds: 0.001, backoff: fixed, jitter: false };
            on_error: failed;
        }
        end state done;
        end state failed;
        start -> bumped;
        bumped -> done;
    }
}

/// `bump` adds 1 and counts its calls.
#[derive(Default)]
struct Bump {
    calls: AtomicUsize,
}

impl BumperFns for Bump {
    fn bump(&self, data: &mut Tally, _: &mut fsm_runtime::Context<'_>) -> Result<(), fsm_runtime::FnError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        data.n += 1;
        Ok(())
    }
}

/// Where the proxy loses a write.
#[derive(Clone, Copy, Debug)]
enum Trap {
    /// The server answered `CommandComplete` with this tag (`UPDATE 1`) and committed: the answer
    /// is held back and the session terminated.
    AfterCommit(&'static str),
    /// The client sent a statement containing this text: the session is terminated before the
    /// server gets it.
    BeforeSend(&'static str),
}

/// A TCP proxy to the test server, for one test.
struct Proxy {
    /// The server's URL, through the proxy.
    url: String,
    /// The next write to lose (taken when it fires).
    trap: Arc<Mutex<Option<Trap>>>,
    /// How many of the next connections to refuse (closed at once).
    refuse: Arc<AtomicUsize>,
    /// Sessions terminated.
    fired: Arc<AtomicUsize>,
}

impl Proxy {
    fn start(direct: &str) -> Proxy {
        let (scheme, rest) = direct.split_once("://").expect("a postgres:// URL");
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (user, host) = authority.rsplit_once('@').expect("a URL with a user (user@host)");
        let upstream = if host.contains(':') {
            host.to_owned()
        } else {
            format!("{host}:5432")
        };
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = format!(
            "{scheme}://{user}@{}/{path}{sep}sslmode=disable",
            listener.local_addr().unwrap()
        );
        let proxy = Proxy {
            url,
            trap: Arc::default(),
            refuse: Arc::default(),
            fired: Arc::default(),
        };
        let (trap, refuse, fired) = (proxy.trap.clone(), proxy.refuse.clone(), proxy.fired.clone());
        let killer = Arc::new(Postgres::connect(direct).unwrap());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                if refuse.load(Ordering::SeqCst) > 0 {
                    refuse.fetch_sub(1, Ordering::SeqCst);
                    drop(client);
                    continue;
                }
                let server = TcpStream::connect(&upstream).unwrap();
                // Messages are passed on one by one: without this, Nagle's algorithm delays them.
                for socket in [&client, &server] {
                    socket.set_nodelay(true).unwrap();
                }
                let session = Session {
                    client,
                    server,
                    pid: Arc::default(),
                    dead: Arc::default(),
                    trap: trap.clone(),
                    fired: fired.clone(),
                    killer: killer.clone(),
                };
                let other = session.try_clone();
                std::thread::spawn(move || session.pass_requests());
                std::thread::spawn(move || other.pass_answers());
            }
        });
        proxy
    }

    fn arm(&self, trap: Trap) {
        *self.trap.lock().unwrap() = Some(trap);
    }

    fn fired(&self) -> usize {
        self.fired.load(Ordering::SeqCst)
    }
}

/// One connection through the proxy.
struct Session {
    client: TcpStream,
    server: TcpStream,
    /// The server process of the session (from its `BackendKeyData`).
    pid: Arc<AtomicI32>,
    /// Set when the session is being terminated: nothing more is passed on.
    dead: Arc<AtomicBool>,
    trap: Arc<Mutex<Option<Trap>>>,
    fired: Arc<AtomicUsize>,
    killer: Arc<Postgres>,
}

impl Session {
    fn try_clone(&self) -> Session {
        Session {
            client: self.client.try_clone().unwrap(),
            server: self.server.try_clone().unwrap(),
            pid: self.pid.clone(),
            dead: self.dead.clone(),
            trap: self.trap.clone(),
            fired: self.fired.clone(),
            killer: self.killer.clone(),
        }
    }

    /// Takes the trap if `matches` says it is this one.
    fn take(&self, matches: impl FnOnce(Trap) -> bool) -> bool {
        let mut trap = self.trap.lock().unwrap();
        let hit = trap.is_some_and(matches);
        if hit {
            *trap = None;
        }
        hit
    }

    /// Terminates the session's server process from another connection (`pg_terminate_backend`
    /// waits until it is gone), then closes both sockets: the client sees its connection lost
    /// only once the server side is dead, and nothing the server said since reaches it.
    fn terminate(&self) {
        self.dead.store(true, Ordering::SeqCst);
        let pid = self.pid.load(Ordering::SeqCst);
        let row = self
            .killer
            .query_one("SELECT pg_terminate_backend($1, 10000)", &[&pid])
            .unwrap();
        assert!(row.get::<_, bool>(0), "pg_terminate_backend({pid})");
        self.fired.fetch_add(1, Ordering::SeqCst);
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.server.shutdown(Shutdown::Both);
    }

    fn pass_requests(mut self) {
        // The startup message has no type byte.
        let Ok(startup) = read_message(&mut self.client, false) else {
            return;
        };
        if self.server.write_all(&startup).is_err() {
            return;
        }
        while let Ok(message) = read_message(&mut self.client, true) {
            let statement = matches!(message[0], b'P' | b'Q');
            if statement && self.take(|t| matches!(t, Trap::BeforeSend(text) if contains(&message, text))) {
                return self.terminate();
            }
            if self.server.write_all(&message).is_err() {
                return;
            }
        }
    }

    fn pass_answers(mut self) {
        while let Ok(message) = read_message(&mut self.server, true) {
            let body = &message[5..];
            if message[0] == b'K' {
                let pid = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                self.pid.store(pid, Ordering::SeqCst);
            }
            if message[0] == b'C'
                && self.take(|t| matches!(t, Trap::AfterCommit(tag) if body.starts_with(tag.as_bytes())))
            {
                // The implicit transaction commits at `Sync`; `ReadyForQuery` follows the commit.
                while let Ok(next) = read_message(&mut self.server, true) {
                    if next[0] == b'Z' {
                        break;
                    }
                }
                return self.terminate();
            }
            if self.dead.load(Ordering::SeqCst) || self.client.write_all(&message).is_err() {
                return;
            }
        }
    }
}

/// One protocol message, whole: type byte (when `typed`), length, body.
fn read_message(from: &mut TcpStream, typed: bool) -> std::io::Result<Vec<u8>> {
    let head = if typed { 5 } else { 4 };
    let mut message = vec![0; head];
    from.read_exact(&mut message)?;
    let len = u32::from_be_bytes([
        message[head - 4],
        message[head - 3],
        message[head - 2],
        message[head - 1],
    ]);
    let body = (len as usize)
        .checked_sub(4)
        .ok_or_else(|| std::io::Error::other("bad length"))?;
    message.resize(head + body, 0);
    from.read_exact(&mut message[head..])?;
    Ok(message)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn postgres_url() -> Option<String> {
    let url = std::env::var("FSM_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty());
    if url.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but FSM_TEST_POSTGRES_URL is not set: the PostgreSQL tests cannot be skipped in CI"
        );
        println!("skipped: set FSM_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run");
    }
    url
}

/// A store through a new proxy, over a fresh table `fsm_lost_<test>_<pid>`; the proxy, the
/// store, and a direct handle to clean up with.
fn setup(test: &str) -> Option<(Proxy, Arc<PostgresStore<Tally>>, Postgres, String)> {
    let direct_url = postgres_url()?;
    let direct = Postgres::connect(&direct_url).unwrap();
    let table = format!("fsm_lost_{test}_{}", std::process::id());
    direct.batch_execute(&format!("DROP TABLE IF EXISTS {table}")).unwrap();
    let proxy = Proxy::start(&direct_url);
    let store = PostgresStore::new(Postgres::connect(&proxy.url).unwrap(), &table).unwrap();
    Some((proxy, Arc::new(store), direct, table))
}

fn stored(store: &PostgresStore<Tally>, key: &str) -> (u32, u64) {
    let Versioned { data, version } = store.load(key).unwrap();
    (data.n, version)
}

#[test]
fn a_save_or_insert_committed_before_its_answer_was_lost_succeeds() {
    let Some((proxy, store, direct, table)) = setup("store") else {
        return;
    };
    store.insert("k", &Tally { n: 1 }).unwrap();

    // The UPDATE committed, the session died before the answer: the save landed, so it is `Ok`.
    proxy.arm(Trap::AfterCommit("UPDATE"));
    let saved = store.save("k", &Tally { n: 2 }, 1);
    assert_eq!(proxy.fired(), 1);
    assert_eq!(saved.unwrap(), 2);
    assert_eq!(stored(&store, "k"), (2, 2));

    // The same for an insert.
    proxy.arm(Trap::AfterCommit("INSERT"));
    assert_eq!(store.insert("new", &Tally { n: 7 }).unwrap(), 1);
    assert_eq!(proxy.fired(), 2);
    assert_eq!(stored(&store, "new"), (7, 1));

    // The session died before the server got the UPDATE: not saved, and said so; the record is
    // unchanged and saving again at the same version applies it once.
    proxy.arm(Trap::BeforeSend("UPDATE"));
    let lost = store.save("k", &Tally { n: 3 }, 2).unwrap_err();
    assert_eq!(proxy.fired(), 3);
    assert!(matches!(lost, StoreError::Backend(_)), "{lost:?}");
    assert_eq!(stored(&store, "k"), (2, 2));
    assert_eq!(store.save("k", &Tally { n: 3 }, 2).unwrap(), 3);

    // Committed, and the database cannot be asked afterwards (the reconnection is refused): the
    // outcome is unknown, and the error says so rather than "failed".
    proxy.arm(Trap::AfterCommit("UPDATE"));
    proxy.refuse.store(1, Ordering::SeqCst);
    let unknown = store.save("k", &Tally { n: 4 }, 3).unwrap_err();
    assert_eq!(proxy.fired(), 4);
    assert!(
        matches!(&unknown, StoreError::Unknown { key, .. } if key == "k"),
        "{unknown:?}"
    );
    assert!(
        unknown.to_string().contains("may or may not have been applied"),
        "{unknown}"
    );
    assert_eq!(stored(&store, "k"), (4, 4));

    direct.batch_execute(&format!("DROP TABLE {table}")).unwrap();
}

#[test]
fn a_stored_run_applies_its_state_once_when_its_session_is_terminated() {
    let Some((proxy, store, direct, table)) = setup("run") else {
        return;
    };

    // The save of `bumped` committed and its answer was lost: the run goes on, once.
    store.insert("committed", &Tally::default()).unwrap();
    proxy.arm(Trap::AfterCommit("UPDATE"));
    let fns = Bump::default();
    let out = Bumper::new(&fns)
        .run_stored(store.clone(), "committed")
        .unwrap()
        .unwrap();
    assert_eq!(proxy.fired(), 1);
    assert_eq!(out.end, BumperEnd::Done, "{:?}", out.error);
    assert_eq!((out.data.n, fns.calls.load(Ordering::SeqCst)), (1, 1));
    assert_eq!(stored(&store, "committed"), (1, 2));

    // The save never reached the server: the record is reloaded, and the state's retry applies
    // `bump` once more, to the stored record.
    store.insert("lost", &Tally::default()).unwrap();
    proxy.arm(Trap::BeforeSend("UPDATE"));
    let fns = Bump::default();
    let out = Bumper::new(&fns).run_stored(store.clone(), "lost").unwrap().unwrap();
    assert_eq!(proxy.fired(), 2);
    assert_eq!(out.end, BumperEnd::Done, "{:?}", out.error);
    assert_eq!((out.data.n, fns.calls.load(Ordering::SeqCst)), (1, 2));
    assert_eq!(stored(&store, "lost"), (1, 2));

    // Committed, and the store cannot find out: no retry, the run fails with the unknown outcome
    // and saves nothing more.
    store.insert("unknown", &Tally::default()).unwrap();
    proxy.arm(Trap::AfterCommit("UPDATE"));
    proxy.refuse.store(1, Ordering::SeqCst);
    let fns = Bump::default();
    let out = Bumper::new(&fns).run_stored(store.clone(), "unknown").unwrap().unwrap();
    assert_eq!(proxy.fired(), 3);
    assert_eq!(out.end, BumperEnd::Failed);
    assert_eq!(fns.calls.load(Ordering::SeqCst), 1);
    let error = out.error.unwrap();
    assert_eq!(
        (error.state, error.function),
        ("bumped", fsm_runtime::store::STORE_FUNCTION)
    );
    assert!(
        error.to_string().contains("may or may not have been applied"),
        "{error}"
    );
    assert_eq!(stored(&store, "unknown"), (1, 2));

    direct.batch_execute(&format!("DROP TABLE {table}")).unwrap();
}

#[test]
fn a_write_through_the_handle_whose_answer_was_lost_is_not_retried() {
    use fsm_runtime::resources::{ResourceError, Retry};
    let Some(direct_url) = postgres_url() else { return };
    let direct = Postgres::connect(&direct_url).unwrap();
    let table = format!("fsm_lost_handle_{}", std::process::id());
    direct
        .batch_execute(&format!("DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (n INT)"))
        .unwrap();
    let proxy = Proxy::start(&direct_url);
    let db = Postgres::connect(&proxy.url).unwrap();
    let insert = format!("INSERT INTO {table} (n) VALUES (1)");
    let rows = || -> i64 {
        direct
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .unwrap()
            .get(0)
    };

    // The INSERT committed and its answer was lost: the error says the outcome is unknown, is not
    // transient, so the resource retry runs it once, and the row is there once.
    proxy.arm(Trap::AfterCommit("INSERT"));
    let failed = Retry::new(3, std::time::Duration::from_millis(1))
        .run(|| db.execute(&insert, &[]))
        .unwrap_err();
    assert_eq!(proxy.fired(), 1);
    assert_eq!(failed.attempts, 1);
    assert!(
        matches!(failed.error, ResourceError::OutcomeUnknown(_)),
        "{:?}",
        failed.error
    );
    assert!(!failed.error.is_transient());
    assert!(
        failed.error.to_string().contains("may or may not have been applied"),
        "{}",
        failed.error
    );
    assert_eq!(rows(), 1);

    // The handle opens its connection again: the next write goes through.
    assert_eq!(db.execute(&insert, &[]).unwrap(), 1);
    assert_eq!(rows(), 2);
    direct.batch_execute(&format!("DROP TABLE {table}")).unwrap();
}
