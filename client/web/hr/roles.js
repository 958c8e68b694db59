// The roles page: role and user editors, retention, how reports show the organisation. Part of the HR console (console.js).
import { refreshMe } from "./account.js";
import { $, api, can, permLabel, roleLabel, showDone, showError, state, t } from "./core.js";
import { loadAccounts } from "./users.js";
import { loadWebhook } from "./webhook.js";

// --- how reports show the organisation ----------------------------------------------------

export async function loadOrgProfile() {
  const form = $("org-profile-form");
  form.hidden = !can("user.manage");
  if (form.hidden) return;
  // disabled until the stored values are in: what someone types first is not overwritten
  const fields = form.querySelectorAll("input, button");
  for (const field of fields) field.disabled = true;
  const r = await api("GET", "/api/hr/org");
  if (r.ok) {
    $("org-display-name").value = r.body.display_name;
    $("org-time-zone").value = r.body.time_zone;
    $("org-report-auto").checked = r.body.report_auto;
    $("org-contact-name").value = r.body.hr_contact.name;
    $("org-contact-phone").value = r.body.hr_contact.phone;
    $("org-contact-email").value = r.body.hr_contact.email;
  }
  for (const field of fields) field.disabled = false;
}

$("org-profile-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const r = await api("PUT", "/api/hr/org", {
    display_name: $("org-display-name").value.trim(),
    time_zone: $("org-time-zone").value.trim(),
    report_auto: $("org-report-auto").checked,
    hr_contact_name: $("org-contact-name").value.trim(),
    hr_contact_phone: $("org-contact-phone").value.trim(),
    hr_contact_email: $("org-contact-email").value.trim(),
  });
  if (!r.ok) {
    if (r.status !== 401) showError(r.body, r.status);
    return;
  }
  $("org-time-zone").value = r.body.time_zone;
  showDone("done.org_profile");
});

$("retention-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const days = Number($("retention-days").value);
  const r = await api("PUT", "/api/hr/retention", { days });
  if (!r.ok) {
    if (r.status !== 401) showError(r.body, r.status);
    return;
  }
  $("retention-days").value = String(r.body.retention_days);
  showDone("done.retention", { days: r.body.retention_days });
});

export async function loadRetention() {
  const form = $("retention-form");
  form.hidden = !can("data.erase");
  if (form.hidden) return;
  const r = await api("GET", "/api/hr/retention");
  if (r.ok) $("retention-days").value = String(r.body.retention_days);
}

export async function loadRoles() {
  loadRetention();
  loadOrgProfile();
  loadWebhook();
  const [roles, users] = await Promise.all([api("GET", "/api/hr/roles"), api("GET", "/api/hr/users")]);
  if (!roles.ok) {
    if (roles.status !== 401) showError(roles.body, roles.status);
    return;
  }
  takeRoles(roles.body);
  state.users = users.ok ? users.body.users : [];
  renderRoles();
}

export function takeRoles(body) {
  state.roles = body.roles;
  state.permissionNames = body.permissions;
  state.roleNames = body.role_names;
}

export function checkbox(attrs, checked, label) {
  const input = document.createElement("input");
  input.type = "checkbox";
  input.checked = checked;
  for (const [k, v] of Object.entries(attrs)) input.dataset[k] = v;
  input.setAttribute("aria-label", label);
  return input;
}

// A checkbox of a matrix with its name beside it: a phone shows each row as a card, where
// the column heading is out of sight (console.css), and the name is the finger's target.
function matrixCell(box, name) {
  const label = document.createElement("label");
  label.className = "matrix-cell";
  const text = document.createElement("span");
  text.className = "matrix-name";
  text.textContent = name;
  label.append(box, text);
  return label;
}

export function gridTable(headers) {
  const table = document.createElement("table");
  table.className = "grid matrix";
  const thead = table.createTHead();
  const tr = thead.insertRow();
  for (const h of headers) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = h;
    tr.append(th);
  }
  table.createTBody();
  return table;
}

