//! `TestControlPlane`: the real control plane on port 0, on a test's own Postgres database
//! (`#[sqlx::test]`) and real Redis under a fresh key prefix, with typed helpers; and
//! `DataPlane`, a real data plane on the same prefix that forwards management calls to it.
#![expect(
    clippy::expect_used,
    reason = "test kit: a failed set-up must fail the test at once, with the reason"
)]

use crate::app::{redis_url, TestApp, TestResponse};
use crate::mock::MockProviders;
use aig_common::api_key::ApiKey;
use aig_common::provider::ProviderId;
use aig_common::redis_keys::RedisKeys;
use aig_controlplane::accounts::{self, CreatedTenant, NewTenant};
use aig_controlplane::ingest::{Ingester, PollStats};
use serde_json::Value;
use sqlx::PgPool;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Aborts a spawned server when dropped, as a stopped process would.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves `app` on a fresh port of 127.0.0.1.
async fn serve(app: axum::Router) -> (SocketAddr, AbortOnDrop) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let server = tokio::spawn(async move {
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        let _ = axum::serve(listener, app).await;
    });
    (addr, AbortOnDrop(server.abort_handle()))
}

/// `AIG_JWT_SECRET` of test control planes, so tests can forge expired sessions.
pub const TEST_JWT_SECRET: &str = "test-only-jwt-secret-0123456789abcdefghij";

/// The control plane's configuration for a test: this Redis, this prefix, and `overrides`.
pub fn controlplane_config(prefix: &str, overrides: &[(&str, &str)]) -> aig_controlplane::Config {
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert("REDIS_URL".into(), redis_url());
    env.insert("AIG_REDIS_PREFIX".into(), prefix.to_owned());
    env.insert("AIG_INGEST_CONSUMER".into(), "test-controlplane".into());
    env.insert("AIG_JWT_SECRET".into(), TEST_JWT_SECRET.into());
    for (k, v) in overrides {
        env.insert((*k).into(), (*v).into());
    }
    aig_controlplane::Config::from_lookup(|k| env.get(k).cloned()).expect("test config is valid")
}

/// A running control plane with its own database and Redis prefix.
pub struct TestControlPlane {
    pub addr: SocketAddr,
    pub state: aig_controlplane::AppState,
    pub prefix: String,
    pub client: reqwest::Client,
    pub redis: aig_common::redis_conn::RedisConn,
    /// The `REDIS_URL` it runs on (its data planes get the same).
    pub redis_url: String,
    _server: AbortOnDrop,
}

impl TestControlPlane {
    pub async fn spawn(pool: PgPool) -> TestControlPlane {
        Self::spawn_with(pool, &[]).await
    }

