//! The resource handles against real components: SQLite databases in temporary files,
//! directories, an HTTP server this test starts on the loopback interface (for `Http` and the
//! OpenAI-compatible `Llm`), and a PostgreSQL server when one is given.
//!
//! PostgreSQL: the tests connect to the URL in `FSM_TEST_POSTGRES_URL` and skip (saying so) when
//! it is unset, or fail when it is unset under `CI=true`. CI sets
//! `postgres://postgres@127.0.0.1:5432/test`; elsewhere, start a server and run e.g.
//! `FSM_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test cargo test -p fsm-runtime
//! --test resources` (any database the user may create tables in).

use fsm_runtime::resources::{
    Files, FilesConfig, Health, HealthError, Http, HttpConfig, Llm, LlmConfig, Message, OpenError, Postgres,
    PostgresConfig, Resource, ResourceError, Retry, Sqlite, SqliteConfig,
};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------- SQLite

#[test]
fn sqlite_persists_to_its_file_and_is_shared_by_clones_across_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("records.db");
    let db = Sqlite::from_config(&SqliteConfig::new(path.to_str().unwrap()).busy_timeout_ms(1000)).unwrap();
    db.execute_batch("CREATE TABLE seen (worker INTEGER, n INTEGER)")
        .unwrap();
    std::thread::scope(|s| {
        for worker in 0..4 {
            let db = db.clone();
            s.spawn(move || {
                for n in 0..50 {
                    db.execute("INSERT INTO seen VALUES (?1, ?2)", [worker, n]).unwrap();
                }
            });
        }
    });
    // A transaction through `with`.
    db.with(|conn| {
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM seen WHERE worker = 3", [])?;
        tx.commit()
    })
    .unwrap();
    drop(db);
    let again = Sqlite::open(path.to_str().unwrap()).unwrap();
    let n: i64 = again.query_row("SELECT count(*) FROM seen", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 150);
    let workers = again
        .query_map("SELECT DISTINCT worker FROM seen ORDER BY worker", [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap();
    assert_eq!(workers, [0, 1, 2]);
}

#[test]
fn sqlite_declared_wal_writes_ahead() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal.db");
    let mode = |db: &Sqlite| -> String { db.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap() };
    let wal = Sqlite::from_config(&SqliteConfig::new(path.to_str().unwrap()).wal(true)).unwrap();
    assert_eq!(mode(&wal), "wal");
    let sync: i64 = wal.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
    assert_eq!(sync, 1, "NORMAL");
    let plain = Sqlite::from_config(&SqliteConfig::new(dir.path().join("plain.db").to_str().unwrap())).unwrap();
    assert_eq!(mode(&plain), "delete");
}

#[test]
fn sqlite_errors_are_values() {
    let db = Sqlite::open(":memory:").unwrap();
    assert_eq!(db.path(), ":memory:");
    let e = db.execute("INSERT INTO missing VALUES (1)", []).unwrap_err();
    assert!(matches!(e, ResourceError::Sqlite(_)), "{e:?}");
    assert!(e.to_string().contains("no such table"), "{e}");
    let e = Sqlite::from_config(&SqliteConfig::new("")).unwrap_err();
    assert!(matches!(e, ResourceError::Config { key: "path", .. }), "{e:?}");
    let tmp = tempfile::tempdir().unwrap();
    let nowhere = tmp.path().join("no/such/dir/x.db");
    assert!(Sqlite::open(nowhere.to_str().unwrap()).is_err());
}

// ---------------------------------------------------------------- files

#[test]
fn files_read_write_and_append_inside_the_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let files = Files::from_config(&FilesConfig::new(tmp.path())).unwrap();
    files.write("a/b/out.txt", "one\n").unwrap();
    files.append("a/b/out.txt", "two\n").unwrap();
    files.append("./log.txt", b"x").unwrap();
    assert_eq!(files.read_to_string("a/b/out.txt").unwrap(), "one\ntwo\n");
    assert_eq!(files.read("log.txt").unwrap(), b"x");
    assert!(files.exists("a/b").unwrap());
    assert!(!files.exists("nope").unwrap());
    files.write("a/b/out.txt", "replaced").unwrap();
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("a/b/out.txt")).unwrap(),
        "replaced"
    );
    files.remove("log.txt").unwrap();
    assert!(!tmp.path().join("log.txt").exists());
    // No temporary file is left behind by `write`.
    let left: Vec<_> = std::fs::read_dir(tmp.path().join("a/b")).unwrap().collect();
    assert_eq!(left.len(), 1);
}

