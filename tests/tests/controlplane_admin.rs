//! The platform admin at `/admin` (issue #8): only platform admins see it (everyone else
//! gets 404, signed-out visitors the login page); the tenants list shows real balances and
//! month-to-date spend and searches literally; suspend/reinstate reach the real data plane
//! within a second; credit adjustments move the ledger and the Redis balance once per form;
//! the health page shows what the data plane's monitor wrote to Redis.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed request, query or Redis call must fail the test at once"
)]

use aig_common::budget::tenant_fields;
use aig_common::health::{HealthEvent, MarkReason};
use aig_controlplane::accounts::{self, CreatedTenant, NewTenant};
use aig_controlplane::view;
use aig_tests::chat_body;
use aig_tests::controlplane::{Browser, DataPlane, Page, TestControlPlane};
use aig_tests::mock::Mode;
use redis::AsyncCommands;
use sqlx::PgPool;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use uuid::Uuid;

const GPT: &str = "openai/gpt-5.4";
const OPUS: &str = "anthropic/claude-opus-4.7";
const PASSWORD: &str = "correct horse battery";
const WITHIN_A_SECOND: Duration = Duration::from_secs(1);
/// Trial credit of the tests' tenants: $5.00.
const TRIAL: &[(&str, &str)] = &[("AIG_TRIAL_CREDIT_CENTS", "500")];

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// A tenant whose owner can log in with [`PASSWORD`].
async fn tenant(cp: &TestControlPlane, org: &str, email: &str, admin: bool) -> CreatedTenant {
    accounts::create_tenant(
        &cp.state,
        NewTenant {
            org: org.to_owned(),
            email: email.to_owned(),
            password: Some(PASSWORD.to_owned().into()),
            platform_admin: admin,
        },
    )
    .await
    .unwrap()
}

/// A browser logged in as a new platform admin.
async fn admin(cp: &TestControlPlane) -> Browser {
    tenant(cp, "Platform", "root@platform.test", true).await;
    let mut browser = cp.browser();
    let login = browser.log_in("root@platform.test", PASSWORD).await;
    assert_eq!(login.status, 303, "{}", login.html);
    browser
}

async fn ledger_sum(pool: &PgPool, tenant_id: Uuid) -> i64 {
    sqlx::query_scalar(
        "select coalesce(sum(amount_micros), 0)::bigint from ledger_entry where tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn redis_balance(cp: &TestControlPlane, tenant_id: Uuid) -> i64 {
    let mut redis = cp.redis.clone();
    redis
        .hget(
            cp.keys().tenant(&tenant_id.to_string()),
            tenant_fields::BALANCE_MICROS,
        )
        .await
        .unwrap()
}

/// The table row (`<tr>…</tr>`) of the page that mentions `text`.
fn row<'a>(page: &'a Page, text: &str) -> &'a str {
    page.html
        .split("<tr")
        .find(|r| r.contains(text))
        .unwrap_or_else(|| panic!("no row with {text:?} in {}", page.html))
}

/// The value of the page's hidden `name` input.
fn hidden(page: &Page, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let start = page.html.find(&marker).unwrap() + marker.len();
    let len = page.html[start..].find('"').unwrap();
    page.html[start..start + len].to_owned()
}

/// Sends `n` chats and returns their total cost (micro-USD), as the data plane reports it.
async fn spend(dp: &DataPlane, key: &aig_common::api_key::ApiKey, n: usize) -> i64 {
    let mut costs = 0;
    for i in 0..n {
        let r = dp
            .chat(key, &chat_body(GPT, &format!("request {i}")), &[])
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        costs += r
            .header("x-aig-cost-micros")
            .unwrap()
            .parse::<i64>()
            .unwrap();
    }
    costs
}

