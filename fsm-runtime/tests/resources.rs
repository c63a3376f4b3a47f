//! The resource handles against real components: SQLite databases in temporary files,
//! directories, an HTTP server this test starts on the loopback interface (for `Http` and the
//! OpenAI-compatible `Llm`), and a PostgreSQL server when one is given.
//!
//! PostgreSQL: the tests connect to the URL in `FSM_TEST_POSTGRES_URL` and skip (saying so) when
//! it is unset. CI sets `postgres://postgres@127.0.0.1:5432/test`; elsewhere, start a server and
//! run e.g. `FSM_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test cargo test -p
//! fsm-runtime --test resources` (any database the user may create tables in).

use fsm_runtime::resources::{
    Files, FilesConfig, Http, HttpConfig, Llm, LlmConfig, Message, Postgres, PostgresConfig, Resource, ResourceError,
    Sqlite, SqliteConfig,
};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;

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
    (url, rx)
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
