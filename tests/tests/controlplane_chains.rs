//! The chain statistics page (`/dashboard/chains`) and the request log
//! (`/dashboard/requests`), fed by real requests through the data plane and its mock
//! providers (some served by the primary, some after a 429, some by nothing), ingested into
//! Postgres, and read back as a signed-in person sees them.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed request or query must fail the test at once"
)]

use aig_common::api_key::ApiKey;
use aig_controlplane::view;
use aig_tests::chat_body;
use aig_tests::controlplane::{Browser, DataPlane, TestControlPlane};
use sqlx::PgPool;
use std::collections::HashSet;
use uuid::Uuid;

const GPT: &str = "openai/gpt-5.4";
const CLAUDE: &str = "anthropic/claude-opus-4.7";
const RATE_LIMITED: &str = "openai/gpt-5.4-fail-429";
const BROKEN: &str = "openai/gpt-5.4-fail-500";
const ALSO_BROKEN: &str = "anthropic/claude-opus-4.7-fail-503";
/// A little more than the mock's `Retry-After`.
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_millis(1_200);
const PASSWORD: &str = "correct horse battery staple";

/// A person signed up for `org`: their browser, tenant and first API key.
async fn signed_up(cp: &TestControlPlane, org: &str, email: &str) -> (Browser, Uuid, ApiKey) {
    let mut browser = cp.browser();
    let page = browser.sign_up(org, email, PASSWORD).await;
    assert_eq!(page.status, 201, "{}", page.html);
    let key = page.revealed_key().unwrap();
    let tenant: Uuid = sqlx::query_scalar("select tenant_id from app_user where email = $1")
        .bind(email)
        .fetch_one(cp.state.db())
        .await
        .unwrap();
    (browser, tenant, key)
}

/// What one request through the data plane answered.
struct Sent {
    request_id: String,
    status: u16,
    cost_micros: i64,
}

async fn send(
    dp: &DataPlane,
    key: &ApiKey,
    model: &str,
    fallback: Option<&str>,
    tag: &str,
) -> Sent {
    let mut headers = vec![("x-aig-tag", tag)];
    if let Some(fallback) = fallback {
        headers.push(("x-aig-fallback", fallback));
    }
    let r = dp.chat(key, &chat_body(model, "hello"), &headers).await;
    Sent {
        request_id: r.header("x-aig-request-id").unwrap(),
        status: r.status,
        cost_micros: r
            .header("x-aig-cost-micros")
            .map_or(0, |c| c.parse().unwrap()),
    }
}

/// The traffic both pages are checked against: 3 served by GPT itself, 2 that hit a 429
/// and fell back to Claude, 1 where both entries failed. Oldest first. The mock's 429 says
/// `Retry-After: 1`, which marks OpenAI degraded for a second; waiting it out keeps every
/// chain an attempt rather than a skip.
async fn mixed_traffic(dp: &DataPlane, key: &ApiKey) -> Vec<Sent> {
    let mut sent = Vec::new();
    for _ in 0..3 {
        sent.push(send(dp, key, GPT, None, "chat").await);
    }
    for _ in 0..2 {
        sent.push(send(dp, key, RATE_LIMITED, Some(CLAUDE), "summarize").await);
        tokio::time::sleep(RETRY_AFTER).await;
    }
    sent.push(send(dp, key, BROKEN, Some(ALSO_BROKEN), "batch").await);
    sent
}

