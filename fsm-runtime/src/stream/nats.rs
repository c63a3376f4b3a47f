//! NATS JetStream as a source and a sink, so that many processes on many hosts share one stream of
//! work: [`NatsSource`] reads through a durable pull consumer that every worker names (each
//! message goes to one of them), a fetch of up to a chunk at a time, and acknowledges a message
//! only once its output is durable (see [`Source::acknowledger`]); [`NatsSink`] and
//! [`NatsDeadLetterSink`] publish records with message IDs taken from where each came from, so the
//! stream's duplicate window drops what a replay publishes again.
//!
//! The pipeline is synchronous: a [`JetStream`] owns a small tokio runtime (one thread) that
//! drives the connection, the in-progress acknowledgements of messages being processed, and the
//! calls of the source and sinks, which block on it.
//!
//! Delivery: at least once. A worker that dies before its output is durable leaves its messages
//! unacknowledged; the server delivers them again to another worker after the consumer's ack
//! wait. With an idempotent sink (a database upsert by key, a [`NatsSink`], whose message IDs
//! make the stream drop a replay) that is exactly once in effect.

use std::collections::VecDeque;
use std::io;
use std::marker::PhantomData;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{AckPolicy, PullConsumer, pull};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, context::PublishAckFuture, stream};
use async_nats::{Client, HeaderMap, Subject};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{ChunkCommit, Committed, DeadLetter, Decoder, Poison, Position, Raw, Sink, Source, WriteError};

/// How long a fetch waits for a message when none is there, before it looks again (and, for a
/// source that stops when drained, asks the consumer whether anything is left).
const IDLE_WAIT: Duration = Duration::from_secs(1);
/// The same wait for a source that stops when drained, once the stream has nothing pending but
/// other workers still hold messages: it exits as soon as their last acknowledgement lands
/// (within this time), instead of up to [`IDLE_WAIT`] later, which the run's wall time would show.
const DRAIN_WAIT: Duration = Duration::from_millis(50);
/// A message delivered for at least this time is processed in a chunk of its own, once every
/// earlier chunk is acknowledged, and fetched alone: if it crashes its worker, it takes no other
/// message with it (a crash counts as one more delivery of every message the worker held).
const ISOLATE_FROM_DELIVERY: u64 = 3;
/// Publishes queued by a sink before it sends them and waits for the stream's acknowledgements.
const PUBLISH_BATCH: usize = 1000;
/// The longest message text carried in a dead letter's header (the payload has all of it).
const HEADER_TEXT: usize = 512;

/// Where a stream is: `nats://HOST:PORT/STREAM`, with `?subject=` and `?consumer=` (a source's
/// filter subject and durable consumer; a sink's subject), as the main job takes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatsUrl {
    /// The server, `nats://HOST:PORT` (user and password included if given).
    pub server: String,
    /// The stream's name.
    pub stream: String,
    /// `subject=`, if given.
    pub subject: Option<String>,
    /// `consumer=`, if given.
    pub consumer: Option<String>,
}

impl NatsUrl {
    /// Parses `nats://HOST[:PORT]/STREAM[?subject=S][&consumer=C]`; `None` if `url` is not a
    /// `nats://` URL, an error if it is one but malformed.
    pub fn parse(url: &str) -> Option<Result<NatsUrl, String>> {
        let rest = url.strip_prefix("nats://")?;
        let usage = || format!("`{url}`: write nats://HOST:PORT/STREAM[?subject=SUBJECT][&consumer=NAME]");
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let Some((host, stream)) = path.split_once('/') else {
            return Some(Err(usage()));
        };
        if host.is_empty() || !valid_name(stream) {
            return Some(Err(format!(
                "{}; a stream's name is letters, digits, `-` and `_`",
                usage()
            )));
        }
        let mut parsed = NatsUrl {
            server: format!("nats://{host}"),
            stream: stream.to_string(),
            subject: None,
            consumer: None,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("subject", s)) if valid_subject(s) => parsed.subject = Some(s.to_string()),
                Some(("consumer", c)) if valid_name(c) => parsed.consumer = Some(c.to_string()),
                Some(("subject" | "consumer", v)) => {
                    return Some(Err(format!("`{url}`: `{v}` is not a valid subject or consumer name")));
                }
                _ => return Some(Err(format!("`{url}`: unknown parameter `{pair}` (subject, consumer)"))),
            }
        }
        Some(Ok(parsed))
    }

    /// The subject, or `STREAM.default` without one.
    pub fn subject_or(&self, default: &str) -> String {
        self.subject
            .clone()
            .unwrap_or_else(|| format!("{}.{default}", self.stream))
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn valid_subject(s: &str) -> bool {
    !s.is_empty() && !s.split('.').any(str::is_empty) && !s.bytes().any(|b| b.is_ascii_whitespace())
}

fn nats_error(what: impl std::fmt::Display, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("{what}: {e}"))
}

