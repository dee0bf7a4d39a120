//! `FakeStripe`: the part of Stripe that top-ups use, offline (port 0 in tests, a fixed address
//! in `aig-fake-stripe`). It records every `POST /v1/checkout/sessions` (form fields as sent),
//! answers with a complete Checkout Session object (async-stripe deserializes all of it)
//! whose `url` is its own checkout page listing the line items and their total, and that page's Pay button sends the control plane a
//! `checkout.session.completed` webhook (`amount_total` = the sum of the line items) signed the
//! way Stripe signs (HMAC-SHA256 over `"{t}.{body}"` with the endpoint secret), then sends the
//! payer to `success_url`.
#![expect(
    clippy::expect_used,
    reason = "test kit: a failed set-up must fail the test at once, with the reason"
)]

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// One Checkout Session as the control plane asked for it.
#[derive(Clone, Debug)]
pub struct CreatedSession {
    pub id: String,
    /// The `Authorization` header it came with.
    pub authorization: Option<String>,
    /// The form fields, e.g. `line_items[0][price_data][unit_amount]`.
    pub fields: HashMap<String, String>,
}

/// One `line_items[i]` of a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineItem {
    pub name: String,
    pub currency: String,
    pub unit_amount: i64,
    pub quantity: i64,
}

impl CreatedSession {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    /// The line items in order (`line_items[0]`, `line_items[1]`, … until one is missing).
    pub fn line_items(&self) -> Vec<LineItem> {
        (0..)
            .map_while(|i| {
                let f = |name: &str| self.field(&format!("line_items[{i}]{name}"));
                let unit_amount = f("[price_data][unit_amount]")?.parse().ok()?;
                Some(LineItem {
                    name: f("[price_data][product_data][name]")
                        .unwrap_or("?")
                        .to_owned(),
                    currency: f("[price_data][currency]").unwrap_or("?").to_owned(),
                    unit_amount,
                    quantity: f("[quantity]").and_then(|q| q.parse().ok()).unwrap_or(1),
                })
            })
            .collect()
    }

    /// What Stripe would charge: the sum of the line items, in the smallest currency unit.
    pub fn amount_total(&self) -> i64 {
        self.line_items()
            .iter()
            .map(|item| item.unit_amount * item.quantity)
            .sum()
    }

    /// The `metadata[key]` fields as Stripe returns them: a JSON object of strings.
    pub fn metadata(&self) -> serde_json::Map<String, serde_json::Value> {
        self.fields
            .iter()
            .filter_map(|(k, v)| {
                let key = k.strip_prefix("metadata[")?.strip_suffix(']')?;
                Some((key.to_owned(), json!(v)))
            })
            .collect()
    }

    /// The first line item's currency, as Stripe reports the session's.
    pub fn currency(&self) -> Option<String> {
        self.line_items().first().map(|item| item.currency.clone())
    }
}

#[derive(Default)]
struct Inner {
    sessions: Vec<CreatedSession>,
    webhook_url: Option<String>,
}

#[derive(Clone)]
struct Shared {
    inner: Arc<Mutex<Inner>>,
    base: String,
    secret: String,
    client: reqwest::Client,
}

pub struct FakeStripe {
    pub addr: SocketAddr,
    shared: Shared,
    server: tokio::task::AbortHandle,
}

