// The candidate's file: every interview of one person. Part of the HR console (console.js).
import { formatTime } from "/web/shared/i18n.js";
import { $, api, i18n, ivPath, state, t } from "./core.js";
import { candidateName, progressText, stateBadge } from "./list.js";
import { gridTable } from "./roles.js";
import S from "./strings.js";

// --- the candidate's file -------------------------------------------------------------------

// Every interview of one person in the organisation (docs/assessment.md "The candidate's
// file"), from one of their interviews (#file/<id>) or by the file's id (#profile/<id>, as a
// webhook names it). Read when opened, and again when one of its interviews has an event.

export function filePath(file) {
  if (file.by === "iv") return ivPath(file.id, "/profile");
  return `/api/hr/profiles/${encodeURIComponent(file.id)}`;
}

export async function openFile(by, id) {
  const file = { by, id, data: null, error: "", refusal: null };
  state.file = file;
  renderFile();
  await readFile(file);
}

export async function readFile(file) {
  const r = await api("GET", filePath(file));
  if (state.file !== file || r.status === 401) return;
  if (r.ok) {
    file.data = r.body;
    file.error = "";
  } else if (!file.data) {
    file.error = r.status === 404 ? "not_found" : r.status === 0 ? "network" : "refused";
    file.refusal = r.body?.message;
  }
  renderFile();
}

export let fileTimer = null;
export function scheduleFileRefresh() {
  clearTimeout(fileTimer);
  fileTimer = setTimeout(() => state.file && readFile(state.file), 300);
}

export function leaveFile() {
  state.file = null;
  clearTimeout(fileTimer);
}

export function fileErrorText(file) {
  if (file.error === "not_found") return t("file.not_found");
  if (file.error === "network") return t("error.network");
  return i18n.message(file.refusal, "error.generic");
}

export function renderFile() {
  const file = state.file;
  if (!file) return;
  const back = $("file-back");
  back.href = file.by === "iv" ? `#iv/${encodeURIComponent(file.id)}` : "#list";
  back.textContent = t(file.by === "iv" ? "file.back" : "detail.back");
  const err = $("file-error");
  err.hidden = !file.error;
  err.dataset.reason = file.error;
  err.textContent = file.error ? fileErrorText(file) : "";
  $("file-refresh").hidden = Boolean(file.error);
  const x = file.data;
  $("file-body").hidden = !x;
  $("file-view").dataset.profileId = x?.profile_id || "";
  if (!x) {
    $("file-name").textContent = t(file.error ? "file.unavailable" : "detail.loading");
    return;
  }
  const newest = x.interviews[x.interviews.length - 1] || {};
  const unreadable = (field) => newest.unreadable?.includes(field);
  $("file-name").textContent = candidateName({ candidate: x.candidate, unreadable: newest.unreadable }, "—");
  $("file-phone").textContent = unreadable("phone") ? t("unreadable.name") : x.phone || "—";
  $("file-id-number").textContent = unreadable("id_number") ? t("unreadable.name") : x.id_number || "—";
  $("file-count").textContent = String(x.interviews.length);
  $("file-interviews").replaceChildren(...x.interviews.map((i) => fileInterview(i, x)));
}

