//! The health monitor, held to SPEC §4.2 and §5 against real Redis: windowed counts, marks
//! by the elected leader, Retry-After marks, probes, two instances agreeing, failover,
//! history, and a Redis outage.
#![expect(
    clippy::expect_used,
    reason = "test helpers: a failed read of /healthz or Redis fails the test at once"
)]

use aig_common::health::{ClearReason, HealthEvent, MarkReason};
use aig_common::provider::ProviderId;
use aig_dataplane::health::history;
use aig_tests::mock::Mode;
use aig_tests::{chat_body, RedisServer, TestApp};
use serde_json::Value;
use std::future::Future;
use std::time::{Duration, Instant};

const OPUS: &str = "anthropic/claude-opus-4.7";
const GPT: &str = "openai/gpt-5.4";
const KIMI: &str = "moonshot/kimi-k2.6";

/// A one-second tick and a low bar: four attempts at 50 % failures mark a subject; runs of
/// timeouts/5xx are left out unless a test sets them.
const QUICK: &[(&str, &str)] = &[
    ("AIG_HEALTH_TICK_MS", "1000"),
    ("AIG_HEALTH_MIN_ATTEMPTS", "4"),
    ("AIG_HEALTH_FAILURE_RATIO", "50"),
    ("AIG_HEALTH_CONSECUTIVE_FAILURES", "1000"),
];

