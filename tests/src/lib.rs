//! AIgateway's test kit: mock providers, key seeding, and `TestApp`, which spawns the real
//! data plane on port 0 against real Redis.

pub mod app;
pub mod controlplane;
pub mod fake_stripe;
pub mod mock;
pub mod redis_cluster;
pub mod redis_server;
pub mod seed;
pub mod signal;
pub mod temp_dir;

pub use app::{chat_body, parse_sse, SseFrame, StreamResponse, TestApp, TestResponse};
pub use redis_cluster::RedisCluster;
pub use redis_server::RedisServer;
pub use temp_dir::TempDir;
