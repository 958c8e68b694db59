// The interview list, search and the create dialog. Part of the HR console (console.js).
import { formatTime } from "/web/shared/i18n.js";
import { grantReentry, openEnd } from "./actions.js";
import { $, act, api, askText, can, deviceText, i18n, markPermission, openDialog, showDone, showError, state, t } from "./core.js";

// --- list ---------------------------------------------------------------------------------

export let listTimer = null;
export function scheduleListRefresh() {
  clearTimeout(listTimer);
  listTimer = setTimeout(loadList, 200);
}

export async function loadList() {
  if (!state.me) return;
  const filter = $("state-filter").value;
  const r = await api("GET", `/api/hr/interviews${filter ? `?state=${filter}` : ""}`);
  if (!r.ok) {
    if (r.status !== 401) showError(r.body, r.status);
    return;
  }
  if (filter !== $("state-filter").value) return; // a newer filter is loading
  state.list = r.body.interviews.sort((a, b) => b.created_ms - a.created_ms);
  renderList();
}

export function cell(tr, field) {
  let td = tr.querySelector(`td[data-col="${field}"]`);
  if (!td) {
    td = document.createElement("td");
    td.dataset.col = field;
    tr.append(td);
  }
  td.dataset.label = t(`col.${field}`);
  return td;
}

export function stateBadge(el, code) {
  el.dataset.state = code || "";
  el.className = `badge state-${code || "none"}`;
  el.textContent = code ? t(`state.${code}`) : "";
}

export function progressText(p) {
  return p ? `${p.answered}/${p.total}` : "";
}

// The candidate's name, or a marker when its sealed record does not open (the rest reads).
export function candidateName(item, fallback) {
  if (item.unreadable?.includes("candidate")) return t("unreadable.name");
  return item.candidate || fallback;
}

// How the candidate's connection stands: connected, interrupted (in progress, nobody
// connected: it waits at the same question, SPEC §8.1) since when, or not connected.
// Returns "on", "interrupted" or "off".
export function showConnection(el, item) {
  const interrupted = !item.connected && item.state === "in_progress" && item.disconnected_ms > 0;
  const kind = item.connected ? "on" : interrupted ? "interrupted" : "off";
  el.dataset.connection = kind;
  el.dataset.connected = String(Boolean(item.connected));
  el.dataset.interruptedSince = interrupted ? String(item.disconnected_ms) : "";
  if (item.connected) el.textContent = t("connected");
  else if (interrupted) el.textContent = t("interrupted_since", { at: formatTime(item.disconnected_ms, i18n.lang) });
  else el.textContent = t("not_connected");
  return kind;
}

export function fillRow(tr, item) {
  const who = cell(tr, "candidate");
  let open = who.querySelector("button");
  if (!open) {
    open = document.createElement("button");
    open.type = "button";
    open.className = "linklike";
    open.dataset.testid = "iv-open";
    who.append(open);
  }
  open.textContent = candidateName(item, item.interview_id);
  open.setAttribute("aria-label", t("open.label", { name: candidateName(item, item.interview_id) }));
  cell(tr, "position").textContent = item.position;

  const stateCell = cell(tr, "state");
  let badge = stateCell.querySelector('[data-field="state"]');
  if (!badge) {
    badge = document.createElement("span");
    stateCell.append(badge);
  }
  stateBadge(badge, item.state);
  badge.dataset.field = "state";
  // what the candidate asked HR for (SPEC §10.9), beside the state until HR answers it
  let help = stateCell.querySelector('[data-field="help"]');
  if (!help) {
    help = document.createElement("span");
    help.dataset.field = "help";
    help.className = "badge help-asked";
    stateCell.append(" ", help);
  }
  const asked = item.help_request?.kind || "";
  help.hidden = !asked;
  help.dataset.kind = asked;
  help.textContent = asked ? t(`help.asked.${asked}`) : "";

  const progCell = cell(tr, "progress");
  let prog = progCell.querySelector('[data-field="progress"]');
  let meter = progCell.querySelector("meter");
  if (!prog) {
    prog = document.createElement("span");
    prog.dataset.field = "progress";
    meter = document.createElement("meter");
    meter.min = 0;
    meter.max = 100;
    meter.setAttribute("aria-hidden", "true");
    progCell.append(prog, " ", meter);
  }
  prog.textContent = progressText(item.progress);
  prog.dataset.percent = String(item.progress?.percent ?? 0);
  meter.value = item.progress?.percent ?? 0;

  const dev = cell(tr, "device");
  dev.replaceChildren();
  const dot = document.createElement("span");
  dot.dataset.field = "connected";
  dot.className = `conn ${showConnection(dot, item)}`;
  const name = document.createElement("span");
  name.className = "device";
  name.dataset.field = "device";
  name.textContent = deviceText(item.device);
  name.title = name.textContent;
  dev.append(dot, name);

  const act = cell(tr, "activity");
  act.dataset.field = "activity";
  act.textContent = formatTime(item.last_activity_ms, i18n.lang);
  const intr = cell(tr, "interruptions");
  intr.dataset.field = "interruptions";
  intr.textContent = interruptionsText(item);
  fillRowActions(cell(tr, "actions"), item);
}