/// A connection to a NATS server with JetStream, and the runtime that drives it. Cheap to clone:
/// the source and sinks of a run share one.
#[derive(Clone)]
pub struct JetStream {
    inner: Arc<Inner>,
}

struct Inner {
    // Dropped last (fields drop in order): the client's tasks run on it.
    client: Client,
    context: jetstream::Context,
    server: String,
    runtime: tokio::runtime::Runtime,
}

impl JetStream {
    /// Connects to `server` (`nats://HOST:PORT`, or `HOST:PORT`). Fails at once when nothing
    /// answers; once connected, a lost connection is opened again by the client.
    pub fn connect(server: &str) -> io::Result<JetStream> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("fsm-nats")
            .enable_all()
            .build()?;
        let client = runtime
            .block_on(
                async_nats::ConnectOptions::new()
                    .connection_timeout(Duration::from_secs(5))
                    .connect(server),
            )
            .map_err(|e| nats_error(format_args!("cannot connect to NATS at `{server}`"), e))?;
        // The context spawns a task of its own: inside the runtime.
        let context = {
            let _inside = runtime.enter();
            jetstream::new(client.clone())
        };
        Ok(JetStream {
            inner: Arc::new(Inner {
                client,
                context,
                server: server.to_string(),
                runtime,
            }),
        })
    }

    fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.inner.runtime.block_on(f)
    }

    /// The stream `name`, created if missing with the subjects `name.>`, file storage and the
    /// server's default duplicate window (2 minutes). An existing stream is used as it is.
    pub fn ensure_stream(&self, name: &str) -> io::Result<()> {
        let config = stream::Config {
            name: name.to_string(),
            subjects: vec![format!("{name}.>")],
            ..Default::default()
        };
        self.block_on(self.inner.context.get_or_create_stream(config))
            .map(drop)
            .map_err(|e| nats_error(format_args!("stream `{name}` at `{}`", self.inner.server), e))
    }

    /// Deletes stream `name` and its messages, if it exists (for tests and benchmarks).
    pub fn delete_stream(&self, name: &str) -> io::Result<()> {
        match self.block_on(self.inner.context.delete_stream(name)) {
            Ok(_) => Ok(()),
            Err(e) if e.to_string().contains("not found") => Ok(()),
            Err(e) => Err(nats_error(format_args!("deleting stream `{name}`"), e)),
        }
    }

    /// How many messages stream `name` holds.
    pub fn stream_messages(&self, name: &str) -> io::Result<u64> {
        self.block_on(async {
            let mut stream = self.inner.context.get_stream(name).await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(stream.info().await?.state.messages)
        })
        .map_err(|e| nats_error(format_args!("stream `{name}`"), e))
    }

    /// The messages of consumer `consumer` on stream `stream` not delivered yet, and those
    /// delivered but not acknowledged: what `nats consumer info` shows as unprocessed and
    /// outstanding.
    pub fn consumer_pending(&self, stream: &str, consumer: &str) -> io::Result<(u64, u64)> {
        self.block_on(async {
            let mut c: PullConsumer = self.inner.context.get_consumer_from_stream(consumer, stream).await?;
            let info = c.info().await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((info.num_pending, info.num_ack_pending as u64))
        })
        .map_err(|e| nats_error(format_args!("consumer `{consumer}` of stream `{stream}`"), e))
    }

    /// Publishes every non-empty line of `input` to `subject` as one message (the stream must
    /// exist, see [`JetStream::ensure_stream`]), with the message ID `ID:LINE`: publishing the same
    /// input again within the stream's duplicate window adds nothing.
    pub fn publish_lines(&self, mut input: impl io::BufRead, subject: &str, id: &str) -> io::Result<Published> {
        let mut publisher = Publisher::new(self.clone());
        let mut line = Vec::new();
        let mut n = 0u64;
        loop {
            line.clear();
            if input.read_until(b'\n', &mut line)? == 0 {
                break;
            }
            n += 1;
            let text = line.trim_ascii();
            if text.is_empty() {
                continue;
            }
            publisher.queue(subject, Some(format!("{id}:{n}")), None, text.to_vec())?;
        }
        publisher.flush()?;
        Ok(publisher.done)
    }
}