/// Polls `check` every 20 ms until it holds, failing the test after `within`; returns how
/// long it took.
async fn wait_until<F, Fut>(within: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < within, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

async fn healthz(app: &TestApp) -> Value {
    let res = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    TestApp::read(res).await.body
}

/// `ok` or `degraded`, as this instance's `/healthz` reports the provider.
async fn provider_state(app: &TestApp, provider: &str) -> String {
    healthz(app).await["providers"][provider]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn is_degraded(app: &TestApp, provider: &str) -> bool {
    provider_state(app, provider).await == "degraded"
}

async fn events(app: &TestApp, provider: ProviderId) -> Vec<HealthEvent> {
    let mut redis = app.state.redis();
    history::read(&mut redis, app.state.redis_keys(), provider, 0)
        .await
        .expect("read the health history")
}

/// Sends `n` requests to GPT with Kimi as fallback, asserting each attempt on GPT failed
/// the way `outcome` says.
async fn fail_gpt(app: &TestApp, n: usize, outcome: &str) {
    for _ in 0..n {
        let res = app
            .chat(&chat_body(GPT, "hi"), &[("x-aig-fallback", KIMI)])
            .await;
        assert_eq!(
            res.header("x-aig-chain"),
            Some(format!("{GPT}:{outcome}→{KIMI}:200"))
        );
    }
}

/// Attempts and failures of the provider summed over the history's per-tick counts.
async fn tick_totals(app: &TestApp, provider: ProviderId) -> (u64, u64) {
    events(app, provider)
        .await
        .iter()
        .fold((0, 0), |(n, f), e| match e {
            HealthEvent::Tick {
                attempts, failures, ..
            } => (n + attempts, f + failures),
            _ => (n, f),
        })
}

/// The instance holding the leader lock in Redis, if any.
async fn lock_holder(app: &TestApp) -> Option<String> {
    let mut redis = app.state.redis();
    redis::cmd("GET")
        .arg(app.state.redis_keys().health_leader())
        .query_async(&mut redis)
        .await
        .expect("GET the leader lock")
}

#[tokio::test]
async fn a_provider_failing_over_the_threshold_is_marked_degraded_after_a_tick_and_then_skipped() {
    // Arrange
    let app = TestApp::spawn_with(QUICK).await;
    app.mock.state.set_mode("openai", Mode::Fail(500));

    // Act
    fail_gpt(&app, 8, "500").await;
    wait_until(Duration::from_secs(10), "openai is marked degraded", || {
        is_degraded(&app, "openai")
    })
    .await;
    let attempts_before = app.mock.state.request_count("openai");
    let res = app
        .chat(&chat_body(GPT, "hi"), &[("x-aig-fallback", KIMI)])
        .await;

    // Assert
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(
        res.header("x-aig-chain"),
        Some(format!("{GPT}:degraded→{KIMI}:200"))
    );
    assert_eq!(res.header("x-aig-served-by").as_deref(), Some(KIMI));
    assert_eq!(
        res.header("x-aig-fallback-reason").as_deref(),
        Some("openai_degraded")
    );
    assert_eq!(
        app.mock.state.request_count("openai"),
        attempts_before,
        "a skip makes no attempt"
    );
    let subjects = app.state.health().degraded_subjects();
    assert!(subjects.contains(&"openai".to_owned()), "{subjects:?}");
    assert!(subjects.contains(&GPT.to_owned()), "{subjects:?}");
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    assert!(
        metrics.contains(r#"aig_dataplane_provider_degraded{provider="openai"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"aig_dataplane_provider_degraded{provider="moonshot"} 0"#));
}

#[tokio::test]
async fn client_errors_and_content_filters_are_not_failures() {
    // Arrange
    let app = TestApp::spawn_with(QUICK).await;

    // Act: eight 400s and eight filtered answers from openai, far over the bar if counted
    for _ in 0..8 {
        let res = app
            .chat(&chat_body("openai/gpt-5.4-fail-400", "hi"), &[])
            .await;
        assert_eq!(res.status, 400);
        let res = app
            .chat(&chat_body("openai/gpt-5.4-filter", "hi"), &[])
            .await;
        assert_eq!(
            res.header("x-aig-chain").as_deref(),
            Some("openai/gpt-5.4-filter:filter")
        );
    }
    wait_until(
        Duration::from_secs(10),
        "every window is evaluated",
        || async { tick_totals(&app, ProviderId::Openai).await.0 == 16 },
    )
    .await;

    // Assert
    assert_eq!(tick_totals(&app, ProviderId::Openai).await, (16, 0));
    assert_eq!(provider_state(&app, "openai").await, "ok");
    assert!(app.state.health().degraded_subjects().is_empty());
}

#[tokio::test]
async fn consecutive_5xx_mark_a_model_below_the_minimum_attempts_and_the_probe_clears_only_its_provider(
) {
    // Arrange: a two-second tick, three 5xx in a row mark, the ratio never does
    let app = TestApp::spawn_with(&[
        ("AIG_HEALTH_TICK_MS", "2000"),
        ("AIG_HEALTH_MIN_ATTEMPTS", "1000"),
        ("AIG_HEALTH_CONSECUTIVE_FAILURES", "3"),
    ])
    .await;
    let broken = "openai/gpt-5.4-fail-503";

    // Act
    for _ in 0..3 {
        let res = app
            .chat(&chat_body(broken, "hi"), &[("x-aig-fallback", KIMI)])
            .await;
        assert_eq!(
            res.header("x-aig-chain"),
            Some(format!("{broken}:503→{KIMI}:200"))
        );
    }
    wait_until(Duration::from_secs(10), "the model is marked", || async {
        app.state
            .health()
            .degraded_subjects()
            .contains(&broken.to_owned())
    })
    .await;
    // The provider was marked too; its models list answers, so the probe clears it.
    wait_until(Duration::from_secs(5), "the probe clears openai", || {
        let app = &app;
        async move { provider_state(app, "openai").await == "ok" }
    })
    .await;
    let skipped = app
        .chat(&chat_body(broken, "hi"), &[("x-aig-fallback", KIMI)])
        .await;
    let healthy_model = app
        .chat(&chat_body(GPT, "hi"), &[("x-aig-fallback", KIMI)])
        .await;

    // Assert
    assert_eq!(
        skipped.header("x-aig-chain"),
        Some(format!("{broken}:degraded→{KIMI}:200"))
    );
    assert_eq!(
        healthy_model.header("x-aig-chain"),
        Some(format!("{GPT}:200"))
    );
    let history = events(&app, ProviderId::Openai).await;
    assert!(
        history.iter().any(|e| matches!(e,
            HealthEvent::Degraded { subject, reason: MarkReason::ConsecutiveFailures, .. }
                if subject == broken)),
        "{history:?}"
    );
    assert!(app.mock.state.models_list_count("openai") >= 1);
}

#[tokio::test]
async fn a_429_with_retry_after_marks_the_provider_at_once_until_then() {
    // Arrange: the default 30-second tick; the mock's 429s say `retry-after: 1`
    let app = TestApp::spawn().await;
    app.mock.state.set_mode("anthropic", Mode::Fail(429));

    // Act
    let rate_limited = app
        .chat(&chat_body(OPUS, "hi"), &[("x-aig-fallback", GPT)])
        .await;
    app.mock.state.set_mode("anthropic", Mode::Normal);
    let next = app
        .chat(&chat_body(OPUS, "hi"), &[("x-aig-fallback", GPT)])
        .await;
    let state_during = provider_state(&app, "anthropic").await;
    let lapsed_after = wait_until(Duration::from_secs(3), "the mark runs out", || {
        let app = &app;
        async move { provider_state(app, "anthropic").await == "ok" }
    })
    .await;
    let after = app
        .chat(&chat_body(OPUS, "hi"), &[("x-aig-fallback", GPT)])
        .await;

    // Assert
    assert_eq!(
        rate_limited.header("x-aig-chain"),
        Some(format!("{OPUS}:429→{GPT}:200"))
    );
    assert_eq!(
        next.header("x-aig-chain"),
        Some(format!("{OPUS}:degraded→{GPT}:200"))
    );
    assert_eq!(
        next.header("x-aig-fallback-reason").as_deref(),
        Some("anthropic_degraded")
    );
    assert_eq!(
        app.mock.state.request_count("anthropic"),
        2,
        "one 429, then the 200 after it ran out"
    );
    assert_eq!(state_during, "degraded");
    assert!(
        lapsed_after < Duration::from_millis(1500),
        "{lapsed_after:?}"
    );
    assert_eq!(after.header("x-aig-chain"), Some(format!("{OPUS}:200")));
    let history = events(&app, ProviderId::Anthropic).await;
    assert!(
        matches!(history.first(), Some(HealthEvent::Degraded { subject, reason: MarkReason::RetryAfter, until_ms, at_ms })
            if subject == "anthropic" && until_ms - at_ms <= 1000),
        "{history:?}"
    );
}

#[tokio::test]
async fn a_degraded_primary_costs_no_retry_budget() {
    // Arrange: anthropic marked by a 429's Retry-After
    let app = TestApp::spawn().await;
    app.mock.state.set_mode("anthropic", Mode::Fail(429));
    app.chat(&chat_body(OPUS, "hi"), &[("x-aig-fallback", GPT)])
        .await;

    // Act: no retries allowed, yet the skip leaves the one attempt for the fallback
    let res = app
        .chat(
            &chat_body(OPUS, "hi"),
            &[
                ("x-aig-fallback", "openai/gpt-5.4,moonshot/kimi-k2.6"),
                ("x-aig-retry-budget", "0"),
            ],
        )
        .await;

    // Assert
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(
        res.header("x-aig-chain"),
        Some(format!("{OPUS}:degraded→{GPT}:200"))
    );
    assert_eq!(
        res.header("x-aig-fallback-reason").as_deref(),
        Some("anthropic_degraded")
    );
    assert_eq!(app.mock.state.request_count("anthropic"), 1);
}

#[tokio::test]
async fn when_every_remaining_entry_is_degraded_they_are_tried_anyway() {
    // Arrange: anthropic and openai both marked by 429s with Retry-After
    let app = TestApp::spawn().await;
    app.mock.state.set_mode("anthropic", Mode::Fail(429));
    app.mock.state.set_mode("openai", Mode::Fail(429));
    let both = app
        .chat(&chat_body(OPUS, "hi"), &[("x-aig-fallback", GPT)])
        .await;
    app.mock.state.set_mode("anthropic", Mode::Normal);
    app.mock.state.set_mode("openai", Mode::Normal);
    app.mock.state.set_mode("moonshot", Mode::Fail(500));

    // Act
    let all_degraded = app
        .chat(&chat_body(OPUS, "hi"), &[("x-aig-fallback", GPT)])
        .await;
    let last_ones_degraded = app
        .chat(
            &chat_body(OPUS, "hi"),
            &[("x-aig-fallback", "moonshot/kimi-k2.6,openai/gpt-5.4")],
        )
        .await;

    // Assert
    assert_eq!(both.status, 503);
    assert_eq!(
        both.header("x-aig-chain"),
        Some(format!("{OPUS}:429→{GPT}:429"))
    );
    assert_eq!(all_degraded.status, 200, "{:?}", all_degraded.body);
    assert_eq!(
        all_degraded.header("x-aig-chain"),
        Some(format!("{OPUS}:200")),
        "every entry degraded: the first is tried and serves"
    );
    assert_eq!(all_degraded.header("x-aig-fallback-reason"), None);
    assert_eq!(
        last_ones_degraded.status, 200,
        "{:?}",
        last_ones_degraded.body
    );
    assert_eq!(
        last_ones_degraded.header("x-aig-chain"),
        Some(format!("{OPUS}:degraded→{KIMI}:500→{GPT}:200")),
        "after kimi failed only degraded entries remained, so gpt was tried"
    );
}

#[tokio::test]
async fn the_probe_lists_models_while_the_provider_fails_and_clears_it_early_once_it_answers() {
    // Arrange: openai marked by its failure ratio
    let app = TestApp::spawn_with(QUICK).await;
    app.mock.state.set_mode("openai", Mode::Fail(500));
    fail_gpt(&app, 8, "500").await;
    wait_until(Duration::from_secs(10), "openai is marked degraded", || {
        is_degraded(&app, "openai")
    })
    .await;

    // Act: failing probes keep the mark past its tick; then the provider recovers
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let still_degraded = is_degraded(&app, "openai").await;
    let probes_while_failing = app.mock.state.models_list_count("openai");
    let chats_while_failing = app.mock.state.request_count("openai");
    app.mock.state.set_mode("openai", Mode::Normal);
    wait_until(Duration::from_secs(5), "the probe clears openai", || {
        let app = &app;
        async move { provider_state(app, "openai").await == "ok" }
    })
    .await;
    let res = app
        .chat(&chat_body(GPT, "hi"), &[("x-aig-fallback", KIMI)])
        .await;

    // Assert
    assert!(still_degraded, "a failing probe extends the mark");
    assert!(probes_while_failing >= 2, "{probes_while_failing} probes");
    assert_eq!(
        chats_while_failing, 8,
        "probes list models: no chat request, no tokens"
    );
    assert_eq!(res.header("x-aig-chain"), Some(format!("{GPT}:200")));
    let history = events(&app, ProviderId::Openai).await;
    let changes: Vec<(&str, &str)> = history
        .iter()
        .filter_map(|e| match e {
            HealthEvent::Degraded { subject, .. } if subject == "openai" => {
                Some(("degraded", "openai"))
            }
            HealthEvent::Cleared {
                subject,
                reason: ClearReason::Probe,
                ..
            } if subject == "openai" => Some(("cleared", "probe")),
            _ => None,
        })
        .collect();
    assert_eq!(
        changes,
        vec![("degraded", "openai"), ("cleared", "probe")],
        "{history:?}"
    );
}

#[tokio::test]
async fn the_history_records_counts_per_tick_and_each_degrade_and_clear() {
    // Arrange
    let app = TestApp::spawn_with(QUICK).await;
    app.mock.state.set_mode("openai", Mode::Fail(500));

    // Act
    fail_gpt(&app, 8, "500").await;
    wait_until(Duration::from_secs(10), "openai is marked degraded", || {
        is_degraded(&app, "openai")
    })
    .await;
    app.mock.state.set_mode("openai", Mode::Normal);
    wait_until(Duration::from_secs(5), "openai is cleared", || {
        let app = &app;
        async move { provider_state(app, "openai").await == "ok" }
    })
    .await;
    // The model's own mark is not probed: it runs out after its tick.
    wait_until(Duration::from_secs(5), "gpt-5.4's mark ran out", || async {
        events(&app, ProviderId::Openai).await.iter().any(|e| {
            matches!(e, HealthEvent::Cleared { subject, reason: ClearReason::Expired, .. }
                if subject == GPT)
        })
    })
    .await;

    // Assert
    let history = events(&app, ProviderId::Openai).await;
    let attempts: u64 = history
        .iter()
        .map(|e| match e {
            HealthEvent::Tick {
                attempts,
                failures,
                window_ms,
                ..
            } => {
                assert_eq!(*window_ms, 1000);
                assert_eq!(attempts, failures, "every attempt failed");
                *attempts
            }
            _ => 0,
        })
        .sum();
    assert_eq!(attempts, 8, "{history:?}");
    let transitions: Vec<String> = history
        .iter()
        .filter_map(|e| match e {
            HealthEvent::Degraded {
                subject, reason, ..
            } => Some(format!("{subject} degraded ({reason:?})")),
            HealthEvent::Cleared {
                subject, reason, ..
            } => Some(format!("{subject} cleared ({reason:?})")),
            HealthEvent::Tick { .. } => None,
        })
        .collect();
    assert_eq!(transitions.len(), 4, "{transitions:?}");
    assert!(transitions[..2].contains(&"openai degraded (FailureRatio)".to_owned()));
    assert!(transitions[..2].contains(&format!("{GPT} degraded (FailureRatio)")));
    assert!(transitions[2..].contains(&"openai cleared (Probe)".to_owned()));
    assert!(transitions[2..].contains(&format!("{GPT} cleared (Expired)")));
    assert!(history.windows(2).all(|w| w[0].at_ms() <= w[1].at_ms()));
}

#[tokio::test]
async fn two_instances_on_one_redis_elect_one_leader_and_agree_on_counts_and_marks() {
    // Arrange
    let first = TestApp::spawn_with(QUICK).await;
    let second = first.spawn_sibling(QUICK).await;
    wait_until(Duration::from_secs(5), "a leader is elected", || async {
        first.state.health().is_leader() || second.state.health().is_leader()
    })
    .await;
    let (leader, follower) = if first.state.health().is_leader() {
        (&first, &second)
    } else {
        (&second, &first)
    };

    // Act: the follower's failures are counted in Redis and evaluated by the leader
    follower.mock.state.set_mode("openai", Mode::Fail(500));
    fail_gpt(follower, 8, "500").await;
    wait_until(
        Duration::from_secs(10),
        "the follower sees the leader's mark",
        || is_degraded(follower, "openai"),
    )
    .await;
    let leader_sees = is_degraded(leader, "openai").await;
    // A Retry-After mark made by one instance reaches the other within a second.
    first.mock.state.set_mode("anthropic", Mode::Fail(429));
    first
        .chat(&chat_body(OPUS, "hi"), &[("x-aig-fallback", KIMI)])
        .await;
    let seen_after = wait_until(
        Duration::from_secs(1),
        "the second sees the 429's mark",
        || is_degraded(&second, "anthropic"),
    )
    .await;
    let skipped_by_second = second
        .chat(&chat_body(OPUS, "hi"), &[("x-aig-fallback", KIMI)])
        .await;
    // Attempts from both instances add up in one window's counts.
    for app in [&first, &second, &first, &second] {
        app.chat(&chat_body("moonshot/kimi-k2.6", "hi"), &[]).await;
    }
    let sent_to_moonshot = first.mock.state.request_count("moonshot") as u64;
    wait_until(
        Duration::from_secs(10),
        "moonshot's counts add up",
        || async { tick_totals(&first, ProviderId::Moonshot).await.0 == sent_to_moonshot },
    )
    .await;

    // Assert
    assert!(leader.state.health().is_leader());
    assert!(!follower.state.health().is_leader(), "only one leader");
    assert_eq!(
        lock_holder(&first).await.as_deref(),
        Some(leader.state.health().instance_id())
    );
    assert!(leader_sees);
    assert!(seen_after < Duration::from_secs(1), "{seen_after:?}");
    assert_eq!(
        skipped_by_second.header("x-aig-chain"),
        Some(format!("{OPUS}:degraded→{KIMI}:200"))
    );
}

#[tokio::test]
async fn when_the_leader_dies_the_other_instance_takes_over_within_the_lock_ttl() {
    // Arrange
    let first = TestApp::spawn_with(QUICK).await;
    let second = first.spawn_sibling(QUICK).await;
    wait_until(Duration::from_secs(5), "a leader is elected", || async {
        first.state.health().is_leader() || second.state.health().is_leader()
    })
    .await;
    let (leader, survivor) = if first.state.health().is_leader() {
        (first, second)
    } else {
        (second, first)
    };
    let lock_ttl = survivor.state.health().thresholds().lock_ttl();

    // Act: the leader stops at once, leaving its lock to expire, and goes away
    leader.state.health().stop();
    let stopped = leader.state.downgrade();
    drop(leader);
    let took_over_after = wait_until(lock_ttl * 2, "the survivor leads", || async {
        survivor.state.health().is_leader()
    })
    .await;
    survivor.mock.state.set_mode("openai", Mode::Fail(500));
    fail_gpt(&survivor, 8, "500").await;
    wait_until(Duration::from_secs(10), "the new leader evaluates", || {
        is_degraded(&survivor, "openai")
    })
    .await;

    // Assert
    assert!(
        took_over_after <= lock_ttl + Duration::from_millis(1000),
        "{took_over_after:?} for a lock TTL of {lock_ttl:?}"
    );
    assert_eq!(
        lock_holder(&survivor).await.as_deref(),
        Some(survivor.state.health().instance_id())
    );
    wait_until(
        Duration::from_secs(10),
        "the stopped instance is gone",
        || {
            let gone = stopped.upgrade().is_none();
            async move { gone }
        },
    )
    .await;
}

#[tokio::test]
async fn marks_are_kept_through_a_redis_outage_and_sync_again_once_redis_returns() {
    // Arrange: a mark written into Redis as any peer would, for a minute
    let mut redis = RedisServer::start().await;
    let app = TestApp::spawn_on(&redis.url(), &[]).await;
    let warm = app.chat(&chat_body(KIMI, "hi"), &[]).await;
    assert_eq!(warm.status, 200, "{:?}", warm.body);
    let marks = app.state.redis_keys().health_marks();
    let until = aig_dataplane::health::now_ms() + 60_000;
    let mut conn = app.state.redis();
    let () = redis::cmd("HSET")
        .arg(&marks)
        .arg("retry:openai")
        .arg(until)
        .query_async(&mut conn)
        .await
        .expect("HSET a mark");
    wait_until(Duration::from_secs(1), "the mark is seen", || {
        is_degraded(&app, "openai")
    })
    .await;

    // Act: Redis goes away for several refreshes
    redis.stop();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let during_state = provider_state(&app, "openai").await;
    let started = Instant::now();
    let during = app
        .chat(&chat_body(GPT, "hi"), &[("x-aig-fallback", KIMI)])
        .await;
    let during_took = started.elapsed();
    redis.restart().await;
    app.await_redis().await;
    let mut conn = app.state.redis();
    let mut removed = 0;
    for _ in 0..50 {
        let deleted: redis::RedisResult<i64> = redis::cmd("HDEL")
            .arg(&marks)
            .arg("retry:openai")
            .query_async(&mut conn)
            .await;
        if let Ok(n) = deleted {
            removed = n;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cleared_after = wait_until(Duration::from_secs(3), "the clear is seen", || {
        let app = &app;
        async move { provider_state(app, "openai").await == "ok" }
    })
    .await;

    // Assert
    assert_eq!(during_state, "degraded", "the last snapshot holds");
    assert_eq!(during.status, 200, "{:?}", during.body);
    assert_eq!(
        during.header("x-aig-chain"),
        Some(format!("{GPT}:degraded→{KIMI}:200"))
    );
    assert!(during_took < Duration::from_secs(1), "{during_took:?}");
    assert_eq!(removed, 1, "the mark survived the restart (AOF)");
    assert!(cleared_after < Duration::from_secs(1), "{cleared_after:?}");
}
