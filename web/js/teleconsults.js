// The teleconsult log: doctors' calls to patients with their times,
// durations and outcomes, from GET /api/teleconsults; a CSV export of the
// lines for the medical record; the audit chain's status.

import { downloadCsv, get, logout, requireSession, showAuditStatus } from "./api.js";
import { clinicDate, clinicTime, duration } from "./format.js";
import { t, translate } from "./i18n.js";

requireSession(["supervisor"]);
translate();
document.getElementById("logout").addEventListener("click", logout);

const form = document.getElementById("range");
let offset = 0;

function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function query(format) {
  const f = new FormData(form);
  // Dates are the clinic's: from its midnight to the next one after "to".
  const day = (d) => Date.parse(`${d}T00:00:00Z`) - offset;
  const q = new URLSearchParams({
    from: String(day(f.get("from"))),
    to: String(day(f.get("to")) + 86_400_000),
  });
  if (f.get("doctor")) q.set("doctor", f.get("doctor").trim());
  if (format) q.set("format", format);
  return `/api/teleconsults?${q}`;
}

async function load() {
  const error = document.getElementById("error");
  error.textContent = "";
  try {
    const body = await get(query());
    const rows = document.querySelector("#calls tbody");
    rows.replaceChildren();
    for (const c of body.calls) {
      const tr = el("tr", { "data-call": c.call_id, title: c.record });
      tr.append(
        el("td", {}, clinicTime(c.invited_at, offset)),
        el("td", {}, c.doctor_name ? `${c.doctor_name} (${c.doctor})` : c.doctor),
        el("td", {}, c.number),
        el("td", {}, c.patient_name ?? c.patient_id ?? ""),
        el("td", {}, c.appointment_id),
        el("td", { class: "num" }, duration(c.duration_ms)),
        el("td", {}, c.outcome ?? "…"),
      );
      rows.append(tr);
    }
    document.body.dataset.loaded = String(body.calls.length);
  } catch (e) {
    error.textContent = e.message;
  }
}

async function exportCsv() {
  try {
    await downloadCsv(query("csv"), "careline-teleconsults.csv");
  } catch (e) {
    document.getElementById("error").textContent = e.message;
  }
}

async function init() {
  const snap = await get("/api/indicators/live");
  offset = snap.utc_offset_ms;
  const today = clinicDate(snap.at, offset);
  form.to.value = today;
  form.from.value = clinicDate(snap.at - 6 * 86_400_000, offset);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    load();
  });
  document.getElementById("csv").addEventListener("click", exportCsv);
  await load();
  await showAuditStatus(document.getElementById("audit"), t);
}

init();