/// What a publisher sent: messages the stream stored, and those it dropped as duplicates (a
/// message ID it had seen within its duplicate window).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Published {
    /// Messages stored.
    pub stored: u64,
    /// Messages dropped as duplicates.
    pub duplicates: u64,
}

/// Publishes with message IDs, a batch at a time: each batch is sent, then every acknowledgement of
/// the stream awaited, so that after [`Publisher::flush`] everything sent is stored.
struct Publisher {
    js: JetStream,
    queued: Vec<PublishMessage>,
    subjects: Vec<String>,
    done: Published,
}

impl Publisher {
    fn new(js: JetStream) -> Self {
        Publisher {
            js,
            queued: Vec::new(),
            subjects: Vec::new(),
            done: Published::default(),
        }
    }

    fn queue(
        &mut self,
        subject: &str,
        id: Option<String>,
        headers: Option<HeaderMap>,
        payload: Vec<u8>,
    ) -> io::Result<()> {
        let mut message = PublishMessage::build().payload(payload.into());
        if let Some(h) = headers {
            message = message.headers(h);
        }
        if let Some(id) = id {
            message = message.message_id(id);
        }
        self.queued.push(message);
        self.subjects.push(subject.to_string());
        if self.queued.len() >= PUBLISH_BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.queued.is_empty() {
            return Ok(());
        }
        let messages = std::mem::take(&mut self.queued);
        let subjects = std::mem::take(&mut self.subjects);
        let context = &self.js.inner.context;
        let done = self.js.block_on(async {
            let mut acks: Vec<(String, PublishAckFuture)> = Vec::with_capacity(messages.len());
            for (message, subject) in messages.into_iter().zip(subjects) {
                let ack = context
                    .send_publish(subject.clone(), message)
                    .await
                    .map_err(|e| nats_error(format_args!("publishing to `{subject}`"), e))?;
                acks.push((subject, ack));
            }
            let mut done = Published::default();
            for (subject, ack) in acks {
                let ack = ack.await.map_err(|e| {
                    nats_error(
                        format_args!("publishing to `{subject}` (is it a subject of a stream?)"),
                        e,
                    )
                })?;
                if ack.duplicate {
                    done.duplicates += 1;
                } else {
                    done.stored += 1;
                }
            }
            Ok::<_, io::Error>(done)
        })?;
        self.done.stored += done.stored;
        self.done.duplicates += done.duplicates;
        Ok(())
    }
}

/// The durable pull consumer a [`NatsSource`] reads through, created on the stream when missing
/// (an existing one is used as it is: change it with `nats consumer edit`).
#[derive(Clone, Debug)]
pub struct NatsConsumer {
    /// The durable consumer's name, the same for every worker sharing the stream
    /// (default `fsm-workers`).
    pub name: String,
    /// The subject read (default `STREAM.records`).
    pub subject: Option<String>,
    /// How long the server waits for a message's acknowledgement before delivering it again
    /// (default 30 s). The source keeps the messages it holds alive with in-progress
    /// acknowledgements, so this is how long a dead worker's messages wait.
    pub ack_wait: Duration,
    /// Deliveries a message gets before it is a `poison` dead letter (default 5): at its
    /// delivery after that it is dead-lettered unprocessed.
    pub max_deliver: u64,
    /// Messages delivered and not yet acknowledged, over all workers, after which the server
    /// delivers no more (default 100,000): at least workers × chunks in flight × chunk size.
    pub max_ack_pending: i64,
}

impl Default for NatsConsumer {
    fn default() -> Self {
        NatsConsumer {
            name: "fsm-workers".to_string(),
            subject: None,
            ack_wait: Duration::from_secs(30),
            max_deliver: 5,
            max_ack_pending: 100_000,
        }
    }
}