#[test]
fn files_refuse_paths_that_leave_the_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let inside = tmp.path().join("inside");
    std::fs::create_dir(&inside).unwrap();
    std::fs::write(tmp.path().join("secret.txt"), "no").unwrap();
    let files = Files::open(&inside).unwrap();
    let outside = tmp.path().join("secret.txt");
    for bad in [
        "../secret.txt",
        "a/../../secret.txt",
        "a/../b.txt",
        "",
        ".",
        outside.to_str().unwrap(),
    ] {
        let e = files.read(bad).unwrap_err();
        assert!(matches!(e, ResourceError::PathEscapes { .. }), "{bad}: {e:?}");
        assert!(
            matches!(files.write(bad, "x"), Err(ResourceError::PathEscapes { .. })),
            "{bad}"
        );
        assert!(
            matches!(files.append(bad, "x"), Err(ResourceError::PathEscapes { .. })),
            "{bad}"
        );
    }
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "no");
    // A link inside that points outside is refused too, for reading and for writing through it.
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(tmp.path(), inside.join("out")).unwrap();
        let e = files.read("out/secret.txt").unwrap_err();
        assert!(matches!(e, ResourceError::PathEscapes { .. }), "{e:?}");
        let e = files.write("out/new.txt", "x").unwrap_err();
        assert!(matches!(e, ResourceError::PathEscapes { .. }), "{e:?}");
        assert!(!tmp.path().join("new.txt").exists());
    }
}

#[test]
fn files_open_only_existing_directories_unless_asked_to_create() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("later/dir");
    let e = Files::from_config(&FilesConfig::new(&missing)).unwrap_err();
    assert!(matches!(e, ResourceError::Io { .. }), "{e:?}");
    let files = Files::from_config(&FilesConfig::new(&missing).create(true)).unwrap();
    assert_eq!(files.dir(), missing.canonicalize().unwrap());
    std::fs::write(tmp.path().join("plain"), "").unwrap();
    let e = Files::open(tmp.path().join("plain")).unwrap_err();
    assert!(matches!(e, ResourceError::Config { key: "dir", .. }), "{e:?}");
}

// ---------------------------------------------------------------- HTTP and LLM

/// A request as the server saw it.
#[derive(Debug)]
struct Seen {
    line: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP/1.1 server on a free loopback port that answers `answers.len()` connections, one
/// request each, in order, and reports what it received. Returns its base URL.
fn serve(answers: Vec<(u16, String)>) -> (String, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (url, serve_on(listener, answers))
}

/// The server of [`serve`] on a listener of the caller's.
fn serve_on(listener: TcpListener, answers: Vec<(u16, String)>) -> mpsc::Receiver<Seen> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for (status, body) in answers {
            let Ok((stream, _)) = listener.accept() else { return };
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                if let Some((n, v)) = h.split_once(':') {
                    headers.push((n.trim().to_owned(), v.trim().to_owned()));
                }
            }
            let len = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .map_or(0, |(_, v)| v.parse().unwrap());
            let mut request_body = vec![0; len];
            reader.read_exact(&mut request_body).unwrap();
            let mut stream = reader.into_inner();
            write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            stream.flush().unwrap();
            let _ = tx.send(Seen {
                line: line.trim_end().to_owned(),
                headers,
                body: String::from_utf8(request_body).unwrap(),
            });
        }
    });
    rx
}

