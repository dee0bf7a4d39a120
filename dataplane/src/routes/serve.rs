//! The request path both ingresses share: authenticate, parse the caller's shape, plan the
//! chain, run the cascade, and answer — whole or streamed — with the `x-aig-*` headers and
//! one usage event.

use super::respond::{put, ReportHeaders};
use super::stream::{respond_stream, Settlement};
use crate::auth::authenticate;
use crate::chain::cascade::{self, Answer, Served};
use crate::chain::outcome::chain_header;
use crate::chain::plan::{build_plan, parse_controls, ProviderFilter};
use crate::error::{ApiError, Error};
use crate::headers;
use crate::shapes::{anthropic, openai, Ingress, Shape};
use crate::spend::estimate_micros;
use crate::state::AppState;
use crate::usage;
use aig_common::usage::UsageEvent;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Where a request came in.
#[derive(Clone, Copy)]
pub struct Route {
    pub shape: Shape,
    /// Metrics label.
    pub name: &'static str,
    /// `ingress` of the usage event.
    pub ingress: &'static str,
}

pub const CHAT_COMPLETIONS: Route = Route {
    shape: Shape::OpenAi,
    name: "chat_completions",
    ingress: "openai",
};
pub const MESSAGES: Route = Route {
    shape: Shape::Anthropic,
    name: "messages",
    ingress: "anthropic",
};

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Serves one chat request arriving in `route`'s shape.
pub async fn handle(
    state: AppState,
    route: Route,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let report = ReportHeaders {
        request_id: uuid::Uuid::now_v7().to_string(),
        started: Instant::now(),
    };
    tracing::Span::current().record("request_id", report.request_id.as_str());
    let response = match serve(&state, route, &headers, body, &report).await {
        Ok(response) => response,
        Err(mut e) => {
            let mut base = report.build(&[], None);
            base.extend(e.headers.drain());
            e.headers = base;
            e.into_response()
        }
    };
    state.metrics().record_request(
        route.name,
        response.status().as_u16(),
        report.started.elapsed(),
    );
    response
}

fn parse(shape: Shape, body: &[u8]) -> Result<Ingress, String> {
    match shape {
        Shape::Anthropic => anthropic::parse_request(body),
        Shape::OpenAi | Shape::Cohere => openai::parse_request(body),
    }
}

