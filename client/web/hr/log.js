// Operation logs: an interview's and the organisation's. Part of the HR console (console.js).
import { formatTime } from "/web/shared/i18n.js";
import { REASONS } from "/web/shared/protocol.js";
import { $, act, api, clearBanners, deviceText, i18n, permLabel, roleLabel, showError, state, t } from "./core.js";

// --- operation logs -----------------------------------------------------------------------

export const LOG_COLS = ["time", "actor", "role", "action", "outcome", "ip", "device"];

export function renderLogTable(table, entries) {
  const head = document.createElement("tr");
  for (const col of LOG_COLS) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = t(`col.${col}`);
    head.append(th);
  }
  table.tHead.replaceChildren(head);
  const rows = (entries || []).map((e) => {
    const tr = document.createElement("tr");
    tr.dataset.action = e.action || "";
    tr.dataset.outcome = e.outcome || "";
    for (const col of LOG_COLS) {
      const td = document.createElement("td");
      td.dataset.label = t(`col.${col}`);
      td.textContent = logCell(e, col);
      if (col === "outcome" && e.outcome !== "ok") td.className = "bad";
      tr.append(td);
    }
    return tr;
  });
  if (!rows.length) {
    const tr = document.createElement("tr");
    const td = document.createElement("td");
    td.colSpan = LOG_COLS.length;
    td.className = "muted";
    td.textContent = t("log.empty");
    tr.append(td);
    rows.push(tr);
  }
  table.tBodies[0].replaceChildren(...rows);
}

// Roles and devices in words; the rest as recorded.
function logCell(e, col) {
  if (col === "time") return formatTime(e.t, i18n.lang);
  if (col === "role") return String(e.role ?? "").split(",").filter(Boolean).map(roleLabel).join(t("list.separator"));
  if (col === "device") return deviceText(e.device);
  if (col === "outcome") return outcomeText(e.outcome);
  return String(e[col] ?? "");
}

// "ok", or the refusal's reason code (SPEC §12), in words; a missing permission by its name.
function outcomeText(outcome) {
  if (!outcome || outcome === "ok") return t("log.outcome.ok");
  const [base, detail] = outcome.split(":");
  if (base === "permission_denied" && detail) return t("log.outcome.permission_denied", { perm: permLabel(detail) });
  const known = REASONS[base];
  return known ? known[i18n.lang] || known.en : outcome;
}

export async function loadLog() {
  const body = await act("GET", "/log");
  if (!body) return;
  state.log = { entries: [...body.entries].reverse(), verify: null };
  $("log-panel").hidden = false;
  $("log-verify-result").hidden = true;
  renderLogTable($("log-table"), state.log.entries);
}

export function renderVerify() {
  const el = $("log-verify-result");
  const v = state.log?.verify;
  if (!v) {
    el.hidden = true;
    return;
  }
  el.hidden = false;
  el.dataset.ok = String(v.ok);
  el.className = v.ok ? "done" : "error";
  el.dataset.problem = v.problem || "";
  if (v.ok) el.textContent = t("log.ok", { n: v.entries });
  else if (v.problem === "unanchored") el.textContent = t("log.unanchored", { n: v.entries });
  else if (v.first_bad < 0) el.textContent = t("log.unverified", { reason: v.reason });
  else el.textContent = t("log.bad", { n: v.first_bad, reason: v.reason || v.first_bad_id });
}

$("log-open").addEventListener("click", () => {
  clearBanners();
  loadLog();
});
$("log-close").addEventListener("click", () => {
  $("log-panel").hidden = true;
  $("log-open").focus();
});
$("log-verify").addEventListener("click", async () => {
  const body = await act("GET", "/log/verify");
  if (body && state.log) {
    state.log.verify = body;
    renderVerify();
  }
});

export async function loadOrgLog() {
  const action = $("org-log-action").value.trim();
  const r = await api("GET", `/api/hr/log${action ? `?action=${encodeURIComponent(action)}` : ""}`);
  if (!r.ok) {
    if (r.status !== 401) showError(r.body, r.status);
    state.orgLog = [];
  } else {
    state.orgLog = [...r.body.entries].reverse();
    const actions = new Set(state.orgLog.map((e) => e.action).filter(Boolean));
    $("org-log-actions").replaceChildren(
      ...[...actions].sort().map((a) => Object.assign(document.createElement("option"), { value: a })),
    );
  }
  renderLogTable($("org-log-table"), state.orgLog);
}
$("org-log-refresh").addEventListener("click", loadOrgLog);
$("org-log-action").addEventListener("change", loadOrgLog);
