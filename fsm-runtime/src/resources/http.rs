//! [`Http`]: an HTTP endpoint, through ureq's blocking client.

use super::{Health, HttpConfig, Resource, ResourceError, excerpt};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;
use ureq::Agent;

/// The time limit of a connectivity check when the handle has none.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// An HTTP API under a base URL: `get("/users/7")` requests `{base_url}/users/7`, with the
/// configured headers and time limit.
///
/// Requests block the calling worker; ureq's agent keeps connections alive and is shared by the
/// clones of the handle. An error status (400 and above) is [`ResourceError::Status`], with the
/// start of the body; a failure to connect or a timeout is [`ResourceError::Http`].
///
/// With a `health_path`, opening the handle requests it (so [`Retry`](super::Retry) can wait for
/// a server that is starting) and [`Http::health`] requests it again; without one, opening
/// contacts nothing and health is whether the server accepts a connection.
#[derive(Clone)]
pub struct Http {
    agent: Agent,
    base_url: Arc<str>,
    headers: Arc<[(String, String)]>,
    health_path: Option<Arc<str>>,
    timeout: Option<Duration>,
}

/// A response with a success status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    /// The URL requested.
    pub url: String,
    /// The status code (below 400).
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, ResourceError> {
        serde_json::from_slice(&self.body).map_err(|e| ResourceError::Response {
            url: self.url.clone(),
            reason: format!("not the expected JSON: {e}"),
        })
    }
}

impl Resource for Http {
    type Config = HttpConfig;

    fn from_config(config: &HttpConfig) -> Result<Self, ResourceError> {
        let base_url = super::expand_env("base_url", &config.base_url)?;
        let base = base_url.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ResourceError::Config {
                key: "base_url",
                reason: format!("`{base_url}` is not an http:// or https:// URL"),
            });
        }
        let mut headers = config.headers.clone();
        for (_, value) in &mut headers {
            *value = super::expand_env("headers", value)?.into_owned();
        }
        let health_path = match &config.health_path {
            Some(path) => Some(super::expand_env("health_path", path)?.into_owned()),
            None => None,
        };
        let timeout = config.timeout_ms.map(Duration::from_millis);
        let agent = Agent::new_with_config(
            Agent::config_builder()
                .timeout_global(timeout)
                .http_status_as_error(false)
                .build(),
        );
        let http = Http {
            agent,
            base_url: base.into(),
            headers: headers.into(),
            health_path: health_path.map(Into::into),
            timeout,
        };
        if http.health_path.is_some() {
            http.health()?;
        }
        Ok(http)
    }
}

impl Http {
    /// Requests under `base_url`, no time limit, no extra headers.
    pub fn new(base_url: &str) -> Result<Self, ResourceError> {
        Http::from_config(&HttpConfig::new(base_url))
    }

    /// The base URL (without a trailing `/`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The full URL of `path` (`/users/7` or `users/7`).
    pub fn url(&self, path: &str) -> String {
        if path.is_empty() {
            return self.base_url.to_string();
        }
        let path = path.strip_prefix('/').unwrap_or(path);
        format!("{}/{path}", self.base_url)
    }

    /// The ureq agent, for requests this handle has no method for (it does not add the
    /// configured headers).
    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    /// `GET {base_url}{path}`.
    pub fn get(&self, path: &str) -> Result<HttpResponse, ResourceError> {
        self.get_url(&self.url(path), &[])
    }

    /// `GET` of a full URL with extra headers (used by [`Llm`](super::Llm)).
    pub(crate) fn get_url(&self, url: &str, extra: &[(&str, &str)]) -> Result<HttpResponse, ResourceError> {
        let mut request = self.agent.get(url);
        for (name, value) in self.headers.iter() {
            request = request.header(name.as_str(), value.as_str());
        }
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        finish(url.to_owned(), request.call())
    }

    /// Whether the service is up: `GET health_path` answers with a status below 400, or, without
    /// a `health_path`, the server accepts a TCP connection (within the time limit, or 10 s).
    pub fn health(&self) -> Result<(), ResourceError> {
        match &self.health_path {
            Some(path) => self.get(path).map(drop),
            None => self.reachable(),
        }
    }

    /// The server of `base_url` accepts a TCP connection.
    pub(crate) fn reachable(&self) -> Result<(), ResourceError> {
        let url = self.base_url.to_string();
        let uri: ureq::http::Uri = url.parse().map_err(|e| ResourceError::Config {
            key: "base_url",
            reason: format!("`{url}` is not a URL: {e}"),
        })?;
        let host = uri.host().unwrap_or_default();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri
            .port_u16()
            .unwrap_or(if uri.scheme_str() == Some("https") { 443 } else { 80 });
        let limit = self.timeout.unwrap_or(PROBE_TIMEOUT);
        let io = |source| ResourceError::Http {
            url: url.clone(),
            source: Box::new(ureq::Error::Io(source)),
        };
        let mut last = None;
        for addr in (host, port).to_socket_addrs().map_err(io)? {
            match TcpStream::connect_timeout(&addr, limit) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    last = Some(ResourceError::Timeout {
                        what: format!("connecting to {addr}"),
                        after: limit,
                    });
                }
                Err(e) => last = Some(io(e)),
            }
        }
        Err(last.unwrap_or_else(|| ResourceError::Config {
            key: "base_url",
            reason: format!("`{host}` has no address"),
        }))
    }

    /// `GET` and parse the body as JSON.
    pub fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ResourceError> {
        self.get(path)?.json()
    }

    /// `POST {base_url}{path}` with `body` as JSON.
    pub fn post_json<B: serde::Serialize + ?Sized>(&self, path: &str, body: &B) -> Result<HttpResponse, ResourceError> {
        let url = self.url(path);
        let bytes = serde_json::to_vec(body).map_err(|e| ResourceError::Response {
            url: url.clone(),
            reason: format!("the request body is not JSON: {e}"),
        })?;
        self.post(&url, "application/json", &bytes, &[])
    }

    /// `POST` to a full URL with a body and extra headers (used by [`Llm`](super::Llm)).
    pub(crate) fn post(
        &self,
        url: &str,
        content_type: &str,
        body: &[u8],
        extra: &[(&str, &str)],
    ) -> Result<HttpResponse, ResourceError> {
        let mut request = self.agent.post(url).header("content-type", content_type);
        for (name, value) in self.headers.iter() {
            request = request.header(name.as_str(), value.as_str());
        }
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        finish(url.to_owned(), request.send(body))
    }
}

fn finish(
    url: String,
    sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<HttpResponse, ResourceError> {
    let failed = |source| ResourceError::Http {
        url: url.clone(),
        source: Box::new(source),
    };
    let mut response = sent.map_err(failed)?;
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_vec().map_err(failed)?;
    if status >= 400 {
        return Err(ResourceError::Status {
            url,
            status,
            body: excerpt(&body),
        });
    }
    Ok(HttpResponse { url, status, body })
}

impl Health for Http {
    fn health(&self) -> Result<(), ResourceError> {
        Http::health(self)
    }
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values may be credentials: names only.
        let headers: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("Http")
            .field("base_url", &self.base_url)
            .field("headers", &headers)
            .finish_non_exhaustive()
    }
}
