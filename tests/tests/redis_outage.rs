//! Redis outages, against a private `redis-server` each test starts, kills (SIGKILL, as a
//! crash would) and restarts from its AOF: cached keys keep working, caps hold from the
//! last known counters plus local spend, settlements are spooled and replayed exactly
//! once — by whichever instance finds them — and nothing waits on a dead Redis.
#![expect(
    clippy::expect_used,
    reason = "test helpers: a missing header or a failed set-up fails the test at once"
)]

use aig_common::api_key::ApiKey;
use aig_dataplane::spend::Spool;
use aig_dataplane::{AppState, Config};
use aig_tests::{chat_body, RedisServer, TempDir, TestApp, TestResponse};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

const GPT: &str = "openai/gpt-5.4";
const OPUS: &str = "anthropic/claude-opus-4.7";

fn cost_of(res: &TestResponse) -> i64 {
    res.header("x-aig-cost-micros")
        .expect("x-aig-cost-micros")
        .parse()
        .expect("an integer cost")
}

fn request_id(res: &TestResponse) -> String {
    res.header("x-aig-request-id").expect("x-aig-request-id")
}

/// Polls `check` every 50 ms until it holds, failing the test after `within`.
async fn wait_until<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A chat request with any key, timed.
async fn chat_with_key(app: &TestApp, key: &ApiKey, body: &Value) -> (TestResponse, Duration) {
    let started = Instant::now();
    let response = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(key.expose())
        .json(body)
        .send()
        .await
        .expect("request reaches the gateway");
    (TestApp::read(response).await, started.elapsed())
}

/// Serves `n` requests in both shapes while Redis is down; returns the answers.
async fn serve_during_outage(app: &TestApp, n: usize) -> Vec<TestResponse> {
    let mut answers = Vec::new();
    for i in 0..n {
        let res = if i % 2 == 0 {
            app.chat(&chat_body(GPT, &format!("outage request {i}")), &[])
                .await
        } else {
            let body = json!({
                "model": OPUS, "max_tokens": 50,
                "messages": [{"role": "user", "content": format!("outage request {i}")}],
            });
            app.messages(&body, &[]).await
        };
        assert_eq!(res.status, 200, "served during the outage: {:?}", res.body);
        answers.push(res);
    }
    answers
}

/// Asserts Redis accounts for exactly `answers`: the month's spend is the sum of their cost
/// headers, and the usage stream has one event per request id, with that cost.
async fn assert_accounted_exactly_once(app: &TestApp, answers: &[TestResponse]) {
    let total: i64 = answers.iter().map(cost_of).sum();
    assert_eq!(app.spent("*").await, total, "month's spend counter");
    let events = app.usage_events(answers.len()).await;
    assert_eq!(events.len(), answers.len(), "one usage event per request");
    let by_id: HashMap<&str, u64> = events
        .iter()
        .map(|e| (e.request_id.as_str(), e.cost_micros))
        .collect();
    assert_eq!(by_id.len(), answers.len(), "no request id twice");
    for res in answers {
        let id = request_id(res);
        assert_eq!(
            by_id.get(id.as_str()).copied(),
            Some(u64::try_from(cost_of(res)).expect("non-negative cost")),
            "usage event of {id}"
        );
    }
}

