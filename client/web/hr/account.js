// My account: password, log out everywhere. Part of the HR console (console.js).
import { showLogin } from "./auth.js";
import {
  $,
  api,
  can,
  clearBanners,
  i18n,
  renderBanners,
  showDone,
  showError,
  state,
  t,
  whenPermissionsStale,
} from "./core.js";
import { leaveDetail, renderDetail } from "./detail.js";
import { renderList } from "./list.js";
import { monitor } from "./live.js";

// --- my account ----------------------------------------------------------------------------

export function renderPasswordRules() {
  const n = state.me?.password_min_length ?? 12;
  for (const el of document.querySelectorAll(".password-rule")) el.textContent = t("password.rule", { n });
}

export function showPasswordError(map, key, reason = "") {
  const el = $("pw-error");
  state.passwordError = { map, key, reason };
  el.textContent = i18n.message(map, key);
  el.dataset.reason = reason;
  el.hidden = false;
}

$("password-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  clearBanners();
  $("pw-error").hidden = true;
  state.passwordError = null;
  const current = $("pw-current").value;
  const next = $("pw-new").value;
  if (next !== $("pw-repeat").value) {
    showPasswordError(null, "account.mismatch", "mismatch");
    return;
  }
  $("pw-submit").disabled = true;
  const r = await api("POST", "/api/hr/me/password", { current, new: next });
  $("pw-submit").disabled = false;
  if (!r.ok) {
    if (r.status === 401) return;
    showPasswordError(r.body?.message, r.status === 0 ? "error.network" : "error.generic", r.body?.reason || "");
    return;
  }
  $("password-form").reset();
  showDone("done.password_changed");
});

$("logout-all").addEventListener("click", async () => {
  const r = await api("POST", "/api/hr/logout/all", {});
  if (!r.ok && r.status !== 401) {
    showError(r.body, r.status);
    return;
  }
  monitor.stop();
  state.loginError = null;
  leaveDetail();
  showLogin();
});

export async function refreshMe() {
  const r = await api("GET", "/api/hr/me");
  if (r.ok) {
    state.me = r.body;
    renderMe();
  }
}

export function renderMe() {
  $("whoami").textContent = state.me.user;
  $("nav-roles").hidden = !can("role.manage");
  $("nav-users").hidden = !can("user.manage");
  renderPasswordRules();
  $("erase-open").hidden = !can("data.erase");
  // what the user may do shows on the buttons: read again with the permissions
  renderList();
  if (state.detail) renderDetail();
  renderBanners(); // a shown refusal names the roles that hold the permission now
}

// A refusal for a missing permission means the page's permissions are old: read them again.
whenPermissionsStale(refreshMe);
