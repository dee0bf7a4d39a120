//! HTTP handlers, one file per surface.

pub mod chat;
pub mod health;
pub mod manage;
pub mod messages;
pub mod models;
mod respond;
mod serve;
mod stream;

use crate::error::{ApiError, Error};
use crate::shapes::Shape;
use axum::http::Uri;

/// Unknown paths answer in the caller's error shape (Anthropic under `/anthropic/`)
/// rather than an empty 404.
pub async fn not_found(uri: Uri) -> ApiError {
    let shape = if uri.path().starts_with("/anthropic/") {
        Shape::Anthropic
    } else {
        Shape::OpenAi
    };
    ApiError::new(Error::NotFound(uri.path().to_owned()), shape)
}