#[tokio::test]
async fn a_cached_key_keeps_being_served_unchanged_while_redis_is_down_and_unknown_keys_get_a_quick_503(
) {
    // Arrange
    let mut redis = RedisServer::start().await;
    let app = TestApp::spawn_on(&redis.url(), &[]).await;
    let body = chat_body(GPT, "same question");
    let before = app.chat(&body, &[]).await;
    assert_eq!(before.status, 200, "{:?}", before.body);
    let published_but_never_used = app.new_key().await;
    let never_published = ApiKey::generate();

    // Act: past the one-second freshness of the cached record, with Redis gone
    redis.stop();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut during = Vec::new();
    for _ in 0..5 {
        during.push(chat_with_key(&app, &app.key, &body).await);
    }
    let (unknown, unknown_took) = chat_with_key(&app, &never_published, &body).await;
    let (uncached, uncached_took) = chat_with_key(&app, &published_but_never_used, &body).await;

    // Assert
    for (res, took) in &during {
        assert_eq!(res.status, 200, "{:?}", res.body);
        assert_eq!(res.content(), before.content());
        assert_eq!(res.body["model"], before.body["model"]);
        assert_eq!(res.header("x-aig-chain"), before.header("x-aig-chain"));
        assert_eq!(
            res.header("x-aig-cost-micros"),
            before.header("x-aig-cost-micros")
        );
        assert!(
            *took < Duration::from_secs(1),
            "a cached key is not held up by the dead Redis: {took:?}"
        );
    }
    for (res, took) in [(&unknown, unknown_took), (&uncached, uncached_took)] {
        assert_eq!(res.status, 503, "{:?}", res.body);
        assert_eq!(res.error_code(), Some("service_unavailable"));
        assert!(took < Duration::from_secs(2), "never a hang: {took:?}");
    }
}

#[tokio::test]
async fn a_tag_cap_is_enforced_from_the_last_known_counters_plus_local_spend_while_redis_is_down() {
    // Arrange: a 1-cent cap, a bit more than half of it spent while Redis is up
    let mut redis = RedisServer::start().await;
    let app = TestApp::spawn_on(&redis.url(), &[]).await;
    let cap_micros = 10_000;
    app.set_budget("outage.cap", 1).await;
    let tagged = [("x-aig-tag", "outage.cap")];
    let body = chat_body(OPUS, "spend a little");
    let mut costs = Vec::new();
    while costs.iter().sum::<i64>() < cap_micros / 2 {
        let res = app.chat(&body, &tagged).await;
        assert_eq!(res.status, 200, "{:?}", res.body);
        costs.push(cost_of(&res));
    }
    let served_with_redis = costs.len();

    // Act: keep sending without Redis until the cap trips
    redis.stop();
    let refused = loop {
        let res = app.chat(&body, &tagged).await;
        if res.status != 200 {
            break res;
        }
        costs.push(cost_of(&res));
        assert!(costs.len() < 200, "the cap never tripped without Redis");
    };
    let attempts_before = app.mock.state.request_count("anthropic");
    let again = app.chat(&body, &tagged).await;
    let attempts_after = app.mock.state.request_count("anthropic");
    let untagged = app.chat(&body, &[]).await;
    redis.restart().await;
    app.await_redis().await;
    wait_until(Duration::from_secs(10), "the spool is replayed", || async {
        app.spool_files().is_empty()
    })
    .await;

    // Assert: refused exactly when the known spend reached the cap, without dispatching
    assert_eq!(refused.status, 402, "{:?}", refused.body);
    assert_eq!(refused.error_code(), Some("budget_exceeded"));
    assert!(refused.error_message().contains("outage.cap"));
    assert_eq!(again.status, 402);
    assert_eq!(attempts_after, attempts_before, "nothing dispatched");
    assert_eq!(untagged.status, 200, "other tags are not capped");
    assert!(
        costs.len() > served_with_redis,
        "some were served without Redis"
    );
    let total: i64 = costs.iter().sum();
    let before_last = total - costs.last().copied().unwrap_or_default();
    assert!(
        before_last < cap_micros && total >= cap_micros,
        "the 402 is the first request after the cap was reached: spent {before_last} then \
         {total} of {cap_micros}"
    );
    assert_eq!(
        app.spent("outage.cap").await,
        total,
        "replayed once Redis returned"
    );
    let events = app.usage_events(costs.len() + 3).await;
    let refusals = events.iter().filter(|e| e.status == 402).count();
    assert_eq!(
        events.len(),
        costs.len() + 3,
        "the refused requests' events too"
    );
    assert_eq!(refusals, 2);
}

