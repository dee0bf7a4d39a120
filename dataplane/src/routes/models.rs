//! `GET /v1/models`: the catalog in OpenAI's list shape, with prices.

use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

pub async fn list_models(State(state): State<AppState>) -> Json<Value> {
    let catalog = state.catalog();
    let data: Vec<Value> = catalog
        .models()
        .iter()
        .map(|m| {
            let as_of = catalog.price_source(m.provider).map(|(date, _)| date);
            json!({
                "id": m.slug,
                "object": "model",
                "created": 0,
                "owned_by": m.provider.slug(),
                "name": m.display_name,
                "context_window": m.context_window,
                "pricing": {
                    "currency": "USD",
                    "unit": "per_million_tokens",
                    "input": m.prices.input.to_string(),
                    "cached_input": m.prices.cached_input.to_string(),
                    "cache_write": m.prices.cache_write.to_string(),
                    "output": m.prices.output.to_string(),
                    "as_of": as_of,
                },
            })
        })
        .collect();
    Json(json!({ "object": "list", "data": data }))
}

/// `GET /anthropic/v1/models`: the catalog in Anthropic's list shape, for the Anthropic
/// SDK's `models.list()`.
pub async fn list_models_anthropic(State(state): State<AppState>) -> Json<Value> {
    let catalog = state.catalog();
    let data: Vec<Value> = catalog
        .models()
        .iter()
        .map(|m| {
            let as_of = catalog
                .price_source(m.provider)
                .map_or("1970-01-01", |(date, _)| date);
            json!({
                "type": "model",
                "id": m.slug,
                "display_name": m.display_name,
                "created_at": format!("{as_of}T00:00:00Z"),
            })
        })
        .collect();
    let first = data.first().map(|m| m["id"].clone());
    let last = data.last().map(|m| m["id"].clone());
    Json(json!({ "data": data, "has_more": false, "first_id": first, "last_id": last }))
}
