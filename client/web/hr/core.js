// The console's shared core: strings, state, the HTTP call, banners, dialogs, permissions. Part of the HR console (console.js).
import { makeI18n } from "/web/shared/i18n.js";
import S from "./strings.js";

export const i18n = makeI18n(S);
export const t = (key, vars) => i18n.t(key, vars);
export const $ = (id) => document.getElementById(id);

// The permissions and roles the editors show come from the server (GET /api/hr/roles):
// a list copied here once dropped a permission on every save.

export const state = {
  me: null,
  list: [],
  detail: null, // {id, data, texts: Map q -> folded text, events: [], reports: Set}
  error: null, // {map, key, reason}
  done: null, // {key, vars}
  loginError: null,
  log: null, // {entries, verify}
  orgLog: null,
  roles: null,
  permissionNames: [],
  roleNames: [],
  users: null,
  accounts: null, // the users screen: [{name, roles, disabled, demo, last_login_ms, ...}]
  file: null, // the candidate's file: {by: "iv" | "profile", id, data, error, refusal}
  // the ATS webhook as set, never its secret (that is shown once, in its box, and dropped)
  webhook: null, // {url, events, secret_fingerprint, secret_made_ms, deliveries}
  webhookMessage: null, // {error: {body, status}} or {done: key}
  interviewNames: new Map(), // interview id -> "name · position", for the deliveries
};

// --- HTTP ---------------------------------------------------------------------------------

// Set by auth.js: the core imports no screen, so it is evaluated before any of them.
let onLoggedOut = () => {};
export function whenLoggedOut(handler) {
  onLoggedOut = handler;
}

export async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (method !== "GET") {
    init.headers["X-CSRF"] = "1";
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body ?? {});
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    return { ok: false, status: 0, body: {} };
  }
  let parsed = {};
  try {
    parsed = await response.json();
  } catch {
    parsed = {};
  }
  if (response.status === 401 && state.me) onLoggedOut(parsed);
  return { ok: response.ok, status: response.status, body: parsed };
}

export const ivPath = (id, rest = "") => `/api/hr/interviews/${encodeURIComponent(id)}${rest}`;

// --- messages -----------------------------------------------------------------------------

// Set by account.js: a refusal for a missing permission reads the user's permissions again.
let onPermissionsStale = () => {};
export function whenPermissionsStale(handler) {
  onPermissionsStale = handler;
}

export function showError(body, status) {
  state.done = null;
  if (status === 0) state.error = { map: null, key: "error.network", reason: "network" };
  else state.error = { map: body?.message, key: "error.generic", reason: body?.reason || "" };
  if (state.error.reason.startsWith("permission_denied:")) onPermissionsStale();
  renderBanners();
  $("action-error").scrollIntoView({ block: "nearest" });
}

export function showDone(key, vars = {}) {
  state.error = null;
  state.done = { key, vars };
  renderBanners();
}

export function clearBanners() {
  state.error = null;
  state.done = null;
  renderBanners();
}

export function renderBanners() {
  const err = $("action-error");
  if (state.error) {
    err.textContent = refusalText(state.error);
    err.dataset.reason = state.error.reason;
    err.hidden = false;
  } else {
    err.hidden = true;
    err.textContent = "";
    err.dataset.reason = "";
  }
  const done = $("action-done");
  if (state.done) {
    done.textContent = t(state.done.key, state.done.vars);
    done.hidden = false;
  } else {
    done.hidden = true;
    done.textContent = "";
  }
}
// A refusal in words: a missing permission is named in words with the roles that hold it
// (the hub's text ends in the permission's code, which means nothing to a recruiter).
export function refusalText(error) {
  const [base, perm] = (error.reason || "").split(":");
  if (base === "permission_denied" && perm) return t("perm.denied", { perm: permLabel(perm), ask: askText(perm) });
  return i18n.message(error.map, error.key);
}

// --- actions ------------------------------------------------------------------------------

export function currentId() {
  return state.detail?.id;
}

export async function act(method, rest, body) {
  return actOn(currentId(), method, rest, body);
}

export async function actOn(id, method, rest, body) {
  if (!id) return null;
  const r = await api(method, ivPath(id, rest), body);
  if (!r.ok) {
    if (r.status !== 401) showError(r.body, r.status);
    return null;
  }
  return r.body;
}

export function openDialog(dialog, focus) {
  clearBanners();
  dialog.showModal();
  focus?.focus();
}
// --- roles --------------------------------------------------------------------------------

export function can(permission) {
  return Boolean(state.me?.permissions?.includes(permission));
}

export function roleLabel(role) {
  return S[`role.${role}`] ? t(`role.${role}`) : role;
}

export function permLabel(perm) {
  return S[`perm.${perm}`] ? t(`perm.${perm}`) : perm;
}

// "Ask an administrator; roles that can: 招聘经理, 面试负责人" (GET /api/hr/me names them).
export function askText(perm) {
  const roles = (state.me?.roles_by_permission?.[perm] || []).map(roleLabel);
  if (!roles.length) return t("perm.ask_none");
  return t("perm.ask", { roles: roles.join(t("list.separator")) });
}

// An action this user's roles cannot do is shown unavailable before any form is filled:
// disabled, with who to ask beside it (a note after the control, made once).
export function markPermission(control, perm) {
  const allowed = can(perm);
  control.disabled = !allowed;
  control.dataset.denied = String(!allowed);
  const noteId = `${control.id}-perm`;
  let note = document.getElementById(noteId);
  if (!note) {
    note = document.createElement("span");
    note.id = noteId;
    note.className = "perm-note small muted";
    note.dataset.testid = "perm-note";
    note.dataset.perm = perm;
    control.after(note);
  }
  note.hidden = allowed || control.hidden;
  note.textContent = allowed ? "" : askText(perm);
  if (allowed) control.removeAttribute("aria-describedby");
  else control.setAttribute("aria-describedby", noteId);
  return allowed;
}

// The candidate's device as the candidate's page named it, in the reader's language: the
// page words the kind ("电脑", "phone") in the candidate's language.
const DEVICE_KINDS = [
  ["device.computer", ["电脑", "computer"]],
  ["device.phone", ["手机", "phone"]],
];
export function deviceText(raw) {
  const text = raw || "";
  for (const [key, words] of DEVICE_KINDS) {
    const word = words.find((w) => text.endsWith(` ${w}`));
    if (word) return `${text.slice(0, -word.length)}${t(key)}`;
  }
  return text;
}
