// The agent's page: their state, and who is calling when their phone rings
// (the `call_offered` screen pop). The full softphone with the identity
// gate and scripts is the desktop agent's (and later the browser phone's).

import { live, logout, requireSession } from "./api.js";
import { t, translate } from "./i18n.js";

const me = requireSession();
translate();
document.getElementById("me").textContent = `${me.name} (${me.extension})`;
document.getElementById("logout").addEventListener("click", logout);

let socket = null;
let current = null;

function showState(state) {
  for (const b of document.querySelectorAll("#states button")) {
    b.setAttribute("aria-pressed", String(b.dataset.state === state));
  }
}

function showCall() {
  const box = document.getElementById("call");
  box.replaceChildren();
  if (!current) {
    box.append(Object.assign(document.createElement("span"), { textContent: t("no_call") }));
    return;
  }
  const line = (text, cls) => Object.assign(document.createElement("p"), { textContent: text, className: cls ?? "" });
  box.append(line(current.caller, "caller"));
  if (current.unknown_caller) box.append(line(t("unknown_caller")));
  for (const p of current.patients) {
    // Only how to address the caller, for the greeting: the rest of the
    // card waits for the identity check in the softphone.
    box.append(line(p.address_as || p.full_name, "patient"));
  }
}

for (const b of document.querySelectorAll("#states button")) {
  b.addEventListener("click", () => socket?.send(JSON.stringify({ type: "state", state: b.dataset.state })));
}

live(
  (msg, ws) => {
    socket = ws;
    if (msg.type === "call_offered") {
      current = msg;
      showCall();
    } else if (msg.type === "event" && msg.kind === "agent_state_changed" && msg.agent === me.extension) {
      showState(msg.data.to);
    } else if (msg.type === "event" && msg.kind === "ended" && current && msg.call_id === current.call_id) {
      current = null;
      showCall();
    } else if (msg.type === "error") {
      document.getElementById("error").textContent = msg.error;
    }
  },
  (up) => {
    const link = document.getElementById("link");
    link.className = up ? "" : "down";
    link.dataset.i18n = up ? "connected" : "disconnected";
    link.textContent = t(link.dataset.i18n);
  },
);
window.addEventListener("careline:lang", showCall);
