// Drives the agent's browser softphone in headless Chromium for
// tests/dashboard/phone.rs, with a fake microphone (a tone) and the
// permission prompt answered:
//
//   1. signs in as the agent, waits for the phone to register over the SIP
//      WebSocket and prints "READY";
//   2. waits for a call to ring, prints "RINGING <what the card shows>";
//   3. passes the identity check with the date of birth DOB, prints
//      "CARD <the confirmed card>", then answers;
//   4. once talking, waits for RTP both ways in the browser's own
//      statistics (getStats: inbound-rtp packetsReceived, outbound-rtp
//      packetsSent above 50) and prints "STATS <json>";
//   5. waits for the caller to hang up, prints "ENDED", then "DONE".
//
// With DIAL set, steps 2–5 are instead: the page dials DIAL from its own
// form; once talking, the same getStats check ("STATS <json>"); then it
// hangs up ("ENDED") and prints "DONE".
//
// Any timeout or page error ends the process with "FAIL <why>" and exit 1.
// Environment: BASE_URL, EXTENSION, PASSWORD, DOB, SCREENSHOT (optional).

import { launch } from "./chromium.mjs";

const BASE = process.env.BASE_URL;
const WAIT = 30_000;

function fail(message) {
  console.log(`FAIL ${message}`);
  process.exit(1);
}

/** Waits for more than 50 RTP packets each way in the browser's own statistics, presses 5 on the keypad and waits until the key plays, prints "STATS <json>" and takes the screenshot. */
async function audioBothWays(page) {
  let stats = null;
  const until = Date.now() + WAIT;
  while (Date.now() < until) {
    stats = await page.evaluate(() => window.carelinePhone.stats());
    if (stats && stats.inbound > 50 && stats.outbound > 50) break;
    await page.waitForTimeout(250);
  }
  if (!stats || stats.inbound <= 50 || stats.outbound <= 50) fail(`no audio both ways: ${JSON.stringify(stats)}`);
  await page.click('#keypad button:text-is("5")');
  // The key has started to play (its first RTP event packet is out) once the
  // DTMF sender's queue is empty: only then may the caller hang up.
  await page.waitForFunction(
    () => {
      const pc = window.carelinePhone.call?.session?.connection;
      const dtmf = pc?.getSenders().find((s) => s.dtmf)?.dtmf;
      return dtmf && dtmf.toneBuffer === "";
    },
    null,
    { timeout: WAIT },
  );
  console.log(`STATS ${JSON.stringify(stats)}`);
  if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT });
}

const browser = await launch([
  "--use-fake-device-for-media-stream",
  "--use-fake-ui-for-media-stream",
  // Real host addresses in ICE candidates (the namespace's veth), not mDNS names.
  "--disable-features=WebRtcHideLocalIpsWithMdns",
  "--autoplay-policy=no-user-gesture-required",
]);
const problems = [];
try {
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 }, locale: "en-US" });
  await context.grantPermissions(["microphone"], { origin: BASE });
  const page = await context.newPage();
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));

  // 1. Sign in; the agent lands on their page and the phone registers.
  await page.goto(`${BASE}/`);
  await page.fill("input[name=extension]", process.env.EXTENSION);
  await page.fill("input[name=password]", process.env.PASSWORD);
  await page.click("button[type=submit]");
  await page.waitForURL(`${BASE}/agent`, { timeout: WAIT });
  try {
    await page.waitForSelector('#phone-status[data-state="registered"]', { timeout: WAIT });
  } catch {
    fail(
      `the phone did not register: ${await page.textContent("#phone-status")} ${await page.textContent("#error")} ${problems.join("; ")}`,
    );
  }
  console.log("READY");

  if (process.env.DIAL) {
    await page.fill("#dial-to", process.env.DIAL);
    await page.click("#dial");
    await page.waitForSelector('#call-bar[data-call="talking"]', { timeout: WAIT });
    await audioBothWays(page);
    await page.click("#hangup");
    await page.waitForSelector('#call-bar[data-call="ended"]', { timeout: WAIT });
    console.log("ENDED");
    if (problems.length) fail(problems.join("; "));
    console.log("DONE");
  } else {
    // 2. A patient calls: the phone rings and the pop shows who it is.
    await page.waitForSelector("#answer:not([disabled])", { timeout: 60_000 });
    await page.waitForFunction(() => document.querySelector("#call .patient"), null, { timeout: WAIT });
    console.log(`RINGING ${(await page.textContent("#call")).replace(/\s+/g, " ")}`);

    // 3. The identity check: a wrong date reveals nothing, the right one the card.
    await page.fill("#dob", "01.01.1900");
    await page.click("#identity button[type=submit]");
    await page.waitForFunction(() => document.getElementById("dob-error").textContent.length > 0, null, { timeout: WAIT });
    await page.fill("#dob", process.env.DOB);
    await page.click("#identity button[type=submit]");
    await page.waitForSelector("#call .ok", { timeout: WAIT });
    console.log(`CARD ${(await page.textContent("#call")).replace(/\s+/g, " ")}`);
    await page.click("#answer");
    await page.waitForSelector('#call-bar[data-call="talking"]', { timeout: WAIT });

    // 4. Audio both ways, as the browser counts it; a key pressed on the
    // keypad goes in-band to the caller's side.
    await audioBothWays(page);

    // 5. The caller hangs up.
    await page.waitForSelector('#call-bar[data-call="ended"]', { timeout: 60_000 });
    console.log("ENDED");
    if (problems.length) fail(problems.join("; "));
    console.log("DONE");
  }
} catch (e) {
  fail(`${e.message.split("\n")[0]} ${problems.join("; ")}`);
} finally {
  await browser.close();
}
