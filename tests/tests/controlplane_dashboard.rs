//! The tenant dashboard's overview, budgets and usage pages against the real control plane,
//! Postgres, Redis and data plane: figures come from real requests (one of them served by a
//! fallback), caps set on the page are enforced by the data plane, the CSV export is exact
//! and safe to open in a spreadsheet, and a tenant sees only its own numbers.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed request or query must fail the test at once"
)]

use aig_common::api_key::ApiKey;
use aig_controlplane::routes::dashboard::usage::usd_decimal;
use aig_controlplane::spend::Month;
use aig_controlplane::view;
use aig_tests::chat_body;
use aig_tests::controlplane::{Browser, DataPlane, Page, TestControlPlane};
use redis::AsyncCommands;
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

const PASSWORD: &str = "correct horse battery";
const GPT: &str = "openai/gpt-5.4";
const CLAUDE: &str = "anthropic/claude-opus-4.7";
/// A model name the gateway passes through as it is: commas and quotes reach the rollups.
const HOSTILE_MODEL: &str = r#"openai/=cmd,"x""#;
/// A valid tag that a spreadsheet would read as a formula.
const DASH_TAG: &str = "-chat";
const WITHIN_A_SECOND: Duration = Duration::from_millis(1500);

/// Signs up in a browser and returns it with the key the sign-up page revealed.
async fn signed_up(cp: &TestControlPlane, org: &str, email: &str) -> (Browser, ApiKey) {
    let mut browser = cp.browser();
    let page = browser.sign_up(org, email, PASSWORD).await;
    assert_eq!(page.status, 201, "{}", page.html);
    let key = page.revealed_key().unwrap();
    (browser, key)
}

