//! [`Llm`]: an OpenAI-compatible chat completions endpoint.

use super::{Health, Http, HttpConfig, LlmConfig, Resource, ResourceError};
use std::sync::Arc;

/// A language model behind an OpenAI-compatible API: [`Llm::complete`] sends a prompt to
/// `POST {base_url}/chat/completions` and returns the first choice's message.
///
/// The API key is read from the environment variable the configuration names, once, when the
/// handle opens (and never printed by `Debug`). Requests go through the same blocking client as
/// [`Http`], with its time limit. With a `health_path` (such as `/models`), opening the handle
/// and [`Llm::health`] request it with the API key; without one, health is whether the server
/// accepts a connection.
#[derive(Clone)]
pub struct Llm {
    http: Http,
    endpoint: Arc<str>,
    model: Arc<str>,
    authorization: Option<Arc<str>>,
    max_tokens: Option<u32>,
    temperature: Option<f64>,
    system: Option<Arc<str>>,
    health_url: Option<Arc<str>>,
}

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

impl Message {
    /// A system message (instructions).
    pub fn system(content: impl Into<String>) -> Self {
        Message {
            role: "system".into(),
            content: content.into(),
        }
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Message {
            role: "user".into(),
            content: content.into(),
        }
    }

    /// An earlier answer of the model.
    pub fn assistant(content: impl Into<String>) -> Self {
        Message {
            role: "assistant".into(),
            content: content.into(),
        }
    }
}

impl Resource for Llm {
    type Config = LlmConfig;

    fn from_config(config: &LlmConfig) -> Result<Self, ResourceError> {
        if config.model.is_empty() {
            return Err(ResourceError::Config {
                key: "model",
                reason: "is empty".into(),
            });
        }
        let mut http_config = HttpConfig::new(config.base_url.clone());
        http_config.timeout_ms = config.timeout_ms;
        let http = Http::from_config(&http_config)?;
        let authorization = match &config.api_key_env {
            Some(var) => {
                let key = super::env::var(var)?;
                Some(format!("Bearer {key}").into())
            }
            None => None,
        };
        let llm = Llm {
            endpoint: http.url("chat/completions").into(),
            health_url: match &config.health_path {
                Some(path) => Some(http.url(&super::expand_env("health_path", path)?).into()),
                None => None,
            },
            http,
            model: super::expand_env("model", &config.model)?.as_ref().into(),
            authorization,
            max_tokens: config.max_tokens,
            temperature: config.temperature,
            system: match &config.system {
                Some(system) => Some(super::expand_env("system", system)?.as_ref().into()),
                None => None,
            },
        };
        if llm.health_url.is_some() {
            llm.health()?;
        }
        Ok(llm)
    }
}

impl Llm {
    /// The model asked.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Whether the service is up: `GET health_path` (with the API key) answers with a status
    /// below 400, or, without a `health_path`, the server accepts a TCP connection.
    pub fn health(&self) -> Result<(), ResourceError> {
        match &self.health_url {
            Some(url) => self.http.get_url(url, &self.auth()).map(drop),
            None => self.http.reachable(),
        }
    }

    fn auth(&self) -> Vec<(&str, &str)> {
        self.authorization
            .as_deref()
            .map(|a| ("authorization", a))
            .into_iter()
            .collect()
    }

    /// The model's answer to `prompt` (one user message, after the configured system message).
    pub fn complete(&self, prompt: &str) -> Result<String, ResourceError> {
        self.chat(&[Message::user(prompt)])
    }

    /// The model's next message in a conversation (after the configured system message).
    pub fn chat(&self, messages: &[Message]) -> Result<String, ResourceError> {
        let system = self
            .system
            .as_deref()
            .map(|s| serde_json::json!({"role": "system", "content": s}));
        let messages: Vec<serde_json::Value> = system
            .into_iter()
            .chain(
                messages
                    .iter()
                    .map(|m| serde_json::json!({"role": m.role, "content": m.content})),
            )
            .collect();
        let mut request = serde_json::json!({ "model": &*self.model, "messages": messages });
        if let Some(n) = self.max_tokens {
            request["max_tokens"] = n.into();
        }
        if let Some(t) = self.temperature {
            request["temperature"] = t.into();
        }
        let body = request.to_string();
        let response = self
            .http
            .post(&self.endpoint, "application/json", body.as_bytes(), &self.auth())?;
        let answer: serde_json::Value = response.json()?;
        answer
            .pointer("/choices/0/message/content")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| ResourceError::Response {
                url: response.url,
                reason: "no `choices[0].message.content` in the answer".into(),
            })
    }
}

impl Health for Llm {
    fn health(&self) -> Result<(), ResourceError> {
        Llm::health(self)
    }
}

impl std::fmt::Debug for Llm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Llm")
            .field("endpoint", &self.endpoint)
            .field("model", &self.model)
            .field("api_key", &self.authorization.as_ref().map(|_| ".."))
            .finish_non_exhaustive()
    }
}
