// The live dashboard: renders the server's `indicators` snapshots (pushed on
// the WebSocket whenever a figure changes) and ticks the clocks in between.

import { live, logout, requireSession } from "./api.js";
import { duration, level, percent, clinicTime } from "./format.js";
import { t, translate } from "./i18n.js";

requireSession(["supervisor"]);
translate();
document.getElementById("logout").addEventListener("click", logout);

let snap = null;
// performance.now() when the snapshot arrived: elapsed times grow from it.
let received = 0;

function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Sets a tile's value, sub-line and colour; `raw` goes to data-value. */
function tile(node, value, sub, colour, raw) {
  node.querySelector(".value").textContent = value;
  node.querySelector(".sub").textContent = sub ?? "";
  node.className = `tile ${colour ?? "none"}`;
  node.dataset.value = raw === null || raw === undefined ? "" : String(raw);
}

function figure(name) {
  return document.querySelector(`#tiles [data-figure="${name}"]`);
}

/** Milliseconds since the snapshot was taken, on this page's clock. */
function since() {
  return snap ? performance.now() - received : 0;
}

function renderTiles() {
  const th = snap.thresholds;
  const today = snap.today;
  const hour = snap.last_hour;
  const wait = snap.longest_wait_ms === null ? null : snap.longest_wait_ms + since();
  tile(figure("waiting"), String(snap.waiting), "", snap.waiting > 0 ? "amber" : "ok", snap.waiting);
  tile(figure("longest_wait"), duration(wait), "", level(wait, th.longest_wait_ms, false), snap.longest_wait_ms);
  const slSub = (x) => `${x.answered_within} / ${x.answered + x.abandoned_after_deadline}`;
  tile(figure("sl_today"), percent(today.service_level), slSub(today), level(today.service_level, th.service_level, true), today.service_level);
  tile(figure("sl_hour"), percent(hour.service_level), slSub(hour), level(hour.service_level, th.service_level, true), hour.service_level);
  tile(figure("asa"), duration(today.asa_ms), `${t("last_hour")}: ${duration(hour.asa_ms)}`, "none", today.asa_ms);
  tile(figure("abandoned"), percent(today.abandonment_rate), `${today.abandoned} / ${today.offered}`,
    level(today.abandonment_rate, th.abandonment_rate, false), today.abandoned);
  tile(figure("dropped"), String(today.dropped), `${t("last_hour")}: ${hour.dropped}`, today.dropped > 0 ? "amber" : "ok", today.dropped);
  tile(figure("aht"), duration(today.aht_ms), `${t("last_hour")}: ${duration(hour.aht_ms)}`, "none", today.aht_ms);
  tile(figure("offered"), String(today.offered), `${t("last_hour")}: ${hour.offered}`, "none", today.offered);
  tile(figure("answered"), String(today.answered), `${t("last_hour")}: ${hour.answered}`, "none", today.answered);
  const cb = snap.callbacks;
  tile(figure("callbacks"), String(cb.open), `${t("overdue")}: ${cb.overdue} · ${t("done_today")}: ${cb.done_today}`,
    cb.overdue > 0 ? "red" : cb.open > 0 ? "amber" : "ok", cb.open);
}

function renderQueues() {
  const box = document.getElementById("queues");
  box.replaceChildren();
  const th = snap.thresholds;
  for (const q of snap.queues) {
    const node = el("div", { class: "tile", "data-queue": q.name });
    node.append(el("div", { class: "label" }, q.name), el("div", { class: "value" }), el("div", { class: "sub" }));
    const wait = q.longest_wait_ms === null ? null : q.longest_wait_ms + since();
    const sub = `${t("waiting_now")}: ${q.waiting} · ${t("longest_wait")}: ${duration(wait)} · ${t("last_hour")}: ${percent(q.last_hour.service_level)} · ${t("abandoned")}: ${q.today.abandoned}`;
    const worst = [level(q.today.service_level, th.service_level, true), level(wait, th.longest_wait_ms, false)];
    const colour = worst.includes("red") ? "red" : worst.includes("amber") ? "amber" : worst.includes("ok") ? "ok" : "none";
    tile(node, percent(q.today.service_level), sub, colour, q.today.service_level);
    box.append(node);
  }
}

function renderBoard() {
  const body = document.querySelector("#board tbody");
  body.replaceChildren();
  const now = snap.at + since();
  for (const a of snap.agents) {
    const tr = el("tr", { "data-agent": a.extension });
    const name = a.name ? `${a.name} (${a.extension})` : a.extension;
    const state = el("span", { class: `badge ${a.state}` }, t(`state_${a.state}`));
    const stateCell = el("td");
    stateCell.append(state);
    const hold = a.on_hold_since ? duration(now - a.on_hold_since) : "";
    const holdCell = el("td", { class: `num${a.hold_over_reminder ? " hold-over" : ""}` }, hold);
    tr.append(
      el("td", {}, name),
      stateCell,
      el("td", { class: "num" }, a.since ? duration(now - a.since) : ""),
      el("td", { class: "num" }, a.call_answered_at ? duration(now - a.call_answered_at) : ""),
      holdCell,
      el("td", { class: "num", "data-col": "offered" }, String(a.today.offered)),
      el("td", { class: "num", "data-col": "answered" }, String(a.today.answered)),
      el("td", { class: "num", "data-col": "missed" }, String(a.today.missed_rings)),
      el("td", { class: "num" }, percent(a.today.service_level)),
      el("td", { class: "num" }, duration(a.today.aht_ms)),
    );
    body.append(tr);
  }
}

function render() {
  if (!snap) return;
  renderTiles();
  renderQueues();
  renderBoard();
  document.getElementById("clock").textContent = clinicTime(snap.at + since(), snap.utc_offset_ms);
  document.body.dataset.seq = String(snap.seq);
}

live(
  (msg) => {
    if (msg.type !== "indicators") return;
    snap = msg;
    received = performance.now();
    render();
  },
  (up) => {
    const link = document.getElementById("link");
    link.className = up ? "" : "down";
    link.dataset.i18n = up ? "connected" : "disconnected";
    link.textContent = t(link.dataset.i18n);
  },
  { feed: "indicators" },
);
setInterval(render, 1000);
window.addEventListener("careline:lang", render);
