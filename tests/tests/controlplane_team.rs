//! The team page and invitations (issue #8): owners invite people with one-time links,
//! change roles and remove members, never leaving a tenant without an owner; invitees accept
//! with a password; members only look. Also the keys page's copy button, confirmation and
//! "last used" — on real Postgres and Redis, with requests through a real data plane.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed query must fail the test at once"
)]

use aig_tests::chat_body;
use aig_tests::controlplane::{Browser, Page, TestControlPlane};
use sqlx::PgPool;
use uuid::Uuid;

const GPT: &str = "openai/gpt-5.4";
const PASSWORD: &str = "correct horse battery";
const NEW_PASSWORD: &str = "staple battery horse";

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

async fn user_id(pool: &PgPool, email: &str) -> Uuid {
    sqlx::query_scalar("select id from app_user where email = $1")
        .bind(email)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn role_of(pool: &PgPool, email: &str) -> String {
    sqlx::query_scalar("select role from app_user where email = $1")
        .bind(email)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// A browser signed up as the owner of a new organisation, on its team page.
async fn owner_of(cp: &TestControlPlane, org: &str, email: &str) -> Browser {
    let mut browser = cp.browser();
    let page = browser.sign_up(org, email, PASSWORD).await;
    assert_eq!(page.status, 201, "{}", page.html);
    let team = browser.get("/dashboard/team").await;
    assert_eq!(team.status, 200, "{}", team.html);
    browser
}

/// The invitation link the page shows, if any.
fn shown_link(page: &Page) -> Option<String> {
    let marker = r#"id="invite-link">"#;
    let start = page.html.find(marker)? + marker.len();
    let end = start + page.html[start..].find('<')?;
    Some(page.html[start..end].trim().to_owned())
}

/// The owner invites `email` as `role`; returns the page and the link's path (`/invite/…`).
async fn invite(owner: &mut Browser, email: &str, role: &str) -> (Page, String) {
    let page = owner
        .post(
            "/dashboard/team/invitations",
            &[("email", email), ("role", role)],
        )
        .await;
    assert_eq!(page.status, 201, "{}", page.html);
    let link = shown_link(&page).unwrap();
    let path = link[link.find("/invite/").unwrap()..].to_owned();
    (page, path)
}

/// A new browser that accepts the invitation at `path` with `password`.
async fn accept(cp: &TestControlPlane, path: &str, password: &str) -> (Browser, Page) {
    let mut browser = cp.browser();
    let form = browser.get(path).await;
    assert_eq!(form.status, 200, "{}", form.html);
    let done = browser.post(path, &[("password", password)]).await;
    (browser, done)
}

/// `owner` invites `email` as `role` and the invitee accepts; returns the invitee's browser.
async fn joined(cp: &TestControlPlane, owner: &mut Browser, email: &str, role: &str) -> Browser {
    let (_, path) = invite(owner, email, role).await;
    let (browser, done) = accept(cp, &path, NEW_PASSWORD).await;
    assert_eq!(done.status, 303, "{}", done.html);
    browser
}

#[sqlx::test(migrations = "../migrations")]
async fn an_invitee_joins_with_a_password_is_signed_in_and_can_log_in_again_later(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let mut owner = owner_of(&cp, "Acme", "ada@acme.test").await;
    let mut invitee = cp.browser();

    let (invited, path) = invite(&mut owner, "bob@acme.test", "member").await;
    let team_after_invite = owner.get("/dashboard/team").await;
    let form = invitee.get(&path).await;
    let joined = invitee.post(&path, &[("password", NEW_PASSWORD)]).await;
    let keys = invitee.get("/dashboard/keys").await;
    let team_after_join = owner.get("/dashboard/team").await;
    let later = cp.browser().log_in("bob@acme.test", NEW_PASSWORD).await;

    let token = path.trim_start_matches("/invite/");
    assert_eq!(token.len(), 64, "256 random bits as hex");
    assert!(invited.html.contains("send this link to bob@acme.test"));
    assert!(invited.html.contains(
        r#"<button type="button" class="secondary small" data-copy="invite-link">Copy</button>"#
    ));
    let stored: String = sqlx::query_scalar("select token_hash from invitation")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        stored,
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(token))
    );
    assert!(shown_link(&team_after_invite).is_none(), "shown once");
    assert!(!team_after_invite.html.contains(token));
    assert!(team_after_invite.html.contains("bob@acme.test"));
    assert!(
        team_after_invite.html.contains("ada@acme.test"),
        "invited by"
    );

    assert_eq!(form.status, 200);
    assert!(form.html.contains("Join Acme"));
    assert!(form.html.contains("bob@acme.test"));
    assert!(form.html.contains(r#"minlength="10""#));
    assert_eq!(joined.status, 303, "{}", joined.html);
    assert_eq!(joined.location(), Some("/dashboard"));
    assert!(joined
        .set_cookies()
        .iter()
        .any(|c| c.starts_with("aig_session=") && c.contains("HttpOnly")));
    assert_eq!(keys.status, 200);
    assert!(keys.html.contains("Default key"), "the tenant's keys");
    assert!(keys.html.contains("Acme") && keys.html.contains("bob@acme.test"));

    let (tenant, role, hash): (Uuid, String, String) = sqlx::query_as(
        "select tenant_id, role, password_hash from app_user where email = 'bob@acme.test'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let owner_tenant: Uuid =
        sqlx::query_scalar("select tenant_id from app_user where email = 'ada@acme.test'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(tenant, owner_tenant);
    assert_eq!(role, "member");
    assert!(hash.starts_with("$argon2id$"));
    assert_eq!(
        count(
            &pool,
            "select count(*) from invitation where used_at is not null"
        )
        .await,
        1
    );
    assert!(team_after_join.html.contains("No pending invitations"));
    assert_eq!(later.status, 303);
    assert_eq!(later.location(), Some("/dashboard"));
}

#[sqlx::test(migrations = "../migrations")]
async fn an_invitation_works_once_even_when_two_people_accept_it_at_the_same_time(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let mut owner = owner_of(&cp, "Acme", "ada@acme.test").await;
    let (_, path) = invite(&mut owner, "bob@acme.test", "owner").await;
    let mut first = cp.browser();
    let mut second = cp.browser();
    let mut late = cp.browser();
    first.get(&path).await;
    second.get(&path).await;
    late.get(&path).await;

    let (a, b) = tokio::join!(
        first.post(&path, &[("password", NEW_PASSWORD)]),
        second.post(&path, &[("password", "another password!")]),
    );
    let replayed = late.post(&path, &[("password", NEW_PASSWORD)]).await;
    let reopened = late.get(&path).await;

    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [303, 410], "{} / {}", a.html, b.html);
    assert_eq!(
        count(
            &pool,
            "select count(*) from app_user where email = 'bob@acme.test'"
        )
        .await,
        1
    );
    assert_eq!(role_of(&pool, "bob@acme.test").await, "owner");
    assert_eq!(reopened.status, 410);
    assert!(reopened.html.contains("already used"));
    assert_eq!(replayed.status, 410);
    assert!(replayed
        .set_cookies()
        .iter()
        .all(|c| !c.starts_with("aig_session=")));
    assert_eq!(count(&pool, "select count(*) from app_user").await, 2);
}

#[sqlx::test(migrations = "../migrations")]
async fn expired_revoked_and_unknown_links_get_a_friendly_page_and_create_nobody(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let mut owner = owner_of(&cp, "Acme", "ada@acme.test").await;
    let (_, expired) = invite(&mut owner, "old@acme.test", "member").await;
    let (_, revoked) = invite(&mut owner, "gone@acme.test", "member").await;
    sqlx::query("update invitation set expires_at = now() - interval '1 minute' where email = 'old@acme.test'")
        .execute(&pool)
        .await
        .unwrap();
    let revoked_id: Uuid =
        sqlx::query_scalar("select id from invitation where email = 'gone@acme.test'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let revoke = owner
        .post(
            &format!("/dashboard/team/invitations/{revoked_id}/revoke"),
            &[],
        )
        .await;
    let mut visitor = cp.browser();
    visitor.get("/login").await; // a form token, as a page opened before the link ended

    let expired_page = visitor.get(&expired).await;
    let expired_post = visitor.post(&expired, &[("password", NEW_PASSWORD)]).await;
    let revoked_page = visitor.get(&revoked).await;
    let revoked_post = visitor.post(&revoked, &[("password", NEW_PASSWORD)]).await;
    let unknown = visitor.get(&format!("/invite/{}", "ab".repeat(32))).await;
    let garbage = visitor.get("/invite/not-a-token").await;
    let team = owner.get("/dashboard/team").await;

    assert_eq!(revoke.status, 303);
    for page in [&expired_page, &expired_post, &revoked_page, &revoked_post] {
        assert_eq!(page.status, 410, "{}", page.html);
        assert!(page.html.contains("expired or was withdrawn"));
        assert!(page.html.contains("/static/app.css"), "the site's look");
    }
    for page in [&unknown, &garbage] {
        assert_eq!(page.status, 404);
        assert!(page.html.contains("Invitation not found"));
    }
    assert_eq!(count(&pool, "select count(*) from app_user").await, 1);
    assert!(!team.html.contains("old@acme.test") && !team.html.contains("gone@acme.test"));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_short_password_is_refused_and_the_link_still_works_afterwards(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let mut owner = owner_of(&cp, "Acme", "ada@acme.test").await;
    let (_, path) = invite(&mut owner, "bob@acme.test", "member").await;
    let mut invitee = cp.browser();
    invitee.get(&path).await;

    let short = invitee.post(&path, &[("password", "short")]).await;
    let good = invitee.post(&path, &[("password", NEW_PASSWORD)]).await;

    assert_eq!(short.status, 422);
    assert!(short.html.contains("at least 10 characters"));
    assert_eq!(good.status, 303);
    assert_eq!(
        count(
            &pool,
            "select count(*) from app_user where email = 'bob@acme.test'"
        )
        .await,
        1
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn inviting_an_email_that_already_has_an_account_anywhere_says_so(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let mut owner = owner_of(&cp, "Acme", "ada@acme.test").await;
    owner_of(&cp, "Beta", "bob@beta.test").await;

    let taken = owner
        .post(
            "/dashboard/team/invitations",
            &[("email", "BOB@beta.test"), ("role", "member")],
        )
        .await;
    let not_email = owner
        .post(
            "/dashboard/team/invitations",
            &[("email", "bob"), ("role", "member")],
        )
        .await;
    let bad_role = owner
        .post(
            "/dashboard/team/invitations",
            &[("email", "c@acme.test"), ("role", "admin")],
        )
        .await;

    assert_eq!(taken.status, 409);
    assert!(taken
        .html
        .contains("BOB@beta.test already has an AIgateway account"));
    assert!(shown_link(&taken).is_none());
    assert_eq!(not_email.status, 422);
    assert_eq!(bad_role.status, 422);
    assert_eq!(count(&pool, "select count(*) from invitation").await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn members_see_the_team_read_only_and_their_posts_are_403_changing_nothing(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let mut owner = owner_of(&cp, "Acme", "ada@acme.test").await;
    let mut member = joined(&cp, &mut owner, "bob@acme.test", "member").await;
    invite(&mut owner, "carol@acme.test", "member").await;
    let invitation: Uuid = sqlx::query_scalar("select id from invitation where used_at is null")
        .fetch_one(&pool)
        .await
        .unwrap();
    let (ada, bob) = (
        user_id(&pool, "ada@acme.test").await,
        user_id(&pool, "bob@acme.test").await,
    );

    let team = member.get("/dashboard/team").await;
    let posts = [
        member
            .post(
                "/dashboard/team/invitations",
                &[("email", "eve@acme.test"), ("role", "owner")],
            )
            .await,
        member
            .post(
                &format!("/dashboard/team/members/{bob}/role"),
                &[("role", "owner")],
            )
            .await,
        member
            .post(
                &format!("/dashboard/team/members/{ada}/role"),
                &[("role", "member")],
            )
            .await,
        member
            .post(&format!("/dashboard/team/members/{ada}/remove"), &[])
            .await,
        member
            .post(
                &format!("/dashboard/team/invitations/{invitation}/revoke"),
                &[],
            )
            .await,
    ];

    assert_eq!(team.status, 200);
    assert!(team.html.contains("ada@acme.test") && team.html.contains("carol@acme.test"));
    assert!(!team.html.contains("Create invitation link"));
    assert!(!team.html.contains("/remove"));
    assert!(team.html.contains("Only owners can invite"));
    for page in &posts {
        assert_eq!(page.status, 403, "{}", page.html);
        assert!(page.html.contains("Nothing was changed"));
    }
    assert_eq!(role_of(&pool, "ada@acme.test").await, "owner");
    assert_eq!(role_of(&pool, "bob@acme.test").await, "member");
    assert_eq!(count(&pool, "select count(*) from app_user").await, 2);
    assert_eq!(
        count(
            &pool,
            "select count(*) from invitation where revoked_at is null and used_at is null"
        )
        .await,
        1
    );
    assert_eq!(count(&pool, "select count(*) from invitation").await, 2);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_last_owner_can_be_neither_demoted_nor_removed(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let mut ada = owner_of(&cp, "Acme", "ada@acme.test").await;
    let ada_id = user_id(&pool, "ada@acme.test").await;

    let demote_alone = ada
        .post(
            &format!("/dashboard/team/members/{ada_id}/role"),
            &[("role", "member")],
        )
        .await;
    let remove_alone = ada
        .post(&format!("/dashboard/team/members/{ada_id}/remove"), &[])
        .await;
    let mut bob = joined(&cp, &mut ada, "bob@acme.test", "owner").await;
    let bob_id = user_id(&pool, "bob@acme.test").await;
    let demote_with_another = ada
        .post(
            &format!("/dashboard/team/members/{ada_id}/role"),
            &[("role", "member")],
        )
        .await;
    bob.get("/dashboard/team").await;
    let bob_removes_himself = bob
        .post(&format!("/dashboard/team/members/{bob_id}/remove"), &[])
        .await;
    let bob_demotes_himself = bob
        .post(
            &format!("/dashboard/team/members/{bob_id}/role"),
            &[("role", "member")],
        )
        .await;

    for page in [&demote_alone, &remove_alone] {
        assert_eq!(page.status, 409, "{}", page.html);
        assert!(page.html.contains("make someone else an owner first"));
    }
    assert_eq!(demote_with_another.status, 303);
    assert_eq!(role_of(&pool, "ada@acme.test").await, "member");
    assert_eq!(bob_removes_himself.status, 409);
    assert_eq!(bob_demotes_himself.status, 409);
    assert_eq!(role_of(&pool, "bob@acme.test").await, "owner");
    assert_eq!(count(&pool, "select count(*) from app_user").await, 2);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_removed_member_is_signed_out_at_once_and_cannot_log_in(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let mut owner = owner_of(&cp, "Acme", "ada@acme.test").await;
    let mut member = joined(&cp, &mut owner, "bob@acme.test", "member").await;
    let bob = user_id(&pool, "bob@acme.test").await;
    let before = member.get("/dashboard/keys").await;
    owner.get("/dashboard/team").await;

    let removed = owner
        .post(&format!("/dashboard/team/members/{bob}/remove"), &[])
        .await;
    let after = member.get("/dashboard/keys").await;
    let login = cp.browser().log_in("bob@acme.test", NEW_PASSWORD).await;
    let team = owner.get("/dashboard/team").await;

    assert_eq!(before.status, 200);
    assert_eq!(removed.status, 303);
    assert_eq!(removed.location(), Some("/dashboard/team"));
    assert_eq!(after.status, 303);
    assert_eq!(after.location(), Some("/login"));
    assert_eq!(login.status, 401);
    assert!(!team.html.contains("bob@acme.test"));
    assert_eq!(count(&pool, "select count(*) from app_user").await, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn an_owner_cannot_touch_another_tenants_members_or_invitations(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let mut a = owner_of(&cp, "Acme", "ada@acme.test").await;
    let mut b = owner_of(&cp, "Beta", "bea@beta.test").await;
    joined(&cp, &mut b, "bob@beta.test", "member").await;
    invite(&mut b, "pending@beta.test", "member").await;
    let (bea, bob) = (
        user_id(&pool, "bea@beta.test").await,
        user_id(&pool, "bob@beta.test").await,
    );
    let invitation: Uuid = sqlx::query_scalar("select id from invitation where used_at is null")
        .fetch_one(&pool)
        .await
        .unwrap();

    let attempts = [
        a.post(
            &format!("/dashboard/team/members/{bob}/role"),
            &[("role", "owner")],
        )
        .await,
        a.post(
            &format!("/dashboard/team/members/{bea}/role"),
            &[("role", "member")],
        )
        .await,
        a.post(&format!("/dashboard/team/members/{bob}/remove"), &[])
            .await,
        a.post(
            &format!("/dashboard/team/invitations/{invitation}/revoke"),
            &[],
        )
        .await,
        a.post(
            &format!("/dashboard/team/members/{}/remove", Uuid::new_v4()),
            &[],
        )
        .await,
        a.post("/dashboard/team/members/not-a-uuid/remove", &[])
            .await,
    ];
    let team = a.get("/dashboard/team").await;

    for page in &attempts {
        assert_eq!(page.status, 404, "{}", page.html);
    }
    assert!(!team.html.contains("beta.test"));
    assert_eq!(role_of(&pool, "bob@beta.test").await, "member");
    assert_eq!(role_of(&pool, "bea@beta.test").await, "owner");
    assert_eq!(
        count(
            &pool,
            "select count(*) from invitation where revoked_at is not null"
        )
        .await,
        0
    );
    assert_eq!(count(&pool, "select count(*) from app_user").await, 3);
}

#[sqlx::test(migrations = "../migrations")]
async fn team_and_invitation_forms_without_a_csrf_token_are_403_and_change_nothing(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let mut owner = owner_of(&cp, "Acme", "ada@acme.test").await;
    let (_, path) = invite(&mut owner, "bob@acme.test", "member").await;
    let ada = user_id(&pool, "ada@acme.test").await;
    let mut invitee = cp.browser();
    invitee.get(&path).await;

    let invite_without = owner
        .post_raw(
            "/dashboard/team/invitations",
            &[("email", "c@acme.test"), ("role", "member")],
        )
        .await;
    let role_without = owner
        .post_raw(
            &format!("/dashboard/team/members/{ada}/role"),
            &[("csrf", "x.y"), ("role", "member")],
        )
        .await;
    let accept_without = invitee.post_raw(&path, &[("password", NEW_PASSWORD)]).await;

    for page in [&invite_without, &role_without, &accept_without] {
        assert_eq!(page.status, 403, "{}", page.html);
        assert!(page.html.contains("nothing was changed"));
    }
    assert_eq!(count(&pool, "select count(*) from invitation").await, 1);
    assert_eq!(count(&pool, "select count(*) from app_user").await, 1);
    assert_eq!(role_of(&pool, "ada@acme.test").await, "owner");
}

// The keys page.

#[sqlx::test(migrations = "../migrations")]
async fn a_new_key_has_a_copy_button_and_revoking_asks_for_confirmation_first(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let mut owner = owner_of(&cp, "Acme", "ada@acme.test").await;
    owner.get("/dashboard/keys").await;

    let created = owner.post("/dashboard/keys", &[("name", "ci")]).await;
    let default_id: Uuid = sqlx::query_scalar("select id from api_key where name = 'Default key'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let revoked = owner
        .post(&format!("/dashboard/keys/{default_id}/revoke"), &[])
        .await;
    let listed = owner.get("/dashboard/keys").await;
    sqlx::query("delete from api_key")
        .execute(&pool)
        .await
        .unwrap();
    let empty = owner.get("/dashboard/keys").await;

    assert_eq!(created.status, 201);
    let key = created.revealed_key().expect("the key is shown");
    assert!(created.html.contains(
        r#"<button type="button" class="secondary small" data-copy="new-key">Copy</button>"#
    ));
    let confirm = created.html.find(r#"<details class="confirm">"#).unwrap();
    let form = created.html[confirm..]
        .find(&format!(r#"action="/dashboard/keys/{default_id}/revoke""#))
        .unwrap();
    let closes = created.html[confirm..].find("</details>").unwrap();
    assert!(form < closes, "the revoke form is inside the confirmation");
    assert!(created.html.contains("Revoke key Default key"));
    assert!(created.html.contains("Revoke key ci"));
    assert_eq!(revoked.status, 303);
    assert!(!listed.html.contains(key.expose()));
    assert!(!listed.html.contains("Revoke key Default key"));
    let ci = listed.html.find("<td>ci</td>").unwrap();
    let default = listed.html.find("<td>Default key</td>").unwrap();
    assert!(ci < default, "active keys first");
    assert!(empty.html.contains("No keys yet"));
}

#[sqlx::test(migrations = "../migrations")]
async fn last_used_shows_when_a_key_served_a_request_through_the_data_plane(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let dp = cp.spawn_dataplane().await;
    let mut browser = cp.browser();
    let signed_up = browser.sign_up("Acme", "ada@acme.test", PASSWORD).await;
    let key = signed_up.revealed_key().unwrap();
    let unused = browser.post("/dashboard/keys", &[("name", "unused")]).await;
    let before = browser.get("/dashboard/keys").await;

    let answer = dp.chat(&key, &chat_body(GPT, "hello"), &[]).await;
    let ingested = cp.ingest_at_least(1).await;
    let after = browser.get("/dashboard/keys").await;

    assert_eq!(unused.status, 201);
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(ingested.ingested, 1);
    assert_eq!(before.html.matches(">never</td>").count(), 2);
    let (same_time, shown): (bool, String) = sqlx::query_as(
        "select k.last_used_at = r.ts,
                to_char(k.last_used_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC'
           from api_key k, request_log r
          where k.name = 'Default key'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(same_time, "the request's arrival time");
    assert_eq!(
        count(
            &pool,
            "select count(*) from api_key where last_used_at is null"
        )
        .await,
        1,
        "only the key that was used"
    );
    assert!(
        after
            .html
            .contains(&format!(r#"<td class="last-used">{shown}</td>"#)),
        "{}",
        after.html
    );
    assert_eq!(after.html.matches(">never</td>").count(), 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn two_owners_demoting_each_other_at_once_leave_exactly_one_owner(pool: PgPool) {
    let cp = TestControlPlane::spawn(pool.clone()).await;
    let mut ada = owner_of(&cp, "Acme", "ada@acme.test").await;
    let mut bob = joined(&cp, &mut ada, "bob@acme.test", "owner").await;
    bob.get("/dashboard/team").await;
    let (ada_id, bob_id) = (
        user_id(&pool, "ada@acme.test").await,
        user_id(&pool, "bob@acme.test").await,
    );

    let ada_path = format!("/dashboard/team/members/{bob_id}/role");
    let bob_path = format!("/dashboard/team/members/{ada_id}/role");
    let (by_ada, by_bob) = tokio::join!(
        ada.post(&ada_path, &[("role", "member")]),
        bob.post(&bob_path, &[("role", "member")]),
    );

    let mut statuses = [by_ada.status, by_bob.status];
    statuses.sort_unstable();
    assert_eq!(statuses[0], 303, "{} / {}", by_ada.html, by_bob.html);
    assert!(statuses[1] == 403 || statuses[1] == 409, "{statuses:?}");
    assert_eq!(
        count(&pool, "select count(*) from app_user where role = 'owner'").await,
        1
    );
}
