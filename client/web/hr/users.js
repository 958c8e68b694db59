// The users screen: accounts. Part of the HR console (console.js).
import { formatTime } from "/web/shared/i18n.js";
import { $, api, clearBanners, i18n, openDialog, roleLabel, showDone, showError, state, t } from "./core.js";
import { gridTable } from "./roles.js";

// --- users: accounts ------------------------------------------------------------------------

export async function loadAccounts() {
  const r = await api("GET", "/api/hr/users");
  if (!r.ok) {
    if (r.status !== 401) showError(r.body, r.status);
    return;
  }
  state.accounts = r.body.users;
  renderAccounts();
}

export function actionButton(text, attrs, danger = false) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = danger ? "btn btn-danger" : "btn";
  button.textContent = text;
  for (const [k, v] of Object.entries(attrs)) button.dataset[k] = v;
  return button;
}

export function renderAccounts() {
  if (!state.accounts) return;
  const table = gridTable([
    t("col.user"),
    t("col.roles"),
    t("col.state"),
    t("col.last_login"),
    t("col.actions"),
  ]);
  table.className = "grid accounts";
  for (const u of state.accounts) {
    const tr = table.tBodies[0].insertRow();
    tr.dataset.account = u.name;
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = u.name === state.me?.user ? `${u.name} (${t("users.you")})` : u.name;
    tr.append(th);
    const roles = tr.insertCell();
    roles.dataset.label = t("col.roles");
    roles.textContent = u.roles.map(roleLabel).join(", ");
    const stateCell = tr.insertCell();
    stateCell.dataset.label = t("col.state");
    const badge = document.createElement("span");
    const code = u.disabled ? "disabled" : "active";
    badge.className = `badge state-${code}`;
    badge.dataset.field = "account-state";
    badge.dataset.state = code;
    badge.textContent = t(`account.state.${code}`);
    stateCell.append(badge);
    if (u.demo) {
      const demo = document.createElement("span");
      demo.className = "badge state-demo";
      demo.dataset.field = "demo";
      demo.textContent = t("users.demo");
      stateCell.append(demo);
    }
    const last = tr.insertCell();
    last.dataset.label = t("col.last_login");
    last.textContent = u.last_login_ms ? formatTime(u.last_login_ms, i18n.lang) : t("never");
    const actions = tr.insertCell();
    actions.dataset.label = t("col.actions");
    if (u.name !== state.me?.user) {
      // one's own account is changed under "My account"; the server refuses it here anyway
      const box = document.createElement("div");
      box.className = "account-actions";
      const toggle = actionButton(t(u.disabled ? "users.enable" : "users.disable"), {
        accountToggle: u.name,
        disable: String(!u.disabled),
      });
      const reset = actionButton(t("users.reset"), { accountReset: u.name });
      const del = actionButton(t("users.delete"), { accountDelete: u.name }, true);
      for (const b of [toggle, reset, del]) b.setAttribute("aria-label", `${b.textContent} ${u.name}`);
      box.append(toggle, reset, del);
      actions.append(box);
    }
  }
  const wrap = document.createElement("div");
  wrap.className = "scroll-x";
  wrap.append(table);
  $("accounts-table").replaceChildren(wrap);
}

export const userPath = (name, rest = "") => `/api/hr/users/${encodeURIComponent(name)}${rest}`;
export let accountTarget = "";

$("accounts-table").addEventListener("click", async (event) => {
  const toggle = event.target.closest("button[data-account-toggle]");
  if (toggle) {
    const name = toggle.dataset.accountToggle;
    const disable = toggle.dataset.disable === "true";
    clearBanners();
    toggle.disabled = true;
    const r = await api("POST", userPath(name, disable ? "/disable" : "/enable"), {});
    toggle.disabled = false;
    if (!r.ok) {
      if (r.status !== 401) showError(r.body, r.status);
      return;
    }
    state.accounts = r.body.users;
    renderAccounts();
    showDone(disable ? "done.user_disabled" : "done.user_enabled", { user: name });
    return;
  }
  const reset = event.target.closest("button[data-account-reset]");
  if (reset) {
    accountTarget = reset.dataset.accountReset;
    $("user-reset-text").textContent = t("users.reset_text", { user: accountTarget });
    $("user-reset-password").value = "";
    $("user-reset-error").hidden = true;
    openDialog($("user-reset-dialog"), $("user-reset-password"));
    return;
  }
  const del = event.target.closest("button[data-account-delete]");
  if (del) {
    accountTarget = del.dataset.accountDelete;
    $("user-delete-text").textContent = t("users.delete_text", { user: accountTarget });
    openDialog($("user-delete-dialog"), $("user-delete-cancel")); // the safe choice first
  }
});

$("user-delete-cancel").addEventListener("click", () => $("user-delete-dialog").close());
$("user-delete-confirm").addEventListener("click", async () => {
  const name = accountTarget;
  const button = $("user-delete-confirm");
  button.disabled = true;
  const r = await api("DELETE", userPath(name), { confirm: true });
  button.disabled = false;
  $("user-delete-dialog").close();
  if (!r.ok) {
    if (r.status !== 401) showError(r.body, r.status);
    return;
  }
  state.accounts = r.body.users;
  renderAccounts();
  showDone("done.user_deleted", { user: name });
});

$("user-reset-cancel").addEventListener("click", () => $("user-reset-dialog").close());
$("user-reset-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = accountTarget;
  const button = $("user-reset-confirm");
  button.disabled = true;
  const r = await api("POST", userPath(name, "/password"), {
    password: $("user-reset-password").value,
  });
  button.disabled = false;
  if (!r.ok) {
    if (r.status === 401) return;
    const el = $("user-reset-error");
    el.textContent = i18n.message(r.body?.message, r.status === 0 ? "error.network" : "error.generic");
    el.dataset.reason = r.body?.reason || "";
    el.hidden = false;
    return;
  }
  $("user-reset-password").value = "";
  $("user-reset-dialog").close();
  state.accounts = r.body.users;
  renderAccounts();
  showDone("done.password_reset", { user: name });
});