/// The `<tr>` of the chains table whose first cell is `model`.
fn table_row<'a>(html: &'a str, model: &str) -> &'a str {
    let start = html
        .find(&format!(r#"<td class="chain">{model}</td>"#))
        .unwrap_or_else(|| panic!("no row for {model}: {html}"));
    let end = start + html[start..].find("</tr>").unwrap();
    &html[start..end]
}

/// The breakdown card of `model` on the chains page.
fn breakdown<'a>(html: &'a str, model: &str) -> &'a str {
    let start = html
        .find(&format!(r#"<h3 class="chain">{model}</h3>"#))
        .unwrap_or_else(|| panic!("no breakdown for {model}: {html}"));
    let end = start + html[start..].find("</section>").unwrap();
    &html[start..end]
}

/// The request ids listed on a request log page, top to bottom.
fn listed_ids(html: &str) -> Vec<String> {
    html.split(r#"<summary class="chain">"#)
        .skip(1)
        .map(|part| part[..part.find('<').unwrap()].to_owned())
        .collect()
}

/// The href of the pager link ending in `label` (`Older →`, `← Newer`), unescaped.
fn pager_link(html: &str, rel: &str) -> Option<String> {
    let marker = format!(r#"" rel="{rel}">"#);
    let end = html.find(&marker)?;
    let start = html[..end].rfind("href=\"")? + "href=\"".len();
    Some(html[start..end].replace("&#38;", "&").replace("&amp;", "&"))
}

#[sqlx::test(migrations = "../migrations")]
async fn the_chains_page_shows_how_each_primary_fell_back_and_where_requests_went(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let dp = cp.spawn_dataplane().await;
    let (mut browser, _, key) = signed_up(&cp, "Acme", "ada@acme.test").await;
    let sent = mixed_traffic(&dp, &key).await;
    let statuses: Vec<u16> = sent.iter().map(|s| s.status).collect();
    assert_eq!(statuses, vec![200, 200, 200, 200, 200, 503]);
    cp.ingest_at_least(6).await;

    let page = browser.get("/dashboard/chains").await;

    assert_eq!(page.status, 200, "{}", page.html);
    let html = &page.html;
    let gpt = table_row(html, GPT);
    assert!(gpt.contains(r#"<td class="num">3</td>"#), "{gpt}");
    assert!(gpt.contains("100.0%"), "all served by the primary: {gpt}");
    let limited = table_row(html, RATE_LIMITED);
    assert!(limited.contains(r#"<td class="num">2</td>"#), "{limited}");
    assert!(
        limited.contains(r#"<td class="num">100.0%</td>"#),
        "fallback rate: {limited}"
    );
    assert!(
        limited.contains(r#"<span class="num">0.0%</span>"#),
        "{limited}"
    );
    for row in [gpt, limited, table_row(html, BROKEN)] {
        assert_eq!(row.matches(" ms</td>").count(), 2, "p50 and p95: {row}");
    }
    let limited_card = breakdown(html, RATE_LIMITED);
    assert!(
        limited_card.contains("<strong>openai</strong>: 2×429"),
        "{limited_card}"
    );
    assert!(
        limited_card.contains("<strong>anthropic</strong>: 2×200"),
        "{limited_card}"
    );
    assert!(
        limited_card.contains(
            r#"<span class="badge warn">429</span> rate limited <span class="num muted">× 2</span>"#
        ),
        "the top reason is the 429: {limited_card}"
    );
    let broken_card = breakdown(html, BROKEN);
    assert!(
        broken_card.contains("<strong>openai</strong>: 1×500"),
        "{broken_card}"
    );
    assert!(
        broken_card.contains("<strong>anthropic</strong>: 1×503"),
        "{broken_card}"
    );
    assert!(breakdown(html, GPT).contains("None: the primary answered"));
    assert!(html.contains("<svg class=\"chart flow-chart\""));
    assert!(html.contains(&format!("<title>{GPT} → {GPT}: 3 requests</title>")));
    assert!(html.contains(&format!(
        "<title>{RATE_LIMITED} → {CLAUDE}: 2 requests</title>"
    )));
    assert!(html.contains(&format!("<title>{BROKEN} → failed: 1 request</title>")));
}

#[sqlx::test(migrations = "../migrations")]
async fn the_chains_page_explains_an_empty_range_and_a_bad_date(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let dp = cp.spawn_dataplane().await;
    let (mut browser, _, key) = signed_up(&cp, "Acme", "ada@acme.test").await;
    send(&dp, &key, GPT, None, "chat").await;
    cp.ingest_at_least(1).await;

    let old = browser
        .get("/dashboard/chains?from=2020-01-01&to=2020-01-07")
        .await;
    let bad = browser.get("/dashboard/chains?from=yesterday").await;

    assert_eq!(old.status, 200);
    assert!(
        old.html.contains("No requests in this range."),
        "{}",
        old.html
    );
    assert_eq!(bad.status, 400);
    assert!(bad.html.contains("is not a date"), "{}", bad.html);
    assert!(
        bad.html
            .contains(&format!("<td class=\"chain\">{GPT}</td>")),
        "the default range is shown instead"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn the_request_log_lists_requests_newest_first_with_cost_and_chain(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let dp = cp.spawn_dataplane().await;
    let (mut browser, _, key) = signed_up(&cp, "Acme", "ada@acme.test").await;
    let empty = browser.get("/dashboard/requests").await;
    let sent = mixed_traffic(&dp, &key).await;
    cp.ingest_at_least(6).await;

    let page = browser.get("/dashboard/requests").await;

    assert!(empty.html.contains("No requests yet."), "{}", empty.html);
    assert_eq!(page.status, 200, "{}", page.html);
    let newest_first: Vec<String> = sent.iter().rev().map(|s| s.request_id.clone()).collect();
    assert_eq!(listed_ids(&page.html), newest_first);
    for s in &sent[..5] {
        assert!(s.cost_micros > 0);
        assert!(
            page.html.contains(&view::usd_fine(s.cost_micros)),
            "the cost of {} is shown",
            s.request_id
        );
    }
    let html = &page.html;
    assert!(html.contains(&format!(
        r#"<li class="step failed"><span class="chain">{RATE_LIMITED}</span> <span class="badge bad">429</span>"#
    )), "{html}");
    assert!(html.contains(&format!(
        r#"<li class="step served"><span class="chain">{CLAUDE}</span> <span class="badge ok">200</span>"#
    )));
    assert!(html.contains(&format!("{RATE_LIMITED}<br>→ {CLAUDE}</td>")));
    assert!(html.contains(r#"<span class="badge bad">503</span></td>"#));
    assert!(!html.contains("rel=\"next\""), "one page only");
}

#[sqlx::test(migrations = "../migrations")]
async fn the_request_log_filters_by_tag_model_status_and_request_id(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let dp = cp.spawn_dataplane().await;
    let (mut browser, _, key) = signed_up(&cp, "Acme", "ada@acme.test").await;
    let sent = mixed_traffic(&dp, &key).await;
    cp.ingest_at_least(6).await;
    let ids = |range: std::ops::Range<usize>| -> Vec<String> {
        sent[range]
            .iter()
            .rev()
            .map(|s| s.request_id.clone())
            .collect()
    };

    let by_tag = browser.get("/dashboard/requests?tag=chat").await;
    let by_served = browser
        .get(&format!("/dashboard/requests?model={CLAUDE}"))
        .await;
    let by_requested = browser
        .get(&format!("/dashboard/requests?model={RATE_LIMITED}"))
        .await;
    let by_class = browser.get("/dashboard/requests?status=5xx").await;
    let by_exact = browser
        .get("/dashboard/requests?status=200&tag=summarize")
        .await;
    let by_id = browser
        .get(&format!("/dashboard/requests?q={}", sent[1].request_id))
        .await;
    let nothing = browser.get("/dashboard/requests?status=404").await;

    assert_eq!(listed_ids(&by_tag.html), ids(0..3));
    assert_eq!(listed_ids(&by_served.html), ids(3..5));
    assert_eq!(listed_ids(&by_requested.html), ids(3..5));
    assert_eq!(listed_ids(&by_class.html), ids(5..6));
    assert_eq!(listed_ids(&by_exact.html), ids(3..5));
    assert_eq!(listed_ids(&by_id.html), ids(1..2));
    assert!(
        by_tag.html.contains(r#"name="tag" value="chat""#),
        "filters stay in the form"
    );
    assert!(nothing.html.contains("No requests match these filters."));
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_filters_give_a_page_with_a_message(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let (mut browser, _, _) = signed_up(&cp, "Acme", "ada@acme.test").await;

    let status = browser.get("/dashboard/requests?status=teapot").await;
    let tag = browser.get("/dashboard/requests?tag=has%20space").await;
    let cursor = browser.get("/dashboard/requests?before=yesterday").await;
    let both = browser
        .get("/dashboard/requests?before=1.1&after=1.1")
        .await;

    for (page, message) in [
        (&status, "is not a status"),
        (&tag, "is not a tag"),
        (&cursor, "page link is not valid"),
        (&both, "page link is not valid"),
    ] {
        assert_eq!(page.status, 400, "{}", page.html);
        assert!(page.html.contains(message), "{message}: {}", page.html);
        assert!(page
            .html
            .contains(r#"<form method="get" action="/dashboard/requests""#));
    }
}

/// Inserts `n` request log rows for `tenant` straight into Postgres, every third pair
/// sharing a timestamp (the id breaks the tie); returns their request ids, newest first.
async fn insert_rows(pool: &PgPool, tenant: Uuid, n: i32) -> Vec<String> {
    sqlx::query(
        "insert into request_log (request_id, tenant_id, key_id, tag, ingress, requested_model,
             served_by, chain, status, stream, latency_ms, input_tokens, cache_read_tokens,
             cache_write_tokens, output_tokens, cost_micros, usage_estimated,
             client_disconnected, ts)
         select 'bulk-' || $1::text || '-' || i, $1, 'key', 'bulk', 'openai', 'openai/gpt-5.4',
                'openai/gpt-5.4', 'openai/gpt-5.4:200', 200, false, 100 + i, 10, 0, 0, 5, i,
                false, false, now() - interval '1 hour' + (i / 3) * interval '1 second'
           from generate_series(1, $2) as i",
    )
    .bind(tenant)
    .bind(n)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query_scalar(
        "select request_id from request_log where tenant_id = $1 order by ts desc, id desc",
    )
    .bind(tenant)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn older_and_newer_links_walk_every_row_once_keeping_the_filters(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let (mut browser, tenant, _) = signed_up(&cp, "Acme", "ada@acme.test").await;
    let all = insert_rows(&pool, tenant, 123).await;

    let mut pages = vec![browser.get("/dashboard/requests?tag=bulk&status=2xx").await];
    while let Some(older) = pager_link(&pages.last().unwrap().html, "next") {
        assert!(
            older.contains("tag=bulk") && older.contains("status=2xx"),
            "{older}: {}",
            pages.last().unwrap().html
        );
        pages.push(browser.get(&older).await);
        assert!(pages.len() < 10, "the walk ends");
    }
    let mut back = Vec::new();
    let mut current = pages.last().unwrap().html.clone();
    while let Some(newer) = pager_link(&current, "prev") {
        current = browser.get(&newer).await.html;
        back.push(listed_ids(&current));
    }

    let walked: Vec<String> = pages.iter().flat_map(|p| listed_ids(&p.html)).collect();
    let sizes: Vec<usize> = pages.iter().map(|p| listed_ids(&p.html).len()).collect();
    assert_eq!(sizes, vec![50, 50, 23]);
    assert_eq!(walked, all, "newest first, no gaps");
    assert_eq!(
        walked.iter().collect::<HashSet<_>>().len(),
        123,
        "no duplicates"
    );
    assert_eq!(back.len(), 2);
    assert_eq!(back[0], all[50..100]);
    assert_eq!(back[1], all[..50]);
    assert!(
        pager_link(&pages[0].html, "prev").is_none(),
        "the newest page has no Newer"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn another_tenants_requests_never_appear_even_by_request_id(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let dp = cp.spawn_dataplane().await;
    let (mut ada, _, _) = signed_up(&cp, "Acme", "ada@acme.test").await;
    let (mut bob, _, bob_key) = signed_up(&cp, "Beta", "bob@beta.test").await;
    let bobs = send(&dp, &bob_key, RATE_LIMITED, Some(CLAUDE), "secret").await;
    cp.ingest_at_least(1).await;

    let log = ada.get("/dashboard/requests").await;
    let by_id = ada
        .get(&format!("/dashboard/requests?q={}", bobs.request_id))
        .await;
    let chains = ada.get("/dashboard/chains").await;
    let own = bob
        .get(&format!("/dashboard/requests?q={}", bobs.request_id))
        .await;

    assert!(log.html.contains("No requests yet."));
    assert!(by_id.html.contains("No requests match these filters."));
    assert!(!by_id.html.contains(&format!(">{}<", bobs.request_id)));
    assert!(chains.html.contains("No requests in this range."));
    assert!(!chains.html.contains(RATE_LIMITED));
    assert_eq!(listed_ids(&own.html), vec![bobs.request_id.clone()]);
}