#[test]
fn http_gets_and_posts_under_its_base_url_with_its_headers() {
    let (url, seen) = serve(vec![
        (200, r#"{"rate": 1.5}"#.into()),
        (201, r#"{"id": 7}"#.into()),
        (404, r#"{"error": "no such rate"}"#.into()),
    ]);
    let http = Http::from_config(
        &HttpConfig::new(format!("{url}/api/"))
            .timeout_ms(5000)
            .header("x-client", "fsm"),
    )
    .unwrap();
    assert_eq!(http.url("/rates/eur"), format!("{url}/api/rates/eur"));

    #[derive(serde::Deserialize)]
    struct Rate {
        rate: f64,
    }
    let rate: Rate = http.get_json("/rates/eur").unwrap();
    assert_eq!(rate.rate, 1.5);
    let got = seen.recv().unwrap();
    assert_eq!(got.line, "GET /api/rates/eur HTTP/1.1");
    assert_eq!(got.header("x-client"), Some("fsm"));

    let created = http.post_json("orders", &serde_json::json!({"total": 3})).unwrap();
    assert_eq!(created.status, 201);
    assert_eq!(created.json::<serde_json::Value>().unwrap()["id"], 7);
    let got = seen.recv().unwrap();
    assert_eq!(got.line, "POST /api/orders HTTP/1.1");
    assert_eq!(got.header("content-type"), Some("application/json"));
    assert_eq!(got.body, r#"{"total":3}"#);

    let e = http.get("rates/xyz").unwrap_err();
    match e {
        ResourceError::Status { status, body, .. } => {
            assert_eq!(status, 404);
            assert!(body.contains("no such rate"), "{body}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn http_failures_are_values() {
    let e = Http::new("ftp://example").unwrap_err();
    assert!(matches!(e, ResourceError::Config { key: "base_url", .. }), "{e:?}");
    // A port nothing listens on: bind one, then free it.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let http = Http::from_config(&HttpConfig::new(format!("http://127.0.0.1:{port}")).timeout_ms(2000)).unwrap();
    let e = http.get("/").unwrap_err();
    assert!(matches!(e, ResourceError::Http { .. }), "{e:?}");
    let e: fsm_runtime::FnError = e.into();
    assert!(e.to_string().contains(&port.to_string()), "{e}");
}

#[test]
fn llm_asks_an_openai_compatible_endpoint() {
    let answer = r#"{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Paris"},"finish_reason":"stop"}]}"#;
    let (url, seen) = serve(vec![(200, answer.into()), (200, r#"{"choices": []}"#.into())]);
    // An API key from an environment variable every environment has, so the test sets none.
    let key_var = "PATH";
    let llm = Llm::from_config(
        &LlmConfig::new(format!("{url}/v1"), "tiny-model")
            .api_key_env(key_var)
            .timeout_ms(5000)
            .max_tokens(8)
            .temperature(0.0)
            .system("Answer in one word."),
    )
    .unwrap();
    assert_eq!(llm.model(), "tiny-model");
    assert!(!format!("{llm:?}").contains(&std::env::var(key_var).unwrap()));

    let text = llm.complete("Capital of France?").unwrap();
    assert_eq!(text, "Paris");
    let got = seen.recv().unwrap();
    assert_eq!(got.line, "POST /v1/chat/completions HTTP/1.1");
    assert_eq!(
        got.header("authorization"),
        Some(format!("Bearer {}", std::env::var(key_var).unwrap()).as_str())
    );
    let request: serde_json::Value = serde_json::from_str(&got.body).unwrap();
    assert_eq!(request["model"], "tiny-model");
    assert_eq!(request["max_tokens"], 8);
    assert_eq!(request["temperature"], 0.0);
    assert_eq!(
        request["messages"],
        serde_json::json!([
            {"role": "system", "content": "Answer in one word."},
            {"role": "user", "content": "Capital of France?"}
        ])
    );

    let e = llm
        .chat(&[
            Message::user("again?"),
            Message::assistant("Paris"),
            Message::user("sure?"),
        ])
        .unwrap_err();
    assert!(matches!(e, ResourceError::Response { .. }), "{e:?}");
    let got = seen.recv().unwrap();
    let request: serde_json::Value = serde_json::from_str(&got.body).unwrap();
    assert_eq!(request["messages"].as_array().unwrap().len(), 4);
}

#[test]
fn llm_needs_its_api_key_variable() {
    let e =
        Llm::from_config(&LlmConfig::new("http://127.0.0.1:1/v1", "m").api_key_env("FSM_TEST_SURELY_UNSET_LLM_KEY"))
            .unwrap_err();
    assert!(
        matches!(&e, ResourceError::Env { var } if var == "FSM_TEST_SURELY_UNSET_LLM_KEY"),
        "{e:?}"
    );
}

// ---------------------------------------------------------------- PostgreSQL

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

#[test]
fn postgres_runs_statements_through_its_pool_from_parallel_workers() {
    let Some(_) = postgres_url() else { return };
    let pg = Postgres::from_config(&PostgresConfig::url_env("FSM_TEST_POSTGRES_URL").pool_size(3)).unwrap();
    assert_eq!(pg.pool_size(), 3);
    let table = format!("fsm_resources_test_{}", std::process::id());
    pg.batch_execute(&format!(
        "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (worker INT, n INT)"
    ))
    .unwrap();
    std::thread::scope(|s| {
        for worker in 0..6i32 {
            let pg = pg.clone();
            let table = &table;
            s.spawn(move || {
                for n in 0..20i32 {
                    pg.execute(&format!("INSERT INTO {table} VALUES ($1, $2)"), &[&worker, &n])
                        .unwrap();
                }
            });
        }
    });
    let row = pg
        .query_one(&format!("SELECT count(*), sum(n)::BIGINT FROM {table}"), &[])
        .unwrap();
    assert_eq!(
        (row.get::<_, i64>(0), row.get::<_, i64>(1)),
        (120, 6 * (0..20).sum::<i64>())
    );
    // A transaction through `with`.
    pg.with(|client| {
        let mut tx = client.transaction()?;
        tx.execute(&format!("DELETE FROM {table} WHERE worker > 0"), &[])?;
        tx.commit()
    })
    .unwrap();
    assert_eq!(pg.query(&format!("SELECT * FROM {table}"), &[]).unwrap().len(), 20);
    let e = pg.execute("SELECT * FROM fsm_no_such_table", &[]).unwrap_err();
    assert!(matches!(e, ResourceError::Postgres(_)), "{e:?}");
    pg.batch_execute(&format!("DROP TABLE {table}")).unwrap();
}

/// The URL with `application_name` set, to find the handle's connections on the server.
fn with_application_name(url: &str, name: &str) -> String {
    with_params(url, &format!("application_name={name}"))
}

/// The URL with `params` (`key=value&...`) added to its parameters (a later value wins).
fn with_params(url: &str, params: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{params}")
}

#[test]
fn postgres_opens_its_pool_size_and_waits_for_a_free_connection_at_most_its_timeout() {
    let Some(url) = postgres_url() else { return };
    let name = format!("fsm_pool_{}", std::process::id());
    let pg = Postgres::from_config(
        &PostgresConfig::url(with_application_name(&url, &name))
            .pool_size(2)
            .timeout_ms(400),
    )
    .unwrap();
    let watcher = Postgres::connect(&url).unwrap();
    let count = |watcher: &Postgres| -> i64 {
        watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                &[&name],
            )
            .unwrap()
            .get(0)
    };
    assert_eq!(count(&watcher), 2);
    pg.health().unwrap();
    // Both connections busy until the test lets them go: a third caller gives up after at least
    // 0.4 s, while they are still busy (it did not wait for one to come free).
    let (ready_tx, ready) = mpsc::channel();
    let (release_tx, release) = mpsc::channel::<()>();
    let release = std::sync::Mutex::new(release);
    std::thread::scope(|s| {
        for _ in 0..2 {
            let pg = pg.clone();
            let ready_tx = ready_tx.clone();
            let release = &release;
            s.spawn(move || {
                pg.with(|client| {
                    ready_tx.send(()).unwrap();
                    release.lock().unwrap().recv().unwrap();
                    client.simple_query("SELECT 1").map(drop)
                })
                .unwrap();
            });
        }
        ready.recv().unwrap();
        ready.recv().unwrap();
        let started = Instant::now();
        let e = pg.health().unwrap_err();
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(390), "{took:?}");
        assert!(matches!(e, ResourceError::Timeout { .. }) && e.is_transient(), "{e:?}");
        release_tx.send(()).unwrap();
        release_tx.send(()).unwrap();
    });
    pg.health().unwrap();
    // The time limit is each statement's too: the server cancels a 5 s sleep for it.
    let e = pg.execute("SELECT pg_sleep(5)", &[]).unwrap_err();
    match &e {
        ResourceError::Postgres(pe) => {
            assert_eq!(
                pe.code(),
                Some(&fsm_runtime::resources::postgres::error::SqlState::QUERY_CANCELED),
                "{e}"
            );
            assert!(e.to_string().contains("statement timeout"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    // A connection the server closed is opened again by the health check.
    watcher
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            &[&name],
        )
        .unwrap();
    pg.health().unwrap();
    pg.health().unwrap();
}

#[test]
fn postgres_health_fails_when_its_database_is_gone() {
    let Some(url) = postgres_url() else { return };
    let admin = Postgres::connect(&url).unwrap();
    let db = format!("fsm_health_{}", std::process::id());
    let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db}"));
    if let Err(e) = admin.batch_execute(&format!("CREATE DATABASE {db}")) {
        println!("skipped: the test user cannot create a database: {e}");
        return;
    }
    // The same server and user, another database: replace the path of the URL.
    let Some((base, _)) = url.split('?').next().and_then(|u| u.rsplit_once('/')) else {
        panic!("FSM_TEST_POSTGRES_URL is not a postgres:// URL: {url}");
    };
    let pg = Postgres::from_config(&PostgresConfig::url(format!("{base}/{db}")).timeout_ms(2000)).unwrap();
    pg.health().unwrap();
    admin
        .batch_execute(&format!("DROP DATABASE {db} WITH (FORCE)"))
        .unwrap();
    let e = pg.health().unwrap_err();
    assert!(matches!(e, ResourceError::Postgres(_)), "{e:?}");
    assert!(e.to_string().contains(&db), "{e}");
}

#[test]
fn postgres_reports_a_missing_variable_or_a_refused_connection() {
    let e = Postgres::from_config(&PostgresConfig::url_env("FSM_TEST_SURELY_UNSET_PG_URL")).unwrap_err();
    assert!(matches!(e, ResourceError::Env { .. }), "{e:?}");
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let e = Postgres::connect(&format!("postgres://nobody@127.0.0.1:{port}/none")).unwrap_err();
    assert!(matches!(e, ResourceError::Postgres(_)), "{e:?}");
    let e = Postgres::connect_pool("postgres://nobody@127.0.0.1/none", 0).unwrap_err();
    assert!(matches!(e, ResourceError::Config { key: "pool_size", .. }), "{e:?}");
}

// ---------------------------------------------------------------- PostgreSQL TLS

/// Whether the handle's connection is encrypted, as the server sees it.
fn uses_tls(pg: &Postgres) -> bool {
    pg.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
        .unwrap()
        .get(0)
}

/// The server's `ssl` setting, and the certificate file it sends when this process can read it.
fn server_tls(plain: &Postgres) -> (bool, Option<String>) {
    let row = plain
        .query_one(
            "SELECT current_setting('ssl') = 'on', current_setting('ssl_cert_file'), current_setting('data_directory')",
            &[],
        )
        .unwrap();
    let (on, file, data): (bool, String, String) = (row.get(0), row.get(1), row.get(2));
    let path = std::path::Path::new(&data).join(file);
    let readable = std::fs::read(&path).is_ok().then(|| path.display().to_string());
    (on, readable)
}

#[test]
fn postgres_sslmode_disable_and_prefer_connect_and_query() {
    let Some(url) = postgres_url() else { return };
    let plain = Postgres::connect(&with_params(&url, "sslmode=disable")).unwrap();
    assert!(!uses_tls(&plain));
    let (server_has_tls, _) = server_tls(&plain);
    // `prefer`, asked for or the default: TLS exactly when the server offers it.
    for url in [with_params(&url, "sslmode=prefer"), url.clone()] {
        let pg = Postgres::connect_pool(&url, 2).unwrap();
        let row = pg.query_one("SELECT $1::INT + 2", &[&40i32]).unwrap();
        assert_eq!(row.get::<_, i32>(0), 42);
        assert_eq!(uses_tls(&pg), server_has_tls, "{url}");
    }
}

#[test]
fn postgres_sslmode_require_against_a_server_without_tls_fails_naming_tls() {
    // What a server with `ssl = off` does: answer the client's TLS request with `N`.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut request = [0u8; 8];
        conn.read_exact(&mut request).unwrap();
        conn.write_all(b"N").unwrap();
        request
    });
    let started = Instant::now();
    let e = Postgres::from_config(
        &PostgresConfig::url(format!("postgres://postgres@127.0.0.1:{port}/test?sslmode=require")).timeout_ms(10_000),
    )
    .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert!(matches!(e, ResourceError::Postgres(_)), "{e:?}");
    assert!(e.to_string().contains("TLS"), "{e}");
    assert!(
        !e.is_transient(),
        "a server without TLS does not get it by waiting: {e}"
    );
    // The SSLRequest: length 8, code 80877103.
    assert_eq!(server.join().unwrap(), [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
}

#[test]
fn postgres_sslmode_require_and_verify_check_the_certificate_as_libpq() {
    let Some(url) = postgres_url() else { return };
    let plain = Postgres::connect(&with_params(&url, "sslmode=disable")).unwrap();
    let (server_has_tls, cert_file) = server_tls(&plain);
    if !server_has_tls {
        let e = Postgres::connect(&with_params(&url, "sslmode=require")).unwrap_err();
        assert!(e.to_string().contains("TLS"), "{e}");
        println!("skipped the TLS connections: the server has `ssl = off`");
        return;
    }
    // `require` without a root file: encrypted, whatever certificate the server has.
    let pg = Postgres::connect(&with_params(&url, "sslmode=require")).unwrap();
    assert!(uses_tls(&pg));
    // A connection the server closed is opened again, with TLS again.
    let pid: i32 = pg.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    plain.query_one("SELECT pg_terminate_backend($1)", &[&pid]).unwrap();
    pg.health().unwrap();
    assert!(uses_tls(&pg));
    let other: i32 = pg.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    assert_ne!(other, pid);
    // With a root file, the certificate must be signed by it: a certificate of these tests is
    // not the server's signer.
    let unrelated = concat!(env!("CARGO_MANIFEST_DIR"), "/src/resources/pg/testdata/rsa-sha256.pem");
    for mode in ["require", "verify-ca", "verify-full"] {
        let e = Postgres::connect(&with_params(&url, &format!("sslmode={mode}&sslrootcert={unrelated}"))).unwrap_err();
        let message = e.to_string();
        assert!(
            message.contains("TLS") && message.contains("certificate"),
            "{mode}: {message}"
        );
        assert!(!e.is_transient(), "{mode}: {message}");
    }
    // `verify-*` without a root file check against the Mozilla roots, which did not sign a test
    // server's certificate.
    let e = Postgres::connect(&with_params(&url, "sslmode=verify-ca")).unwrap_err();
    assert!(e.to_string().contains("certificate"), "{e}");
    let Some(cert_file) = cert_file else {
        println!("skipped the server's own certificate as a root: its file cannot be read here");
        return;
    };
    // The server's own certificate (self-signed, as Debian's `snakeoil`) as the root.
    for mode in ["prefer", "require", "verify-ca"] {
        let pg = Postgres::connect(&with_params(&url, &format!("sslmode={mode}&sslrootcert={cert_file}"))).unwrap();
        assert!(uses_tls(&pg), "{mode}");
    }
    // `verify-full` also wants the host name in the certificate: `localhost` for a snakeoil one.
    let (user, db, port): (String, String, i32) = {
        let row = plain
            .query_one(
                "SELECT current_user::TEXT, current_database()::TEXT, inet_server_port()",
                &[],
            )
            .unwrap();
        (row.get(0), row.get(1), row.get(2))
    };
    for host in ["localhost", "127.0.0.1"] {
        let url = format!(
            "host={host} hostaddr=127.0.0.1 port={port} user={user} dbname={db} sslmode=verify-full sslrootcert='{cert_file}'"
        );
        match Postgres::connect(&url) {
            Ok(pg) => {
                assert!(uses_tls(&pg));
                println!("verify-full: the server's certificate is for {host}");
            }
            Err(e) => {
                assert!(e.to_string().contains("not valid for name"), "{host}: {e}");
                println!("verify-full: the server's certificate is not for {host}: {e}");
            }
        }
    }
}

#[test]
fn postgres_sslrootcert_that_cannot_be_read_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-ca.pem");
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/test?sslmode=verify-full&sslrootcert={}",
        free_port(),
        missing.display()
    );
    // Read before connecting: no server needed, and not retried (a setting, not the network).
    let mut opened = OpenError::new();
    assert!(
        opened
            .open::<Postgres>("db", &PostgresConfig::url(url), Retry::new(5, Duration::from_secs(10)))
            .is_none()
    );
    let [failure] = opened.failures() else {
        panic!("{opened:?}")
    };
    assert_eq!(failure.attempts, 1, "{failure}");
    let message = failure.to_string();
    assert!(
        message.contains(&missing.display().to_string()) && message.contains("sslrootcert"),
        "{message}"
    );
    let e = Postgres::connect("host=127.0.0.1 sslmode=allow").unwrap_err();
    assert!(matches!(e, ResourceError::Config { key: "sslmode", .. }), "{e:?}");
}

// ---------------------------------------------------------------- retries

/// A port of the loopback interface that nothing listens on (bound, then freed).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn opening_retries_until_the_directory_appears() {
    let tmp = tempfile::tempdir().unwrap();
    let late = tmp.path().join("late");
    let config = FilesConfig::new(&late);
    let creator = {
        let late = late.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            std::fs::create_dir(&late).unwrap();
        })
    };
    let started = Instant::now();
    let mut attempts = 0;
    let files = Retry::new(10, Duration::from_millis(20))
        .run(|| {
            attempts += 1;
            Files::from_config(&config)
        })
        .unwrap();
    creator.join().unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert!(attempts > 1, "opened at attempt {attempts}");
    assert_eq!(files.dir(), late.canonicalize().unwrap());
}

#[test]
fn opening_waits_for_a_server_started_late_on_a_reserved_port() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/api");
    let (tx, seen) = mpsc::channel();
    let server = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        tx.send(serve_on(listener, vec![(200, "{}".into())])).unwrap();
    });
    let started = Instant::now();
    let mut opened = OpenError::new();
    let config = HttpConfig::new(&url).health_path("/health").timeout_ms(2000);
    let http = opened.open::<Http>("api", &config, Retry::new(8, Duration::from_millis(40)));
    assert!(opened.is_empty(), "{opened}");
    assert!(http.is_some());
    assert!(started.elapsed() >= Duration::from_millis(300));
    server.join().unwrap();
    let got = seen.recv().unwrap().recv().unwrap();
    assert_eq!(got.line, "GET /api/health HTTP/1.1");
}

#[test]
fn exhausted_retries_report_the_last_error_and_the_attempts() {
    let refused = format!("http://127.0.0.1:{}", free_port());
    let mut failed = OpenError::new();
    let started = Instant::now();
    let http = failed.open::<Http>(
        "api",
        &HttpConfig::new(&refused).health_path("/health"),
        Retry::new(3, Duration::from_millis(20)),
    );
    assert!(http.is_none());
    // Waits of 20, 40 and 80 ms, each with up to a quarter more.
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(140), "{waited:?}");
    // Not transient: an unset variable is not tried again.
    let llm = failed.open::<Llm>(
        "model",
        &LlmConfig::new(&refused, "m").api_key_env("FSM_TEST_SURELY_UNSET_LLM_KEY"),
        Retry::new(3, Duration::from_millis(20)),
    );
    assert!(llm.is_none());
    let report: Vec<(&str, u32, bool)> = failed
        .failures()
        .iter()
        .map(|f| (f.name, f.attempts, f.error.is_transient()))
        .collect();
    assert_eq!(report, [("api", 4, true), ("model", 1, false)]);
    assert!(matches!(failed.failures()[0].error, ResourceError::Http { .. }));
    let text = failed.to_string();
    assert!(text.contains("2 resources could not be opened"), "{text}");
    assert!(
        text.contains("`api`: ") && text.contains("(after 4 attempts)"),
        "{text}"
    );
    assert!(
        text.contains("`model`: environment variable") && !text.contains("after 1 attempt"),
        "{text}"
    );
}

// ---------------------------------------------------------------- time limits

/// A server that accepts connections and never answers; its URL.
fn silent_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept() {
            held.push(stream);
        }
    });
    url
}

