//! Accounts for people (SPEC §7): sign-up, login, logout, sessions, CSRF, login rate limits
//! and the keys page — on real Postgres and Redis, with keys checked on a real data plane.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed query or signing must fail the test at once"
)]

use aig_controlplane::accounts;
use aig_tests::chat_body;
use aig_tests::controlplane::{Browser, TestControlPlane, TEST_JWT_SECRET};
use serde_json::json;
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

const GPT: &str = "openai/gpt-5.4";
const PASSWORD: &str = "correct horse battery";
const WITHIN_A_SECOND: Duration = Duration::from_secs(1);

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

/// A browser signed up as `email` of a new organisation `org`; returns the sign-up page.
async fn signed_up(
    cp: &TestControlPlane,
    org: &str,
    email: &str,
) -> (Browser, aig_tests::controlplane::Page) {
    let mut browser = cp.browser();
    let page = browser.sign_up(org, email, PASSWORD).await;
    assert_eq!(page.status, 201, "{}", page.html);
    (browser, page)
}

#[sqlx::test(migrations = "../migrations")]
async fn sign_up_creates_the_tenant_owner_credit_and_a_key_shown_once_that_works(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let dp = cp.spawn_dataplane().await;
    let mut browser = cp.browser();

    let form = browser.get("/signup").await;
    let page = browser
        .post(
            "/signup",
            &[
                ("org", "Acme"),
                ("email", "Ada@Acme.test"),
                ("password", PASSWORD),
            ],
        )
        .await;

    assert_eq!(form.status, 200);
    assert!(form.html.contains(r#"name="csrf""#));
    assert_eq!(page.status, 201, "{}", page.html);
    let key = page.revealed_key().expect("the key is shown");
    assert!(page.headers["cache-control"]
        .to_str()
        .unwrap()
        .contains("no-store"));
    let session = page
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("aig_session="))
        .expect("signed in");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Lax"));
    assert!(session.contains("Max-Age=43200"));
    assert!(!session.contains("Secure"), "plain http");

    assert_eq!(
        count(&pool, "select count(*) from tenant where name = 'Acme'").await,
        1
    );
    let (role, hash): (String, String) =
        sqlx::query_as("select role, password_hash from app_user where email = 'Ada@Acme.test'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(role, "owner");
    assert!(hash.starts_with("$argon2id$"));
    assert_eq!(
        count(
            &pool,
            "select sum(amount_micros)::bigint from ledger_entry where kind = 'trial_credit'"
        )
        .await,
        3_000_000
    );
    assert_eq!(count(&pool, "select count(*) from api_key").await, 1);

    let answer = dp.chat(&key, &chat_body(GPT, "hello"), &[]).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);

    let again = browser.get("/dashboard/keys").await;
    assert_eq!(again.status, 200);
    assert!(again.html.contains("Default key"));
    assert!(again.revealed_key().is_none(), "shown once only");
    assert!(!again.html.contains(key.expose()));
}

#[sqlx::test(migrations = "../migrations")]
async fn sign_up_errors_re_render_the_form_keeping_what_was_typed(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool.clone()).await;
    signed_up(&cp, "Acme", "taken@acme.test").await;
    let mut browser = cp.browser();

    let short = browser.sign_up("Beta", "b@beta.test", "short").await;
    let bad_email = browser.sign_up("Beta", "not-an-email", PASSWORD).await;
    let taken = browser.sign_up("Beta", "TAKEN@acme.test", PASSWORD).await;
    let no_org = browser.sign_up("  ", "c@beta.test", PASSWORD).await;

    assert_eq!(short.status, 422);
    assert!(short.html.contains("at least 10 characters"));
    assert!(short.html.contains(r#"value="b@beta.test""#));
    assert_eq!(bad_email.status, 400);
    assert!(bad_email.html.contains("not an email address"));
    assert_eq!(taken.status, 409);
    assert!(taken.html.contains("already exists"));
    assert_eq!(no_org.status, 400);
    for page in [&short, &bad_email, &taken, &no_org] {
        assert!(!page.html.contains(PASSWORD) && !page.html.contains("short\""));
    }
    assert_eq!(count(&pool, "select count(*) from tenant").await, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn login_accepts_the_password_and_refuses_wrong_ones_and_unknown_emails_alike(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool).await;
    signed_up(&cp, "Acme", "ada@acme.test").await;
    let mut browser = cp.browser();

    let wrong = browser.log_in("ada@acme.test", "wrong password").await;
    let unknown = browser.log_in("nobody@acme.test", PASSWORD).await;
    let before = browser.get("/dashboard/keys").await;
    let good = browser.log_in("ADA@acme.test", PASSWORD).await;
    let after = browser.get("/dashboard/keys").await;

    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, 401);
    let message = "That email and password do not match an account.";
    assert!(wrong.html.contains(message) && unknown.html.contains(message));
    assert!(
        wrong.html.contains(r#"value="ada@acme.test""#),
        "keeps the email"
    );
    assert!(unknown.html.contains(r#"value="nobody@acme.test""#));
    assert_eq!(before.status, 303);
    assert_eq!(before.location(), Some("/login"));
    assert_eq!(good.status, 303);
    assert_eq!(good.location(), Some("/dashboard"));
    assert_eq!(after.status, 200);
    assert!(after.html.contains("ada@acme.test"));
}

#[sqlx::test(migrations = "../migrations")]
async fn forms_without_a_valid_csrf_token_are_403_and_change_nothing(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let mut browser = cp.browser();
    browser.get("/signup").await;
    let fields = [
        ("org", "Acme"),
        ("email", "a@acme.test"),
        ("password", PASSWORD),
    ];

    let missing = browser.post_raw("/signup", &fields).await;
    let mut with_bad = vec![("csrf", "0123.abcd")];
    with_bad.extend_from_slice(&fields);
    let bad = browser.post_raw("/signup", &with_bad).await;
    let no_cookie = cp
        .browser()
        .post_raw(
            "/signup",
            &[&[("csrf", browser.csrf.as_str())][..], &fields[..]].concat(),
        )
        .await;

    for page in [&missing, &bad, &no_cookie] {
        assert_eq!(page.status, 403, "{}", page.html);
        assert!(page.html.contains("nothing was changed"));
    }
    assert_eq!(count(&pool, "select count(*) from tenant").await, 0);

    // Signed in, a key form with a wrong token creates nothing, a revoke revokes nothing.
    let (mut signed_in, _) = signed_up(&cp, "Acme", "a@acme.test").await;
    let key_id: Uuid = sqlx::query_scalar("select id from api_key")
        .fetch_one(&pool)
        .await
        .unwrap();
    let create = signed_in
        .post_raw("/dashboard/keys", &[("csrf", "x.y"), ("name", "ci")])
        .await;
    let revoke = signed_in
        .post_raw(&format!("/dashboard/keys/{key_id}/revoke"), &[])
        .await;
    let logout = signed_in.post_raw("/logout", &[]).await;

    assert_eq!(create.status, 403);
    assert_eq!(revoke.status, 403);
    assert_eq!(logout.status, 403);
    assert_eq!(count(&pool, "select count(*) from api_key").await, 1);
    assert_eq!(
        count(
            &pool,
            "select count(*) from api_key where revoked_at is not null"
        )
        .await,
        0
    );
    assert_eq!(
        signed_in.get("/dashboard/keys").await.status,
        200,
        "still signed in"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn too_many_login_attempts_for_an_email_are_429_even_with_the_right_password(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool).await;
    signed_up(&cp, "Acme", "ada@acme.test").await;
    let mut browser = cp.browser();

    for _ in 0..10 {
        assert_eq!(
            browser
                .log_in("ada@acme.test", "wrong password")
                .await
                .status,
            401
        );
    }
    let limited = browser.log_in("ada@acme.test", PASSWORD).await;
    let other = browser
        .log_in("someone-else@acme.test", "wrong password")
        .await;

    assert_eq!(limited.status, 429);
    assert!(limited.html.contains("Too many login attempts"));
    assert_eq!(other.status, 401, "the limit is per email");
    assert_eq!(browser.get("/dashboard/keys").await.status, 303);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_per_address_limit_counts_successful_logins_too(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool).await;
    signed_up(&cp, "Acme", "ada@acme.test").await;
    let mut browser = cp.browser();
    browser.get("/login").await;

    // 50 attempts from one address: successes do not reset its counter.
    for i in 0..50 {
        let page = if i % 10 == 0 {
            browser
                .post(
                    "/login",
                    &[("email", "ada@acme.test"), ("password", PASSWORD)],
                )
                .await
        } else {
            let email = format!("u{i}@acme.test");
            browser
                .post(
                    "/login",
                    &[("email", &email), ("password", "wrong password")],
                )
                .await
        };
        assert!(
            matches!(page.status, 303 | 401),
            "attempt {i}: {}",
            page.status
        );
    }
    let limited = browser
        .post(
            "/login",
            &[("email", "ada@acme.test"), ("password", PASSWORD)],
        )
        .await;

    assert_eq!(limited.status, 429);
}

fn forge(claims: &serde_json::Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn expired_tampered_or_foreign_sessions_are_refused(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let (_browser, page) = signed_up(&cp, "Acme", "ada@acme.test").await;
    let good = page
        .set_cookies()
        .into_iter()
        .find_map(|c| {
            c.strip_prefix("aig_session=")
                .map(|v| v.split(';').next().unwrap().to_owned())
        })
        .unwrap();
    let (user, tenant): (Uuid, Uuid) = sqlx::query_as("select id, tenant_id from app_user")
        .fetch_one(&pool)
        .await
        .unwrap();
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    let claims = |exp: i64| json!({"sub": user, "tid": tenant, "iat": now - 50_000, "exp": exp});
    let mut tampered = good.clone();
    tampered.pop();
    tampered.push(if good.ends_with('A') { 'B' } else { 'A' });
    let unsigned = {
        let parts: Vec<&str> = good.split('.').collect();
        // {"alg":"none","typ":"JWT"}
        format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", parts[1])
    };

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let status_with = |token: String| {
        let client = client.clone();
        let url = cp.url("/dashboard/keys");
        async move {
            client
                .get(url)
                .header("cookie", format!("aig_session={token}"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };

    assert_eq!(status_with(good.clone()).await, 200);
    assert_eq!(
        status_with(forge(&claims(now + 600), TEST_JWT_SECRET)).await,
        200
    );
    for (what, token) in [
        ("expired", forge(&claims(now - 1), TEST_JWT_SECRET)),
        ("tampered", tampered),
        ("another key", forge(&claims(now + 600), &"x".repeat(40))),
        ("alg none", unsigned),
        ("garbage", "not-a-jwt".to_owned()),
        (
            "another tenant",
            forge(
                &json!({"sub": user, "tid": Uuid::new_v4(), "iat": now, "exp": now + 600}),
                TEST_JWT_SECRET,
            ),
        ),
    ] {
        assert_eq!(status_with(token).await, 303, "{what}");
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn logout_ends_the_session(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool).await;
    let (mut browser, _) = signed_up(&cp, "Acme", "ada@acme.test").await;

    let confirm = browser.get("/logout").await;
    let out = browser.post("/logout", &[]).await;
    let after = browser.get("/dashboard/keys").await;

    assert_eq!(confirm.status, 200);
    assert!(confirm.csrf().is_some());
    assert_eq!(out.status, 303);
    assert_eq!(out.location(), Some("/login"));
    assert!(out
        .set_cookies()
        .iter()
        .any(|c| c.starts_with("aig_session=;") && c.contains("Max-Age=0")));
    assert_eq!(after.status, 303);
    assert_eq!(after.location(), Some("/login"));
}

#[sqlx::test(migrations = "../migrations")]
async fn logging_out_also_ends_a_copied_session_cookie_and_a_new_login_works(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool).await;
    let (mut browser, page) = signed_up(&cp, "Acme", "ada@acme.test").await;
    let copied = page
        .set_cookies()
        .into_iter()
        .find_map(|c| {
            c.split(';')
                .next()
                .filter(|kv| kv.starts_with("aig_session="))
                .map(str::to_owned)
        })
        .unwrap();
    let with_copy = || async {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(cp.url("/dashboard/keys"))
            .header("cookie", &copied)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    let before = with_copy().await;

    browser.get("/logout").await;
    browser.post("/logout", &[]).await;
    let after = with_copy().await;
    let mut again = cp.browser();
    let login = again.log_in("ada@acme.test", PASSWORD).await;
    let page_after_login = again.get("/dashboard/keys").await;

    assert_eq!(before, 200);
    assert_eq!(after, 303, "the copied cookie no longer signs anyone in");
    assert_eq!(login.status, 303);
    assert_eq!(page_after_login.status, 200);
}

#[sqlx::test(migrations = "../migrations")]
async fn signed_out_visitors_are_sent_to_login(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let mut browser = cp.browser();

    for path in ["/dashboard", "/dashboard/keys"] {
        let page = browser.get(path).await;
        assert_eq!(
            (page.status, page.location()),
            (303, Some("/login")),
            "{path}"
        );
    }
    browser.get("/login").await;
    let create = browser.post("/dashboard/keys", &[("name", "x")]).await;
    assert_eq!((create.status, create.location()), (303, Some("/login")));
    assert_eq!(count(&pool, "select count(*) from api_key").await, 0);
    let css = browser.get("/static/app.css").await;
    assert_eq!(css.status, 200);
    assert!(css.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_key_made_on_the_keys_page_works_until_revoked_then_401_within_a_second(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let dp = cp.spawn_dataplane().await;
    let (mut browser, _) = signed_up(&cp, "Acme", "ada@acme.test").await;
    browser.get("/dashboard").await;
    browser.get("/dashboard/keys").await;

    let created = browser
        .post("/dashboard/keys", &[("name", "ci <runner>")])
        .await;
    let key = created.revealed_key().expect("the new key is shown");
    let works = dp.chat(&key, &chat_body(GPT, "hi"), &[]).await;
    let id: Uuid = sqlx::query_scalar("select id from api_key where name = 'ci <runner>'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let revoked = browser
        .post(&format!("/dashboard/keys/{id}/revoke"), &[])
        .await;
    let (refused, took) = dp
        .chat_until(
            &key,
            &chat_body(GPT, "hi"),
            &[],
            401,
            Duration::from_secs(3),
        )
        .await;
    let listed = browser.get("/dashboard/keys").await;
    let empty_name = browser.post("/dashboard/keys", &[("name", " ")]).await;

    assert_eq!(created.status, 201);
    assert!(created.html.contains("ci &#60;runner&#62;") && !created.html.contains("<runner>"));
    assert_eq!(works.status, 200, "{:?}", works.body);
    assert_eq!(revoked.status, 303);
    assert_eq!(refused.status, 401, "still accepted after {took:?}");
    // The data plane trusts a key record it fetched for half a second (its FRESH_FOR), so
    // the refusal lands within one cache period of the revocation.
    assert!(took < WITHIN_A_SECOND, "took {took:?}");
    assert!(listed.html.contains("revoked"));
    assert!(!listed.html.contains(key.expose()));
    assert_eq!(empty_name.status, 422);
    assert_eq!(count(&pool, "select count(*) from api_key").await, 2);
}

#[sqlx::test(migrations = "../migrations")]
async fn tenants_never_see_or_revoke_each_others_keys(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let dp = cp.spawn_dataplane().await;
    let (mut a, _) = signed_up(&cp, "Acme", "ada@acme.test").await;
    let (_b, b_page) = signed_up(&cp, "Beta", "bob@beta.test").await;
    let b_key = b_page.revealed_key().unwrap();
    let (b_id, b_prefix): (Uuid, String) = sqlx::query_as(
        "select k.id, k.display_prefix from api_key k join tenant t on t.id = k.tenant_id
          where t.name = 'Beta'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();

    let a_keys = a.get("/dashboard/keys").await;
    let revoke = a.post(&format!("/dashboard/keys/{b_id}/revoke"), &[]).await;
    let made_up = a
        .post(&format!("/dashboard/keys/{}/revoke", Uuid::new_v4()), &[])
        .await;
    let not_a_uuid = a.post("/dashboard/keys/not-a-uuid/revoke", &[]).await;

    assert_eq!(a_keys.status, 200);
    assert!(!a_keys.html.contains(&b_prefix));
    assert!(!a_keys.html.contains(&b_id.to_string()));
    assert_eq!(revoke.status, 404);
    assert_eq!(made_up.status, 404);
    assert_eq!(not_a_uuid.status, 404);
    assert_eq!(
        count(
            &pool,
            "select count(*) from api_key where revoked_at is not null"
        )
        .await,
        0
    );
    assert_eq!(
        dp.chat(&b_key, &chat_body(GPT, "hi"), &[]).await.status,
        200
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_suspended_tenants_sessions_stop_working(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let (mut browser, _) = signed_up(&cp, "Acme", "ada@acme.test").await;
    let tenant: Uuid = sqlx::query_scalar("select id from tenant")
        .fetch_one(&pool)
        .await
        .unwrap();

    accounts::set_suspended(&cp.state, tenant, true)
        .await
        .unwrap();
    let page = browser.get("/dashboard/keys").await;
    let create = browser.post("/dashboard/keys", &[("name", "x")]).await;

    assert_eq!(page.status, 403);
    assert!(page.html.contains("suspended"));
    assert_eq!(create.status, 403);
    assert_eq!(count(&pool, "select count(*) from api_key").await, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn over_https_the_cookies_are_secure(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool).await;
    let client = reqwest::Client::new();

    let page = client
        .get(cp.url("/signup"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();

    let csrf = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        csrf.starts_with("aig_csrf=") && csrf.ends_with("; Secure"),
        "{csrf}"
    );
}
