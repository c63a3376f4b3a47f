//! NATS JetStream: records published into a stream, read through a durable pull consumer shared
//! by workers, acknowledged once their output is durable; dead letters for undecodable records and
//! failed runs; a record that aborts its worker every time ends as a `poison` dead letter after
//! `max_deliver` deliveries; publishes with the same message ID are dropped by the stream.
//!
//! The tests connect to the server in `FSM_TEST_NATS_URL` (JetStream enabled) and skip (saying so)
//! when it is not set, except under `CI=true`, where a missing URL fails them. Each test uses
//! streams of its own (named after the test and the process), so they run in parallel and again:
//! `nats-server -js & FSM_TEST_NATS_URL=nats://127.0.0.1:4222 cargo test -p fsm-runtime --test stream_nats`.
#![cfg(all(feature = "nats", unix))]

mod stream_support;

use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::Duration;

use fsm_runtime::stream::{
    IterSource, JetStream, NatsConsumer, NatsDeadLetterSink, NatsSink, NatsSource, Pipeline, VecSink,
};
use fsm_runtime::{Failure, Machine, Outcome};
use stream_support::{Classify, End, Rec};

fn server() -> Option<String> {
    let url = std::env::var("FSM_TEST_NATS_URL").ok().filter(|u| !u.is_empty());
    let Some(url) = url else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but FSM_TEST_NATS_URL is not set: the NATS tests cannot be skipped in CI"
        );
        println!("skipped: set FSM_TEST_NATS_URL (e.g. nats://127.0.0.1:4222, a `nats-server -js`) to run");
        return None;
    };
    Some(url)
}

/// A stream name of this test and process, deleted if a run before left it.
fn fresh_stream(js: &JetStream, test: &str) -> String {
    let name = format!("fsm_{test}_{}", std::process::id());
    js.delete_stream(&name).unwrap();
    js.ensure_stream(&name).unwrap();
    name
}

/// `n` JSON lines: every 10th a negative value (`error`), every 25th 13 (the run fails), every
/// 40th not JSON, the others an even value of at least 1002 (`output`); extra lines as given.
fn lines(n: u64, extra: &[(u64, &str)]) -> String {
    let mut text = String::new();
    for id in 1..=n {
        if let Some((_, line)) = extra.iter().find(|(at, _)| *at == id) {
            text.push_str(line);
        } else if id % 40 == 0 {
            text.push_str("{not json");
        } else {
            let value = if id % 10 == 0 {
                -1
            } else if id % 25 == 0 {
                13
            } else {
                2 * id as i64 + 1000
            };
            text.push_str(&serde_json::to_string(&Rec::new(id, value)).unwrap());
        }
        text.push('\n');
    }
    text
}

fn consumer(ack_wait: Duration, max_deliver: u64) -> NatsConsumer {
    NatsConsumer {
        ack_wait,
        max_deliver,
        ..NatsConsumer::default()
    }
}

/// A message read back: its headers as (name, value) pairs, and its payload.
type Received = (Vec<(String, String)>, Vec<u8>);

/// Messages of `subject` in `stream`.
fn read_subject(server: &str, stream: &str, subject: &str) -> Vec<Received> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = async_nats::connect(server).await.unwrap();
        let js = async_nats::jetstream::new(client);
        let s = js.get_stream(stream).await.unwrap();
        let c: async_nats::jetstream::consumer::PullConsumer = s
            .create_consumer(async_nats::jetstream::consumer::pull::Config {
                filter_subject: subject.to_string(),
                ..Default::default()
            })
            .await
            .unwrap();
        let mut out = Vec::new();
        loop {
            let mut batch = c.fetch().max_messages(1000).messages().await.unwrap();
            let mut got = 0;
            while let Some(m) = futures_next(&mut batch).await {
                let m = m.unwrap();
                got += 1;
                let headers = m
                    .headers
                    .iter()
                    .flat_map(|h| h.iter())
                    .flat_map(|(k, vs)| vs.iter().map(move |v| (k.to_string(), v.to_string())))
                    .collect();
                out.push((headers, m.payload.to_vec()));
                m.ack().await.unwrap();
            }
            if got == 0 {
                return out;
            }
        }
    })
}