/// What a source holds: messages fetched and not yet returned, and messages returned and not
/// yet acknowledged (with their place in the order the source returned them).
#[derive(Default)]
struct Held {
    page: VecDeque<jetstream::Message>,
    returned: VecDeque<(u64, Subject)>,
}

struct Shared {
    held: Mutex<Held>,
    /// Notified when `returned` shrinks.
    acked: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Reads a JetStream stream through a durable pull consumer shared by any number of processes:
/// each message goes to one of them. A fetch takes up to [`NatsSource::batch`] messages (set it
/// to the pipeline's chunk size: each fetch is then a chunk). Records are JSON objects decoded
/// into `T` by the workers; one that does not decode is a `malformed` dead letter.
///
/// A message is acknowledged once the pipeline made its output durable ([`Source::acknowledger`]);
/// until then the source sends in-progress acknowledgements (a third of the ack wait apart), so
/// a long chunk is not delivered again to another worker. A message delivered more than
/// `max_deliver` times is dead-lettered unprocessed (reason `poison`); from its third delivery
/// on, a message is fetched and processed alone (once all before it are acknowledged, and nothing
/// after it is fetched, by any worker thread, until it is acknowledged), so that a
/// record that crashes its worker takes no other record with it to the dead letters (a crash
/// counts as a delivery of every message the worker held; `max_deliver` is at least 3 for this).
///
/// A record's line is its stream sequence number, the same in every worker and on every
/// delivery: dead letters and the message IDs of a [`NatsSink`] are keyed by it. The source's
/// position counts the messages this run returned; it does not resume (the consumer keeps the
/// place of all workers), so `resume` accepts any position.
///
/// Without [`NatsSource::until_drained`] the source waits for messages forever; with it, the
/// source ends when the consumer has nothing left to deliver and no other worker holds messages
/// (a dead worker's messages are delivered again first, after the ack wait).
pub struct NatsSource<T> {
    js: JetStream,
    consumer: PullConsumer,
    name: Arc<str>,
    batch: usize,
    until_drained: bool,
    max_deliver: u64,
    ack_wait: Duration,
    shared: Arc<Shared>,
    /// Items returned by this run.
    returned: u64,
    /// The stream sequence of the last message returned.
    last_seq: u64,
    end_of_batch: bool,
    /// Fetch one message at a time: at the start (a probe) and while messages delivered for
    /// the third time or more come, so that none is held unprocessed when one of them crashes the
    /// worker (each crash counts as a delivery of every message held).
    small_fetch: bool,
    /// The last message returned was a suspect (delivered for the third time or more): nothing
    /// more is fetched or returned until it is acknowledged, so that no message is held when it
    /// crashes the worker (another worker thread would otherwise fetch the next one meanwhile,
    /// and that one's delivery would be counted too).
    suspect_out: bool,
    progress: Option<tokio::task::JoinHandle<()>>,
    decode: Decoder<T>,
    _record: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> NatsSource<T> {
    /// Reads stream `stream` through `consumer` (created if missing).
    pub fn open(js: &JetStream, stream: &str, consumer: NatsConsumer) -> io::Result<Self> {
        let subject = consumer.subject.clone().unwrap_or_else(|| format!("{stream}.records"));
        let name = format!(
            "{}/{stream}?subject={subject}&consumer={}",
            js.inner.server, consumer.name
        );
        if consumer.max_deliver == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "max_deliver must be at least 1",
            ));
        }
        let config = pull::Config {
            durable_name: Some(consumer.name.clone()),
            filter_subject: subject.clone(),
            ack_policy: AckPolicy::Explicit,
            ack_wait: consumer.ack_wait,
            // One delivery more than allowed: the source dead-letters it (`poison`) and acks it.
            max_deliver: i64::try_from(consumer.max_deliver.saturating_add(1)).unwrap_or(i64::MAX),
            max_ack_pending: consumer.max_ack_pending,
            ..Default::default()
        };
        let pull: PullConsumer = js
            .block_on(async {
                let s = js.inner.context.get_stream(stream).await?;
                let c = s.get_or_create_consumer(&consumer.name, config).await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(c)
            })
            .map_err(|e| {
                nats_error(
                    format_args!("stream `{stream}` at `{}` (publish into it first)", js.inner.server),
                    e,
                )
            })?;
        Ok(NatsSource {
            js: js.clone(),
            consumer: pull,
            name: Arc::from(name),
            batch: 1000,
            until_drained: false,
            max_deliver: consumer.max_deliver,
            ack_wait: consumer.ack_wait,
            shared: Arc::new(Shared {
                held: Mutex::new(Held::default()),
                acked: Condvar::new(),
            }),
            returned: 0,
            last_seq: 0,
            end_of_batch: false,
            small_fetch: true,
            suspect_out: false,
            progress: None,
            decode: super::jsonl::decode::<T>,
            _record: PhantomData,
        })
    }
}

