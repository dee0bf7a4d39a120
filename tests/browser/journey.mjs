// The whole product in a real browser (Debian's Chromium driven by playwright-core), against
// a running stack — mock providers, data plane, control plane and fake Stripe — that
// scripts/test starts (section "browser"):
//
//   sign up → the key is shown once → a request with that key falls back along its chain →
//   it appears in the request log with its chain and cost → a budget is set and shown →
//   a top-up through the fake Stripe raises the balance → a platform admin suspends the
//   tenant and the key is refused → reinstated and served again.
//
// Every page visited is screenshotted into AIG_ARTIFACTS and each screenshot is checked to be
// non-blank; any console error on our pages (a CSP violation, a script error) fails the run.
//
// Environment: AIG_CONTROLPLANE_URL, AIG_GATEWAY_URL, AIG_ADMIN_EMAIL, AIG_ADMIN_PASSWORD,
// AIG_ARTIFACTS (directory), AIG_CHROMIUM (/usr/bin/chromium).

import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import assert from "node:assert/strict";

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (!value) throw new Error(`${name} must be set`);
  return value;
};
const CP = env("AIG_CONTROLPLANE_URL").replace(/\/$/, "");
const GW = env("AIG_GATEWAY_URL").replace(/\/$/, "");
const ADMIN_EMAIL = env("AIG_ADMIN_EMAIL");
const ADMIN_PASSWORD = env("AIG_ADMIN_PASSWORD");
const ARTIFACTS = env("AIG_ARTIFACTS");
const CHROMIUM = env("AIG_CHROMIUM", "/usr/bin/chromium");
const STEP_TIMEOUT_MS = 15_000;

mkdirSync(ARTIFACTS, { recursive: true });
const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const email = `journey-${run}@example.com`;
const password = `journey-password-${run}`;
const org = `Journey ${run}`;

let shots = 0;
const consoleErrors = [];
const log = (message) => console.log(`journey: ${message}`);

/** Opens a page that records console errors and answers confirmation dialogs with OK. */
async function openPage(context, who) {
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.on("console", (msg) => {
    // Our pages only (the fake Stripe is not the product); the 404 page's own status is
    // expected.
    const url = page.url();
    if (msg.type() !== "error" || !url.startsWith(CP) || url.endsWith("/no-such-page")) return;
    consoleErrors.push(`${who} ${url}: ${msg.text()}`);
  });
  page.on("pageerror", (err) => consoleErrors.push(`${who} ${page.url()}: ${err.message}`));
  page.on("dialog", (dialog) => dialog.accept());
  return page;
}

/**
 * Saves a full-page screenshot and checks it is not blank: the browser itself decodes the
 * PNG onto a canvas and counts distinct colours (a blank or single-colour page has one or
 * two; a rendered page with text and a frame has many).
 */
async function screenshot(page, name) {
  shots += 1;
  const file = join(ARTIFACTS, `${String(shots).padStart(2, "0")}-${name}.png`);
  const png = await page.screenshot({ path: file, fullPage: true });
  const checker = await page.context().newPage();
  const colours = await checker.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const canvas = document.createElement("canvas");
    canvas.width = img.width;
    canvas.height = img.height;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(img, 0, 0);
    const data = ctx.getImageData(0, 0, img.width, img.height).data;
    const seen = new Set();
    for (let i = 0; i < data.length && seen.size < 64; i += 4 * 7) {
      seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    }
    return { distinct: seen.size, width: img.width, height: img.height };
  }, png.toString("base64"));
  await checker.close();
  assert.ok(
    colours.distinct >= 8 && colours.width > 0 && colours.height > 0,
    `${file} looks blank (${colours.distinct} colours, ${colours.width}x${colours.height})`,
  );
  log(`screenshot ${file} (${colours.width}x${colours.height}, ${colours.distinct}+ colours)`);
}

