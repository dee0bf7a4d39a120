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