impl<T> NatsSource<T> {
    /// Messages fetched at a time (at least 1; default 1000): give it the pipeline's chunk size.
    pub fn batch(mut self, n: usize) -> Self {
        self.batch = n.max(1);
        self
    }

    /// Ends when the consumer has nothing left for any worker, instead of waiting for more.
    pub fn until_drained(mut self, yes: bool) -> Self {
        self.until_drained = yes;
        self
    }

    /// Sends in-progress acknowledgements for every message held, a third of the ack wait apart,
    /// while the source or its acknowledger lives.
    fn start_progress(&mut self) {
        if self.progress.is_some() {
            return;
        }
        let shared = Arc::downgrade(&self.shared);
        let client = self.js.inner.client.clone();
        let every = (self.ack_wait / 3).max(Duration::from_millis(50));
        self.progress = Some(self.js.inner.runtime.spawn(keep_alive(shared, client, every)));
    }

    /// Fetches what is there (up to a batch) into the page; when nothing is, waits for a message
    /// up to [`IDLE_WAIT`]. `false` when the source is drained.
    fn refill(&mut self) -> io::Result<bool> {
        loop {
            let got = self.fetch(false)?;
            if got > 0 {
                return Ok(true);
            }
            if self.until_drained {
                let held = {
                    let h = self.shared.lock();
                    h.returned.len() + h.page.len()
                } as u64;
                let info = self
                    .js
                    .block_on(self.consumer.info())
                    .map_err(|e| nats_error(format_args!("asking `{}` what is pending", self.name), e))?;
                if info.num_pending == 0 && info.num_ack_pending as u64 <= held {
                    return Ok(false);
                }
            }
            if self.fetch(true)? > 0 {
                return Ok(true);
            }
        }
    }

    /// One pull request: at most a batch of what is there now, or (`wait`) one message as soon
    /// as there is one, within [`IDLE_WAIT`] ([`DRAIN_WAIT`] for a source that stops when drained).
    fn fetch(&mut self, wait: bool) -> io::Result<usize> {
        let consumer = &self.consumer;
        let batch = if self.small_fetch { 1 } else { self.batch };
        let messages = self
            .js
            .block_on(async {
                let mut stream = if wait {
                    let expires = if self.until_drained { DRAIN_WAIT } else { IDLE_WAIT };
                    consumer.batch().max_messages(1).expires(expires).messages().await?
                } else {
                    consumer.fetch().max_messages(batch).messages().await?
                };
                let mut out = Vec::new();
                while let Some(m) = Next(std::pin::Pin::new(&mut stream)).await {
                    out.push(m?);
                }
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(out)
            })
            .map_err(|e| nats_error(format_args!("fetching from `{}`", self.name), e))?;
        let n = messages.len();
        if n > 0 {
            let mut suspects = false;
            for m in &messages {
                suspects |= info(m)?.0 >= ISOLATE_FROM_DELIVERY;
            }
            self.small_fetch = suspects;
        }
        self.shared.lock().page.extend(messages);
        Ok(n)
    }