#[test]
fn a_request_to_a_server_that_never_answers_times_out() {
    // The server never answers: an error at all is the time limit (its kind says so), and it
    // came no sooner than the limit.
    let url = silent_server();
    let http = Http::from_config(&HttpConfig::new(&url).timeout_ms(300)).unwrap();
    let started = Instant::now();
    let e = http.get("/slow").unwrap_err();
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(290), "{took:?}");
    assert!(
        matches!(&e, ResourceError::Http { source, .. } if matches!(**source, fsm_runtime::resources::ureq::Error::Timeout(_))),
        "{e:?}"
    );
    assert!(e.is_transient());

    let llm = Llm::from_config(&LlmConfig::new(format!("{url}/v1"), "m").timeout_ms(300)).unwrap();
    let started = Instant::now();
    let e = llm.complete("hello?").unwrap_err();
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(290), "{took:?}");
    assert!(
        matches!(&e, ResourceError::Http { source, .. } if matches!(**source, fsm_runtime::resources::ureq::Error::Timeout(_))),
        "{e:?}"
    );
    assert!(e.is_transient(), "{e:?}");
}

#[test]
fn sqlite_waits_for_a_lock_as_long_as_its_busy_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("locked.db");
    let path = path.to_str().unwrap();
    let db = Sqlite::from_config(&SqliteConfig::new(path).busy_timeout_ms(200)).unwrap();
    db.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
    db.health().unwrap();
    let other = Sqlite::open(path).unwrap();
    // The lock is held until the test commits: the error came from the busy timeout, no sooner.
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let started = Instant::now();
    let e = db.health().unwrap_err();
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(190), "{took:?}");
    assert!(matches!(e, ResourceError::Sqlite(_)) && e.is_transient(), "{e:?}");
    // Opening waits the same, and fails the same.
    let e = Sqlite::from_config(&SqliteConfig::new(path).busy_timeout_ms(100)).unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    other.execute_batch("COMMIT").unwrap();
    db.health().unwrap();
}

