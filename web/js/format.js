// Numbers as the pages show them.

/** 0.8123 → "81%"; null → "—". */
export function percent(v) {
  return v === null || v === undefined ? "—" : `${Math.round(v * 100)}%`;
}

/** Milliseconds → "m:ss" (or "h:mm:ss"); null → "—". */
export function duration(ms) {
  if (ms === null || ms === undefined) return "—";
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** Epoch ms → the clinic's local "YYYY-MM-DD HH:MM" (offset in ms). */
export function clinicTime(ms, offsetMs) {
  const d = new Date(ms + offsetMs);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}`;
}

/** Epoch ms → the clinic's date "YYYY-MM-DD". */
export function clinicDate(ms, offsetMs) {
  return clinicTime(ms, offsetMs).slice(0, 10);
}

/**
 * "ok", "amber" or "red" for a value against {amber, red}; `higherIsBetter`
 * for the service level.
 */
export function level(v, t, higherIsBetter) {
  if (v === null || v === undefined || !t) return "none";
  if (higherIsBetter) return v < t.red ? "red" : v < t.amber ? "amber" : "ok";
  return v > t.red ? "red" : v > t.amber ? "amber" : "ok";
}