    /// Waits until every message returned is acknowledged, up to twice the ack wait (the run may
    /// have stopped, and then nothing will be).
    fn wait_for_acks(&self) {
        let deadline = Instant::now() + self.ack_wait * 2;
        let mut held = self.shared.lock();
        while !held.returned.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            held = self
                .shared
                .acked
                .wait_timeout(held, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// Delivery count and stream sequence of a message.
fn info(m: &jetstream::Message) -> io::Result<(u64, u64)> {
    let info = m
        .info()
        .map_err(|e| nats_error("a message without JetStream metadata", e))?;
    Ok((u64::try_from(info.delivered).unwrap_or(0), info.stream_sequence))
}

async fn keep_alive(shared: Weak<Shared>, client: Client, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let replies: Vec<Subject> = {
            let held = shared.lock();
            held.page
                .iter()
                .filter_map(|m| m.reply.clone())
                .chain(held.returned.iter().map(|(_, r)| r.clone()))
                .collect()
        };
        drop(shared);
        for reply in replies {
            // A failure here is only a missed keep-alive: the ack wait covers the next one.
            let _ = client.publish(reply, "+WPI".into()).await;
        }
        let _ = client.flush().await;
    }
}

impl<T> Drop for NatsSource<T> {
    fn drop(&mut self) {
        if let Some(task) = self.progress.take() {
            task.abort();
        }
    }
}

struct Next<'a, S>(std::pin::Pin<&'a mut S>);

impl<S: futures_core::Stream + Unpin> Future for Next<'_, S> {
    type Output = Option<S::Item>;
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        self.0.as_mut().poll_next(cx)
    }
}

impl<T: Send> Source for NatsSource<T> {
    type Item = T;

    fn next_item(&mut self) -> io::Result<Option<super::Item<T>>> {
        let mut buf = Vec::new();
        Ok(match self.next_raw(&mut buf)? {
            None => None,
            Some(Raw::Record(line)) => Some(match (self.decode)(&buf) {
                Ok(data) => super::Item::Record { data, line },
                Err(error) => super::Item::Malformed(super::Malformed {
                    line,
                    error,
                    raw: String::from_utf8_lossy(&buf).into_owned(),
                }),
            }),
            Some(Raw::TooLarge(t)) => Some(super::Item::TooLarge(t)),
            Some(Raw::Poison(p)) => Some(super::Item::Poison(p)),
        })
    }

    fn name(&self) -> Arc<str> {
        self.name.clone()
    }

    fn decoder(&self) -> Option<Decoder<T>> {
        Some(self.decode)
    }