/// `Stripe-Signature` for `body` at `t`, as Stripe computes it.
pub fn stripe_signature(secret: &str, t: i64, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

impl FakeStripe {
    /// Starts a fake Stripe on a free loopback port whose webhooks are signed with
    /// `webhook_secret`.
    pub async fn start(webhook_secret: &str) -> FakeStripe {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        Self::serve(listener, webhook_secret)
    }

    /// Starts a fake Stripe on `addr` (the `aig-fake-stripe` binary).
    pub async fn start_on(addr: SocketAddr, webhook_secret: &str) -> std::io::Result<FakeStripe> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        Ok(Self::serve(listener, webhook_secret))
    }

    fn serve(listener: tokio::net::TcpListener, webhook_secret: &str) -> FakeStripe {
        let addr = listener.local_addr().expect("local addr");
        let shared = Shared {
            inner: Arc::default(),
            base: format!("http://{addr}"),
            secret: webhook_secret.to_owned(),
            client: reqwest::Client::new(),
        };
        let app = Router::new()
            .route("/v1/checkout/sessions", post(create_session))
            .route("/pay/{id}", get(pay_page).post(pay))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeStripe {
            addr,
            shared,
            server: server.abort_handle(),
        }
    }

    /// What to give the control plane as `STRIPE_API_BASE`.
    pub fn base_url(&self) -> String {
        self.shared.base.clone()
    }

    /// Where the Pay button delivers `checkout.session.completed`.
    pub fn set_webhook_url(&self, url: &str) {
        self.shared.inner.lock().expect("lock").webhook_url = Some(url.to_owned());
    }

    /// Resolves when the server stops (it runs until dropped).
    pub async fn wait(&self) {
        while !self.server.is_finished() {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    /// Every session created so far, oldest first.
    pub fn sessions(&self) -> Vec<CreatedSession> {
        self.shared.inner.lock().expect("lock").sessions.clone()
    }
}

impl Drop for FakeStripe {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn create_session(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if authorization.is_none() {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"message": "no API key"}})),
        )
            .into_response();
    }
    let mut inner = shared.inner.lock().expect("lock");
    // Unique across restarts of `aig-fake-stripe` too (the control plane stores every id).
    let id = format!(
        "cs_test_fake_{}_{}",
        inner.sessions.len() + 1,
        uuid::Uuid::new_v4().simple()
    );
    let session = CreatedSession {
        id: id.clone(),
        authorization,
        fields: fields.into_iter().collect(),
    };
    let object = session_object(&shared.base, &session);
    tracing::info!(session = %id, amount_total = session.amount_total(), "Checkout Session created");
    inner.sessions.push(session);
    Json(object).into_response()
}

/// How long an open Checkout Session lives at Stripe.
const SESSION_LIFETIME_SECS: i64 = 24 * 60 * 60;

/// The Checkout Session object Stripe answers a creation with (API version 2023-10-16, which
/// async-stripe 0.41 speaks): every field async-stripe requires, the rest as Stripe fills them
/// for an open, unpaid payment-mode session.
fn session_object(base: &str, session: &CreatedSession) -> serde_json::Value {
    let created = unix_now();
    let amount_total = session.amount_total();
    // Two halves: one `json!` of ~50 fields exceeds the macro recursion limit.
    let mut object = json!({
        "id": session.id,
        "object": "checkout.session",
        "after_expiration": null,
        "allow_promotion_codes": null,
        "amount_subtotal": amount_total,
        "amount_total": amount_total,
        "automatic_tax": {"enabled": false, "liability": null, "status": null},
        "billing_address_collection": null,
        "cancel_url": session.field("cancel_url"),
        "client_reference_id": session.field("client_reference_id"),
        "client_secret": null,
        "consent": null,
        "consent_collection": null,
        "created": created,
        "currency": session.currency(),
        "currency_conversion": null,
        "custom_fields": [],
        "custom_text": {
            "after_submit": null,
            "shipping_address": null,
            "submit": null,
            "terms_of_service_acceptance": null,
        },
        "customer": null,
        "customer_creation": "if_required",
        "customer_details": null,
        "customer_email": null,
        "expires_at": created + SESSION_LIFETIME_SECS,
        "invoice": null,
        "invoice_creation": {"enabled": false, "invoice_data": {
            "account_tax_ids": null,
            "custom_fields": null,
            "description": null,
            "footer": null,
            "issuer": null,
            "metadata": {},
            "rendering_options": null,
        }},    });
    let rest = json!({
        "livemode": false,
        "locale": null,
        "metadata": session.metadata(),
        "mode": session.field("mode").unwrap_or("payment"),
        "payment_intent": null,
        "payment_link": null,
        "payment_method_collection": "if_required",
        "payment_method_configuration_details": null,
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "phone_number_collection": {"enabled": false},
        "recovered_from": null,
        "setup_intent": null,
        "shipping_address_collection": null,
        "shipping_cost": null,
        "shipping_details": null,
        "shipping_options": [],
        "status": "open",
        "submit_type": null,
        "subscription": null,
        "success_url": session.field("success_url"),
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": format!("{base}/pay/{}", session.id),
    });
    if let (Some(object), serde_json::Value::Object(rest)) = (object.as_object_mut(), rest) {
        object.extend(rest);
    }
    object
}