async fn futures_next<S: futures_core::Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *s).poll_next(cx)).await
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[test]
fn records_once_dead_letters_with_reasons_and_nothing_left_pending() {
    let Some(server) = server() else { return };
    let js = JetStream::connect(&server).unwrap();
    let stream = fresh_stream(&js, "once");
    let n = 2000;
    let published = js
        .publish_lines(lines(n, &[]).as_bytes(), &format!("{stream}.records"), "in")
        .unwrap();
    assert_eq!((published.stored, published.duplicates), (n, 0));

    let output = VecSink::new();
    let errors = NatsDeadLetterSink::<Rec>::new(&js, &stream, &format!("{stream}.dead")).unwrap();
    let source = NatsSource::<Rec>::open(&js, &stream, consumer(Duration::from_secs(30), 5))
        .unwrap()
        .batch(300)
        .until_drained(true);
    let summary = Pipeline::new(Classify::default())
        .route(End::Output, output.clone())
        .drop_state(End::Skip)
        .dead_letter_state(End::Error)
        .dead_letter(errors)
        .chunk_size(300)
        .workers(2)
        .run(source)
        .unwrap();
    assert!(summary.is_balanced(), "{summary}");
    assert_eq!(summary.read, n);

    let mut ids: Vec<u64> = output.take().iter().map(|r| r.id).collect();
    ids.sort_unstable();
    let expected: Vec<u64> = (1..=n).filter(|i| i % 40 != 0 && i % 10 != 0 && i % 25 != 0).collect();
    assert_eq!(ids, expected);

    // Every message acknowledged: nothing left to deliver, nothing outstanding.
    assert_eq!(js.consumer_pending(&stream, "fsm-workers").unwrap(), (0, 0));

    let dead = read_subject(&server, &stream, &format!("{stream}.dead"));
    let mut by_reason: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    for (headers, payload) in &dead {
        let reason = header(headers, "Fsm-Reason").unwrap().to_string();
        let line: u64 = header(headers, "Fsm-Line").unwrap().parse().unwrap();
        let json: serde_json::Value = serde_json::from_slice(payload).unwrap();
        assert_eq!(json["reason"], reason.as_str());
        assert_eq!(json["line"], line);
        by_reason.entry(reason).or_default().push(line);
    }
    // A record's line is its stream sequence: the n-th line published is sequence n.
    let lines_where = |f: &dyn Fn(u64) -> bool| (1..=n).filter(|i| f(*i)).collect::<Vec<_>>();
    let mut malformed = by_reason.remove("malformed").unwrap();
    malformed.sort_unstable();
    assert_eq!(malformed, lines_where(&|i| i % 40 == 0));
    let mut error_state = by_reason.remove("error_state").unwrap();
    error_state.sort_unstable();
    assert_eq!(error_state, lines_where(&|i| i % 40 != 0 && i % 10 == 0));
    let mut failed = by_reason.remove("failed").unwrap();
    failed.sort_unstable();
    assert_eq!(failed, lines_where(&|i| i % 40 != 0 && i % 10 != 0 && i % 25 == 0));
    assert!(by_reason.is_empty(), "{by_reason:?}");
    js.delete_stream(&stream).unwrap();
}

#[test]
fn duplicate_publishes_are_dropped_by_message_id() {
    let Some(server) = server() else { return };
    let js = JetStream::connect(&server).unwrap();
    let stream = fresh_stream(&js, "dupes");
    let text = lines(500, &[]);
    let subject = format!("{stream}.records");
    let first = js.publish_lines(text.as_bytes(), &subject, "in.jsonl").unwrap();
    let again = js.publish_lines(text.as_bytes(), &subject, "in.jsonl").unwrap();
    assert_eq!((first.stored, first.duplicates), (500, 0));
    assert_eq!((again.stored, again.duplicates), (0, 500));
    assert_eq!(js.stream_messages(&stream).unwrap(), 500);

    // A sink's message IDs come from the records' origin: the same run twice stores each once.
    let records: Vec<Rec> = (1..=300).map(|i| Rec::new(i, i as i64 + 100)).collect();
    for _ in 0..2 {
        let sink = NatsSink::<Rec>::new(&js, &stream, &format!("{stream}.out")).unwrap();
        let summary = Pipeline::new(Classify::default())
            .route(End::Output, sink)
            .run(IterSource::new(records.clone()))
            .unwrap();
        assert_eq!(summary.written_total(), 300);
        assert_eq!(js.stream_messages(&stream).unwrap(), 800);
    }
    js.delete_stream(&stream).unwrap();
}