// ---------------------------------------------------------------- health

#[test]
fn sqlite_health_reads_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    Sqlite::open(":memory:").unwrap().health().unwrap();
    let garbage = tmp.path().join("garbage.db");
    std::fs::write(&garbage, vec![b'x'; 4096]).unwrap();
    let garbage = garbage.to_str().unwrap();
    // `open` does not read the file; `health` does, and so does opening from a configuration.
    let db = Sqlite::open(garbage).unwrap();
    let e = db.health().unwrap_err();
    assert!(e.to_string().contains("not a database"), "{e}");
    assert!(!e.is_transient());
    assert!(Sqlite::from_config(&SqliteConfig::new(garbage)).is_err());
}

#[test]
fn files_health_needs_the_directory_and_the_right_to_write() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("spool");
    let files = Files::from_config(&FilesConfig::new(&dir).create(true)).unwrap();
    files.health().unwrap();
    files.health().unwrap();
    // The probe file leaves nothing behind.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    std::fs::remove_dir(&dir).unwrap();
    let e = files.health().unwrap_err();
    assert!(
        matches!(&e, ResourceError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound),
        "{e:?}"
    );
    std::fs::write(&dir, "a file now").unwrap();
    let e = Health::health(&files).unwrap_err();
    assert!(matches!(e, ResourceError::Config { key: "dir", .. }), "{e:?}");
}