fn find(shared: &Shared, id: &str) -> Option<CreatedSession> {
    let inner = shared.inner.lock().expect("lock");
    inner.sessions.iter().find(|s| s.id == id).cloned()
}

/// Minimal HTML escaping for the fake checkout page.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Cents as `12.34`.
fn money(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

async fn pay_page(State(shared): State<Shared>, Path(id): Path<String>) -> Response {
    let Some(session) = find(&shared, &id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let currency = session.currency().unwrap_or_default().to_uppercase();
    let rows: String = session
        .line_items()
        .iter()
        .map(|item| {
            format!(
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{} {}</td></tr>",
                escape(&item.name),
                item.quantity,
                money(item.unit_amount * item.quantity),
                escape(&item.currency.to_uppercase())
            )
        })
        .collect();
    let total = money(session.amount_total());
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Fake Stripe Checkout</title></head><body>\
         <h1>Fake Stripe Checkout</h1>\
         <p>Test mode: no money moves. Paying sends the signed \
         <code>checkout.session.completed</code> webhook.</p>\
         <table><thead><tr><th>Item</th><th>Qty</th><th>Amount</th></tr></thead>\
         <tbody>{rows}</tbody>\
         <tfoot><tr><th colspan=\"2\">Total</th>\
         <td class=\"num\" id=\"total\">{total} {currency}</td></tr></tfoot></table>\
         <form method=\"post\" action=\"/pay/{id}\">\
         <button type=\"submit\">Pay {total} {currency}</button></form></body></html>",
        id = escape(&id),
    ))
    .into_response()
}

/// The Pay button: sends the signed `checkout.session.completed`, then redirects to
/// `success_url` (or answers 502 with what the webhook said, if it refused).
async fn pay(State(shared): State<Shared>, Path(id): Path<String>) -> Response {
    let Some(session) = find(&shared, &id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some(webhook_url) = shared.inner.lock().expect("lock").webhook_url.clone() else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "no webhook URL set").into_response();
    };
    let body = json!({
        "id": format!("evt_fake_{id}"),
        "object": "event",
        "type": "checkout.session.completed",
        "data": {"object": {
            "id": id,
            "object": "checkout.session",
            "mode": session.field("mode"),
            "payment_status": "paid",
            "status": "complete",
            "currency": session.currency(),
            "amount_total": session.amount_total(),
            "client_reference_id": session.field("client_reference_id"),
            "metadata": session.metadata(),
        }},
    })
    .to_string();
    let signature = stripe_signature(&shared.secret, unix_now(), &body);
    let delivered = shared
        .client
        .post(&webhook_url)
        .header("content-type", "application/json")
        .header("stripe-signature", signature)
        .body(body)
        .send()
        .await;
    match delivered {
        Ok(r) if r.status().is_success() => {
            tracing::info!(session = %id, "paid; webhook delivered");
            Redirect::to(session.field("success_url").unwrap_or("/")).into_response()
        }
        Ok(r) => {
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            (
                StatusCode::BAD_GATEWAY,
                format!("webhook answered {status}: {text}"),
            )
                .into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, format!("webhook failed: {e}")).into_response(),
    }
}
