//! What every page shares (SPEC §7, issue #8 "page hygiene"): security headers, the
//! navigation to every dashboard page, HTML error pages for browsers and JSON for the API,
//! escaping of user data, and the static files the CSP allows.

use aig_tests::controlplane::TestControlPlane;
use sqlx::PgPool;

const PASSWORD: &str = "correct horse battery";

/// Every link of the signed-in navigation.
const NAVIGATION: [&str; 8] = [
    "/dashboard",
    "/dashboard/keys",
    "/dashboard/budgets",
    "/dashboard/usage",
    "/dashboard/chains",
    "/dashboard/requests",
    "/billing",
    "/dashboard/team",
];

#[sqlx::test(migrations = "../migrations")]
async fn pages_carry_a_strict_csp_and_the_other_security_headers(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool).await;
    let mut browser = cp.browser();

    let page = browser.get("/login").await;

    let header = |name: &str| page.headers[name].to_str().unwrap().to_owned();
    let csp = header("content-security-policy");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("x-frame-options"), "DENY");
    assert_eq!(header("referrer-policy"), "same-origin");
    // The page itself obeys the policy: no inline script or style.
    assert!(!page.html.contains("<script>"), "inline script");
    assert!(!page.html.contains("style="), "inline style");
}

#[sqlx::test(migrations = "../migrations")]
async fn every_page_in_the_navigation_answers_for_a_signed_in_tenant_and_links_the_others(
    pool: PgPool,
) {
    let cp = TestControlPlane::spawn(pool).await;
    let mut browser = cp.browser();
    let signed_up = browser
        .sign_up("Nav <Org>", "nav@example.test", PASSWORD)
        .await;
    assert_eq!(signed_up.status, 201, "{}", signed_up.html);

    for path in NAVIGATION {
        let page = browser.get(path).await;

        assert_eq!(page.status, 200, "{path}: {}", page.html);
        for link in NAVIGATION {
            assert!(
                page.html.contains(&format!(r#"href="{link}""#)),
                "{path} links {link}"
            );
        }
        assert!(page.html.contains(r#"aria-current="page""#), "{path}");
        assert!(!page.html.contains("style="), "{path} has an inline style");
        assert!(
            !page.html.contains("<script>"),
            "{path} has an inline script"
        );
        // The organisation's name is user data: escaped wherever it is shown.
        assert!(
            !page.html.contains("Nav <Org>"),
            "{path} shows unescaped user data"
        );
        // Only platform admins see the admin link.
        assert!(!page.html.contains(r#"href="/admin""#), "{path}");
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn unknown_pages_are_an_html_404_for_browsers_and_json_for_api_clients(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool).await;
    let client = reqwest::Client::new();

    let html = client
        .get(cp.url("/dashboard/nowhere"))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    let api = client
        .get(cp.url("/v1/nowhere"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    let plain = client.get(cp.url("/nowhere")).send().await.unwrap();

    assert_eq!(html.status(), 404);
    assert!(html.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let body = html.text().await.unwrap();
    assert!(body.contains("<h1>Not found</h1>"), "{body}");
    assert!(
        body.contains(r#"href="/static/app.css""#),
        "the 404 page has the site's look"
    );
    assert_eq!(api.status(), 404);
    let error: serde_json::Value = api.json().await.unwrap();
    assert_eq!(error["error"]["code"], "not_found");
    assert_eq!(plain.status(), 404);
    assert!(plain.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
}

#[sqlx::test(migrations = "../migrations")]
async fn the_stylesheet_and_script_are_served_as_the_csp_allows(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool).await;
    let client = reqwest::Client::new();

    let css = client.get(cp.url("/static/app.css")).send().await.unwrap();
    let js = client.get(cp.url("/static/app.js")).send().await.unwrap();

    assert_eq!(css.status(), 200);
    assert!(css.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    assert_eq!(js.status(), 200);
    assert!(js.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert_eq!(js.headers()["x-content-type-options"], "nosniff");
    assert!(js.text().await.unwrap().contains("data-copy"));
}

#[sqlx::test(migrations = "../migrations")]
async fn every_form_post_without_the_pages_token_is_403_before_any_handler_runs(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let target = cp.create_tenant("Target").await;
    aig_controlplane::accounts::create_tenant(
        &cp.state,
        aig_controlplane::accounts::NewTenant {
            org: "Platform".to_owned(),
            email: "root@platform.test".to_owned(),
            password: Some(PASSWORD.to_owned().into()),
            platform_admin: true,
        },
    )
    .await
    .unwrap();
    let mut browser = cp.browser();
    assert_eq!(
        browser.log_in("root@platform.test", PASSWORD).await.status,
        303
    );
    let id = uuid::Uuid::new_v4();
    let tenant = target.tenant_id;
    let ledger_before: i64 = sqlx::query_scalar("select count(*) from ledger_entry")
        .fetch_one(&pool)
        .await
        .unwrap();

    // Every POST route of the pages, with plausible fields but a forged or missing token.
    let posts = [
        "/signup".to_owned(),
        "/login".to_owned(),
        "/logout".to_owned(),
        "/dashboard/keys".to_owned(),
        format!("/dashboard/keys/{id}/revoke"),
        "/dashboard/budgets".to_owned(),
        "/dashboard/budgets/delete".to_owned(),
        "/dashboard/team/invitations".to_owned(),
        format!("/dashboard/team/invitations/{id}/revoke"),
        format!("/dashboard/team/members/{id}/role"),
        format!("/dashboard/team/members/{id}/remove"),
        "/invite/0000".to_owned(),
        "/billing/checkout".to_owned(),
        format!("/admin/tenants/{tenant}/suspend"),
        format!("/admin/tenants/{tenant}/reinstate"),
        format!("/admin/tenants/{tenant}/credit"),
    ];
    for path in &posts {
        let missing = browser
            .post_raw(path, &[("amount", "5"), ("reason", "x"), ("tag", "t")])
            .await;
        let forged = browser
            .post_raw(path, &[("csrf", "forged.token"), ("name", "x")])
            .await;

        assert_eq!(missing.status, 403, "{path} without a token");
        assert!(missing.html.contains("Form expired"), "{path}");
        assert_eq!(forged.status, 403, "{path} with a forged token");
    }
    // Nothing changed: the tenant is still active, no credit, no key, no budget.
    let status: String = sqlx::query_scalar("select status from tenant where id = $1")
        .bind(tenant)
        .fetch_one(&pool)
        .await
        .unwrap();
    let ledger_after: i64 = sqlx::query_scalar("select count(*) from ledger_entry")
        .fetch_one(&pool)
        .await
        .unwrap();
    let budgets: i64 = sqlx::query_scalar("select count(*) from budget")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "active");
    assert_eq!(ledger_after, ledger_before);
    assert_eq!(budgets, 0);
    // The API and the webhook are not forms: no token needed there (they answer for
    // themselves: 401 without a key, 503 without a webhook secret).
    let api = browser.post_raw("/v1/budgets", &[]).await;
    let webhook = browser.post_raw("/webhooks/stripe", &[]).await;
    assert_eq!(api.status, 401);
    assert_ne!(webhook.status, 403);
}