// "disconnected twice, exited once" / "断线 2 次，退出 1 次"; "none" when there were none.
export function interruptionsText(item) {
  const d = item.interruptions?.disconnects ?? 0;
  const e = item.interruptions?.exits ?? 0;
  if (!d && !e) return t("interruptions.none");
  const parts = [];
  if (d) parts.push(t(d === 1 ? "interruptions.disconnect_one" : "interruptions.disconnects", { n: d }));
  if (e) parts.push(t(e === 1 ? "interruptions.exit_one" : "interruptions.exits", { n: e }));
  return parts.join(t("list.separator"));
}

// HR ends an interview, or lets the candidate in again, where it looks: HR's end is possible
// before the interview is over (SPEC §7); a second entry until it is ended or completed.
const ENDABLE = new Set(["invited", "in_progress", "exited"]);
const REENTRY_OFFERED = new Set(["in_progress", "exited"]);

// The end button (the detail's or a row's): after an end it says who ended it and when.
export function fillEndButton(button, item, label) {
  const ended = item.state === "ended";
  button.dataset.ended = String(ended);
  if (ended) {
    button.textContent = item.ended_by
      ? t("end.ended_by", { by: item.ended_by, at: formatTime(item.ended_at_ms, i18n.lang) })
      : t("end.ended");
    button.disabled = true;
    const note = document.getElementById(`${button.id}-perm`);
    if (note) note.hidden = true;
    return;
  }
  button.textContent = label;
  const allowed = button.id ? markPermission(button, "interview.end") : can("interview.end");
  button.disabled = !allowed || !ENDABLE.has(item.state);
}

function rowButton(box, testid, danger) {
  let b = box.querySelector(`[data-testid="${testid}"]`);
  if (!b) {
    b = document.createElement("button");
    b.type = "button";
    b.className = danger ? "btn btn-danger btn-small" : "btn btn-small";
    b.dataset.testid = testid;
    b.dataset.rowAction = "true";
    box.append(b);
  }
  return b;
}

function fillRowActions(td, item) {
  let box = td.querySelector(".row-actions");
  if (!box) {
    box = document.createElement("div");
    box.className = "row-actions";
    td.append(box);
  }
  const name = candidateName(item, item.interview_id);
  const end = rowButton(box, "row-end", true);
  end.hidden = item.erased_ms > 0 || !(ENDABLE.has(item.state) || item.state === "ended");
  fillEndButton(end, item, t("end.row"));
  end.setAttribute("aria-label", `${end.textContent}: ${name}`);
  end.title = end.dataset.ended !== "true" && !can("interview.end") ? askText("interview.end") : "";
  const again = rowButton(box, "row-reentry", false);
  again.hidden = item.erased_ms > 0 || !REENTRY_OFFERED.has(item.state);
  again.textContent = t("reentry.grant");
  again.setAttribute("aria-label", `${t("reentry.grant")}: ${name}`);
  again.disabled = !can("interview.reentry.grant");
  again.title = again.disabled ? askText("interview.reentry.grant") : "";
}

// What a row action needs and the user lacks, said once above the list.
function renderListPermissions() {
  const missing = ["interview.end", "interview.reentry.grant"].filter((p) => !can(p));
  const note = $("list-perm-note");
  note.hidden = !missing.length;
  note.textContent = missing
    .map((p) => `${t(`perm.${p}`)}: ${askText(p)}`)
    .join(" ");
}

export function renderList() {
  const body = $("iv-rows");
  const existing = new Map([...body.children].map((tr) => [tr.dataset.id, tr]));
  const wanted = state.list.map((item) => {
    let tr = existing.get(item.interview_id);
    if (!tr) {
      tr = document.createElement("tr");
      tr.dataset.testid = "iv-row";
      tr.dataset.id = item.interview_id;
      tr.className = "iv-row";
    }
    existing.delete(item.interview_id);
    fillRow(tr, item);
    return tr;
  });
  for (const tr of existing.values()) tr.remove();
  const current = [...body.children];
  if (current.length !== wanted.length || current.some((tr, i) => tr !== wanted[i])) {
    body.append(...wanted); // moves rows into order
  }
  $("list-empty").hidden = state.list.length > 0;
  renderListPermissions();
  markPermission($("create-open"), "interview.create");
}