    fn next_raw(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<Raw>> {
        self.start_progress();
        let suspect = |m: &jetstream::Message| info(m).map(|(delivered, _)| delivered >= ISOLATE_FROM_DELIVERY);
        loop {
            if self.suspect_out {
                self.wait_for_acks();
                self.suspect_out = false;
            }
            let front = {
                let held = self.shared.lock();
                match held.page.front() {
                    Some(m) => Some(suspect(m)?),
                    None => None,
                }
            };
            let Some(is_suspect) = front else {
                if !self.refill()? {
                    return Ok(None);
                }
                continue;
            };
            if is_suspect {
                // Alone: after everything before it is acknowledged.
                self.wait_for_acks();
            }
            let mut held = self.shared.lock();
            let Some(m) = held.page.pop_front() else {
                continue;
            };
            let (delivered, seq) = info(&m)?;
            self.returned += 1;
            self.last_seq = seq;
            if let Some(reply) = m.reply.clone() {
                held.returned.push_back((self.returned, reply));
            }
            let next_suspect = match held.page.front() {
                Some(next) => suspect(next)?,
                None => true,
            };
            drop(held);
            self.end_of_batch = is_suspect || next_suspect;
            self.suspect_out = is_suspect;
            if delivered > self.max_deliver {
                return Ok(Some(Raw::Poison(Poison {
                    line: seq,
                    deliveries: delivered,
                    raw: String::from_utf8_lossy(&m.payload).into_owned(),
                })));
            }
            buf.extend_from_slice(&m.payload);
            return Ok(Some(Raw::Record(seq)));
        }
    }

    fn end_of_batch(&self) -> bool {
        self.end_of_batch
    }

    /// The messages returned (`line`) and the stream sequence of the last one (`offset`).
    fn position(&self) -> Option<Position> {
        Some(Position {
            offset: self.last_seq,
            line: self.returned,
        })
    }

    /// Accepted and ignored: the consumer keeps the place of all workers, and what a killed run
    /// had not acknowledged is delivered again.
    fn resume(&mut self, at: Position) -> io::Result<()> {
        let _ = at;
        Ok(())
    }

    fn acknowledger(&mut self) -> Option<Box<dyn ChunkCommit>> {
        Some(Box::new(NatsAck {
            js: self.js.clone(),
            shared: self.shared.clone(),
            name: self.name.clone(),
        }))
    }
}

/// Acknowledges the messages of a [`NatsSource`] once the pipeline made their output durable.
struct NatsAck {
    js: JetStream,
    shared: Arc<Shared>,
    name: Arc<str>,
}

impl NatsAck {
    fn send(&self, replies: Vec<Subject>, kind: &'static str) -> io::Result<()> {
        if replies.is_empty() {
            return Ok(());
        }
        let client = &self.js.inner.client;
        self.js
            .block_on(async {
                for reply in replies {
                    client.publish(reply, kind.into()).await?;
                }
                client.flush().await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
            .map_err(|e| nats_error(format_args!("acknowledging messages of `{}`", self.name), e))
    }
}

impl ChunkCommit for NatsAck {
    fn name(&self) -> String {
        format!("the consumer of `{}`", self.name)
    }

    fn load(&mut self) -> io::Result<Option<Committed>> {
        Ok(None)
    }

    fn commit(&mut self, state: &Committed) -> io::Result<()> {
        let replies: Vec<Subject> = {
            let mut held = self.shared.lock();
            let mut out = Vec::new();
            while held.returned.front().is_some_and(|(i, _)| *i <= state.position.line) {
                if let Some((_, reply)) = held.returned.pop_front() {
                    out.push(reply);
                }
            }
            out
        };
        let result = self.send(replies, "+ACK");
        self.shared.acked.notify_all();
        result
    }

    /// Gives back every message held (`-NAK`): the server delivers them again at once, to any
    /// worker, instead of after the ack wait.
    fn rollback(&mut self) {
        let replies: Vec<Subject> = {
            let mut held = self.shared.lock();
            let page: Vec<Subject> = held.page.drain(..).filter_map(|m| m.reply.clone()).collect();
            held.returned.drain(..).map(|(_, r)| r).chain(page).collect()
        };
        // Best effort: what is not given back is delivered again after the ack wait anyway.
        let _ = self.send(replies, "-NAK");
        self.shared.acked.notify_all();
    }
}

/// Publishes records as JSON to one subject (route one per end state), each with the message ID
/// `SOURCE:LINE` of the record it came from, so that the stream drops a record published again
/// within its duplicate window (a chunk replayed after a worker died). Published messages are
/// awaited (stored by the stream) at each [`Sink::checkpoint`] and at the end.
pub struct NatsSink<T> {
    publisher: Publisher,
    subject: String,
    buf: Vec<u8>,
    _record: PhantomData<fn(&T)>,
}

impl<T> NatsSink<T> {
    /// A sink publishing to `subject` of stream `stream`, which is created if missing (subjects
    /// `stream.>`).
    pub fn new(js: &JetStream, stream: &str, subject: &str) -> io::Result<Self> {
        js.ensure_stream(stream)?;
        Ok(NatsSink {
            publisher: Publisher::new(js.clone()),
            subject: subject.to_string(),
            buf: Vec::new(),
            _record: PhantomData,
        })
    }

    /// Messages stored and dropped as duplicates so far (as of the last checkpoint or the end).
    pub fn published(&self) -> Published {
        self.publisher.done
    }
}

impl<T: Serialize> Sink<T> for NatsSink<T> {
    /// Without an origin the message has no ID: nothing to drop a replay by.
    fn write(&mut self, record: &T) -> Result<(), WriteError> {
        self.write_with_id(record, None)
    }

    fn write_from(&mut self, record: &T, source: &str, line: u64) -> Result<(), WriteError> {
        self.write_with_id(record, Some(format!("{source}:{line}")))
    }

    fn checkpoint(&mut self) -> io::Result<u64> {
        self.publisher.flush()?;
        Ok(self.publisher.done.stored + self.publisher.done.duplicates)
    }

    /// Accepted: what was published after the checkpoint is published again with the same message
    /// IDs, which the stream drops within its duplicate window.
    fn restore(&mut self, token: u64) -> io::Result<()> {
        let _ = token;
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        self.publisher.flush()
    }
}

impl<T: Serialize> NatsSink<T> {
    fn write_with_id(&mut self, record: &T, id: Option<String>) -> Result<(), WriteError> {
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, record)
            .map_err(|e| WriteError::Rejected(format!("cannot serialize the record: {e}")))?;
        let payload = std::mem::take(&mut self.buf);
        self.publisher.queue(&self.subject, id, None, payload)?;
        Ok(())
    }
}

/// Publishes dead letters to one subject: the payload is the dead letter as JSON (as in a JSON
/// Lines dead-letter file), with headers `Fsm-Reason` (`malformed`, `poison`, ...),
/// `Fsm-Source`, `Fsm-Line`, `Fsm-State` (when there is one) and `Fsm-Message` (its first 512
/// bytes), and the message ID `SOURCE:LINE:dead`, so a replayed dead letter is dropped.
pub struct NatsDeadLetterSink<T> {
    publisher: Publisher,
    subject: String,
    _record: PhantomData<fn(&T)>,
}

impl<T> NatsDeadLetterSink<T> {
    /// Dead letters to `subject` of stream `stream`, created if missing.
    pub fn new(js: &JetStream, stream: &str, subject: &str) -> io::Result<Self> {
        js.ensure_stream(stream)?;
        Ok(NatsDeadLetterSink {
            publisher: Publisher::new(js.clone()),
            subject: subject.to_string(),
            _record: PhantomData,
        })
    }
}

/// A header value: one line, at most [`HEADER_TEXT`] bytes.
fn header_text(s: &str) -> String {
    let mut out: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if out.len() > HEADER_TEXT {
        let mut cut = HEADER_TEXT;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}

impl<T: Serialize> Sink<DeadLetter<T>> for NatsDeadLetterSink<T> {
    fn write(&mut self, letter: &DeadLetter<T>) -> Result<(), WriteError> {
        let payload = serde_json::to_vec(letter)
            .map_err(|e| WriteError::Rejected(format!("cannot serialize the dead letter: {e}")))?;
        let mut headers = HeaderMap::new();
        headers.insert("Fsm-Reason", letter.reason.as_str());
        headers.insert("Fsm-Source", header_text(&letter.source).as_str());
        headers.insert("Fsm-Line", letter.line.to_string().as_str());
        if let Some(state) = letter.state {
            headers.insert("Fsm-State", state);
        }
        headers.insert("Fsm-Message", header_text(&letter.message).as_str());
        let id = format!("{}:{}:dead", letter.source, letter.line);
        self.publisher.queue(&self.subject, Some(id), Some(headers), payload)?;
        Ok(())
    }

    fn checkpoint(&mut self) -> io::Result<u64> {
        self.publisher.flush()?;
        Ok(self.publisher.done.stored + self.publisher.done.duplicates)
    }

    /// Accepted, as for [`NatsSink::restore`](Sink::restore).
    fn restore(&mut self, token: u64) -> io::Result<()> {
        let _ = token;
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        self.publisher.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = NatsUrl::parse("nats://127.0.0.1:4222/ORDERS?subject=ORDERS.in&consumer=w")
            .unwrap()
            .unwrap();
        assert_eq!(u.server, "nats://127.0.0.1:4222");
        assert_eq!(u.stream, "ORDERS");
        assert_eq!(u.subject.as_deref(), Some("ORDERS.in"));
        assert_eq!(u.consumer.as_deref(), Some("w"));
        let u = NatsUrl::parse("nats://h:1/S").unwrap().unwrap();
        assert_eq!(u.subject_or("records"), "S.records");
        assert!(NatsUrl::parse("in.jsonl").is_none());
        for bad in [
            "nats://h:1",
            "nats:///S",
            "nats://h:1/S.x",
            "nats://h:1/S?subject=a..b",
            "nats://h:1/S?consumer=a.b",
            "nats://h:1/S?batch=3",
        ] {
            assert!(NatsUrl::parse(bad).unwrap().is_err(), "{bad}");
        }
    }

    #[test]
    fn header_text_is_one_bounded_line() {
        assert_eq!(header_text("a\nb\tc"), "a b c");
        let long = "é".repeat(600);
        let h = header_text(&long);
        assert!(h.len() <= HEADER_TEXT && h.chars().all(|c| c == 'é'));
    }
}