#[tokio::test]
async fn settlements_made_while_redis_is_down_are_spooled_and_replayed_exactly_once_after_restart()
{
    // Arrange
    let mut redis = RedisServer::start().await;
    let app = TestApp::spawn_on(&redis.url(), &[]).await;
    let initial_balance = 50_000_000;
    app.set_balance(initial_balance).await;
    let warm = app.chat(&chat_body(GPT, "before the outage"), &[]).await;
    assert_eq!(warm.status, 200, "{:?}", warm.body);

    // Act
    redis.stop();
    let during = serve_during_outage(&app, 6).await;
    let spooled = app.spool_files();
    redis.restart().await;
    app.await_redis().await;
    wait_until(
        Duration::from_secs(10),
        "the spool is replayed and emptied",
        || async { app.spool_files().is_empty() },
    )
    .await;
    let after = app.chat(&chat_body(GPT, "after the outage"), &[]).await;

    // Assert
    assert!(!spooled.is_empty(), "the outage's settlements were spooled");
    assert_eq!(after.status, 200, "{:?}", after.body);
    assert!(
        app.spool_files().is_empty(),
        "settled in Redis again, not spooled"
    );
    let answers: Vec<TestResponse> = std::iter::once(warm)
        .chain(during)
        .chain(std::iter::once(after))
        .collect();
    assert_accounted_exactly_once(&app, &answers).await;
    let total: i64 = answers.iter().map(cost_of).sum();
    assert_eq!(app.balance().await, Some(initial_balance - total));
}

#[tokio::test]
async fn replaying_a_spool_file_a_second_time_counts_nothing_twice() {
    // Arrange: settlements spooled during an outage, and a copy of the spool kept aside
    let mut redis = RedisServer::start().await;
    let app = TestApp::spawn_on(&redis.url(), &[]).await;
    let warm = app.chat(&chat_body(GPT, "before the outage"), &[]).await;
    assert_eq!(warm.status, 200, "{:?}", warm.body);
    redis.stop();
    let during = serve_during_outage(&app, 4).await;
    let copies = TempDir::new("aig-spool-copy");
    for file in app.spool_files() {
        let name = file.file_name().expect("a file name");
        std::fs::copy(&file, copies.path().join(name)).expect("copy spool");
    }
    redis.restart().await;
    app.await_redis().await;
    wait_until(Duration::from_secs(10), "the first replay", || async {
        app.spool_files().is_empty()
    })
    .await;
    let answers: Vec<TestResponse> = std::iter::once(warm).chain(during).collect();
    assert_accounted_exactly_once(&app, &answers).await;

    // Act: the same entries again, once as a file (an instance that died after applying it
    // but before deleting it) and once straight through the settle step
    let mut entries = Vec::new();
    for file in std::fs::read_dir(copies.path()).expect("copies").flatten() {
        let claimed = Spool::claim(&file.path()).expect("claim a copy");
        entries.extend(claimed.entries.iter().cloned());
        drop(claimed);
        let path = file.path();
        let stem = path.file_stem().expect("a stem").to_string_lossy();
        let again = app.spool_dir.join(format!("{stem}-again.jsonl"));
        std::fs::copy(&path, again).expect("put the copy back");
    }
    wait_until(Duration::from_secs(10), "the second replay", || async {
        app.spool_files().is_empty()
    })
    .await;
    let spend = app.state.spend();
    let mut replies = Vec::new();
    for entry in &entries {
        replies.push(spend.settle_in_redis(&app.state, entry).await);
    }

    // Assert
    assert_eq!(entries.len(), 4, "every outage request was in the copy");
    for reply in replies {
        assert!(reply.is_ok(), "{reply:?}");
    }
    assert_accounted_exactly_once(&app, &answers).await;
}

