// The session and the calls to the server: the bearer token from the login
// lives in sessionStorage (gone when the tab closes); a 401 sends the user
// back to the login page.

const KEY = "careline.session";
// The browser phone registers with the login's own password (the server
// knows no other for staff); it stays in this tab's sessionStorage only
// and goes at sign-out.
const SIP_KEY = "careline.sip";

export function sipPassword() {
  return sessionStorage.getItem(SIP_KEY);
}

export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY));
  } catch {
    return null;
  }
}

export function requireSession(roles) {
  const s = session();
  if (!s || (roles && !roles.includes(s.role))) {
    location.replace("/");
    throw new Error("not logged in");
  }
  return s;
}

export async function login(extension, password) {
  const r = await fetch("/api/login", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ extension, password }),
  });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
  sessionStorage.setItem(KEY, JSON.stringify(body));
  // Only the roles with a phone on their page keep it.
  if (["agent", "senior", "doctor"].includes(body.role)) sessionStorage.setItem(SIP_KEY, password);
  return body;
}

export async function logout() {
  const s = session();
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(SIP_KEY);
  if (s) {
    await fetch("/api/logout", {
      method: "POST",
      headers: { authorization: `Bearer ${s.token}` },
    }).catch(() => {});
  }
  location.replace("/");
}

/** GET a JSON (or, with `raw`, the Response) from the API. */
export async function get(path, { raw = false } = {}) {
  const s = session();
  const r = await fetch(path, { headers: { authorization: `Bearer ${s?.token}` } });
  if (r.status === 401) {
    sessionStorage.removeItem(KEY);
    location.replace("/");
    throw new Error("session expired");
  }
  if (raw) {
    if (!r.ok) throw new Error((await r.json().catch(() => ({}))).error || `HTTP ${r.status}`);
    return r;
  }
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
  return body;
}

/** Sends `body` as JSON with `method`; the answer's JSON, or an error with the server's message. */
export async function send(method, path, body) {
  const s = session();
  const r = await fetch(path, {
    method,
    headers: { authorization: `Bearer ${s?.token}`, "content-type": "application/json" },
    body: JSON.stringify(body ?? {}),
  });
  const answer = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(answer.error || `HTTP ${r.status}`);
  return answer;
}

/**
 * The live WebSocket, reconnecting with `after=` the last event seen so
 * nothing is missed. `onMessage(msg)` gets every message; `onStatus(up)`
 * says whether the socket is open.
 */
export function live(onMessage, onStatus, { feed } = {}) {
  let after = null;
  let delay = 500;
  const open = () => {
    const s = session();
    if (!s) return;
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const q = new URLSearchParams({ token: s.token });
    if (after !== null) q.set("after", after);
    if (feed) q.set("feed", feed);
    const ws = new WebSocket(`${proto}://${location.host}/api/ws?${q}`);
    ws.onopen = () => {
      delay = 500;
      onStatus(true);
    };
    ws.onmessage = (ev) => {
      const msg = JSON.parse(ev.data);
      if (msg.type === "hello" && after === null) after = msg.after;
      if (msg.type === "event") after = msg.seq;
      onMessage(msg, ws);
    };
    ws.onclose = () => {
      onStatus(false);
      // A session that has ended (expired, or logged out elsewhere) goes
      // back to the login page instead of retrying for ever.
      get("/api/session").catch(() => {});
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 10_000);
    };
  };
  open();
}

/** Fetches a CSV export (with the token) and hands it to the browser to save. */
export async function downloadCsv(path, filename) {
  const r = await get(path, { raw: true });
  const url = URL.createObjectURL(await r.blob());
  const a = Object.assign(document.createElement("a"), { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  URL.revokeObjectURL(url);
}

/** Writes the audit chain's status ("verified up to event N") into `node`. */
export async function showAuditStatus(node, t) {
  try {
    const audit = await get("/api/audit/status");
    node.textContent = audit.intact
      ? t("audit_ok", { n: audit.verified_up_to })
      : t("audit_broken", { n: audit.broken_at, reason: audit.reason });
  } catch (e) {
    node.textContent = e.message;
  }
}
