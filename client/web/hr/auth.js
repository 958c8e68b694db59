// Logging in and out. Part of the HR console (console.js).
import { postJson } from "/web/shared/wire.js";
import { boot } from "./console.js";
import { $, api, i18n, state, whenLoggedOut } from "./core.js";
import { leaveDetail } from "./detail.js";
import { monitor } from "./live.js";
import { forgetWebhookSecret } from "./webhook.js";

// --- login / logout -----------------------------------------------------------------------

export function renderLoginError() {
  const el = $("login-error");
  if (state.loginError) {
    el.textContent = i18n.message(state.loginError.map, state.loginError.key);
    el.hidden = false;
  } else {
    el.hidden = true;
    el.textContent = "";
  }
}

export function showLogin() {
  state.me = null;
  forgetWebhookSecret();
  state.webhook = null; // the next user may be another organisation's
  state.interviewNames.clear();
  $("console-view").hidden = true;
  $("whoami-box").hidden = true;
  $("live-status").hidden = true;
  $("login-view").hidden = false;
  renderLoginError();
  $("login-user").focus();
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const username = $("login-user").value.trim();
  const password = $("login-password").value;
  $("login-submit").disabled = true;
  let result;
  try {
    result = await postJson("/api/hr/login", { username, password });
  } catch {
    result = { ok: false, status: 0, body: {} };
  }
  $("login-submit").disabled = false;
  if (!result.ok) {
    state.loginError = {
      map: result.body?.message,
      key: result.status === 0 ? "error.network" : "error.generic",
    };
    renderLoginError();
    $("login-password").select();
    return;
  }
  state.loginError = null;
  $("login-password").value = "";
  await boot();
});

$("logout").addEventListener("click", async () => {
  await api("POST", "/api/hr/logout", {});
  monitor.stop();
  state.loginError = null;
  leaveDetail();
  showLogin();
});

export function loggedOut(body) {
  if (!state.me) return;
  monitor.stop();
  leaveDetail();
  state.loginError = { map: body?.message, key: "error.generic" };
  showLogin();
}
whenLoggedOut(loggedOut);