    /// Spawns with extra environment-style settings layered over the test defaults.
    pub async fn spawn_with(pool: PgPool, overrides: &[(&str, &str)]) -> TestControlPlane {
        let prefix = format!("aigtest:{}:", uuid::Uuid::new_v4().simple());
        let config = controlplane_config(&prefix, overrides);
        let redis_url = overrides
            .iter()
            .find(|(k, _)| *k == "REDIS_URL")
            .map_or_else(redis_url, |(_, v)| (*v).to_owned());
        let redis = aig_controlplane::state::connect_redis(&config)
            .await
            .expect("Redis (is it running?)");
        let state = aig_controlplane::AppState::from_parts(config, pool, redis.clone());
        let (addr, server) = serve(aig_controlplane::router(state.clone())).await;
        TestControlPlane {
            addr,
            state,
            prefix,
            client: reqwest::Client::new(),
            redis,
            redis_url,
            _server: server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn keys(&self) -> RedisKeys {
        RedisKeys::new(self.prefix.clone())
    }

    /// Creates a tenant the way `aig-controlplane tenant create` does.
    pub async fn create_tenant(&self, org: &str) -> CreatedTenant {
        accounts::create_tenant(
            &self.state,
            NewTenant {
                org: org.to_owned(),
                email: format!("owner-{}@example.com", uuid::Uuid::new_v4().simple()),
                password: None,
                platform_admin: false,
            },
        )
        .await
        .expect("create tenant")
    }

    /// `GET path` with the key as a Bearer token.
    pub async fn get(&self, key: &ApiKey, path: &str) -> TestResponse {
        let req = self.client.get(self.url(path)).bearer_auth(key.expose());
        TestApp::read(req.send().await.expect("control plane answers")).await
    }

    /// `POST path` with `body` sent as curl's `-d` sends it: form-urlencoded.
    pub async fn post_raw(&self, key: &ApiKey, path: &str, body: &str) -> TestResponse {
        let req = self
            .client
            .post(self.url(path))
            .bearer_auth(key.expose())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned());
        TestApp::read(req.send().await.expect("control plane answers")).await
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(&self, key: &ApiKey, path: &str, body: &Value) -> TestResponse {
        let req = self
            .client
            .post(self.url(path))
            .bearer_auth(key.expose())
            .json(body);
        TestApp::read(req.send().await.expect("control plane answers")).await
    }

    pub async fn delete(&self, key: &ApiKey, path: &str) -> TestResponse {
        let req = self.client.delete(self.url(path)).bearer_auth(key.expose());
        TestApp::read(req.send().await.expect("control plane answers")).await
    }

    /// Ingests everything waiting in the usage streams, as the `serve` loop would.
    pub async fn ingest(&self) -> PollStats {
        Ingester::new(self.state.clone())
            .drain()
            .await
            .expect("ingestion runs")
    }

    /// Ingests until at least `n` new events were written (the data plane appends them just
    /// after answering), for up to five seconds.
    pub async fn ingest_at_least(&self, n: usize) -> PollStats {
        let mut ingester = Ingester::new(self.state.clone());
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut total = PollStats::default();
        loop {
            total += ingester.drain().await.expect("ingestion runs");
            if total.ingested >= n || Instant::now() > deadline {
                return total;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A browser on this control plane: keeps cookies, does not follow redirects.
    pub fn browser(&self) -> Browser {
        Browser {
            base: self.url(""),
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("browser client"),
            csrf: String::new(),
        }
    }

    /// A data plane on this control plane's Redis prefix, forwarding management calls here.
    pub async fn spawn_dataplane(&self) -> DataPlane {
        DataPlane::spawn_on(&self.redis_url, &self.prefix, &self.url("")).await
    }
}

impl Drop for TestControlPlane {
    /// Removes what the test published, so a shared Redis does not fill up (a test's own
    /// Redis Cluster goes away with the test).
    fn drop(&mut self) {
        if self.redis.is_cluster() {
            return;
        }
        let pattern = format!("{}*", self.prefix);
        let Ok(mut conn) = redis::Client::open(redis_url()).and_then(|c| c.get_connection()) else {
            return;
        };
        let names: Vec<String> = redis::cmd("KEYS")
            .arg(&pattern)
            .query(&mut conn)
            .unwrap_or_default();
        for chunk in names.chunks(500) {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(chunk).query(&mut conn);
        }
    }
}

/// A real data plane on port 0 with its own mock providers.
pub struct DataPlane {
    pub addr: SocketAddr,
    pub mock: MockProviders,
    pub client: reqwest::Client,
    spool_dir: PathBuf,
    _server: AbortOnDrop,
}

impl DataPlane {
    /// Spawns on Redis prefix `prefix`, forwarding management calls to `controlplane_url`.
    pub async fn spawn(prefix: &str, controlplane_url: &str) -> DataPlane {
        Self::spawn_on(&redis_url(), prefix, controlplane_url).await
    }

    /// Spawns on the Redis (one server or a cluster's seed nodes) at `redis_url`.
    pub async fn spawn_on(redis_url: &str, prefix: &str, controlplane_url: &str) -> DataPlane {
        let mock = MockProviders::start().await.expect("mock providers start");
        let spool_dir =
            std::env::temp_dir().join(format!("aig-spool-{}", uuid::Uuid::new_v4().simple()));
        let mut env: HashMap<String, String> = HashMap::new();
        env.insert("REDIS_URL".into(), redis_url.to_owned());
        env.insert("AIG_REDIS_PREFIX".into(), prefix.to_owned());
        env.insert("AIG_CONTROLPLANE_URL".into(), controlplane_url.to_owned());
        env.insert(
            "AIG_SPOOL_DIR".into(),
            spool_dir.to_str().expect("UTF-8 temp dir").to_owned(),
        );
        for id in ProviderId::ALL {
            let name = id.env_name();
            env.insert(
                format!("AIG_PROVIDER_{name}_BASE_URL"),
                mock.base_url(id.slug()),
            );
            env.insert(format!("AIG_PROVIDER_{name}_API_KEY"), "mock-key".into());
        }
        let config = aig_dataplane::Config::from_lookup(|k| env.get(k).cloned())
            .expect("data plane test config is valid");
        let state = aig_dataplane::AppState::new(config)
            .await
            .expect("data plane state (is Redis running?)");
        let (addr, server) = serve(aig_dataplane::router(state)).await;
        DataPlane {
            addr,
            mock,
            client: reqwest::Client::new(),
            spool_dir,
            _server: server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// `POST /v1/chat/completions` with `key` and the given extra headers.
    pub async fn chat(&self, key: &ApiKey, body: &Value, headers: &[(&str, &str)]) -> TestResponse {
        let mut req = self
            .client
            .post(self.url("/v1/chat/completions"))
            .bearer_auth(key.expose())
            .json(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        TestApp::read(req.send().await.expect("data plane answers")).await
    }

    /// Sends chat requests with `key` until one answers `status`, for up to `within`;
    /// returns the answer that matched and how long it took.
    pub async fn chat_until(
        &self,
        key: &ApiKey,
        body: &Value,
        headers: &[(&str, &str)],
        status: u16,
        within: Duration,
    ) -> (TestResponse, Duration) {
        let start = Instant::now();
        loop {
            let response = self.chat(key, body, headers).await;
            if response.status == status || start.elapsed() > within {
                return (response, start.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for DataPlane {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.spool_dir);
    }
}

/// A TCP forwarder in front of a server (Postgres) that a test can cut, as an outage would,
/// and restore.
pub struct TcpProxy {
    pub addr: SocketAddr,
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
    links: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
    _accept: AbortOnDrop,
}

impl TcpProxy {
    pub async fn start(target: SocketAddr) -> TcpProxy {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let down = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let links = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (down2, links2) = (down.clone(), links.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if down2.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is refused as by a dead server
                }
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                links2
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(link.abort_handle());
            }
        });
        TcpProxy {
            addr,
            down,
            links,
            _accept: AbortOnDrop(accept.abort_handle()),
        }
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut(&self) {
        self.down.store(true, std::sync::atomic::Ordering::SeqCst);
        for link in self
            .links
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            link.abort();
        }
    }

    /// Accepts connections again.
    pub fn restore(&self) {
        self.down.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A page as a browser received it.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub html: String,
}

impl Page {
    pub fn location(&self) -> Option<&str> {
        self.headers.get("location").and_then(|v| v.to_str().ok())
    }

    /// Every `Set-Cookie` line.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The key revealed on this page (`<pre class="key" …>sk-aig-…</pre>`), if any.
    pub fn revealed_key(&self) -> Option<ApiKey> {
        let start = self.html.find(r#"id="new-key">"#)? + r#"id="new-key">"#.len();
        let end = start + self.html[start..].find('<')?;
        ApiKey::parse(self.html[start..end].trim())
    }

    /// The hidden CSRF field's value, if the page has a form.
    pub fn csrf(&self) -> Option<String> {
        let marker = r#"name="csrf" value=""#;
        let start = self.html.find(marker)? + marker.len();
        let end = start + self.html[start..].find('"')?;
        Some(self.html[start..end].to_owned())
    }
}

/// A cookie-keeping client that fills in the CSRF token of the last page with a form.
pub struct Browser {
    pub base: String,
    pub client: reqwest::Client,
    /// The CSRF token of the last form seen.
    pub csrf: String,
}

impl Browser {
    async fn read(response: reqwest::Response) -> Page {
        Page {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            html: response.text().await.expect("page body"),
        }
    }

    fn remember(&mut self, page: &Page) {
        if let Some(token) = page.csrf().filter(|t| !t.is_empty()) {
            self.csrf = token;
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("control plane answers");
        let page = Self::read(response).await;
        self.remember(&page);
        page
    }

    /// Posts the form fields as they are (no CSRF token added).
    pub async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .form(fields)
            .send()
            .await
            .expect("control plane answers");
        let page = Self::read(response).await;
        self.remember(&page);
        page
    }

    /// Posts the form with the CSRF token of the last page.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.csrf.clone();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// Opens `/signup` and submits it.
    pub async fn sign_up(&mut self, org: &str, email: &str, password: &str) -> Page {
        self.get("/signup").await;
        self.post(
            "/signup",
            &[("org", org), ("email", email), ("password", password)],
        )
        .await
    }

    /// Opens `/login` and submits it.
    pub async fn log_in(&mut self, email: &str, password: &str) -> Page {
        self.get("/login").await;
        self.post("/login", &[("email", email), ("password", password)])
            .await
    }
}
