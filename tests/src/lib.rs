//! AIgateway's test kit: mock providers, key seeding, and `TestApp`, which spawns the real
//! data plane on port 0 against real Redis.

pub mod app;
pub mod mock;
pub mod seed;

pub use app::{chat_body, parse_sse, SseFrame, StreamResponse, TestApp, TestResponse};
