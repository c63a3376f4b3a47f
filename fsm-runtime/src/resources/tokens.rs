//! Token usage of language-model calls: [`TokenUsage`] (one call, one run, or a whole pipeline)
//! and [`TokenMeter`], the running total an LLM handle keeps, which a pipeline reads into its
//! [`Summary`](crate::stream::Summary) ([`Pipeline::count_tokens`](crate::stream::Pipeline::count_tokens)).
//!
//! Both have no dependency, so a pipeline's summary can carry tokens whatever the features; a
//! pipeline that counts no tokens carries `None` and does no work for them.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Tokens a language model reports for a request (the `usage` object of an OpenAI-compatible
/// answer), or the sum over many.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TokenUsage {
    /// Tokens of the prompt (`prompt_tokens`).
    pub prompt_tokens: u64,
    /// Tokens of the answer (`completion_tokens`).
    pub completion_tokens: u64,
    /// Both (`total_tokens`, as the server reports it).
    pub total_tokens: u64,
}

impl TokenUsage {
    /// No tokens.
    pub const ZERO: TokenUsage = TokenUsage {
        prompt_tokens: 0,
        completion_tokens: 0,
        total_tokens: 0,
    };

    /// Whether no token was counted.
    pub fn is_zero(&self) -> bool {
        *self == TokenUsage::ZERO
    }
}

impl Add for TokenUsage {
    type Output = TokenUsage;

    fn add(self, other: TokenUsage) -> TokenUsage {
        TokenUsage {
            prompt_tokens: self.prompt_tokens.saturating_add(other.prompt_tokens),
            completion_tokens: self.completion_tokens.saturating_add(other.completion_tokens),
            total_tokens: self.total_tokens.saturating_add(other.total_tokens),
        }
    }
}

impl AddAssign for TokenUsage {
    fn add_assign(&mut self, other: TokenUsage) {
        *self = *self + other;
    }
}

/// What was counted between two readings of a meter.
impl Sub for TokenUsage {
    type Output = TokenUsage;

    fn sub(self, earlier: TokenUsage) -> TokenUsage {
        TokenUsage {
            prompt_tokens: self.prompt_tokens.saturating_sub(earlier.prompt_tokens),
            completion_tokens: self.completion_tokens.saturating_sub(earlier.completion_tokens),
            total_tokens: self.total_tokens.saturating_sub(earlier.total_tokens),
        }
    }
}

impl std::iter::Sum for TokenUsage {
    fn sum<I: Iterator<Item = TokenUsage>>(iter: I) -> TokenUsage {
        iter.fold(TokenUsage::ZERO, Add::add)
    }
}

impl fmt::Display for TokenUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} tokens ({} prompt + {} completion)",
            self.total_tokens, self.prompt_tokens, self.completion_tokens
        )
    }
}

/// A running total of tokens, shared by its clones and safe to add to from any thread: an LLM
/// handle's (`AsyncLlm::tokens`, feature `llm-async`), which every call through the
/// handle or its clones adds to.
#[derive(Clone, Debug, Default)]
pub struct TokenMeter(Arc<[AtomicU64; 3]>);

impl TokenMeter {
    /// A meter at zero.
    pub fn new() -> Self {
        TokenMeter::default()
    }

    /// Adds one call's usage.
    pub fn add(&self, usage: TokenUsage) {
        let [prompt, completion, total] = &*self.0;
        prompt.fetch_add(usage.prompt_tokens, Ordering::Relaxed);
        completion.fetch_add(usage.completion_tokens, Ordering::Relaxed);
        total.fetch_add(usage.total_tokens, Ordering::Relaxed);
    }

    /// Everything counted so far.
    pub fn total(&self) -> TokenUsage {
        let [prompt, completion, total] = &*self.0;
        TokenUsage {
            prompt_tokens: prompt.load(Ordering::Relaxed),
            completion_tokens: completion.load(Ordering::Relaxed),
            total_tokens: total.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_meter_sums_what_its_clones_add_and_a_difference_is_what_came_between() {
        let meter = TokenMeter::new();
        let usage = TokenUsage {
            prompt_tokens: 3,
            completion_tokens: 4,
            total_tokens: 7,
        };
        meter.add(usage);
        let before = meter.total();
        meter.clone().add(usage);
        assert_eq!(meter.total(), usage + usage);
        assert_eq!(meter.total() - before, usage);
        assert_eq!([usage, usage].into_iter().sum::<TokenUsage>(), usage + usage);
        assert_eq!(usage.to_string(), "7 tokens (3 prompt + 4 completion)");
    }
}
