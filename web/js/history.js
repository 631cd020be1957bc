// The history page: indicators per interval over a chosen range, from
// GET /api/indicators (computed from the stored events), as charts, a table
// and a CSV export; and the audit chain's status.

import uPlot from "../vendor/uplot/uPlot.esm.js";
import { downloadCsv, get, logout, requireSession, showAuditStatus } from "./api.js";
import { clinicDate, clinicTime, duration, percent } from "./format.js";
import { t, translate } from "./i18n.js";

requireSession(["supervisor"]);
translate();
document.getElementById("logout").addEventListener("click", logout);

const form = document.getElementById("range");
let charts = [];
let last = null;

function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function query(format) {
  const f = new FormData(form);
  const q = new URLSearchParams({ from: f.get("from"), step: f.get("step") });
  // The "to" date is inclusive on the page: up to the next day's midnight.
  const to = new Date(`${f.get("to")}T00:00:00Z`);
  to.setUTCDate(to.getUTCDate() + 1);
  q.set("to", to.toISOString().slice(0, 10));
  for (const k of ["queue", "agent"]) if (f.get(k)) q.set(k, f.get(k));
  if (format) q.set("format", format);
  return `/api/indicators?${q}`;
}

const COLUMNS = [
  ["offered", (r) => r.offered],
  ["answered", (r) => r.answered],
  ["sl_today", (r) => percent(r.service_level), "within"],
  ["asa", (r) => duration(r.asa_ms)],
  ["abandoned", (r) => `${r.abandoned} (${percent(r.abandonment_rate)})`],
  ["timed_out", (r) => r.timed_out],
  ["callbacks_chosen", (r) => r.callbacks_chosen],
  ["dropped", (r) => r.dropped],
  ["aht", (r) => duration(r.aht_ms)],
  ["missed", (r) => r.missed_rings],
  ["holds_over", (r) => r.holds_over_reminder],
];

function table(id, first, rows, label) {
  const node = document.getElementById(id);
  const head = el("tr");
  head.append(el("th", {}, t(first)));
  for (const [key, , heading] of COLUMNS) head.append(el("th", { class: "num" }, t(heading ?? key)));
  node.tHead.replaceChildren(head);
  const body = node.tBodies[0];
  body.replaceChildren();
  for (const r of rows) {
    const tr = el("tr", r.total ? { class: "total" } : {});
    tr.append(el("td", {}, label(r)));
    for (const [key, value] of COLUMNS) tr.append(el("td", { class: "num", "data-col": key }, String(value(r))));
    body.append(tr);
  }
}

function chart(id, x, series, width) {
  const node = document.getElementById(id);
  node.replaceChildren();
  const opts = {
    width,
    height: 220,
    scales: { x: { time: true } },
    // x is already the clinic's local time: draw it as UTC so the browser's
    // own zone does not shift it again.
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"),
    series: [{}, ...series.map(([label, , stroke]) => ({ label, stroke, width: 2, spanGaps: false }))],
    axes: [{}, {}],
  };
  return new uPlot(opts, [x, ...series.map(([, data]) => data)], node);
}

function render(h) {
  last = h;
  const off = h.utc_offset_ms;
  const step = h.step;
  const label = (r) => (r.total ? t("total") : step === "1d" ? clinicDate(r.start, off) : clinicTime(r.start, off));
  table("intervals", "interval_start", [...h.intervals, { ...h.total, total: true }], label);
  table("agents", "agent", h.agents, (r) => r.extension);

  const totals = document.getElementById("totals");
  totals.replaceChildren();
  for (const [key, value] of [
    ["sl_today", percent(h.total.service_level)],
    ["asa", duration(h.total.asa_ms)],
    ["abandoned", percent(h.total.abandonment_rate)],
    ["dropped", String(h.total.dropped)],
    ["aht", duration(h.total.aht_ms)],
    ["offered", String(h.total.offered)],
  ]) {
    const tile = el("div", { class: "tile", "data-figure": key });
    tile.append(el("div", { class: "label" }, t(key)), el("div", { class: "value" }, value), el("div", { class: "sub" }));
    totals.append(tile);
  }

  for (const c of charts) c.destroy();
  // uPlot's time axis is in seconds; shown in the clinic's local time.
  const x = h.intervals.map((r) => (r.start + off) / 1000);
  const pct = (v) => (v === null ? null : Math.round(v * 1000) / 10);
  const sec = (v) => (v === null ? null : v / 1000);
  const width = Math.max(320, document.querySelector(".chart").clientWidth - 16);
  charts = [
    chart("chart-levels", x, [
      [t("within"), h.intervals.map((r) => pct(r.service_level)), "#1f8a4c"],
      [t("abandoned"), h.intervals.map((r) => pct(r.abandonment_rate)), "#c62828"],
    ], width),
    chart("chart-counts", x, [
      [t("offered"), h.intervals.map((r) => r.offered), "#1f5f99"],
      [t("answered"), h.intervals.map((r) => r.answered), "#1f8a4c"],
      [t("abandoned"), h.intervals.map((r) => r.abandoned), "#c62828"],
    ], width),
    chart("chart-times", x, [
      [t("asa"), h.intervals.map((r) => sec(r.asa_ms)), "#c77700"],
      [t("aht"), h.intervals.map((r) => sec(r.aht_ms)), "#6a4c93"],
    ], width),
  ];
  document.body.dataset.loaded = String(h.seq);
}

async function load() {
  const error = document.getElementById("error");
  error.textContent = "";
  try {
    render(await get(query()));
  } catch (e) {
    error.textContent = e.message;
  }
}

async function exportCsv() {
  try {
    await downloadCsv(query("csv"), "careline-indicators.csv");
  } catch (e) {
    document.getElementById("error").textContent = e.message;
  }
}

async function init() {
  // Defaults: today in the clinic's time; the queue and agent lists from
  // the live snapshot.
  const snap = await get("/api/indicators/live");
  const today = clinicDate(snap.at, snap.utc_offset_ms);
  form.from.value = today;
  form.to.value = today;
  for (const q of snap.queues) form.queue.add(new Option(q.name, q.name));
  for (const a of snap.agents) form.agent.add(new Option(a.name ? `${a.name} (${a.extension})` : a.extension, a.extension));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    load();
  });
  document.getElementById("csv").addEventListener("click", exportCsv);
  window.addEventListener("careline:lang", () => last && render(last));
  await load();
  await showAuditStatus(document.getElementById("audit"), t);
}

init();
