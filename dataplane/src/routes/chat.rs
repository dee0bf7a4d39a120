//! `POST /v1/chat/completions`: the OpenAI ingress.

use super::respond::{put, ReportHeaders};
use crate::auth::authenticate;
use crate::chain::cascade;
use crate::chain::plan::{build_plan, parse_controls, ProviderFilter};
use crate::error::{ApiError, Error};
use crate::headers;
use crate::shapes::{openai, Shape};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tracing::instrument;

const ROUTE: &str = "chat_completions";

#[instrument(skip_all, fields(request_id, tenant, model))]
pub async fn create_chat_completion(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let report = ReportHeaders {
        request_id: uuid::Uuid::now_v7().to_string(),
        started: Instant::now(),
    };
    tracing::Span::current().record("request_id", report.request_id.as_str());
    let response = match serve(&state, &headers, body, &report).await {
        Ok(response) => response,
        Err(mut e) => {
            let mut base = report.build(&[], None);
            base.extend(e.headers.drain());
            e.headers = base;
            e.into_response()
        }
    };
    state
        .metrics()
        .record_request(ROUTE, response.status().as_u16(), report.started.elapsed());
    response
}

async fn serve(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    report: &ReportHeaders,
) -> Result<Response, ApiError> {
    let fail = |e: Error| ApiError::new(e, Shape::OpenAi);
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
    let ingress = openai::parse_request(&body).map_err(|m| {
        let param = m.split(':').next().map(str::to_owned);
        fail(Error::InvalidRequest { message: m, param })
    })?;
    if ingress.request.stream {
        return Err(fail(Error::invalid(
            "stream: streaming responses are not served by this gateway version; send stream: false",
            Some("stream"),
        )));
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

    let output = cascade::run(state, &plan, &ingress.request).await;
    let primary = &plan.entries[0];
    let served_slug = output.result.as_ref().ok().map(|s| s.model.slug.clone());
    if served_slug.as_deref() != Some(primary.slug.as_str()) {
        state.metrics().record_fallback(primary.provider);
    }
    let mut report_headers = report.build(&output.entries, served_slug.as_deref());
    match output.result {
        Err(error) => Err(ApiError {
            error,
            shape: Shape::OpenAi,
            headers: report_headers,
        }),
        Ok(served) => {
            put(
                &mut report_headers,
                headers::COST_MICROS,
                &served.cost.to_string(),
            );
            let created = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let id = if served.response.id.starts_with("chatcmpl-") {
                served.response.id.clone()
            } else {
                format!("chatcmpl-{}", report.request_id.replace('-', ""))
            };
            tracing::info!(
                served_by = %served.model.slug,
                cost_micros = served.cost.0,
                tag = plan.tag.as_deref().unwrap_or(""),
                "served"
            );
            let body = openai::render_response(&served.response, &id, &served.model.slug, created);
            Ok((report_headers, Json(body)).into_response())
        }
    }
}