export function fileInterview(item, file) {
  const li = document.createElement("li");
  li.className = "file-interview";
  li.dataset.testid = "file-interview";
  li.dataset.id = item.interview_id;
  const here = state.file.by === "iv" && state.file.id === item.interview_id;
  li.dataset.current = String(here);
  const head = document.createElement("div");
  head.className = "file-iv-head";
  const h = document.createElement("h3");
  const link = document.createElement("a");
  link.href = `#iv/${encodeURIComponent(item.interview_id)}`;
  link.dataset.testid = "file-interview-open";
  link.textContent = item.position || t("file.no_position");
  link.setAttribute("aria-label", t("file.open_interview", { position: link.textContent }));
  h.append(link);
  const badge = document.createElement("span");
  stateBadge(badge, item.state);
  badge.dataset.field = "state";
  head.append(h, badge);
  if (here) {
    const mark = document.createElement("span");
    mark.className = "badge file-here";
    mark.textContent = t("file.this_one");
    head.append(mark);
  }
  const facts = document.createElement("p");
  facts.className = "muted small file-iv-facts";
  const created = document.createElement("span");
  created.dataset.field = "created";
  created.textContent = t("file.created", { when: formatTime(item.created_ms, i18n.lang) });
  const progress = document.createElement("span");
  progress.dataset.field = "progress";
  progress.dataset.percent = String(item.progress?.percent ?? 0);
  progress.textContent = t("file.progress", { p: progressText(item.progress) });
  const meter = document.createElement("meter");
  meter.min = 0;
  meter.max = 100;
  meter.value = item.progress?.percent ?? 0;
  meter.setAttribute("aria-hidden", "true");
  facts.append(created, " · ", progress, " ", meter);
  const name = candidateName(item, "");
  if (name && name !== file.candidate) facts.append(" · ", t("file.invited_as", { name }));
  const wrap = document.createElement("div");
  wrap.className = "scroll-x";
  wrap.append(attemptsTable(item));
  li.append(head, facts, wrap);
  return li;
}

export const ATTEMPT_COLS = [
  "file.col.attempt",
  "col.state",
  "file.col.versions",
  "file.col.latest",
  "compare.suggestion",
  "decision.label",
];

export function attemptsTable(item) {
  const table = gridTable(ATTEMPT_COLS.map((key) => t(key)));
  table.className = "grid attempts-table";
  // the current attempt first: what HR acts on
  for (const a of [...item.attempts].reverse()) {
    const tr = table.tBodies[0].insertRow();
    tr.dataset.testid = "file-attempt";
    tr.dataset.attempt = String(a.attempt);
    tr.dataset.current = String(a.current);
    const td = (col, field) => {
      const cellEl = tr.insertCell();
      cellEl.dataset.label = t(col);
      cellEl.dataset.field = field;
      return cellEl;
    };
    td("file.col.attempt", "attempt").textContent = t(
      a.current ? "file.attempt.current" : "file.attempt.earlier",
      { n: a.attempt },
    );
    const st = document.createElement("span");
    stateBadge(st, a.state);
    const stateCell = td("col.state", "attempt-state");
    stateCell.dataset.state = a.state || "";
    stateCell.append(st);
    td("file.col.versions", "versions").textContent = String(a.versions);
    latestReport(td("file.col.latest", "latest"), item.interview_id, a);
    const r = a.latest && !a.latest.unreadable ? a.latest : null;
    const suggestion = td("compare.suggestion", "suggestion");
    if (r?.recommendation && S[`suggest.${r.recommendation}`]) {
      suggestion.textContent = t(`suggest.${r.recommendation}`);
    } else if (r && S[`file.scores.${r.scores_status}`]) {
      suggestion.textContent = t(`file.scores.${r.scores_status}`);
    } else suggestion.textContent = "—";
    const decision = td("decision.label", "decision");
    decision.dataset.decision = r?.decision || "";
    if (!r) decision.textContent = "—";
    else decision.textContent = t(r.decision ? `decision.${r.decision}` : "decision.none");
  }
  return table;
}

// The latest version's outline; the current attempt's opens (report.html reads the
// current attempt's versions: an earlier attempt's are outlined here only)
export function latestReport(td, interviewId, attempt) {
  const r = attempt.latest;
  if (!r) {
    td.textContent = t("report.none");
    td.classList.add("muted");
    return;
  }
  if (r.unreadable) {
    td.textContent = t("file.report_unreadable", { v: r.version });
    td.classList.add("bad");
    return;
  }
  const parts = [t("report.version", { v: r.version }), formatTime(r.generated_ms, i18n.lang)];
  if (S[`file.trigger.${r.trigger}`]) parts.push(t(`file.trigger.${r.trigger}`));
  td.append(parts.filter(Boolean).join(" · "));
  if (attempt.current) {
    const open = document.createElement("a");
    open.href = ivPath(interviewId, `/report.html?version=${r.version}`);
    open.target = "_blank";
    open.rel = "noopener";
    open.dataset.testid = "file-report";
    open.textContent = t("file.open_report");
    td.append(" ", open);
  }
}

$("file-refresh").addEventListener("click", () => state.file && readFile(state.file));