/// Aborts the process on the record of value 999, as a crashing native library would.
struct AbortOn999(Classify);

impl Machine for AbortOn999 {
    type Data = Rec;
    type End = End;
    fn run(&self, data: Rec) -> Result<Outcome<End, Rec>, Failure<Rec>> {
        if data.value == 999 {
            std::process::abort();
        }
        self.0.run(data)
    }
}

const POISON_STREAM: &str = "FSM_POISON_STREAM";

/// The worker of `a_record_that_aborts_its_worker_ends_as_poison`, run by it as a child process
/// (it does nothing in a plain test run).
#[test]
fn poison_worker() {
    let Ok(stream) = std::env::var(POISON_STREAM) else {
        return;
    };
    let Some(server) = server() else { return };
    let js = JetStream::connect(&server).unwrap();
    let output = NatsSink::<Rec>::new(&js, &stream, &format!("{stream}.out")).unwrap();
    let errors = NatsDeadLetterSink::<Rec>::new(&js, &stream, &format!("{stream}.dead")).unwrap();
    let source = NatsSource::<Rec>::open(&js, &stream, consumer(Duration::from_millis(1500), 3))
        .unwrap()
        .batch(50)
        .until_drained(true);
    Pipeline::new(AbortOn999(Classify::default()))
        .route(End::Output, output)
        .drop_state(End::Skip)
        .dead_letter_state(End::Error)
        .dead_letter(errors)
        .chunk_size(50)
        .workers(2)
        .run(source)
        .unwrap();
}

#[test]
fn a_record_that_aborts_its_worker_ends_as_poison() {
    let Some(server) = server() else { return };
    let js = JetStream::connect(&server).unwrap();
    let stream = fresh_stream(&js, "poison");
    let n = 400;
    let poison = serde_json::to_string(&Rec::new(123, 999)).unwrap();
    js.publish_lines(
        lines(n, &[(123, &poison)]).as_bytes(),
        &format!("{stream}.records"),
        "in",
    )
    .unwrap();

    // Workers are started one after another until one drains the stream: each before it aborted
    // on the record. Its 3 deliveries each kill a worker; the 4th is a dead letter.
    let exe = std::env::current_exe().unwrap();
    let mut aborted = 0;
    loop {
        let status = Command::new(&exe)
            .args(["poison_worker", "--exact", "--nocapture", "--test-threads=1"])
            .env(POISON_STREAM, &stream)
            .env("FSM_TEST_NATS_URL", &server)
            .output()
            .unwrap();
        if status.status.success() {
            break;
        }
        assert_eq!(
            status.status.signal(),
            Some(6),
            "the worker failed without aborting: {}",
            String::from_utf8_lossy(&status.stderr)
        );
        aborted += 1;
        assert!(
            aborted <= 3,
            "more workers aborted than max_deliver allows: {}",
            String::from_utf8_lossy(&status.stderr)
        );
    }
    assert_eq!(aborted, 3);

    // The poison record once, as `poison`; every other record once, in the output or the dead letters.
    let dead = read_subject(&server, &stream, &format!("{stream}.dead"));
    let poisoned: Vec<_> = dead
        .iter()
        .filter(|(h, _)| header(h, "Fsm-Reason") == Some("poison"))
        .collect();
    assert_eq!(poisoned.len(), 1);
    assert_eq!(header(&poisoned[0].0, "Fsm-Line"), Some("123"));
    let letter: serde_json::Value = serde_json::from_slice(&poisoned[0].1).unwrap();
    assert_eq!(letter["raw"], poison.as_str());
    let skipped = (1..=n).filter(|i| *i != 123 && i % 40 != 0 && i % 10 != 0 && i % 25 != 0);
    let out = read_subject(&server, &stream, &format!("{stream}.out"));
    let mut ids: Vec<u64> = out
        .iter()
        .map(|(_, p)| serde_json::from_slice::<Rec>(p).unwrap().id)
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, skipped.collect::<Vec<_>>());
    let others = (1..=n).filter(|i| *i != 123 && (i % 40 == 0 || i % 10 == 0 || i % 25 == 0));
    assert_eq!(dead.len(), others.count() + 1);
    assert_eq!(js.consumer_pending(&stream, "fsm-workers").unwrap(), (0, 0));
    js.delete_stream(&stream).unwrap();
}