/** A chat request straight to the gateway, as any OpenAI-compatible client would send it. */
async function chat(key, body, headers = {}) {
  const response = await fetch(`${GW}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text };
}

/** Polls `check` (returning truthy when done) until it succeeds or `ms` pass. */
async function eventually(what, ms, check) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms (last: ${last})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The balance the billing page shows, in cents. */
async function balanceCents(page) {
  await page.goto(`${CP}/billing`);
  const text = (await page.locator("#balance").textContent()).trim();
  const match = /^(-?)\$([\d,]+)\.(\d\d)$/.exec(text);
  assert.ok(match, `balance "${text}" is not in dollars and cents`);
  const cents = Number(match[2].replaceAll(",", "")) * 100 + Number(match[3]);
  return match[1] ? -cents : cents;
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ["--headless", "--no-sandbox", "--disable-background-networking"],
});
try {
  const tenant = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await openPage(tenant, "tenant");

  // --- sign up: the first key is shown once
  await page.goto(`${CP}/signup`);
  await screenshot(page, "signup");
  await page.getByLabel("Organisation").fill(org);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign up" }).click();
  const key = (await page.locator("#new-key").textContent()).trim();
  assert.match(key, /^sk-aig-/, "sign-up shows the new key");
  await screenshot(page, "first-key");
  await page.goto(`${CP}/dashboard/keys`);
  assert.equal(await page.locator("#new-key").count(), 0, "the key is not shown again");
  assert.ok((await page.content()).includes(key.slice(0, 11)), "the keys page lists the key's prefix");
  assert.ok(!(await page.content()).includes(key), "the full key never appears again");
  await screenshot(page, "keys");
  log(`signed up as ${email}; key ${key.slice(0, 12)}…`);

  // --- a request through a chain that falls back (the mock answers the primary with 429)
  const primary = "openai/gpt-5.4-fail-429";
  const fallback = "anthropic/claude-sonnet-4-5";
  const served = await chat(
    key,
    { model: primary, models: [fallback], messages: [{ role: "user", content: "Hello from the journey" }] },
    { "x-aig-tag": "journey" },
  );
  assert.equal(served.status, 200, `the chat request is served: ${served.body}`);
  // Header values travel as bytes; fetch reads them as Latin-1, the arrow is UTF-8.
  const chain = Buffer.from(served.headers.get("x-aig-chain"), "latin1").toString("utf8");
  const requestId = served.headers.get("x-aig-request-id");
  const cost = Number(served.headers.get("x-aig-cost-micros"));
  assert.equal(chain, `${primary}:429→${fallback}:200`, "the chain fell back");
  assert.equal(served.headers.get("x-aig-served-by"), fallback);
  assert.ok(cost > 0, "the request cost something");
  log(`request ${requestId} served by ${fallback}, chain ${chain}, ${cost} micro-USD`);

  // --- the request appears in the log with its chain and cost (once ingested)
  const row = page.locator("tr", { hasText: requestId }).first();
  await eventually("the request shows in the request log", 30_000, async () => {
    await page.goto(`${CP}/dashboard/requests?q=${encodeURIComponent(requestId)}`);
    return (await row.count()) > 0;
  });
  const logText = await page.locator("main").textContent();
  assert.ok(logText.includes(primary) && logText.includes(fallback), "the log shows the chain's models");
  const dollars = `$0.${String(cost).padStart(6, "0")}`;
  assert.ok(
    cost >= 10_000 || logText.includes(dollars),
    `the log shows the cost ${dollars}`,
  );
  const details = page.locator("details", { hasText: "429" }).first();
  await details.locator("summary").click();
  assert.ok(await details.evaluate((d) => d.open), "the row expands to its chain");
  await screenshot(page, "request-log");

  for (const [path, name] of [
    ["/dashboard", "overview"],
    ["/dashboard/usage?group=model", "usage"],
    ["/dashboard/chains", "chains"],
  ]) {
    await page.goto(`${CP}${path}`);
    assert.ok((await page.locator("main").textContent()).includes(fallback) || name === "overview",
      `${name} shows the fallback model`);
    await screenshot(page, name);
  }

  // --- a budget is set and shown
  await page.goto(`${CP}/dashboard/budgets`);
  await screenshot(page, "budgets-empty");
  await page.getByLabel("Tag", { exact: false }).first().fill("journey");
  await page.getByLabel("Monthly cap", { exact: false }).first().fill("5");
  await page.getByRole("button", { name: /set budget|save|create/i }).first().click();
  const budgetRow = page.locator("tr", { hasText: "journey" }).first();
  assert.ok((await budgetRow.textContent()).includes("$5.00"), "the budget shows its $5.00 cap");
  await screenshot(page, "budgets");

  // --- a top-up through the fake Stripe raises the balance
  const before = await balanceCents(page);
  await page.getByLabel(/amount/i).first().fill("25");
  await page.getByRole("button", { name: /pay with stripe/i }).click();
  await page.waitForURL((url) => !url.href.startsWith(CP));
  await screenshot(page, "stripe-checkout");
  await page.getByRole("button", { name: "Pay" }).click();
  await page.waitForURL((url) => url.href.startsWith(`${CP}/billing`));
  await eventually("the top-up shows in the balance", 10_000, async () =>
    (await balanceCents(page)) === before + 2500);
  await screenshot(page, "billing");
  log(`balance ${before} → ${before + 2500} cents after the top-up`);

  await page.goto(`${CP}/dashboard/team`);
  await screenshot(page, "team");
  await page.goto(`${CP}/dashboard/no-such-page`);
  assert.equal(await page.locator("h1").textContent(), "Not found");
  await screenshot(page, "not-found");

  // --- a platform admin suspends the tenant: the key is refused; reinstated: served again
  const adminContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const admin = await openPage(adminContext, "admin");
  await admin.goto(`${CP}/login`);
  await admin.getByLabel("Email").fill(ADMIN_EMAIL);
  await admin.getByLabel("Password").fill(ADMIN_PASSWORD);
  await admin.getByRole("button", { name: "Log in" }).click();
  await admin.goto(`${CP}/admin?q=${encodeURIComponent(email)}`);
  await screenshot(admin, "admin-tenants");
  await admin.getByRole("link", { name: org }).click();
  await screenshot(admin, "admin-tenant");
  const ok = { model: fallback, messages: [{ role: "user", content: "still there?" }] };

  await admin.locator("details.confirm", { hasText: /suspend/i }).locator("summary").click();
  await admin.getByRole("button", { name: /^suspend/i }).click();
  await eventually("the data plane refuses the suspended tenant's key", 2_000, async () => {
    const r = await chat(key, ok);
    return r.status === 403 && r.body.includes("tenant_suspended");
  });
  await screenshot(admin, "admin-suspended");
  log("suspended: the key is refused with 403 tenant_suspended");

  await admin.locator("details.confirm", { hasText: /reinstate/i }).locator("summary").click();
  await admin.getByRole("button", { name: /^reinstate/i }).click();
  await eventually("the reinstated tenant is served again", 2_000, async () =>
    (await chat(key, ok)).status === 200);
  log("reinstated: served again");

  await admin.goto(`${CP}/admin/health`);
  await screenshot(admin, "admin-health");

  // --- on a phone the dashboard still renders
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${CP}/dashboard`);
  await screenshot(page, "overview-phone");

  assert.deepEqual(consoleErrors, [], "no console errors (CSP violations, script errors)");
  log(`passed: ${shots} screenshots in ${ARTIFACTS}`);
} finally {
  await browser.close();
}
