// The agent's page, and their browser softphone: state buttons; the phone
// (registered over the server's SIP WebSocket, audio through its WebRTC
// gateway); the caller's card from the `call_offered` screen pop, shown in
// full only after the identity check (the date of birth the caller gives
// must match a card); the script prompts for the call; hold and transfer
// through the API, with the hold timer.

import { get, live, logout, requireSession, send, sipPassword } from "./api.js";
import { t, translate, language } from "./i18n.js";
import { Phone } from "./phone.js";

const me = requireSession();
translate();
document.getElementById("me").textContent = `${me.name} (${me.extension})`;
document.getElementById("logout").addEventListener("click", () => {
  phone?.stop();
  logout();
});

const $ = (id) => document.getElementById(id);
let socket = null;
let phone = null;
let scripts = null;
/** Screen pops by call id (a pop may come just before or after the ring). */
const offers = new Map();
/** The confirmed patient's card on the current call, and when hold began. */
let confirmed = null;
let holdingSince = null;

function showState(state) {
  for (const b of document.querySelectorAll("#states button")) {
    b.setAttribute("aria-pressed", String(b.dataset.state === state));
  }
}

function clock(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** A date of birth as typed (dd.mm.yyyy, yyyy-mm-dd, d/m/yyyy …): [y, m, d], or null. */
export function parseBirthDate(text) {
  const parts = (text || "").split(/\D+/).filter(Boolean);
  if (parts.length !== 3) return null;
  const [a, b, c] = parts;
  let ymd;
  if (a.length === 4) ymd = [a, b, c];
  else if (c.length === 4) ymd = [c, b, a];
  else return null;
  const [y, m, d] = ymd.map(Number);
  return m >= 1 && m <= 12 && d >= 1 && d <= 31 ? [y, m, d] : null;
}

function currentOffer() {
  const id = phone?.call?.id;
  return id ? offers.get(id) : null;
}

function line(text, cls) {
  return Object.assign(document.createElement("p"), { textContent: text, className: cls ?? "" });
}

function showCard() {
  const box = $("call");
  box.replaceChildren();
  const offer = currentOffer();
  const call = phone?.call;
  if (!call || call.state === "ended" || !offer) {
    box.append(line(call && call.state !== "ended" ? call.caller : t("no_call")));
    $("identity").hidden = true;
    return;
  }
  box.append(line(offer.caller, "caller"));
  if (offer.unknown_caller) box.append(line(t("unknown_caller")));
  if (confirmed) {
    // The confirmed patient's own card, and nothing of the others on a
    // shared number.
    box.append(line(`${confirmed.full_name}`, "patient"));
    if (confirmed.address_as) box.append(line(confirmed.address_as));
    if (confirmed.birth_date) {
      const age = confirmed.today?.age;
      box.append(line(`${t("birth_date")}: ${confirmed.birth_date}${age != null ? ` (${age})` : ""}`));
    }
    if (confirmed.today?.pregnancy_week != null) {
      box.append(line(`${confirmed.today.pregnancy_week} / EDD ${confirmed.today.edd}`));
    }
    const notes = Object.entries(confirmed.notes || {}).filter(([, v]) => v);
    if (notes.length) {
      box.append(line(t("notes"), "muted"));
      for (const [k, v] of notes) box.append(line(`${k}: ${v}`));
    }
    box.append(line(t("confirmed"), "ok"));
    $("identity").hidden = true;
  } else {
    // Before the check: only how to address the caller, for the greeting.
    for (const p of offer.patients || []) box.append(line(p.address_as || p.full_name, "patient"));
    $("identity").hidden = !(offer.patients || []).length;
  }
}

/** The identity check: exactly one card with that date of birth. */
function confirmIdentity(ev) {
  ev.preventDefault();
  const offer = currentOffer();
  if (!offer) return;
  const said = parseBirthDate($("dob").value);
  const cards = offer.patients || [];
  const dated = cards.filter((p) => p.birth_date);
  let chosen = null;
  if (!dated.length) chosen = cards[0] ?? null;
  else {
    const same = dated.filter((p) => said && JSON.stringify(parseBirthDate(p.birth_date)) === JSON.stringify(said));
    // None, or twins sharing a number and a birthday: not on a date alone.
    if (same.length === 1) chosen = same[0];
  }
  if (!chosen) {
    $("dob-error").textContent = t("dob_mismatch");
    return;
  }
  $("dob-error").textContent = "";
  confirmed = chosen;
  socket?.send(JSON.stringify({ type: "identity", call_id: offer.call_id, patient: chosen.mis_id }));
  showCard();
  showScript();
}

function dayPart() {
  const offset = scripts?.utc_offset_minutes ?? 0;
  const now = new Date(Date.now() + offset * 60_000);
  const h = now.getUTCHours();
  if (h >= 7 && h < 11) return "morning";
  if (h >= 11 && h < 17) return "day";
  if (h >= 17 && h < 22) return "evening";
  return "night";
}

function fill(template, data) {
  return template
    .replace(/\{(\w+)\}/g, (_, k) => (data[k] ? String(data[k]) : `[${k}]`))
    .replace(/\{\{/g, "{")
    .replace(/\}\}/g, "}");
}

function showScript() {
  const list = $("script");
  list.replaceChildren();
  if (!scripts || !phone?.call || phone.call.state === "ended") return;
  const phrases = scripts.phrases?.[language()]?.inbound ?? scripts.phrases?.en?.inbound ?? {};
  const data = { clinic: scripts.clinic, agent: me.name, address_as: confirmed?.address_as };
  for (const stage of scripts.stages || []) {
    let text = phrases[stage];
    if (text && typeof text === "object") text = text[dayPart()];
    if (!text) continue;
    const item = document.createElement("li");
    item.dataset.stage = stage;
    item.textContent = fill(text, data);
    list.append(item);
  }
}

function showPhone() {
  const status = $("phone-status");
  status.dataset.state = phone?.state ?? "failed";
  status.textContent =
    phone?.state === "failed"
      ? t("phone_failed", { reason: phone.problem })
      : t(`phone_${phone?.state ?? "unregistered"}`);
  const call = phone?.call;
  const live = call && call.state !== "ended";
  const talking = call?.state === "talking";
  $("call-caller").textContent = live ? call.caller : "";
  let state = "";
  if (call?.state === "ringing") state = t("call_ringing");
  else if (call?.state === "calling") state = t("call_calling");
  else if (talking && holdingSince) state = t("call_on_hold", { time: clock(Date.now() - holdingSince) });
  else if (talking) state = t("call_talking", { time: clock(Date.now() - call.since) });
  else if (call?.state === "ended" && call.failed) state = t("call_failed", { cause: call.cause ?? "" });
  else if (call?.state === "ended") state = t("call_ended");
  $("call-state").textContent = state;
  $("call-bar").dataset.call = call?.state ?? "idle";
  $("answer").disabled = call?.state !== "ringing";
  $("decline").disabled = call?.state !== "ringing";
  $("hangup").disabled = !talking && call?.state !== "calling";
  $("dial").disabled = live || phone?.state !== "registered";
  $("hold").disabled = !talking || !call.id;
  $("hold").textContent = t(holdingSince ? "resume" : "hold");
  $("mute").disabled = !talking;
  $("mute").textContent = t(call?.muted ? "unmute" : "mute");
  $("transfer").disabled = !talking || !call.id;
  $("transfer-senior").disabled = !talking || !call.id;
  for (const b of $("keypad").querySelectorAll("button")) b.disabled = !talking;
}

function onPhone() {
  if (phone.call?.state === "ended") {
    confirmed = null;
    holdingSince = null;
  }
  showPhone();
  showCard();
  showScript();
}

async function hold() {
  const call = phone?.call;
  if (!call?.id) return;
  const holding = !holdingSince;
  try {
    await send("PUT", `/api/calls/${call.id}/hold`, { hold: holding });
    holdingSince = holding ? Date.now() : null;
    $("error").textContent = "";
  } catch (e) {
    $("error").textContent = e.message;
  }
  showPhone();
}

async function transfer(to) {
  const call = phone?.call;
  if (!call?.id || !to) return;
  const note = $("handover-note").value.trim();
  try {
    await send("POST", `/api/calls/${call.id}/transfer`, note ? { to, note } : { to });
    $("error").textContent = "";
  } catch (e) {
    $("error").textContent = e.message;
  }
}

async function fillDevices() {
  if (!phone) return;
  const { mics, speakers } = await phone.devices().catch(() => ({ mics: [], speakers: [] }));
  for (const [select, list, chosen] of [
    [$("mic"), mics, phone.mic],
    [$("speaker"), speakers, phone.speaker],
  ]) {
    select.replaceChildren(new Option(t("default_device"), ""));
    for (const d of list) if (d.deviceId && d.deviceId !== "default") select.add(new Option(d.label || d.deviceId, d.deviceId));
    select.value = chosen;
  }
}

function wire() {
  for (const b of document.querySelectorAll("#states button")) {
    b.addEventListener("click", () => socket?.send(JSON.stringify({ type: "state", state: b.dataset.state })));
  }
  for (const key of "123456789*0#") {
    const b = Object.assign(document.createElement("button"), { textContent: key, disabled: true });
    b.addEventListener("click", () => phone?.key(key));
    $("keypad").append(b);
  }
  $("transfer-to").placeholder = t("transfer_to");
  $("dial-to").placeholder = t("dial_to");
  $("dial-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const number = $("dial-to").value.trim();
    if (!number || !phone) return;
    $("error").textContent = phone.dial(number) ? "" : t("dial_refused", { number });
  });
  $("answer").addEventListener("click", () => phone?.answer());
  $("decline").addEventListener("click", () => phone?.hangUp());
  $("hangup").addEventListener("click", () => phone?.hangUp());
  $("mute").addEventListener("click", () => phone?.toggleMute());
  $("hold").addEventListener("click", hold);
  $("transfer").addEventListener("click", () => transfer($("transfer-to").value.trim()));
  $("transfer-senior").addEventListener("click", () => transfer("senior"));
  $("identity").addEventListener("submit", confirmIdentity);
  $("mic").addEventListener("change", (e) => phone && (phone.mic = e.target.value));
  $("speaker").addEventListener("change", (e) => phone?.chooseSpeaker(e.target.value));
  $("devices").addEventListener("toggle", fillDevices);
  // The call and hold timers.
  setInterval(() => phone?.call && showPhone(), 1000);
  window.addEventListener("careline:lang", () => {
    showPhone();
    showCard();
    showScript();
  });
}