$("iv-rows").addEventListener("click", (event) => {
  const tr = event.target.closest("tr[data-id]");
  const action = event.target.closest("button[data-row-action]");
  if (tr && action) {
    if (action.dataset.testid === "row-end") openEnd(tr.dataset.id, action);
    else grantReentry(tr.dataset.id);
    return;
  }
  if (tr) location.hash = `#iv/${encodeURIComponent(tr.dataset.id)}`;
});
$("state-filter").addEventListener("change", loadList);
$("list-refresh").addEventListener("click", loadList);
// --- search -------------------------------------------------------------------------------

export async function runSearch(event) {
  event.preventDefault();
  const phrase = $("search-input").value.trim();
  const list = $("search-results");
  list.replaceChildren();
  $("search-empty").hidden = true;
  if (!phrase) return;
  const r = await api("GET", `/api/hr/search?q=${encodeURIComponent(phrase)}`);
  if (!r.ok) {
    showError(r.body, r.status);
    return;
  }
  for (const hit of r.body.hits || []) {
    const li = document.createElement("li");
    li.dataset.testid = "search-hit";
    li.dataset.id = hit.interview_id;
    li.dataset.q = String(hit.q);
    li.dataset.source = hit.source;
    const link = document.createElement("a");
    link.href = `#iv/${encodeURIComponent(hit.interview_id)}`;
    link.textContent = `${hit.candidate || hit.interview_id} · ${hit.position} · ${t("question", { n: hit.q + 1 })}`;
    const where = document.createElement("span");
    where.className = "muted";
    where.textContent = ` (${t(`search.source.${hit.source}`)}) `;
    const excerpt = document.createElement("q");
    excerpt.textContent = hit.excerpt;
    li.append(link, where, excerpt);
    list.append(li);
  }
  $("search-empty").hidden = (r.body.hits || []).length > 0;
}
$("search-form").addEventListener("submit", runSearch);

// --- create -------------------------------------------------------------------------------

// One question per line: "text | 120 | pressure | points: a; b"; after the text, in any
// order, a time limit in seconds, the pressure mark and the expected points (the
// assessment's input, docs/assessment.md). A line without bars is just the text.
export const PRESSURE_MARKS = new Set(["pressure", "压力题", "压力"]);
export const POINTS_PREFIX = /^(?:points|expected|要点)\s*[:：]\s*/i;

export function parseQuestions(text) {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [first, ...options] = line.split("|").map((part) => part.trim());
      const question = { text: first || line };
      for (const option of options) {
        if (/^\d+$/.test(option)) question.time_limit_s = Number(option);
        else if (PRESSURE_MARKS.has(option.toLowerCase())) question.pressure = true;
        else if (POINTS_PREFIX.test(option)) {
          question.expected_points = option
            .replace(POINTS_PREFIX, "")
            .split(/[;；]/)
            .map((p) => p.trim())
            .filter(Boolean);
        } else question.text += ` | ${option}`; // a bar that is part of the question
      }
      return question;
    });
}

export function showCreateError(map, key) {
  const el = $("create-error");
  state.createError = { map, key };
  el.textContent = i18n.message(map, key);
  el.hidden = false;
}

$("create-open").addEventListener("click", () => {
  $("create-error").hidden = true;
  state.createError = null;
  openDialog($("create-dialog"), $("create-name"));
});
$("create-cancel").addEventListener("click", () => $("create-dialog").close());
$("create-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = $("create-name").value.trim();
  const idNumber = $("create-id-number").value.trim();
  const phone = $("create-phone").value.trim();
  const email = $("create-email").value.trim();
  const position = $("create-position").value.trim();
  const questions = parseQuestions($("create-questions").value);
  if (!name || !position || !questions.length || (!idNumber && !phone)) {
    showCreateError(null, "create.missing");
    return;
  }
  const candidate = { name, lang: $("create-lang").value };
  if (idNumber) candidate.id_number = idNumber;
  if (phone) candidate.phone = phone;
  if (email) candidate.email = email;
  const body = {
    candidate,
    position,
    questions,
    policy: { second_entry: $("create-second-entry").checked },
  };
  $("create-submit").disabled = true;
  const r = await api("POST", "/api/hr/interviews", body);
  $("create-submit").disabled = false;
  if (!r.ok) {
    if (r.status === 401) return;
    showCreateError(r.body?.message, r.status === 0 ? "error.network" : "error.generic");
    showError(r.body, r.status);
    return;
  }
  $("create-dialog").close();
  $("create-form").reset();
  state.createError = null;
  showDone("done.created", { link: r.body.link });
  $("action-done").dataset.interviewId = r.body.interview_id;
  loadList();
  $("create-open").focus();
});
