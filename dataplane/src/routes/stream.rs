//! Streamed answers: the held-back frames and the rest of the upstream stream, rendered in
//! the caller's shape as SSE with keep-alive, settled exactly once — at the end, on a
//! mid-stream failure, or when the client goes away.

use crate::chain::cascade::StreamStart;
use crate::providers::stream::UpstreamStream;
use crate::shapes::openai::OutFrame;
use crate::shapes::stream::{StreamEvent, StreamTally};
use crate::shapes::{anthropic, openai, Shape};
use crate::spend::Reservation;
use crate::state::AppState;
use aig_common::catalog::Prices;
use aig_common::usage::UsageEvent;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Shortest wait for the next frame once content has started.
const MIN_IDLE: Duration = Duration::from_secs(60);
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// What to charge a stream and where to record it.
pub struct Settlement {
    pub state: AppState,
    /// The usage event with everything but the outcome filled in.
    pub event: UsageEvent,
    /// The request's reservation, released by the settle step.
    pub reservation: Reservation,
    pub prices: Prices,
    pub prompt_chars: usize,
    pub started: Instant,
}

/// How the stream ended, for settling.
enum Ending {
    Complete,
    UpstreamFailed,
    ClientLeft,
}

impl Settlement {
    /// Charging rule: a completed stream, or one the client left, is charged the upstream's
    /// own usage figures; parts the upstream never reported (it was cut off when the client
    /// left) are estimated at one token per four characters of prompt and of streamed
    /// text. A stream the serving provider broke mid-way is not charged: the caller got an
    /// error, exactly as for a failed attempt.
    fn settle(self, tally: &StreamTally, ending: Ending) {
        let (usage, estimated) = tally.billable(self.prompt_chars);
        let (status, cost) = match ending {
            Ending::UpstreamFailed => (502, 0),
            Ending::Complete | Ending::ClientLeft => (200, self.prices.cost(&usage).0),
        };
        let latency_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        tracing::info!(
            request_id = %self.event.request_id,
            cost_micros = cost,
            estimated,
            client_left = matches!(ending, Ending::ClientLeft),
            "stream settled"
        );
        let event = UsageEvent {
            status,
            latency_ms,
            input_tokens: usage.input,
            cache_read_tokens: usage.cache_read,
            cache_write_tokens: usage.cache_write,
            output_tokens: usage.output,
            cost_micros: cost,
            usage_estimated: estimated,
            client_disconnected: matches!(ending, Ending::ClientLeft),
            ..self.event
        };
        // Settling must not hold up the end of the stream, and may run after the client
        // has gone (from `Drop`).
        let state = self.state;
        let reservation = self.reservation;
        tokio::spawn(async move {
            state
                .spend()
                .settle(&state, &reservation, cost, &event)
                .await;
        });
    }
}

enum Renderer {
    OpenAi(openai::StreamRenderer),
    Anthropic(anthropic::StreamRenderer),
}

impl Renderer {
    fn event(&mut self, event: &StreamEvent, tally: &StreamTally) -> Vec<OutFrame> {
        match self {
            Renderer::OpenAi(r) => r.event(event, tally),
            Renderer::Anthropic(r) => r.event(event, tally),
        }
    }

    fn end(&mut self, tally: &StreamTally, prompt_chars: usize) -> Vec<OutFrame> {
        let (usage, _) = tally.billable(prompt_chars);
        match self {
            Renderer::OpenAi(r) => r.end(tally, &usage),
            Renderer::Anthropic(r) => r.end(tally, &usage),
        }
    }

    fn error(&mut self, message: &str, upstream_kind: Option<&str>) -> Vec<OutFrame> {
        match self {
            Renderer::OpenAi(r) => r.error(message, "server_error"),
            Renderer::Anthropic(r) => {
                let kind = upstream_kind
                    .filter(|k| matches!(*k, "overloaded_error" | "api_error" | "rate_limit_error"))
                    .unwrap_or("api_error");
                r.error(message, kind)
            }
        }
    }
}