/** A doctor's teleconsult appointments, each with a button that calls the patient (their browser phone rings first). */
async function showAppointments() {
  if (me.role !== "doctor") return;
  $("doctor").hidden = false;
  const body = $("appointments").tBodies[0];
  body.replaceChildren();
  const { appointments = [] } = await get("/api/appointments").catch(() => ({}));
  for (const a of appointments.filter((a) => a.teleconsult)) {
    const row = body.insertRow();
    const when = typeof a.starts_at === "number" ? new Date(a.starts_at).toLocaleString(language()) : a.starts_at;
    row.insertCell().textContent = when;
    row.insertCell().textContent = a.service ?? "";
    const button = Object.assign(document.createElement("button"), { textContent: t("call_patient") });
    button.dataset.appointment = a.id;
    button.addEventListener("click", async () => {
      try {
        await send("POST", `/api/teleconsults/${encodeURIComponent(a.id)}/call`, {});
        $("error").textContent = "";
      } catch (e) {
        $("error").textContent = e.message;
      }
    });
    row.insertCell().append(button);
  }
}

async function start() {
  wire();
  showAppointments();
  scripts = await get("/api/scripts").catch(() => null);
  try {
    const settings = await get("/api/phone");
    const password = sipPassword();
    if (!password) throw new Error("sign in again to use the phone");
    phone = new Phone(settings, password, onPhone);
    // For diagnostics from the browser's console (and the page's tests).
    window.carelinePhone = phone;
  } catch (e) {
    $("error").textContent = e.message;
  }
  showPhone();
}

live(
  (msg, ws) => {
    socket = ws;
    if (msg.type === "call_offered") {
      offers.set(msg.call_id, msg);
      showCard();
    } else if (msg.type === "event" && msg.kind === "agent_state_changed" && msg.agent === me.extension) {
      showState(msg.data.to);
    } else if (msg.type === "event" && msg.kind === "ended") {
      offers.delete(msg.call_id);
    } else if (msg.type === "error") {
      $("error").textContent = msg.error;
    }
  },
  (up) => {
    const link = $("link");
    link.className = up ? "" : "down";
    link.dataset.i18n = up ? "connected" : "disconnected";
    link.textContent = t(link.dataset.i18n);
  },
);
start();
