//! The cascade: try each planned entry in order within the retry and latency budgets,
//! classify every attempt, and stop at the first answer or non-cascading failure.

use super::outcome::{self, ChainEntry, Failure, Outcome};
use super::plan::Plan;
use crate::error::Error;
use crate::providers::stream::UpstreamStream;
use crate::providers::Endpoint;
use crate::shapes::stream::StreamEvent;
use crate::shapes::{ChatRequest, ChatResponse, FinishReason, UpstreamError};
use crate::state::AppState;
use aig_common::catalog::ResolvedModel;
use axum::http::StatusCode;
use futures_util::StreamExt;
use std::time::{Duration, Instant};
use tracing::{info_span, Instrument};

/// Largest upstream body read before the answer counts as malformed.
const MAX_UPSTREAM_BODY: usize = 32 * 1024 * 1024;
/// Longest `Retry-After` honoured in health marks.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// A stream that produced its first content (or finished without any): the events read
/// so far, held back during the attempt, and the rest of the upstream stream.
pub struct StreamStart {
    pub held: Vec<StreamEvent>,
    pub upstream: UpstreamStream,
}

impl StreamStart {
    /// A stream that ended on a content-filter finish before any content.
    fn is_filtered(&self) -> bool {
        !self.held.iter().any(StreamEvent::is_content)
            && self
                .held
                .contains(&StreamEvent::Finish(FinishReason::ContentFilter))
    }
}

/// What a successful attempt produced.
pub enum Answer {
    Whole(ChatResponse),
    Stream(StreamStart),
}

impl Answer {
    fn outcome(&self) -> Outcome {
        match self {
            Answer::Whole(response) => outcome::of_response(response),
            Answer::Stream(start) if start.is_filtered() => Outcome::Filter,
            Answer::Stream(_) => Outcome::Status(200),
        }
    }
}

/// The answer that ended the cascade.
pub struct Served {
    pub model: ResolvedModel,
    pub answer: Answer,
}

/// What the cascade did and how it ended.
pub struct CascadeOutput {
    /// Every entry considered, in order.
    pub entries: Vec<ChainEntry>,
    pub result: Result<Served, Error>,
}

/// Runs the plan. Failed attempts are never charged: only the served answer is.
pub async fn run(state: &AppState, plan: &Plan, request: &ChatRequest) -> CascadeOutput {
    let start = Instant::now();
    let deadline = plan.max_latency.map(|d| start + d);
    let mut entries: Vec<ChainEntry> = Vec::with_capacity(plan.entries.len());
    // One read of the local health snapshot; no Redis on the request path.
    let degraded = state.health().degraded(&plan.entries);
    let unmet: Vec<Option<&'static str>> = plan
        .entries
        .iter()
        .map(|m| unmet_need(m, request))
        .collect();
    let mut attempts: u32 = 0;
    for (index, model) in plan.entries.iter().enumerate() {
        if attempts > plan.retry_budget {
            let message = format!(
                "the retry budget of {} was spent after {attempts} failed attempts",
                plan.retry_budget
            );
            return CascadeOutput {
                entries,
                result: Err(Error::ProvidersDown(message)),
            };
        }
        // An entry that cannot honour the request is skipped before dispatch, never
        // silently downgraded.
        if unmet[index].is_some() {
            entries.push(ChainEntry {
                slug: model.slug.clone(),
                provider: model.provider,
                outcome: Outcome::Unsupported,
            });
            continue;
        }
        // A degraded entry is skipped, at no cost to the budgets, unless every remaining
        // usable entry is degraded too: then they are tried anyway.
        let healthy_later =
            (index + 1..plan.entries.len()).any(|j| unmet[j].is_none() && !degraded[j]);
        if degraded[index] && healthy_later {
            entries.push(ChainEntry {
                slug: model.slug.clone(),
                provider: model.provider,
                outcome: Outcome::Degraded,
            });
            continue;
        }
        let (timeout, capped_by_budget) = match deadline {
            None => (plan.timeout, false),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return CascadeOutput {
                        entries,
                        result: Err(latency_exceeded(plan)),
                    };
                }
                if left < plan.timeout {
                    (left, true)
                } else {
                    (plan.timeout, false)
                }
            }
        };
        let endpoint = state.registry().get(model.provider);
        let span = info_span!("attempt", provider = %model.provider, model = %model.slug);
        let result = attempt(state.http(), endpoint, model, request, timeout)
            .instrument(span)
            .await;
        attempts += 1;
        let outcome = match &result {
            Ok(answer) => answer.outcome(),
            Err(failure) => outcome::of_failure(failure),
        };
        let retry_after = match &result {
            Err(Failure::Http { retry_after, .. }) => *retry_after,
            _ => None,
        };
        state.metrics().record_attempt(model.provider, outcome);
        state.health().record(model, outcome, retry_after);
        entries.push(ChainEntry {
            slug: model.slug.clone(),
            provider: model.provider,
            outcome,
        });

        match result {
            Ok(_) if outcome == Outcome::Filter && plan.fallback_on.cascades(outcome) => continue,
            Ok(answer) => {
                let served = Served {
                    model: model.clone(),
                    answer,
                };
                return CascadeOutput {
                    entries,
                    result: Ok(served),
                };
            }
            Err(Failure::Timeout) if capped_by_budget => {
                return CascadeOutput {
                    entries,
                    result: Err(latency_exceeded(plan)),
                };
            }
            Err(failure) if plan.fallback_on.cascades(outcome) => {
                tracing::info!(provider = %model.provider, model = %model.slug, outcome = %outcome.token(), "attempt failed, cascading: {}", describe(&failure));
            }
            Err(failure) => {
                return CascadeOutput {
                    entries,
                    result: Err(non_cascading(&model.slug, failure)),
                };
            }
        }
    }
    if attempts == 0 {
        if let Some(need) = unmet.iter().flatten().next() {
            let message = format!(
                "no entry of the chain supports {need}; see x-aig-chain for the entries skipped"
            );
            return CascadeOutput {
                entries,
                result: Err(Error::invalid(message, Some("model"))),
            };
        }
    }
    let message =
        format!("every entry of the chain failed ({attempts} attempted); see x-aig-chain");
    CascadeOutput {
        entries,
        result: Err(Error::ProvidersDown(message)),
    }
}