struct Driver {
    held: VecDeque<StreamEvent>,
    upstream: UpstreamStream,
    renderer: Renderer,
    tally: StreamTally,
    settlement: Option<Settlement>,
    idle: Duration,
    prompt_chars: usize,
    served_by: String,
    done: bool,
}

impl Drop for Driver {
    /// The body was dropped before the stream ended: the client went away. Dropping the
    /// upstream stream with it closes the upstream connection, cancelling the request.
    fn drop(&mut self) {
        if let Some(settlement) = self.settlement.take() {
            settlement.settle(&self.tally, Ending::ClientLeft);
        }
    }
}

impl Driver {
    async fn next_frames(&mut self) -> Option<Vec<OutFrame>> {
        if self.done {
            return None;
        }
        if let Some(event) = self.held.pop_front() {
            return Some(self.apply(event));
        }
        let frames = match tokio::time::timeout(self.idle, self.upstream.next()).await {
            Ok(Some(Ok(StreamEvent::Error { error, .. }))) => {
                self.fail(&error.message, error.kind.as_deref())
            }
            Ok(Some(Ok(event))) => self.apply(event),
            Ok(Some(Err(why))) => self.fail(&why, None),
            Ok(None) if self.tally.finish.is_some() => self.finish(),
            Ok(None) => self.fail(
                "the provider's stream ended before the answer was complete",
                None,
            ),
            Err(_) => self.fail("the provider's stream stalled", None),
        };
        Some(frames)
    }

    fn apply(&mut self, event: StreamEvent) -> Vec<OutFrame> {
        if event == StreamEvent::Done {
            return self.finish();
        }
        self.tally.observe(&event);
        self.renderer.event(&event, &self.tally)
    }

    fn finish(&mut self) -> Vec<OutFrame> {
        self.done = true;
        let frames = self.renderer.end(&self.tally, self.prompt_chars);
        if let Some(settlement) = self.settlement.take() {
            settlement.settle(&self.tally, Ending::Complete);
        }
        frames
    }

    fn fail(&mut self, why: &str, upstream_kind: Option<&str>) -> Vec<OutFrame> {
        self.done = true;
        tracing::warn!(served_by = %self.served_by, "stream failed mid-way: {why}");
        let message = format!("{} failed mid-stream: {why}", self.served_by);
        let frames = self.renderer.error(&message, upstream_kind);
        if let Some(settlement) = self.settlement.take() {
            settlement.settle(&self.tally, Ending::UpstreamFailed);
        }
        frames
    }
}

fn to_event(frame: OutFrame) -> Result<Event, Infallible> {
    let event = Event::default().data(frame.data);
    Ok(match frame.event {
        Some(name) => event.event(name),
        None => event,
    })
}

/// The streamed response: report headers now, frames as the upstream produces them.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site; the parts are all different"
)]
pub fn respond_stream(
    shape: Shape,
    headers: HeaderMap,
    start: StreamStart,
    settlement: Settlement,
    id: String,
    served_by: String,
    include_usage: bool,
    timeout: Duration,
) -> Response {
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let renderer = match shape {
        Shape::Anthropic => {
            Renderer::Anthropic(anthropic::StreamRenderer::new(id, served_by.clone()))
        }
        Shape::OpenAi | Shape::Cohere => Renderer::OpenAi(openai::StreamRenderer::new(
            id,
            served_by.clone(),
            created,
            include_usage,
        )),
    };
    let driver = Driver {
        held: start.held.into(),
        upstream: start.upstream,
        renderer,
        tally: StreamTally::default(),
        prompt_chars: settlement.prompt_chars,
        settlement: Some(settlement),
        idle: timeout.max(MIN_IDLE),
        served_by,
        done: false,
    };
    let frames = futures_util::stream::unfold(driver, |mut driver| async move {
        driver.next_frames().await.map(|frames| (frames, driver))
    })
    .flat_map(|frames| futures_util::stream::iter(frames.into_iter().map(to_event)));
    let sse = Sse::new(frames).keep_alive(KeepAlive::new().interval(KEEP_ALIVE));
    (headers, sse).into_response()
}
