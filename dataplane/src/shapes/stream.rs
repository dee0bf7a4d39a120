//! The canonical stream: what any upstream's SSE frames mean, before they are rendered in
//! the caller's shape.

use super::{FinishReason, UpstreamError};
use aig_common::catalog::TokenUsage;

/// Token counts as a frame reports them; a field a frame does not carry is `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PartialUsage {
    pub input: Option<u64>,
    pub cache_read: Option<u64>,
    pub cache_write: Option<u64>,
    pub output: Option<u64>,
}

impl From<TokenUsage> for PartialUsage {
    fn from(u: TokenUsage) -> Self {
        Self {
            input: Some(u.input),
            cache_read: Some(u.cache_read),
            cache_write: Some(u.cache_write),
            output: Some(u.output),
        }
    }
}

/// One meaningful step of an upstream stream.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamEvent {
    /// The message opened; carries no content.
    Start { id: String },
    /// A piece of answer text. The first non-empty one commits the attempt.
    Text(String),
    /// A tool call begins (`index` counts tool calls within the answer from 0).
    ToolCallStart {
        index: usize,
        id: String,
        name: String,
    },
    /// More of a tool call's JSON arguments.
    ToolArgs { index: usize, fragment: String },
    /// Token counts (cumulative; later values replace earlier ones field by field).
    Usage(PartialUsage),
    /// Why generation stopped.
    Finish(FinishReason),
    /// The upstream closed the stream cleanly.
    Done,
    /// An in-band error frame; `status` is the HTTP status it stands for.
    Error { status: u16, error: UpstreamError },
}

impl StreamEvent {
    /// Content the caller must see: once sent, the cascade can no longer switch provider.
    pub fn is_content(&self) -> bool {
        match self {
            StreamEvent::Text(t) => !t.is_empty(),
            StreamEvent::ToolCallStart { .. } | StreamEvent::ToolArgs { .. } => true,
            _ => false,
        }
    }
}

/// Everything a stream reported, for settling its cost.
#[derive(Clone, Debug, Default)]
pub struct StreamTally {
    pub usage: PartialUsage,
    /// Characters of answer text that reached the caller.
    pub streamed_chars: usize,
    pub finish: Option<FinishReason>,
    pub id: Option<String>,
    /// Tool calls the answer started.
    pub tool_calls: usize,
}

impl StreamTally {
    pub fn observe(&mut self, event: &StreamEvent) {
        match event {
            StreamEvent::Start { id } => {
                if self.id.is_none() && !id.is_empty() {
                    self.id = Some(id.clone());
                }
            }
            StreamEvent::Text(t) => self.streamed_chars += t.chars().count(),
            StreamEvent::ToolCallStart { name, .. } => {
                self.streamed_chars += name.chars().count();
                self.tool_calls += 1;
            }
            StreamEvent::ToolArgs { fragment, .. } => {
                self.streamed_chars += fragment.chars().count();
            }
            StreamEvent::Usage(u) => {
                let merge = |old: &mut Option<u64>, new: Option<u64>| {
                    if new.is_some() {
                        *old = new;
                    }
                };
                merge(&mut self.usage.input, u.input);
                merge(&mut self.usage.cache_read, u.cache_read);
                merge(&mut self.usage.cache_write, u.cache_write);
                merge(&mut self.usage.output, u.output);
            }
            StreamEvent::Finish(f) => self.finish = Some(f.clone()),
            StreamEvent::Done | StreamEvent::Error { .. } => {}
        }
    }

    /// The usage to charge: what the upstream reported, or — for the parts it never
    /// reported (a client that left early) — an estimate of one token per four characters
    /// of prompt and of streamed text. Returns whether any part was estimated.
    pub fn billable(&self, prompt_chars: usize) -> (TokenUsage, bool) {
        let estimate = |chars: usize| u64::try_from(chars.div_ceil(4)).unwrap_or(u64::MAX);
        let input_estimated = self.usage.input.is_none();
        let output_estimated = self.usage.output.is_none();
        let usage = TokenUsage {
            input: self.usage.input.unwrap_or_else(|| estimate(prompt_chars)),
            cache_read: self.usage.cache_read.unwrap_or(0),
            cache_write: self.usage.cache_write.unwrap_or(0),
            output: self
                .usage
                .output
                .unwrap_or_else(|| estimate(self.streamed_chars)),
        };
        (usage, input_estimated || output_estimated)
    }
}

/// Turns one upstream SSE frame into canonical events; one per upstream shape.
pub trait StreamParser: Send {
    fn parse(
        &mut self,
        frame: &crate::providers::sse::SseFrame,
    ) -> Result<Vec<StreamEvent>, String>;
}

/// The HTTP status an in-band or body error stands for, from its type or code.
pub fn status_of_error(error: &UpstreamError) -> u16 {
    let kind = error.kind.as_deref().unwrap_or_default();
    let code = error.code.as_deref().unwrap_or_default();
    match (kind, code) {
        ("rate_limit_error", _) | (_, "rate_limit_exceeded") | ("rate_limit_exceeded", _) => 429,
        ("overloaded_error", _) => 529,
        ("invalid_request_error", _) => 400,
        ("authentication_error", _) => 401,
        ("permission_error", _) => 403,
        ("not_found_error", _) => 404,
        ("timeout_error", _) => 504,
        _ => 500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_usage_replaces_earlier_field_by_field() {
        let mut tally = StreamTally::default();
        tally.observe(&StreamEvent::Usage(PartialUsage {
            input: Some(10),
            output: Some(1),
            ..Default::default()
        }));
        tally.observe(&StreamEvent::Usage(PartialUsage {
            output: Some(42),
            ..Default::default()
        }));
        let (usage, estimated) = tally.billable(1000);
        assert_eq!((usage.input, usage.output), (10, 42));
        assert!(!estimated);
    }

    #[test]
    fn unreported_usage_is_estimated_from_what_was_streamed() {
        let mut tally = StreamTally::default();
        tally.observe(&StreamEvent::Text("abcdefgh".into()));
        let (usage, estimated) = tally.billable(9);
        assert_eq!((usage.input, usage.output), (3, 2));
        assert!(estimated);
    }
}