#[test]
fn http_health_requests_its_health_path() {
    // Opening requests it once, then each check.
    let (url, seen) = serve(vec![(200, "{}".into()), (200, "{}".into()), (503, "draining".into())]);
    let http = Http::from_config(&HttpConfig::new(&url).health_path("/status").header("x-client", "fsm")).unwrap();
    assert_eq!(seen.recv().unwrap().line, "GET /status HTTP/1.1");
    http.health().unwrap();
    let got = seen.recv().unwrap();
    assert_eq!(got.header("x-client"), Some("fsm"));
    let e = http.health().unwrap_err();
    assert!(matches!(e, ResourceError::Status { status: 503, .. }), "{e:?}");
    assert!(e.is_transient());
}

#[test]
fn http_health_without_a_path_is_a_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let http = Http::from_config(&HttpConfig::new(&url).timeout_ms(1000)).unwrap();
    http.health().unwrap();
    drop(listener);
    let e = http.health().unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    assert!(e.to_string().contains(&url), "{e}");
}

#[test]
fn llm_health_requests_its_health_path_with_the_key() {
    let (url, seen) = serve(vec![(200, r#"{"data": []}"#.into()), (401, "bad key".into())]);
    let key_var = "PATH";
    let llm = Llm::from_config(
        &LlmConfig::new(format!("{url}/v1"), "m")
            .api_key_env(key_var)
            .health_path("models"),
    )
    .unwrap();
    let got = seen.recv().unwrap();
    assert_eq!(got.line, "GET /v1/models HTTP/1.1");
    assert!(got.header("authorization").is_some_and(|a| a.starts_with("Bearer ")));
    let e = llm.health().unwrap_err();
    assert!(matches!(e, ResourceError::Status { status: 401, .. }), "{e:?}");
    assert!(!e.is_transient());
    // Without a path: whether the server accepts a connection.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let llm = Llm::from_config(&LlmConfig::new(&url, "m")).unwrap();
    llm.health().unwrap();
    drop(listener);
    assert!(llm.health().is_err());
}

#[test]
fn health_errors_list_every_unhealthy_resource() {
    let mut all = HealthError::new();
    all.check("db", Ok(()));
    all.check("inbox", Err(ResourceError::Env { var: "A".into() }));
    all.check("api", Err(ResourceError::Env { var: "B".into() }));
    let names: Vec<&str> = all.unhealthy().iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["inbox", "api"]);
    let text = all.to_string();
    assert!(text.starts_with("2 resources are unhealthy:"), "{text}");
    assert!(HealthError::new().into_result().is_ok());
}