#[tokio::test]
async fn a_spool_left_by_an_instance_that_stopped_during_the_outage_is_replayed_by_another() {
    // Arrange: two instances of one deployment sharing a spool directory
    let mut redis = RedisServer::start().await;
    let spool = TempDir::new("aig-shared-spool");
    let shared = [("AIG_SPOOL_DIR", spool.as_str())];
    let first = TestApp::spawn_on(&redis.url(), &shared).await;
    let second = first.spawn_sibling(&shared).await;
    let warm = first.chat(&chat_body(GPT, "before the outage"), &[]).await;
    assert_eq!(warm.status, 200, "{:?}", warm.body);

    // Act: the first serves during the outage, then stops before Redis returns
    redis.stop();
    let during = serve_during_outage(&first, 4).await;
    let stopped = first.state.downgrade();
    drop(first);
    wait_until(
        Duration::from_secs(10),
        "the first instance is gone",
        || {
            let gone = stopped.upgrade().is_none();
            async move { gone }
        },
    )
    .await;
    let left_behind = second.spool_files();
    redis.restart().await;
    second.await_redis().await;
    wait_until(
        Duration::from_secs(10),
        "the second instance replays the spool",
        || async { second.spool_files().is_empty() },
    )
    .await;

    // Assert
    assert!(!left_behind.is_empty(), "the stopped instance left a spool");
    let answers: Vec<TestResponse> = std::iter::once(warm).chain(during).collect();
    assert_accounted_exactly_once(&second, &answers).await;
}

#[tokio::test]
async fn a_spool_directory_shared_with_another_deployment_is_never_replayed_into_its_keys() {
    // Arrange: our instance and another deployment (its own key prefix) on one Redis and
    // one spool directory, and a twin of ours that spools elsewhere
    let mut redis = RedisServer::start().await;
    let shared = TempDir::new("aig-shared-spool");
    let ours = TestApp::spawn_on(&redis.url(), &[("AIG_SPOOL_DIR", shared.as_str())]).await;
    let twin_dir = TempDir::new("aig-twin-spool");
    let twin = ours
        .spawn_sibling(&[("AIG_SPOOL_DIR", twin_dir.as_str())])
        .await;
    let theirs = TestApp::spawn_on(&redis.url(), &[("AIG_SPOOL_DIR", shared.as_str())]).await;
    let warm = ours.chat(&chat_body(GPT, "before the outage"), &[]).await;
    assert_eq!(warm.status, 200, "{:?}", warm.body);

    // Act: ours spools and stops; Redis returns with only the other deployment watching
    // the directory; then our spool is handed to the twin
    redis.stop();
    let during = serve_during_outage(&ours, 4).await;
    let stopped = ours.state.downgrade();
    drop(ours);
    wait_until(Duration::from_secs(10), "our instance is gone", || {
        let gone = stopped.upgrade().is_none();
        async move { gone }
    })
    .await;
    let ours_before = theirs.spool_files();
    redis.restart().await;
    theirs.await_redis().await;
    twin.await_redis().await;
    // Long enough for two replay rounds with Redis back.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let ours_after = theirs.spool_files();
    for file in &ours_after {
        let name = file.file_name().expect("a file name");
        std::fs::rename(file, twin_dir.path().join(name)).expect("hand the spool over");
    }
    wait_until(Duration::from_secs(10), "the twin replays it", || async {
        twin.spool_files().is_empty()
    })
    .await;

    // Assert
    assert!(!ours_before.is_empty());
    assert_eq!(
        ours_after, ours_before,
        "the other deployment left our spool alone"
    );
    assert_eq!(theirs.spent("*").await, 0);
    let answers: Vec<TestResponse> = std::iter::once(warm).chain(during).collect();
    assert_accounted_exactly_once(&twin, &answers).await;
}