export function renderRoles() {
  if (!state.roles) return;
  const known = state.roleNames;
  const roleNames = [...known, ...Object.keys(state.roles).filter((r) => !known.includes(r))];
  const permissions = state.permissionNames;
  const table = gridTable([t("col.role"), ...permissions.map(permLabel), ""]);
  for (const role of roleNames) {
    const tr = table.tBodies[0].insertRow();
    tr.dataset.role = role;
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = roleLabel(role);
    tr.append(th);
    for (const perm of permissions) {
      const td = tr.insertCell();
      td.dataset.label = permLabel(perm);
      const label = `${th.textContent}: ${permLabel(perm)}`;
      td.append(matrixCell(checkbox({ role, perm }, (state.roles[role] || []).includes(perm), label), permLabel(perm)));
    }
    const td = tr.insertCell();
    const save = document.createElement("button");
    save.type = "button";
    save.className = "btn";
    save.id = `role-save-${role}`;
    save.dataset.saveRole = role;
    save.textContent = t("roles.save");
    save.setAttribute("aria-label", `${t("roles.save")}: ${th.textContent}`);
    td.append(save);
  }
  const wrap = document.createElement("div");
  wrap.className = "scroll-x";
  wrap.append(table);
  $("roles-table").replaceChildren(wrap);

  const users = gridTable([t("col.user"), ...known.map(roleLabel), ""]);
  for (const u of state.users || []) {
    const tr = users.tBodies[0].insertRow();
    tr.dataset.user = u.name;
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = u.name;
    tr.append(th);
    // one's own roles are another administrator's to change: the server refuses it here
    const own = u.name === state.me?.user;
    for (const role of known) {
      const td = tr.insertCell();
      td.dataset.label = roleLabel(role);
      const box = checkbox({ user: u.name, userRole: role }, u.roles.includes(role), `${u.name}: ${roleLabel(role)}`);
      box.disabled = own;
      td.append(matrixCell(box, roleLabel(role)));
    }
    const td = tr.insertCell();
    if (own) continue;
    const save = document.createElement("button");
    save.type = "button";
    save.className = "btn";
    save.dataset.saveUser = u.name;
    save.textContent = t("roles.save");
    save.setAttribute("aria-label", `${t("roles.save")}: ${u.name}`);
    td.append(save);
  }
  const wrapUsers = document.createElement("div");
  wrapUsers.className = "scroll-x";
  wrapUsers.append(users);
  $("users-table").replaceChildren(wrapUsers);
}

$("roles-view").addEventListener("click", async (event) => {
  const roleButton = event.target.closest("button[data-save-role]");
  if (roleButton) {
    const role = roleButton.dataset.saveRole;
    const perms = [...document.querySelectorAll(`#roles-table input[data-role="${role}"]`)]
      .filter((i) => i.checked)
      .map((i) => i.dataset.perm);
    const r = await api("PUT", `/api/hr/roles/${encodeURIComponent(role)}`, { permissions: perms });
    if (!r.ok) {
      if (r.status !== 401) showError(r.body, r.status);
      return;
    }
    takeRoles(r.body);
    renderRoles();
    showDone("done.role", { role: roleLabel(role) });
    refreshMe();
    return;
  }
  const userButton = event.target.closest("button[data-save-user]");
  if (userButton) {
    const name = userButton.dataset.saveUser;
    const roles = [...document.querySelectorAll("#users-table input[data-user]")]
      .filter((i) => i.dataset.user === name && i.checked)
      .map((i) => i.dataset.userRole);
    const r = await api("PUT", `/api/hr/users/${encodeURIComponent(name)}/roles`, { roles });
    if (!r.ok) {
      if (r.status !== 401) showError(r.body, r.status);
      return;
    }
    showDone("done.user", { user: name });
    await loadRoles();
    refreshMe();
  }
});

$("user-add-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const username = $("user-add-name").value.trim();
  const password = $("user-add-password").value;
  const r = await api("POST", "/api/hr/users", { username, password, roles: [$("user-add-role").value] });
  if (!r.ok) {
    if (r.status !== 401) showError(r.body, r.status);
    return;
  }
  $("user-add-form").reset();
  showDone("done.user_added", { user: username });
  loadAccounts();
});
