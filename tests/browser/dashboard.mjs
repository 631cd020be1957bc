// Drives the supervisor's pages in headless Chromium for tests/dashboard:
//
//   1. signs in through the login form as a supervisor, lands on the live
//      dashboard, prints "READY" once its figures are on screen;
//   2. reads "CHECK <json>" on stdin (the test has placed real calls by
//      then: {"offered": n, "answered": n, "agent": "1001"}) and waits for
//      the page to show those numbers without a reload;
//   3. compares the page with GET /api/indicators/live and the history page
//      (today, per hour) with GET /api/indicators; checks every language has
//      every string and that switching language relabels the page;
//   4. saves a screenshot of the dashboard (SCREENSHOT) and prints "DONE".
//
// Any mismatch or timeout ends the process with a message and exit code 1.
// Environment: BASE_URL, EXTENSION, PASSWORD, SCREENSHOT.

import { createInterface } from "node:readline";
import { launch } from "./chromium.mjs";

const BASE = process.env.BASE_URL;
const WAIT = 30_000;

function fail(message) {
  console.log(`FAIL ${message}`);
  process.exit(1);
}

function same(what, page, api) {
  if (JSON.stringify(page) !== JSON.stringify(api)) {
    fail(`${what}: the page shows ${JSON.stringify(page)}, the API says ${JSON.stringify(api)}`);
  }
}

// The audit status line is filled in after the page's own data has loaded
// (a separate request), so wait for it to leave its placeholder.
async function auditStatus(page) {
  await page.waitForFunction(() => document.getElementById("audit").textContent !== "…", null, { timeout: WAIT });
  return page.locator("#audit").textContent();
}

const lines = createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => lines.once("line", resolve));

const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1366, height: 768 }, locale: "en-US" });
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));

  // 1. Sign in; a supervisor is sent to the dashboard.
  await page.goto(`${BASE}/`);
  await page.fill("input[name=extension]", process.env.EXTENSION);
  await page.fill("input[name=password]", "not the password");
  await page.click("button[type=submit]");
  await page.waitForFunction(() => document.getElementById("error").textContent.length > 0, null, { timeout: WAIT });
  // The refused attempt's 401 is the one error the console may show.
  problems.length = 0;
  await page.fill("input[name=password]", process.env.PASSWORD);
  await page.click("button[type=submit]");
  await page.waitForURL(`${BASE}/dashboard`, { timeout: WAIT });
  const tileValue = (name) => page.locator(`#tiles [data-figure="${name}"] .value`).textContent();
  await page.waitForFunction(() => document.body.dataset.seq !== undefined, null, { timeout: WAIT });
  await page.evaluate(() => (window.__notReloaded = true));
  console.log(`READY offered=${await tileValue("offered")}`);

  // 2. The test places its calls, then says what to expect.
  const want = JSON.parse((await nextLine()).replace(/^CHECK /, ""));
  try {
    await page.waitForFunction(
      ([offered, answered]) => {
        const v = (n) => document.querySelector(`#tiles [data-figure="${n}"] .value`)?.textContent;
        return v("offered") === String(offered) && v("answered") === String(answered);
      },
      [want.offered, want.answered],
      { timeout: WAIT },
    );
  } catch {
    fail(`the dashboard never showed ${want.offered} offered / ${want.answered} answered (it shows ${await tileValue("offered")} / ${await tileValue("answered")})`);
  }
  if (!(await page.evaluate(() => window.__notReloaded))) fail("the page was reloaded");

  // 3. The same numbers from the API, the live page and the history page.
  const api = (path) =>
    page.evaluate(async (p) => {
      const s = JSON.parse(sessionStorage.getItem("careline.session"));
      const r = await fetch(p, { headers: { authorization: `Bearer ${s.token}` } });
      return r.json();
    }, path);
  // Wait until the page has drawn the snapshot the API serves now.
  const live = await api("/api/indicators/live");
  await page.waitForFunction((seq) => Number(document.body.dataset.seq) >= seq, live.seq, { timeout: WAIT });
  const dataValue = (name) => page.locator(`#tiles [data-figure="${name}"]`).getAttribute("data-value");
  same("offered today", await dataValue("offered"), String(live.today.offered));
  same("answered today", await dataValue("answered"), String(live.today.answered));
  same("abandoned today", await dataValue("abandoned"), String(live.today.abandoned));
  same("service level today", await dataValue("sl_today"), live.today.service_level === null ? "" : String(live.today.service_level));
  same("waiting", await dataValue("waiting"), String(live.waiting));
  const row = page.locator(`#board tr[data-agent="${want.agent}"]`);
  const agent = live.agents.find((a) => a.extension === want.agent);
  same(`agent ${want.agent} answered`, await row.locator('[data-col="answered"]').textContent(), String(agent.today.answered));
  same(`agent ${want.agent} offered`, await row.locator('[data-col="offered"]').textContent(), String(agent.today.offered));
  await page.screenshot({ path: process.env.SCREENSHOT, fullPage: false });

  // Every language has every string; switching relabels the page.
  const missing = await page.evaluate(async () => (await import("/static/js/i18n.js")).missingKeys());
  if (missing.length) fail(`strings missing: ${missing.join(", ")}`);
  await page.selectOption("#lang", "ru");
  same("the Russian label", await page.locator('#tiles [data-figure="offered"] .label').textContent(), "Поступило");
  await page.selectOption("#lang", "en");

  // The history page, today per hour, against the API for the same range.
  await page.click('a[href="/history"]');
  await page.waitForFunction(() => document.body.dataset.loaded !== undefined, null, { timeout: WAIT });
  const from = await page.inputValue("input[name=from]");
  const to = new Date(`${from}T00:00:00Z`);
  to.setUTCDate(to.getUTCDate() + 1);
  const history = await api(`/api/indicators?from=${from}&to=${to.toISOString().slice(0, 10)}&step=1h`);
  const total = page.locator("#intervals tr.total");
  same("history offered", await total.locator('[data-col="offered"]').textContent(), String(history.total.offered));
  same("history answered", await total.locator('[data-col="answered"]').textContent(), String(history.total.answered));
  same("history against live: offered", history.total.offered, live.today.offered);
  same("history against live: answered", history.total.answered, live.today.answered);
  same("history against live: service level", history.total.service_level, live.today.service_level);
  same("history against live: abandoned", history.total.abandoned, live.today.abandoned);
  const charts = await page.locator(".chart canvas").count();
  if (charts !== 3) fail(`the history page drew ${charts} charts, not 3`);
  const audit = await auditStatus(page);
  if (!/verified up to event \d+/.test(audit)) fail(`audit status: ${audit}`);

  // The teleconsult log (no doctor called today in this test): it loads,
  // lists what the API lists, and shows the audit chain's status.
  await page.click('a[href="/teleconsults"]');
  await page.waitForFunction(() => document.body.dataset.loaded !== undefined, null, { timeout: WAIT });
  const tc = await api("/api/teleconsults");
  same("teleconsult rows", await page.locator("#calls tbody tr").count(), tc.calls.length);
  const tcAudit = await auditStatus(page);
  if (!/verified up to event \d+/.test(tcAudit)) fail(`teleconsult page audit status: ${tcAudit}`);

  if (problems.length) fail(problems.join("; "));
  console.log("DONE");
} finally {
  await browser.close();
}
process.exit(0);