async fn serve(
    state: &AppState,
    route: Route,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    report: &ReportHeaders,
) -> Result<Response, ApiError> {
    let shape = route.shape;
    let fail = |e: Error| ApiError::new(e, shape);
    let ts_ms = unix_ms();
    let caller = authenticate(state, headers).await.map_err(fail)?;
    tracing::Span::current().record("tenant", caller.tenant_id.as_str());

    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => fail(Error::PayloadTooLarge {
            limit: state.config().max_body_bytes,
        }),
        _ => fail(Error::invalid(
            format!("could not read the body: {rejection}"),
            None,
        )),
    })?;
    let ingress = parse(shape, &body).map_err(|m| {
        let param = m.split(':').next().map(str::to_owned);
        fail(Error::InvalidRequest { message: m, param })
    })?;
    let threaded = ingress
        .request
        .passthrough_for(Shape::Anthropic)
        .is_some_and(|fields| fields.contains_key("thread"));
    if threaded {
        return Err(fail(Error::ThreadUnsupported));
    }
    tracing::Span::current().record("model", ingress.model.as_str());

    let controls = parse_controls(headers).map_err(fail)?;
    let filter = ProviderFilter {
        only: ingress.provider.only,
        ignore: ingress.provider.ignore,
    };
    let plan = build_plan(
        state.catalog(),
        &ingress.model,
        &ingress.models,
        &filter,
        controls,
    )
    .map_err(fail)?;

    let mut event = UsageEvent {
        request_id: report.request_id.clone(),
        tenant_id: caller.tenant_id.clone(),
        key_id: caller.key_id,
        tag: plan.tag.clone(),
        ingress: route.ingress.to_owned(),
        requested_model: plan.entries[0].slug.clone(),
        chain: String::new(),
        served_by: None,
        status: 200,
        stream: ingress.request.stream,
        latency_ms: 0,
        input_tokens: 0,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
        output_tokens: 0,
        cost_micros: 0,
        usage_estimated: false,
        client_disconnected: false,
        ts_ms,
    };

    let dearest = plan
        .entries
        .iter()
        .map(|e| e.prices)
        .reduce(|a, b| a.max(b))
        .unwrap_or(plan.entries[0].prices);
    let estimate = estimate_micros(
        dearest,
        ingress.request.prompt_chars(),
        ingress.request.max_tokens,
    );
    let reservation = match state
        .spend()
        .reserve(
            state,
            &caller.tenant_id,
            &report.request_id,
            plan.tag.as_deref(),
            estimate,
        )
        .await
    {
        Ok(reservation) => reservation,
        Err(error) => {
            event.status = error.status_code().as_u16();
            event.latency_ms = elapsed_ms(report);
            usage::emit(state, event);
            return Err(fail(error));
        }
    };

    let output = cascade::run(state, &plan, &ingress.request).await;
    let primary = &plan.entries[0];
    let served_slug = output.result.as_ref().ok().map(|s| s.model.slug.clone());
    if served_slug.as_deref() != Some(primary.slug.as_str()) {
        state.metrics().record_fallback(primary.provider);
    }
    let mut report_headers = report.build(&output.entries, served_slug.as_deref());
    event.chain = chain_header(&output.entries);
    event.served_by = served_slug;

    let Served { model, answer } = match output.result {
        Ok(served) => served,
        Err(error) => {
            event.status = error.status_code().as_u16();
            event.latency_ms = elapsed_ms(report);
            let remaining = state.spend().settle(state, &reservation, 0, &event).await;
            put_remaining(&mut report_headers, remaining);
            return Err(ApiError {
                error,
                shape,
                headers: report_headers,
            });
        }
    };
    let id = answer_id(shape, &report.request_id);
    match answer {
        Answer::Whole(response) => {
            let cost = model.prices.cost(&response.usage);
            put(&mut report_headers, headers::COST_MICROS, &cost.to_string());
            tracing::info!(served_by = %model.slug, cost_micros = cost.0, "served");
            let event = UsageEvent {
                latency_ms: elapsed_ms(report),
                input_tokens: response.usage.input,
                cache_read_tokens: response.usage.cache_read,
                cache_write_tokens: response.usage.cache_write,
                output_tokens: response.usage.output,
                cost_micros: cost.0,
                ..event
            };
            let remaining = state
                .spend()
                .settle(state, &reservation, cost.0, &event)
                .await;
            put_remaining(&mut report_headers, remaining);
            let body = match shape {
                Shape::Anthropic => anthropic::render_response(&response, &id, &model.slug),
                Shape::OpenAi | Shape::Cohere => {
                    openai::render_response(&response, &id, &model.slug, ts_ms / 1000)
                }
            };
            Ok((report_headers, Json(body)).into_response())
        }
        Answer::Stream(start) => {
            // The cost is known only at the end: the header says what was left when the
            // stream started.
            let a = &reservation.admission;
            put_remaining(
                &mut report_headers,
                a.remaining_cents(a.spent_all, a.spent_tag),
            );
            let settlement = Settlement {
                state: state.clone(),
                event,
                reservation,
                prices: model.prices,
                prompt_chars: ingress.request.prompt_chars(),
                started: report.started,
            };
            Ok(respond_stream(
                shape,
                report_headers,
                start,
                settlement,
                id,
                model.slug.clone(),
                ingress.include_usage,
                plan.timeout,
            ))
        }
    }
}

fn put_remaining(headers: &mut HeaderMap, remaining: Option<i64>) {
    if let Some(cents) = remaining {
        put(headers, headers::BUDGET_REMAINING_CENTS, &cents.to_string());
    }
}

fn elapsed_ms(report: &ReportHeaders) -> u64 {
    u64::try_from(report.started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Our id for the answer, in the caller's shape's style.
fn answer_id(shape: Shape, request_id: &str) -> String {
    let compact = request_id.replace('-', "");
    match shape {
        Shape::Anthropic => format!("msg_{compact}"),
        Shape::OpenAi | Shape::Cohere => format!("chatcmpl-{compact}"),
    }
}