async fn tenant_of(pool: &PgPool, email: &str) -> Uuid {
    sqlx::query_scalar("select tenant_id from app_user where email = $1")
        .bind(email)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Sends one chat request that must succeed and returns what it cost.
async fn spend(dp: &DataPlane, key: &ApiKey, model: &str, headers: &[(&str, &str)]) -> i64 {
    let r = dp
        .chat(key, &chat_body(model, "hello there"), headers)
        .await;
    assert_eq!(r.status, 200, "{model}: {:?}", r.body);
    r.header("x-aig-cost-micros").unwrap().parse().unwrap()
}

/// What the mixed traffic of [`send_mixed_traffic`] cost, per tag and per model.
struct Traffic {
    summarize: i64,
    fallback: i64,
    hostile: i64,
}

impl Traffic {
    fn total(&self) -> i64 {
        self.summarize + self.fallback + self.hostile
    }
}

/// Four requests: two tagged `summarize` on GPT, one tagged `-chat` whose primary answers 429
/// so Claude serves it as a fallback, one untagged on a hostile model name; then ingested.
async fn send_mixed_traffic(cp: &TestControlPlane, dp: &DataPlane, key: &ApiKey) -> Traffic {
    let summarize = spend(dp, key, GPT, &[("x-aig-tag", "summarize")]).await
        + spend(dp, key, GPT, &[("x-aig-tag", "summarize")]).await;
    let fallback = spend(
        dp,
        key,
        &format!("{GPT}-fail-429"),
        &[("x-aig-tag", DASH_TAG), ("x-aig-fallback", CLAUDE)],
    )
    .await;
    let hostile = spend(dp, key, HOSTILE_MODEL, &[]).await;
    assert_eq!(cp.ingest_at_least(4).await.ingested, 4);
    Traffic {
        summarize,
        fallback,
        hostile,
    }
}

/// The text of the stat tile `id`'s value.
fn stat(page: &Page, id: &str) -> String {
    let start = page.html.find(&format!(r#"id="stat-{id}""#)).unwrap();
    let marker = r#"<div class="value">"#;
    let from = start + page.html[start..].find(marker).unwrap() + marker.len();
    let to = from + page.html[from..].find('<').unwrap();
    page.html[from..to].trim().to_owned()
}

/// HTML with its character references decoded (`&` last, so `&amp;lt;` stays `&lt;`).
fn decode(html: &str) -> String {
    html.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

/// Text with its tags removed and entities decoded, whitespace collapsed.
fn text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    decode(&out)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The cells of the page's first table body (and its footer), as text.
fn table(page: &Page) -> (Vec<Vec<String>>, Vec<String>) {
    let body_start = page.html.find("<tbody>").unwrap();
    let body_end = page.html.find("</tbody>").unwrap();
    let cells = |row: &str| -> Vec<String> {
        row.split("<td")
            .skip(1)
            .map(|cell| text(&format!("<td{cell}")))
            .collect()
    };
    let rows = page.html[body_start..body_end]
        .split("<tr>")
        .skip(1)
        .map(cells)
        .collect();
    let total = page
        .html
        .find("<tfoot>")
        .map(|at| {
            let end = page.html[at..].find("</tfoot>").unwrap() + at;
            let foot = &page.html[at..end];
            foot.split("<t")
                .filter(|c| c.starts_with('d') || c.starts_with("h "))
                .map(|c| text(&format!("<t{c}")))
                .collect()
        })
        .unwrap_or_default();
    (rows, total)
}

fn row<'a>(rows: &'a [Vec<String>], key: &str) -> &'a [String] {
    rows.iter()
        .find(|r| r.first().map(String::as_str) == Some(key))
        .unwrap_or_else(|| panic!("no row {key} in {rows:?}"))
}

async fn ledger_balance(pool: &PgPool, tenant: Uuid) -> i64 {
    sqlx::query_scalar(
        "select coalesce(sum(amount_micros), 0)::bigint from ledger_entry where tenant_id = $1",
    )
    .bind(tenant)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn the_overview_shows_spend_requests_fallback_rate_and_todays_bar_from_real_requests(
    pool: PgPool,
) {
    // Arrange
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let (mut browser, key) = signed_up(&cp, "Acme", "ada@acme.test").await;
    let tenant = tenant_of(&pool, "ada@acme.test").await;
    let dp = cp.spawn_dataplane().await;
    let traffic = send_mixed_traffic(&cp, &dp, &key).await;
    let failed = dp
        .chat(&key, &chat_body(&format!("{GPT}-fail-500"), "hi"), &[])
        .await;
    assert!(failed.status >= 500, "{:?}", failed.body);
    assert_eq!(cp.ingest_at_least(1).await.ingested, 1);

    // Act
    let page = browser.get("/dashboard").await;

    // Assert
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page
        .html
        .contains(r#"href="/dashboard" aria-current="page""#));
    assert_eq!(stat(&page, "spend"), view::usd_fine(traffic.total()));
    assert_eq!(stat(&page, "requests"), "5");
    assert_eq!(stat(&page, "fallbacks"), "20.0%", "one of five fell back");
    let balance = ledger_balance(&pool, tenant).await;
    assert_eq!(stat(&page, "balance"), view::usd(balance));
    assert_eq!(stat(&page, "errors"), "1");
    assert!(page.html.contains("20.0% of requests this month"));
    let today = Month::current().today;
    assert!(page.html.contains("<svg"));
    assert!(
        page.html.contains(&format!(
            "<title>{}: {} · 5 requests</title>",
            today.format("%m-%d"),
            view::usd_fine(traffic.total())
        )),
        "failed requests cost nothing: {}",
        page.html
    );
    let (models, _) = table(&page);
    let gpt = row(&models, GPT);
    assert_eq!(gpt[1], view::usd_fine(traffic.summarize));
    assert_eq!(gpt[3], "2");
    assert_eq!(row(&models, CLAUDE)[3], "1");
    assert_eq!(row(&models, HOSTILE_MODEL)[3], "1");
    assert!(!page.html.contains("Make your first request"));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_new_tenant_is_shown_how_to_make_a_first_request_with_its_key_prefix(pool: PgPool) {
    // Arrange
    let cp =
        TestControlPlane::spawn_with(pool, &[("AIG_GATEWAY_PUBLIC_URL", "https://gw.acme.test/")])
            .await;
    let (mut browser, key) = signed_up(&cp, "Fresh", "new@fresh.test").await;

    // Act
    let page = browser.get("/dashboard").await;

    // Assert
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains("Make your first request"));
    assert!(page
        .html
        .contains("curl https://gw.acme.test/v1/chat/completions"));
    assert!(page.html.contains(r#"base_url="https://gw.acme.test/v1""#));
    assert!(page
        .html
        .contains(&format!("Bearer {}…", key.display_prefix())));
    assert!(page.html.contains(r#"href="/dashboard/keys""#));
    assert_eq!(stat(&page, "requests"), "0");
    assert_eq!(stat(&page, "fallbacks"), "–");
    assert!(!page.html.contains("<svg"), "no chart of nothing");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_cap_set_on_the_budgets_page_is_enforced_then_edited_and_deleted(pool: PgPool) {
    // Arrange
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let (mut browser, key) = signed_up(&cp, "Acme", "ada@acme.test").await;
    let tenant = tenant_of(&pool, "ada@acme.test").await;
    let dp = cp.spawn_dataplane().await;
    let cap_of = |tag: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "select monthly_cap_cents from budget where tenant_id = $1 and tag = $2",
            )
            .bind(tenant)
            .bind(tag)
            .fetch_optional(&pool)
            .await
            .unwrap()
        }
    };
    // ~10,000 input tokens: one request costs more than a one-cent cap.
    let big = chat_body(GPT, &"x".repeat(40_000));
    let tagged = [("x-aig-tag", "summarize")];
    let empty = browser.get("/dashboard/budgets").await;
    assert!(empty.html.contains("No caps yet"), "{}", empty.html);

    // Act: create a one-cent cap
    let created = browser
        .post(
            "/dashboard/budgets",
            &[("tag", "summarize"), ("cap", "0.01")],
        )
        .await;
    let first = dp.chat(&key, &big, &tagged).await;
    let (refused, _) = dp
        .chat_until(&key, &big, &tagged, 402, WITHIN_A_SECOND)
        .await;
    let after_create = browser.get(created.location().unwrap()).await;

    // Assert
    assert_eq!(
        (created.status, created.location()),
        (303, Some("/dashboard/budgets?done=saved"))
    );
    assert_eq!(cap_of("summarize").await, Some(1));
    assert_eq!(first.status, 200, "{:?}", first.body);
    let first_cost: i64 = first.header("x-aig-cost-micros").unwrap().parse().unwrap();
    assert_eq!(refused.status, 402);
    assert_eq!(refused.error_code(), Some("budget_exceeded"));
    assert!(after_create.html.contains("Cap saved"));
    let (caps, _) = table(&after_create);
    let summarize = row(&caps, "summarize");
    assert_eq!(summarize[1], "$0.01");
    assert_eq!(summarize[2], view::usd_fine(first_cost));
    assert!(summarize[3].contains("cap reached"), "{summarize:?}");
    assert!(after_create
        .html
        .contains(r#"<meter min="0" max="1" low="0" high="0" optimum="0" value="1""#));

    // Act: raise it, and add an all-traffic cap
    let edited = browser
        .post(
            "/dashboard/budgets",
            &[("tag", "summarize"), ("cap", "25.50")],
        )
        .await;
    let (served, _) = dp
        .chat_until(&key, &big, &tagged, 200, WITHIN_A_SECOND)
        .await;
    browser
        .post("/dashboard/budgets", &[("tag", "*"), ("cap", "100")])
        .await;
    let after_edit = browser.get("/dashboard/budgets").await;
    cp.ingest_at_least(2).await;
    let overview = browser.get("/dashboard").await;

    // Assert
    assert_eq!(edited.status, 303);
    assert_eq!(cap_of("summarize").await, Some(2550));
    assert_eq!(
        served.status, 200,
        "a raised cap lets traffic through again"
    );
    let served_cost: i64 = served.header("x-aig-cost-micros").unwrap().parse().unwrap();
    let (caps, _) = table(&after_edit);
    assert_eq!(caps[0][0], "All traffic *", "`*` comes first");
    assert_eq!(caps[0][1], "$100.00");
    assert_eq!(row(&caps, "summarize")[1], "$25.50");
    assert!(overview.html.contains("of the $100.00 monthly cap"));
    assert!(
        text(&overview.html).contains(&format!(
            "summarize{} of $25.50",
            view::usd_fine(first_cost + served_cost)
        )),
        "{}",
        overview.html
    );

    // Act: delete, first without the form's token
    let forged = browser
        .post_raw(
            "/dashboard/budgets/delete",
            &[("csrf", "forged.token"), ("tag", "summarize")],
        )
        .await;
    let still_there = cap_of("summarize").await;
    browser.get("/dashboard/budgets").await;
    let deleted = browser
        .post("/dashboard/budgets/delete", &[("tag", "summarize")])
        .await;
    let after_delete = browser.get(deleted.location().unwrap()).await;

    // Assert
    assert_eq!(forged.status, 403);
    assert_eq!(still_there, Some(2550));
    assert_eq!(
        (deleted.status, deleted.location()),
        (303, Some("/dashboard/budgets?done=deleted"))
    );
    assert_eq!(cap_of("summarize").await, None);
    let mut redis = cp.redis.clone();
    let published: Option<i64> = redis
        .hget(cp.keys().budgets(&tenant.to_string()), "summarize")
        .await
        .unwrap();
    assert_eq!(published, None, "the data plane no longer sees the cap");
    assert!(after_delete.html.contains("Cap deleted."));
    assert!(!text(&after_delete.html).contains("summarize $"));
}

#[sqlx::test(migrations = "../migrations")]
async fn the_budgets_page_refuses_a_bad_tag_or_amount_with_422_and_keeps_the_input(pool: PgPool) {
    // Arrange
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let (mut browser, _key) = signed_up(&cp, "Acme", "ada@acme.test").await;
    browser.get("/dashboard/budgets").await;

    // Act
    let bad_tag = browser
        .post("/dashboard/budgets", &[("tag", "bad tag!"), ("cap", "5")])
        .await;
    let bad_cap = browser
        .post("/dashboard/budgets", &[("tag", "ok"), ("cap", "5.555")])
        .await;
    let missing = browser
        .post("/dashboard/budgets/delete", &[("tag", "never-set")])
        .await;

    // Assert
    assert_eq!(bad_tag.status, 422);
    assert!(bad_tag.html.contains("A tag is 1-64 characters"));
    assert!(bad_tag.html.contains(r#"value="bad tag!""#));
    assert_eq!(bad_cap.status, 422);
    assert!(bad_cap.html.contains("like 25 or 25.50"));
    assert_eq!(missing.status, 404);
    assert!(missing.html.contains("There is no cap for that tag"));
    let budgets: i64 = sqlx::query_scalar("select count(*) from budget")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(budgets, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn usage_is_grouped_by_tag_model_and_day_with_totals(pool: PgPool) {
    // Arrange
    let cp = TestControlPlane::spawn(pool).await;
    let (mut browser, key) = signed_up(&cp, "Acme", "ada@acme.test").await;
    let dp = cp.spawn_dataplane().await;
    let traffic = send_mixed_traffic(&cp, &dp, &key).await;
    let today = Month::current().today;

    // Act
    let by_tag = browser.get("/dashboard/usage?group=tag").await;
    let by_model = browser.get("/dashboard/usage?group=model").await;
    let by_day = browser.get("/dashboard/usage").await;
    let one_day = browser
        .get(&format!(
            "/dashboard/usage?from={today}&to={today}&group=day"
        ))
        .await;

    // Assert
    for page in [&by_tag, &by_model, &by_day, &one_day] {
        assert_eq!(page.status, 200, "{}", page.html);
        assert!(page.html.contains("<svg"));
    }
    let (tags, total) = table(&by_tag);
    // Spend, requests, input tokens, output tokens, fallbacks, errors.
    let summarize = row(&tags, "summarize");
    assert_eq!(summarize[1], view::usd_fine(traffic.summarize));
    assert_eq!(summarize[2], "2");
    assert_eq!(summarize[5], "0");
    let chat = row(&tags, DASH_TAG);
    assert_eq!((chat[2].as_str(), chat[5].as_str()), ("1", "1"));
    assert_eq!(row(&tags, "(untagged)")[2], "1");
    assert_eq!(total[0], "Total");
    assert_eq!(total[1], view::usd_fine(traffic.total()));
    assert_eq!(total[2], "4");
    assert_eq!(total[5], "1");

    let (models, _) = table(&by_model);
    assert_eq!(row(&models, GPT)[2], "2");
    assert_eq!(row(&models, CLAUDE)[5], "1", "the fallback is Claude's");
    assert_eq!(
        row(&models, HOSTILE_MODEL)[1],
        view::usd_fine(traffic.hostile)
    );

    let (days, total) = table(&by_day);
    assert_eq!(days.len(), 30, "every one of the last 30 days is listed");
    assert_eq!(days.last().unwrap()[0], today.to_string());
    assert_eq!(days.last().unwrap()[2], "4");
    assert!(days[..29].iter().all(|d| d[2] == "0"));
    assert_eq!(total[2], "4");
    assert!(by_day.html.contains(&format!(
        "<title>{}: {} · 4 requests</title>",
        today.format("%m-%d"),
        view::usd_fine(traffic.total())
    )));
    assert_eq!(table(&one_day).0.len(), 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_csv_export_is_exact_and_escapes_what_a_spreadsheet_would_run(pool: PgPool) {
    // Arrange
    let cp = TestControlPlane::spawn(pool).await;
    let (mut browser, key) = signed_up(&cp, "Acme", "ada@acme.test").await;
    let dp = cp.spawn_dataplane().await;
    let traffic = send_mixed_traffic(&cp, &dp, &key).await;
    let today = Month::current().today;
    let csv = |group: &str| format!("/dashboard/usage.csv?from={today}&to={today}&group={group}");

    // Act
    let by_model = browser.get(&csv("model")).await;
    let by_tag = browser.get(&csv("tag")).await;
    let page = browser
        .get(&format!(
            "/dashboard/usage?from={today}&to={today}&group=model"
        ))
        .await;

    // Assert
    assert_eq!(by_model.status, 200, "{}", by_model.html);
    assert_eq!(by_model.headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        by_model.headers["content-disposition"],
        format!("attachment; filename=\"usage-{today}-{today}-model.csv\"").as_str()
    );
    let lines: Vec<&str> = by_model.html.lines().collect();
    assert_eq!(
        lines[0],
        "model,spend_usd,requests,input_tokens,output_tokens,cache_read_tokens,\
         cache_write_tokens,fallbacks,errors"
    );
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(
        lines.iter().any(|l| l.starts_with(&format!(
            "\"openai/=cmd,\"\"x\"\"\",{},1,",
            usd_decimal(traffic.hostile)
        ))),
        "{lines:?}"
    );
    assert!(lines
        .iter()
        .any(|l| l.starts_with(&format!("{GPT},{},2,", usd_decimal(traffic.summarize)))));
    assert!(lines.iter().any(|l| l
        .starts_with(&format!("{CLAUDE},{},1,", usd_decimal(traffic.fallback)))
        && l.ends_with(",1,0")));

    let tag_lines: Vec<&str> = by_tag.html.lines().collect();
    assert_eq!(
        by_tag.headers["content-disposition"],
        format!("attachment; filename=\"usage-{today}-{today}-tag.csv\"").as_str()
    );
    assert!(
        tag_lines
            .iter()
            .any(|l| l.starts_with(&format!("'{DASH_TAG},{},1,", usd_decimal(traffic.fallback)))),
        "a leading - is neutralised: {tag_lines:?}"
    );
    assert!(
        tag_lines
            .iter()
            .any(|l| l.starts_with(&format!(",{},1,", usd_decimal(traffic.hostile)))),
        "the untagged row has an empty tag: {tag_lines:?}"
    );
    assert!(
        decode(&page.html).contains(&format!(
            r#"href="/dashboard/usage.csv?from={today}&to={today}&group=model""#
        )),
        "the page links its CSV: {}",
        page.html
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn another_tenant_sees_none_of_the_first_tenants_numbers(pool: PgPool) {
    // Arrange
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let (mut first, key) = signed_up(&cp, "Acme", "ada@acme.test").await;
    let dp = cp.spawn_dataplane().await;
    send_mixed_traffic(&cp, &dp, &key).await;
    first.get("/dashboard/budgets").await;
    first
        .post("/dashboard/budgets", &[("tag", "summarize"), ("cap", "7")])
        .await;
    let (mut other, _) = signed_up(&cp, "Globex", "hank@globex.test").await;

    // Act
    let overview = other.get("/dashboard").await;
    let budgets = other.get("/dashboard/budgets").await;
    let usage = other.get("/dashboard/usage?group=model").await;
    let csv = other.get("/dashboard/usage.csv?group=tag").await;
    let delete = other
        .post("/dashboard/budgets/delete", &[("tag", "summarize")])
        .await;

    // Assert
    assert!(overview.html.contains("Make your first request"));
    assert_eq!(stat(&overview, "requests"), "0");
    assert_eq!(stat(&overview, "spend"), "$0.00");
    assert!(!overview.html.contains(CLAUDE));
    assert!(budgets.html.contains("No caps yet"));
    assert!(!budgets.html.contains("$7.00"));
    assert!(usage.html.contains("No usage from"));
    assert!(!usage.html.contains(CLAUDE));
    assert_eq!(csv.html.lines().count(), 1, "only the header: {}", csv.html);
    assert_eq!(delete.status, 404, "another tenant's cap is unknown here");
    let caps: i64 = sqlx::query_scalar("select count(*) from budget where tag = 'summarize'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(caps, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_usage_queries_give_a_page_with_a_message_not_an_error(pool: PgPool) {
    // Arrange
    let cp = TestControlPlane::spawn(pool).await;
    let (mut browser, _key) = signed_up(&cp, "Acme", "ada@acme.test").await;
    let cases = [
        ("from=yesterday", "From must be a date as YYYY-MM-DD"),
        ("from=2026-02-30&to=2026-03-01", "From must be a date"),
        ("from=2026-03-10&to=2026-03-01", "is after to"),
        ("from=2020-01-01&to=2026-01-01", "at most 366 days"),
        ("group=week", "Group by day, tag or model"),
        ("to=%FF%FE", "To must be a date"),
    ];

    for (query, message) in cases {
        // Act
        let page = browser.get(&format!("/dashboard/usage?{query}")).await;
        let csv = browser.get(&format!("/dashboard/usage.csv?{query}")).await;

        // Assert
        assert_eq!(page.status, 400, "{query}");
        assert!(text(&page.html).contains(message), "{query}: {}", page.html);
        assert!(
            page.html.contains(r#"href="/dashboard/usage""#),
            "a way back"
        );
        assert_eq!(csv.status, 400, "{query}");
        assert!(csv.html.contains(message), "{query}: {}", csv.html);
    }
    let mut signed_out = cp.browser();
    let csv = signed_out.get("/dashboard/usage.csv").await;
    assert_eq!((csv.status, csv.location()), (303, Some("/login")));
}
