//! `TestApp`: the real data plane on port 0 against real Redis (a fresh key prefix per
//! test) and the mock providers over HTTP, with typed helpers. `REDIS_URL` may name the
//! nodes of a Redis Cluster (comma-separated, or one seed node with `AIG_REDIS_CLUSTER`),
//! and the test's own reads and writes then go through a cluster connection too.
#![expect(
    clippy::expect_used,
    reason = "test kit: a failed set-up must fail the test at once, with the reason"
)]

use crate::mock::MockProviders;
use crate::seed;
use crate::temp_dir::TempDir;
use aig_common::api_key::ApiKey;
use aig_common::provider::ProviderId;
use aig_common::redis_keys::RedisKeys;
use aig_dataplane::redis_conn::RedisConn;
use aig_dataplane::{router, AppState, Config};
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;

/// The Redis every test uses: `REDIS_URL`, or the local default.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A running data plane with its own mock providers, Redis prefix and tenant key.
pub struct TestApp {
    pub addr: SocketAddr,
    pub mock: MockProviders,
    pub state: AppState,
    pub tenant_id: String,
    pub key: ApiKey,
    pub client: reqwest::Client,
    /// `AIG_SPOOL_DIR` of this instance.
    pub spool_dir: std::path::PathBuf,
    redis: RedisConn,
    keys: RedisKeys,
    redis_url: String,
    /// The app's own spool directory (unused when a test set `AIG_SPOOL_DIR`).
    _spool_tmp: TempDir,
    /// Stops accepting connections when the app is dropped, as a stopped instance would.
    _server: AbortOnDrop,
}

/// Aborts a spawned task when dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A connection for the test's own reads and writes, to the Redis the app was configured
/// with: for a single server, one that reconnects at once after a Redis restart (the
/// default backs off for a minute or more) and waits for a paused server; for a cluster,
/// the data plane's own cluster client.
async fn connect(config: &Config) -> RedisConn {
    if config.redis_cluster || config.redis_urls.len() > 1 {
        return aig_dataplane::redis_conn::connect(&config.redis_urls, true)
            .await
            .expect("redis cluster");
    }
    let redis_url = config.redis_urls.first().expect("REDIS_URL");
    let manager_config = redis::aio::ConnectionManagerConfig::new()
        .set_number_of_retries(0)
        .set_connection_timeout(std::time::Duration::from_secs(2));
    let manager = redis::Client::open(redis_url.as_str())
        .expect("REDIS_URL parses")
        .get_connection_manager_with_config(manager_config)
        .await
        .expect("redis");
    RedisConn::Single(manager)
}

/// A response read whole.
#[derive(Debug)]
pub struct TestResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl TestResponse {
    /// A header as UTF-8 (the chain header carries `→`).
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    /// `error.code` of an OpenAI-shaped error body.
    pub fn error_code(&self) -> Option<&str> {
        self.body["error"]["code"].as_str()
    }

