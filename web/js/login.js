import { login, session } from "./api.js";
import { translate } from "./i18n.js";

translate();

/** Where each role goes after signing in. */
function home(role) {
  return role === "supervisor" ? "/dashboard" : "/agent";
}

const s = session();
if (s) location.replace(home(s.role));

document.getElementById("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = new FormData(ev.target);
  const error = document.getElementById("error");
  error.textContent = "";
  try {
    const who = await login(form.get("extension").trim(), form.get("password"));
    location.replace(home(who.role));
  } catch (e) {
    error.textContent = e.message;
  }
});
