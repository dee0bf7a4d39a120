//! HTTP handlers, one file per surface.

pub mod chat;
pub mod health;
pub mod models;
mod respond;

use crate::error::Error;
use axum::http::Uri;

/// Unknown paths answer in the OpenAI error shape rather than an empty 404.
pub async fn not_found(uri: Uri) -> Error {
    Error::NotFound(uri.path().to_owned())
}