    pub fn error_message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or_default()
    }

    pub fn content(&self) -> &str {
        self.body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default()
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(&[]).await
    }

    /// Spawns with extra environment-style settings layered over the test defaults.
    pub async fn spawn_with(overrides: &[(&str, &str)]) -> TestApp {
        Self::spawn_on(&redis_url(), overrides).await
    }

    /// Spawns against the Redis at `redis_url` (e.g. a test's own
    /// [`crate::redis_server::RedisServer`]), with a fresh prefix, tenant and key.
    pub async fn spawn_on(redis_url: &str, overrides: &[(&str, &str)]) -> TestApp {
        let mock = MockProviders::start().await.expect("mock providers start");
        let prefix = format!("aigtest:{}:", uuid::Uuid::new_v4().simple());
        Self::launch(redis_url, prefix, mock, None, overrides).await
    }

    /// Another data plane instance of this deployment: the same Redis, prefix, tenant, key
    /// and mock providers; its own spool directory unless `AIG_SPOOL_DIR` is overridden.
    pub async fn spawn_sibling(&self, overrides: &[(&str, &str)]) -> TestApp {
        let tenant = (self.tenant_id.clone(), self.key.clone());
        let prefix = self.keys.prefix().to_owned();
        Self::launch(
            &self.redis_url,
            prefix,
            self.mock.clone(),
            Some(tenant),
            overrides,
        )
        .await
    }

    async fn launch(
        redis_url: &str,
        prefix: String,
        mock: MockProviders,
        tenant: Option<(String, ApiKey)>,
        overrides: &[(&str, &str)],
    ) -> TestApp {
        let spool_tmp = TempDir::new("aig-spool");
        let mut env: HashMap<String, String> = HashMap::new();
        env.insert("REDIS_URL".into(), redis_url.to_owned());
        env.insert("AIG_REDIS_PREFIX".into(), prefix.clone());
        env.insert("AIG_SPOOL_DIR".into(), spool_tmp.as_str().to_owned());
        for id in ProviderId::ALL {
            let name = id.env_name();
            env.insert(
                format!("AIG_PROVIDER_{name}_BASE_URL"),
                mock.base_url(id.slug()),
            );
            env.insert(
                format!("AIG_PROVIDER_{name}_API_KEY"),
                format!("mock-key-{}", id.slug()),
            );
        }
        for (k, v) in overrides {
            env.insert((*k).into(), (*v).into());
        }
        let config = Config::from_lookup(|k| env.get(k).cloned()).expect("test config is valid");
        let spool_dir = config.spool_dir.clone();
        let mut redis = connect(&config).await;
        let state = AppState::new(config)
            .await
            .expect("data plane state (is Redis running?)");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let app = router(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });

        let keys = RedisKeys::new(prefix);
        let (tenant_id, key) = match tenant {
            Some(tenant) => tenant,
            None => {
                let tenant_id = uuid::Uuid::new_v4().to_string();
                let key = seed::publish_new_key(&mut redis, &keys, &tenant_id, Some(3600))
                    .await
                    .expect("seed key");
                (tenant_id, key)
            }
        };
        TestApp {
            addr,
            mock,
            state,
            tenant_id,
            key,
            client: reqwest::Client::new(),
            spool_dir,
            redis,
            keys,
            redis_url: redis_url.to_owned(),
            _spool_tmp: spool_tmp,
            _server: AbortOnDrop(server.abort_handle()),
        }
    }

    /// Waits (up to ten seconds) until this app's Redis answers again, e.g. after
    /// [`crate::redis_server::RedisServer::restart`].
    pub async fn await_redis(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let mut redis = self.redis.clone();
            let ping = tokio::time::timeout(
                std::time::Duration::from_millis(500),
                redis::cmd("PING").query_async::<String>(&mut redis),
            )
            .await;
            if matches!(ping, Ok(Ok(_))) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "Redis at {} did not answer within ten seconds",
                self.redis_url
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// The spool files waiting in this app's `AIG_SPOOL_DIR`, sorted.
    pub fn spool_files(&self) -> Vec<std::path::PathBuf> {
        let mut files: Vec<_> = std::fs::read_dir(&self.spool_dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// `POST /v1/chat/completions` with this app's key and the given extra headers.
    pub async fn chat(&self, body: &Value, headers: &[(&str, &str)]) -> TestResponse {
        let mut req = self
            .client
            .post(self.url("/v1/chat/completions"))
            .bearer_auth(self.key.expose())
            .json(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Self::read(req.send().await.expect("request reaches the gateway")).await
    }

    /// `POST /anthropic/v1/messages` with this app's key in `x-api-key`, as the Anthropic
    /// SDK sends it.
    pub async fn messages(&self, body: &Value, headers: &[(&str, &str)]) -> TestResponse {
        Self::read(self.send("/anthropic/v1/messages", body, headers).await).await
    }

    /// Sends a body to a chat route with this app's key (Bearer for OpenAI routes,
    /// `x-api-key` and `anthropic-version` under `/anthropic/`).
    pub async fn send(
        &self,
        path: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self.client.post(self.url(path)).json(body);
        req = if path.starts_with("/anthropic/") {
            req.header("x-api-key", self.key.expose())
                .header("anthropic-version", "2023-06-01")
        } else {
            req.bearer_auth(self.key.expose())
        };
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.expect("request reaches the gateway")
    }

    /// Sends a streaming request and reads the whole event stream.
    pub async fn stream(
        &self,
        path: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> StreamResponse {
        let response = self.send(path, body, headers).await;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        StreamResponse {
            status,
            headers,
            frames: parse_sse(&text),
        }
    }

    /// The usage events written so far under this app's prefix, waiting up to two seconds
    /// for at least `at_least` of them (they are written off the request path).
    pub async fn usage_events(&self, at_least: usize) -> Vec<aig_common::usage::UsageEvent> {
        use redis::AsyncCommands;
        let mut redis = self.redis.clone();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            let entries: redis::streams::StreamRangeReply = redis
                .xrange_all(self.keys.usage_stream(&self.tenant_id))
                .await
                .expect("XRANGE usage stream");
            let events: Vec<aig_common::usage::UsageEvent> = entries
                .ids
                .iter()
                .filter_map(|e| e.get::<String>(aig_common::usage::STREAM_FIELD))
                .map(|json| serde_json::from_str(&json).expect("usage event JSON"))
                .collect();
            if events.len() >= at_least || std::time::Instant::now() > deadline {
                return events;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    pub async fn read(response: reqwest::Response) -> TestResponse {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        TestResponse {
            status,
            headers,
            body,
        }
    }

    /// Publishes another key for this app's tenant.
    pub async fn new_key(&self) -> ApiKey {
        let mut redis = self.redis.clone();
        seed::publish_new_key(&mut redis, &self.keys, &self.tenant_id, Some(3600))
            .await
            .expect("seed key")
    }

    pub async fn set_budget(&self, tag: &str, cap_cents: u64) {
        let mut redis = self.redis.clone();
        seed::set_budget(&mut redis, &self.keys, &self.tenant_id, tag, cap_cents)
            .await
            .expect("set budget");
    }

    pub async fn set_balance(&self, balance_micros: i64) {
        let mut redis = self.redis.clone();
        seed::set_balance(&mut redis, &self.keys, &self.tenant_id, balance_micros)
            .await
            .expect("set balance");
    }

    pub async fn set_status(&self, status: &str) {
        let mut redis = self.redis.clone();
        seed::set_status(&mut redis, &self.keys, &self.tenant_id, status)
            .await
            .expect("set status");
    }

    /// Micro-USD spent this month under `tag` (or `*`), from Redis.
    pub async fn spent(&self, tag: &str) -> i64 {
        use redis::AsyncCommands;
        let mut redis = self.redis.clone();
        let month = aig_common::budget::utc_month(
            u64::try_from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .expect("clock")
                    .as_millis(),
            )
            .expect("ms"),
        );
        let spent: Option<i64> = redis
            .hget(self.keys.spend(&self.tenant_id, &month), tag)
            .await
            .expect("HGET spend");
        spent.unwrap_or(0)
    }

    /// The tenant's prepaid balance in micro-USD, from Redis.
    pub async fn balance(&self) -> Option<i64> {
        use redis::AsyncCommands;
        let mut redis = self.redis.clone();
        redis
            .hget(
                self.keys.tenant(&self.tenant_id),
                aig_common::budget::tenant_fields::BALANCE_MICROS,
            )
            .await
            .expect("HGET balance")
    }

    pub async fn revoke(&self, key: &ApiKey) {
        let mut redis = self.redis.clone();
        seed::revoke_key(&mut redis, &self.keys, key, &self.tenant_id)
            .await
            .expect("revoke key");
    }
}

/// One SSE frame as the caller received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseFrame {
    pub event: Option<String>,
    pub data: String,
}

impl SseFrame {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or(Value::Null)
    }
}

/// A streamed response read to its end.
#[derive(Debug)]
pub struct StreamResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub frames: Vec<SseFrame>,
}

impl StreamResponse {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    /// OpenAI chunks' `delta.content`, joined.
    pub fn openai_text(&self) -> String {
        self.frames
            .iter()
            .filter(|f| f.data != "[DONE]")
            .filter_map(|f| {
                f.json()["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect()
    }

    /// Anthropic `text_delta`s, joined.
    pub fn anthropic_text(&self) -> String {
        self.frames
            .iter()
            .filter(|f| f.event.as_deref() == Some("content_block_delta"))
            .filter_map(|f| f.json()["delta"]["text"].as_str().map(str::to_owned))
            .collect()
    }

    /// The `event:` names in order (Anthropic).
    pub fn event_names(&self) -> Vec<String> {
        self.frames.iter().filter_map(|f| f.event.clone()).collect()
    }
}

/// Splits an SSE body into frames (comments and keep-alives dropped).
pub fn parse_sse(body: &str) -> Vec<SseFrame> {
    let mut frames = Vec::new();
    for block in body.replace("\r\n", "\n").split("\n\n") {
        let mut event = None;
        let mut data = Vec::new();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                event = Some(v.trim().to_owned());
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push(v.strip_prefix(' ').unwrap_or(v).to_owned());
            }
        }
        if !data.is_empty() {
            frames.push(SseFrame {
                event,
                data: data.join("\n"),
            });
        }
    }
    frames
}

/// A one-user-message chat body.
pub fn chat_body(model: &str, text: &str) -> Value {
    serde_json::json!({
        "model": model,
        "messages": [{ "role": "user", "content": text }],
    })
}