#[tokio::test]
async fn a_hung_redis_costs_about_one_timeout_a_second_and_its_late_writes_count_once() {
    // Arrange
    let redis = RedisServer::start().await;
    let app = TestApp::spawn_on(&redis.url(), &[]).await;
    let warm = app.chat(&chat_body(GPT, "before the hang"), &[]).await;
    assert_eq!(warm.status, 200, "{:?}", warm.body);

    // Act: Redis hangs while a slow answer is upstream (its settle step times out, is
    // spooled, and is applied late as well), then three seconds of traffic against a
    // server that accepts but never answers
    let slow_answer = chat_body(&format!("{GPT}-slow-400"), "across the hang");
    let (in_flight, ()) = tokio::join!(app.chat(&slow_answer, &[]), async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        redis.pause();
    });
    assert_eq!(in_flight.status, 200, "{:?}", in_flight.body);
    let hung_for = Duration::from_secs(3);
    let started = Instant::now();
    let mut during = vec![in_flight];
    let mut slow = 0;
    while started.elapsed() < hung_for {
        let sent = Instant::now();
        let res = app.chat(&chat_body(GPT, "while Redis hangs"), &[]).await;
        if sent.elapsed() > Duration::from_millis(300) {
            slow += 1;
        }
        assert_eq!(res.status, 200, "{:?}", res.body);
        during.push(res);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    redis.resume();
    wait_until(Duration::from_secs(10), "the spool is replayed", || async {
        app.spool_files().is_empty()
    })
    .await;

    // Assert: only the probes waited; what the hung server applied late (a reservation, a
    // settlement the spool also holds) is released and counted once
    assert!(
        slow <= 4 && slow * 4 <= during.len(),
        "{slow} of {} requests waited on the hung Redis",
        during.len()
    );
    let answers: Vec<TestResponse> = std::iter::once(warm).chain(during).collect();
    assert_accounted_exactly_once(&app, &answers).await;
    let mut conn = app.state.redis();
    let reservations = app.state.redis_keys().reservations(&app.tenant_id);
    let reserved: Option<i64> = redis::AsyncCommands::hget(&mut conn, reservations, "*")
        .await
        .expect("HGET reservations");
    assert_eq!(reserved.unwrap_or(0), 0, "no reservation left behind");
}

#[tokio::test]
async fn health_reports_redis_unreachable_during_the_outage_and_ok_once_it_returns() {
    // Arrange
    let mut redis = RedisServer::start().await;
    let app = TestApp::spawn_on(&redis.url(), &[]).await;
    let health = || async {
        let res = app
            .client
            .get(app.url("/healthz"))
            .send()
            .await
            .expect("healthz");
        (res.status().as_u16(), TestApp::read(res).await.body)
    };

    // Act
    redis.stop();
    let started = Instant::now();
    let (down_status, down) = health().await;
    let down_took = started.elapsed();
    redis.restart().await;
    let back_within = Duration::from_secs(3);
    let started = Instant::now();
    wait_until(back_within, "healthz sees Redis again", || async {
        health().await.1["redis"] == "ok"
    })
    .await;
    app.await_redis().await;
    let revoked_after = app.new_key().await;
    app.revoke(&revoked_after).await;
    let (revoked, _) = chat_with_key(&app, &revoked_after, &chat_body(GPT, "hi")).await;

    // Assert
    assert_eq!(down_status, 200, "liveness holds while Redis is away");
    assert_eq!(down["redis"], "unreachable");
    assert!(down_took < Duration::from_secs(1), "{down_took:?}");
    assert!(started.elapsed() < back_within);
    assert_eq!(revoked.status, 401, "key lookups reach Redis again");
}

#[tokio::test]
async fn a_data_plane_started_while_redis_is_down_fails_fast_naming_redis_url() {
    // Arrange: a port nobody listens on
    let mut redis = RedisServer::start().await;
    let url = redis.url();
    redis.stop();
    let spool = TempDir::new("aig-spool");
    let env: HashMap<&str, &str> = [
        ("REDIS_URL", url.as_str()),
        ("AIG_SPOOL_DIR", spool.as_str()),
    ]
    .into_iter()
    .collect();
    let config = Config::from_lookup(|k| env.get(k).map(|v| (*v).to_owned())).expect("config");

    // Act
    let started = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(10), AppState::new(config)).await;

    // Assert
    let took = started.elapsed();
    let Ok(Err(e)) = result else {
        panic!("start-up neither failed nor finished within ten seconds: {took:?}");
    };
    assert!(e.to_string().contains("REDIS_URL"), "{e}");
    assert!(took < Duration::from_secs(3), "fails fast: {took:?}");
}