/// The feature a request needs that the catalog says this model lacks, if any.
fn unmet_need(model: &ResolvedModel, request: &ChatRequest) -> Option<&'static str> {
    let caps = model.capabilities;
    let uses_tools = !request.tools.is_empty()
        || request
            .messages
            .iter()
            .any(|m| !m.tool_calls.is_empty() || m.tool_call_id.is_some());
    if request.has_images() && !caps.vision {
        Some("image input")
    } else if uses_tools && !caps.tools {
        Some("tool calling")
    } else if request.response_format.is_some() && !caps.json_output {
        Some("JSON output (response_format)")
    } else {
        None
    }
}

fn latency_exceeded(plan: &Plan) -> Error {
    let ms = plan.max_latency.map_or(0, |d| d.as_millis());
    Error::LatencyBudgetExceeded(format!(
        "the latency budget of {ms} ms (x-aig-max-latency-ms) ran out before any entry answered"
    ))
}

fn describe(failure: &Failure) -> String {
    match failure {
        Failure::Http {
            status,
            error,
            retry_after: Some(after),
        } => {
            format!(
                "{status} (retry after {}s): {}",
                after.as_secs(),
                error.message
            )
        }
        Failure::Http { status, error, .. } => format!("{status}: {}", error.message),
        Failure::Timeout => "timeout".into(),
        Failure::Connection(detail) => detail.clone(),
    }
}

/// A failure outside `x-aig-fallback-on`, returned to the caller as it is.
fn non_cascading(slug: &str, failure: Failure) -> Error {
    match failure {
        Failure::Http { status, error, .. } => Error::Upstream {
            slug: slug.to_owned(),
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
            error,
        },
        Failure::Timeout => Error::UpstreamTimeout(slug.to_owned()),
        Failure::Connection(detail) => {
            tracing::warn!(model = %slug, "upstream unusable: {detail}");
            Error::UpstreamUnavailable {
                slug: slug.to_owned(),
                detail: "the provider could not be reached or sent a malformed answer".into(),
            }
        }
    }
}

/// One request to one provider, bounded by `timeout` from send to the end of the body or,
/// for a stream, to its first content (frames without content are held back meanwhile).
async fn attempt(
    http: &reqwest::Client,
    endpoint: &Endpoint,
    model: &ResolvedModel,
    request: &ChatRequest,
    timeout: Duration,
) -> Result<Answer, Failure> {
    let adapter = endpoint.adapter;
    let body = adapter.request_body(request, &model.upstream);
    let builder = http.post(adapter.chat_url(&endpoint.base_url)).json(&body);
    let builder = adapter.authorize(builder, endpoint.api_key.as_ref());
    let exchange = async {
        let response = builder
            .send()
            .await
            .map_err(|e| Failure::Connection(format!("request failed: {e}")))?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        if status.is_success() && request.stream {
            let upstream = UpstreamStream::new(response, adapter.stream_parser(request));
            return first_content(upstream).await.map(Answer::Stream);
        }
        let bytes = read_body(response).await?;
        if status.is_success() {
            adapter
                .parse_response(&bytes, request)
                .map(Answer::Whole)
                .map_err(|e| Failure::Connection(format!("malformed answer: {e}")))
        } else {
            let error = adapter
                .parse_error(&bytes)
                .unwrap_or_else(|| UpstreamError {
                    message: String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).into_owned(),
                    ..Default::default()
                });
            Err(Failure::Http {
                status: status.as_u16(),
                error,
                retry_after,
            })
        }
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or(Err(Failure::Timeout))
}

/// Reads a stream up to its first content, holding back what came before it. An in-band
/// error before content is a failure like an HTTP error; so is a stream that ends, or
/// breaks, before it either carried content or finished.
async fn first_content(mut upstream: UpstreamStream) -> Result<StreamStart, Failure> {
    let mut held = Vec::new();
    let mut finished = false;
    loop {
        match upstream.next().await {
            Some(Ok(StreamEvent::Error { status, error })) => {
                return Err(Failure::Http {
                    status,
                    error,
                    retry_after: None,
                });
            }
            Some(Ok(event)) => {
                let content = event.is_content();
                finished |= matches!(event, StreamEvent::Finish(_) | StreamEvent::Done);
                let done = event == StreamEvent::Done;
                held.push(event);
                if content || done {
                    return Ok(StreamStart { held, upstream });
                }
            }
            Some(Err(why)) => return Err(Failure::Connection(why)),
            None if finished => return Ok(StreamStart { held, upstream }),
            None => {
                return Err(Failure::Connection(
                    "the stream ended before any content".into(),
                ))
            }
        }
    }
}

async fn read_body(response: reqwest::Response) -> Result<Vec<u8>, Failure> {
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Failure::Connection(format!("answer cut short: {e}")))?;
        if body.len() + chunk.len() > MAX_UPSTREAM_BODY {
            return Err(Failure::Connection("answer larger than 32 MiB".into()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get("retry-after")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}