#[sqlx::test(migrations = "../migrations")]
async fn people_who_are_not_platform_admins_get_404_on_every_admin_path_and_change_nothing(
    pool: PgPool,
) {
    // Arrange: a normal owner, signed in; another tenant to aim at
    let cp = TestControlPlane::spawn_with(pool.clone(), TRIAL).await;
    let target = cp.create_tenant("Target").await;
    tenant(&cp, "Acme", "ada@acme.test", false).await;
    let mut browser = cp.browser();
    browser.log_in("ada@acme.test", PASSWORD).await;
    browser.get("/dashboard/keys").await;
    let before = ledger_sum(&pool, target.tenant_id).await;
    let id = target.tenant_id;

    // Act
    let mut statuses = Vec::new();
    for path in [
        "/admin".to_owned(),
        "/admin?q=target".to_owned(),
        "/admin/health".to_owned(),
        format!("/admin/tenants/{id}"),
    ] {
        statuses.push((path.clone(), browser.get(&path).await));
    }
    for (path, fields) in [
        (format!("/admin/tenants/{id}/suspend"), vec![]),
        (format!("/admin/tenants/{id}/reinstate"), vec![]),
        (
            format!("/admin/tenants/{id}/credit"),
            vec![("amount", "100"), ("reason", "free money")],
        ),
    ] {
        statuses.push((path.clone(), browser.post(&path, &fields).await));
    }
    let signed_out = cp.browser().get("/admin").await;

    // Assert
    for (path, page) in &statuses {
        assert_eq!(page.status, 404, "{path}: {}", page.html);
        assert!(!page.html.contains("Tenants"), "{path} reveals the admin");
    }
    assert_eq!(signed_out.status, 303);
    assert_eq!(signed_out.location(), Some("/login"));
    assert_eq!(ledger_sum(&pool, id).await, before);
    let status: String = sqlx::query_scalar("select status from tenant where id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "active");
}

#[sqlx::test(migrations = "../migrations")]
async fn the_tenants_list_shows_each_tenants_real_balance_and_month_spend(pool: PgPool) {
    // Arrange: requests through the real data plane, ingested
    let cp = TestControlPlane::spawn_with(pool.clone(), TRIAL).await;
    let dp = cp.spawn_dataplane().await;
    let busy = tenant(&cp, "Busy Corp", "owner@busy.test", false).await;
    tenant(&cp, "Idle Inc", "owner@idle.test", false).await;
    let costs = spend(&dp, &busy.key, 3).await;
    let stats = cp.ingest_at_least(3).await;
    let mut browser = admin(&cp).await;

    // Act
    let list = browser.get("/admin").await;
    let by_name = browser.get("/admin?sort=name").await;

    // Assert
    assert_eq!(stats.ingested, 3);
    assert!(costs > 0);
    assert_eq!(list.status, 200, "{}", list.html);
    let busy_row = row(&list, "Busy Corp");
    assert!(busy_row.contains("owner@busy.test"), "{busy_row}");
    assert!(
        busy_row.contains(&view::usd(5_000_000 - costs)),
        "{busy_row}"
    );
    assert!(busy_row.contains(&view::usd_fine(costs)), "{busy_row}");
    assert!(busy_row.contains(r#"<td class="num">3</td>"#), "{busy_row}");
    assert!(busy_row.contains(&format!("/admin/tenants/{}", busy.tenant_id)));
    let idle_row = row(&list, "Idle Inc");
    assert!(
        idle_row.contains("$5.00") && idle_row.contains("$0.000000"),
        "{idle_row}"
    );
    // Spend first: Busy Corp above Idle Inc; by name: Busy, Idle, Platform.
    assert!(list.html.find("Busy Corp") < list.html.find("Idle Inc"));
    let order: Vec<usize> = ["Busy Corp", "Idle Inc", "Platform"]
        .iter()
        .map(|n| by_name.html.find(&format!(">{n}</a>")).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    assert!(list.html.contains(r#"href="/admin/health""#));
}

#[sqlx::test(migrations = "../migrations")]
async fn search_finds_tenants_by_email_name_fragment_or_id_and_takes_wildcards_literally(
    pool: PgPool,
) {
    // Arrange
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let pure = tenant(&cp, "Acme 100%_Pure", "sales@pure.test", false).await;
    tenant(&cp, "Acme 1000 Pure", "ops@thousand.test", false).await;
    tenant(&cp, "Globex", "hank@globex.test", false).await;
    let mut browser = admin(&cp).await;
    let names = |page: &Page| -> Vec<&str> {
        ["Acme 100%_Pure", "Acme 1000 Pure", "Globex", "Platform"]
            .into_iter()
            .filter(|n| page.html.contains(&format!(">{n}</a>")))
            .collect()
    };

    // Act
    let by_email = browser.get("/admin?q=HANK%40globex").await;
    let by_fragment = browser.get("/admin?q=acme").await;
    let percent = browser.get("/admin?q=%25").await;
    let underscore = browser.get("/admin?q=_").await;
    let by_id = browser
        .get(&format!("/admin?q={}", &pure.tenant_id.to_string()[..13]))
        .await;
    let nothing = browser.get("/admin?q=%27%3B+drop+table+tenant%3B--").await;

    // Assert
    assert_eq!(names(&by_email), ["Globex"]);
    assert_eq!(names(&by_fragment), ["Acme 100%_Pure", "Acme 1000 Pure"]);
    assert_eq!(names(&percent), ["Acme 100%_Pure"]);
    assert_eq!(names(&underscore), ["Acme 100%_Pure"]);
    assert_eq!(names(&by_id), ["Acme 100%_Pure"]);
    assert_eq!(nothing.status, 200);
    assert!(names(&nothing).is_empty());
    assert!(
        nothing.html.contains("No tenant matches"),
        "{}",
        nothing.html
    );
    assert!(by_fragment.html.contains(r#"value="acme""#));
}

#[sqlx::test(migrations = "../migrations")]
async fn suspending_refuses_the_tenants_keys_within_a_second_and_reinstating_serves_them_again(
    pool: PgPool,
) {
    // Arrange
    let cp = TestControlPlane::spawn_with(pool.clone(), TRIAL).await;
    let dp = cp.spawn_dataplane().await;
    let acme = tenant(&cp, "Acme", "ada@acme.test", false).await;
    let served = dp.chat(&acme.key, &chat_body(GPT, "hi"), &[]).await;
    let mut browser = admin(&cp).await;
    let detail = format!("/admin/tenants/{}", acme.tenant_id);
    let before = browser.get(&detail).await;

    // Act
    let suspend = browser.post(&format!("{detail}/suspend"), &[]).await;
    let (refused, took_refused) = dp
        .chat_until(
            &acme.key,
            &chat_body(GPT, "hi"),
            &[],
            403,
            Duration::from_secs(3),
        )
        .await;
    let suspended_page = browser.get(&detail).await;
    let listed = browser.get("/admin").await;
    let reinstate = browser.post(&format!("{detail}/reinstate"), &[]).await;
    let (again, took_again) = dp
        .chat_until(
            &acme.key,
            &chat_body(GPT, "hi"),
            &[],
            200,
            Duration::from_secs(3),
        )
        .await;
    let reinstated_page = browser.get(&detail).await;

    // Assert
    assert_eq!(served.status, 200);
    assert!(before.html.contains("Suspend Acme"));
    assert_eq!(suspend.status, 303, "{}", suspend.html);
    assert_eq!(
        suspend.location(),
        Some(format!("{detail}?done=suspended").as_str())
    );
    assert_eq!(refused.status, 403, "still served after {took_refused:?}");
    assert!(took_refused < WITHIN_A_SECOND, "took {took_refused:?}");
    assert!(suspended_page
        .html
        .contains(r#"<span class="badge suspended">suspended</span>"#));
    assert!(suspended_page.html.contains("Reinstate Acme"));
    assert!(row(&listed, ">Acme</a>").contains("suspended"));
    assert_eq!(reinstate.status, 303);
    assert_eq!(again.status, 200, "still refused after {took_again:?}");
    assert!(took_again < WITHIN_A_SECOND, "took {took_again:?}");
    assert!(reinstated_page.html.contains("Suspend Acme"));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_credit_adjustment_moves_the_ledger_and_the_redis_balance_by_exactly_its_amount_once(
    pool: PgPool,
) {
    // Arrange
    let cp = TestControlPlane::spawn_with(pool.clone(), TRIAL).await;
    let acme = tenant(&cp, "Acme", "ada@acme.test", false).await;
    let id = acme.tenant_id;
    let mut browser = admin(&cp).await;
    let detail = format!("/admin/tenants/{id}");
    let form = browser.get(&detail).await;
    let key = hidden(&form, "key");
    let (ledger_before, redis_before) = (ledger_sum(&pool, id).await, redis_balance(&cp, id).await);

    // Act: the same form twice, then a debit from a fresh form
    let fields = [
        ("key", key.as_str()),
        ("amount", "12.5"),
        ("reason", "goodwill <for> outage"),
    ];
    let first = browser.post(&format!("{detail}/credit"), &fields).await;
    let second = browser.post(&format!("{detail}/credit"), &fields).await;
    let (ledger_after_credit, redis_after_credit) =
        (ledger_sum(&pool, id).await, redis_balance(&cp, id).await);
    let fresh = browser.get(&detail).await;
    let debit = browser
        .post(
            &format!("{detail}/credit"),
            &[
                ("key", hidden(&fresh, "key").as_str()),
                ("amount", "-5.00"),
                ("reason", "chargeback"),
            ],
        )
        .await;
    let page = browser.get(&detail).await;

    // Assert
    assert_eq!(first.status, 303, "{}", first.html);
    assert_eq!(
        first.location(),
        Some(format!("{detail}?done=credited").as_str())
    );
    assert_eq!(second.status, 303);
    assert_eq!(
        second.location(),
        Some(format!("{detail}?done=repeated").as_str())
    );
    assert_ne!(hidden(&fresh, "key"), key, "every form gets its own key");
    assert_eq!(ledger_after_credit - ledger_before, 12_500_000);
    assert_eq!(redis_after_credit - redis_before, 12_500_000);
    assert_eq!(debit.status, 303);
    assert_eq!(ledger_sum(&pool, id).await, ledger_before + 7_500_000);
    assert_eq!(redis_balance(&cp, id).await, redis_before + 7_500_000);
    let adjustments: Vec<(i64, String)> = sqlx::query_as(
        "select amount_micros, reason from ledger_entry
          where tenant_id = $1 and kind = 'adjustment' order by created_at",
    )
    .bind(id)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        adjustments,
        [
            (12_500_000, "goodwill <for> outage".to_owned()),
            (-5_000_000, "chargeback".to_owned())
        ]
    );
    assert!(page.html.contains("$12.50") && page.html.contains("-$5.00"));
    assert!(
        page.html.contains("goodwill &#60;for&#62; outage"),
        "{}",
        page.html
    );
    assert!(page
        .html
        .contains(&format!(">{}<", view::usd(ledger_before + 7_500_000))));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_credit_without_a_reason_or_a_valid_amount_is_422_and_changes_nothing(pool: PgPool) {
    // Arrange
    let cp = TestControlPlane::spawn_with(pool.clone(), TRIAL).await;
    let acme = tenant(&cp, "Acme", "ada@acme.test", false).await;
    let id = acme.tenant_id;
    let mut browser = admin(&cp).await;
    let detail = format!("/admin/tenants/{id}");
    let form = browser.get(&detail).await;
    let key = hidden(&form, "key");
    let before = (ledger_sum(&pool, id).await, redis_balance(&cp, id).await);

    // Act
    let no_reason = browser
        .post(
            &format!("{detail}/credit"),
            &[("key", &key), ("amount", "10"), ("reason", "   ")],
        )
        .await;
    let bad_amounts = [
        browser
            .post(
                &format!("{detail}/credit"),
                &[("key", &key), ("amount", "1.234"), ("reason", "typo")],
            )
            .await,
        browser
            .post(
                &format!("{detail}/credit"),
                &[("key", &key), ("amount", "0"), ("reason", "nothing")],
            )
            .await,
    ];
    let unknown = browser
        .post(
            &format!("/admin/tenants/{}/credit", Uuid::new_v4()),
            &[("amount", "10"), ("reason", "who?")],
        )
        .await;

    // Assert
    assert_eq!(no_reason.status, 422);
    assert!(
        no_reason.html.contains("Give a reason"),
        "{}",
        no_reason.html
    );
    assert!(no_reason.html.contains(r#"name="amount" value="10""#));
    for page in &bad_amounts {
        assert_eq!(page.status, 422);
        assert!(page.html.contains("non-zero amount"), "{}", page.html);
    }
    assert_eq!(unknown.status, 404);
    assert_eq!(
        (ledger_sum(&pool, id).await, redis_balance(&cp, id).await),
        before
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn admin_forms_without_a_valid_csrf_token_are_403_and_change_nothing(pool: PgPool) {
    // Arrange
    let cp = TestControlPlane::spawn_with(pool.clone(), TRIAL).await;
    let acme = tenant(&cp, "Acme", "ada@acme.test", false).await;
    let id = acme.tenant_id;
    let mut browser = admin(&cp).await;
    browser.get(&format!("/admin/tenants/{id}")).await;
    let before = ledger_sum(&pool, id).await;

    // Act
    let suspend = browser
        .post_raw(&format!("/admin/tenants/{id}/suspend"), &[])
        .await;
    let credit = browser
        .post_raw(
            &format!("/admin/tenants/{id}/credit"),
            &[("csrf", "forged"), ("amount", "100"), ("reason", "x")],
        )
        .await;

    // Assert
    assert_eq!(suspend.status, 403);
    assert_eq!(credit.status, 403);
    assert_eq!(ledger_sum(&pool, id).await, before);
    let status: String = sqlx::query_scalar("select status from tenant where id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "active");
}

#[sqlx::test(migrations = "../migrations")]
async fn the_health_page_shows_a_retry_after_mark_the_data_planes_monitor_wrote(pool: PgPool) {
    // Arrange: Anthropic answers 429 with `retry-after: 1`, so the data plane marks it
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let dp = cp.spawn_dataplane().await;
    let acme = tenant(&cp, "Acme", "ada@acme.test", false).await;
    let mut browser = admin(&cp).await;
    let quiet = browser.get("/admin/health").await;
    dp.mock.state.set_mode("anthropic", Mode::Fail(429));

    // Act
    let answer = dp
        .chat(
            &acme.key,
            &chat_body(OPUS, "hi"),
            &[("x-aig-fallback", GPT)],
        )
        .await;
    let started = Instant::now();
    let page = loop {
        let page = browser.get("/admin/health").await;
        if page.html.contains("Retry-After") || started.elapsed() > Duration::from_secs(5) {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // Assert
    assert_eq!(quiet.status, 200);
    assert!(quiet.html.contains("No provider was degraded"));
    for provider in ["openai", "anthropic", "moonshot"] {
        assert!(quiet.html.contains(&format!(r#"id="provider-{provider}""#)));
    }
    assert_eq!(
        answer.header("x-aig-chain"),
        Some(format!("{OPUS}:429→{GPT}:200"))
    );
    assert_eq!(page.status, 200);
    let event = row(&page, "degraded (Retry-After) until");
    assert!(event.contains("<code>anthropic</code>"), "{event}");
    assert!(page.html.contains(r#"<svg class="chart timeline""#));
    assert!(
        page.html
            .contains("<title>anthropic degraded (Retry-After)"),
        "{}",
        page.html
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn the_health_page_shows_until_when_and_why_a_provider_is_degraded_and_its_window_counts(
    pool: PgPool,
) {
    // Arrange: a failure-ratio mark and its window, written as the monitor writes them
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let keys = cp.keys();
    let now = now_ms();
    let until = now + 10 * 60 * 1000;
    let events = [
        HealthEvent::Tick {
            at_ms: now - 30_000,
            window_start_ms: now - 60_000,
            window_ms: 30_000,
            attempts: 8,
            failures: 6,
            consecutive_failures: 2,
        },
        HealthEvent::Degraded {
            at_ms: now - 30_000,
            subject: "openai".into(),
            reason: MarkReason::FailureRatio,
            until_ms: until,
        },
    ];
    let mut redis = cp.redis.clone();
    let _: () = redis
        .hset(keys.health_marks(), "tick:openai", until)
        .await
        .unwrap();
    for event in &events {
        let _: () = redis
            .zadd(
                keys.health_history("openai"),
                serde_json::to_string(event).unwrap(),
                event.at_ms(),
            )
            .await
            .unwrap();
    }
    let mut browser = admin(&cp).await;

    // Act
    let page = browser.get("/admin/health").await;

    // Assert
    let clock = |ms: u64| {
        let s = ms / 1000 % 86_400;
        format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    };
    let openai = row(&page, r#"id="provider-openai""#);
    assert!(
        openai.contains(r#"<span class="badge bad">degraded</span>"#),
        "{openai}"
    );
    assert!(
        openai.contains(&format!("until {} UTC (failure ratio)", clock(until))),
        "{openai}"
    );
    assert!(openai.contains("8 attempts, 6 failed (75.0%)"), "{openai}");
    let anthropic = row(&page, r#"id="provider-anthropic""#);
    assert!(anthropic.contains(r#"<span class="badge ok">healthy</span>"#));
    assert!(page.html.contains(&format!(
        "<title>openai degraded (failure ratio) since {} UTC</title>",
        clock(now - 30_000)
    )));
}

#[sqlx::test(migrations = "../migrations")]
async fn the_tenants_list_shows_fifty_a_page_with_links_between_pages(pool: PgPool) {
    // Arrange: 60 tenants besides the admin's
    let cp = TestControlPlane::spawn(pool.clone()).await;
    sqlx::query("insert into tenant (name) select 'Bulk ' || lpad(g::text, 2, '0') from generate_series(1, 60) g")
        .execute(&pool)
        .await
        .unwrap();
    let mut browser = admin(&cp).await;
    let rows = |page: &Page| page.html.matches(r#"<a href="/admin/tenants/"#).count();

    // Act
    let first = browser.get("/admin?sort=name").await;
    let second = browser.get("/admin?sort=name&page=2").await;
    let beyond = browser.get("/admin?sort=name&page=9").await;

    // Assert
    assert_eq!(rows(&first), 50);
    assert!(first.html.contains("61 in all"), "{}", first.html);
    assert!(first
        .html
        .contains(r#"href="/admin?sort=name&#38;page=2" rel="next""#));
    assert!(first.html.contains(">Bulk 50</a>") && !first.html.contains(">Bulk 51</a>"));
    assert_eq!(rows(&second), 11);
    assert!(second.html.contains(">Bulk 51</a>") && second.html.contains(">Platform</a>"));
    assert!(second.html.contains("Page 2 of 2"));
    assert_eq!(beyond.status, 303);
    assert_eq!(beyond.location(), Some("/admin?sort=name"));
}
