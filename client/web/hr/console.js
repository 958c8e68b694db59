// The HR live console (served at /hr). Plain ES module, no inline script (strict CSP).
//
// Stable hooks (ids and data attributes the tests rely on):
//   login        #login-user #login-password #login-submit #login-error; logged in: #whoami,
//                #logout; language: #lang-select; connection: #live-status[data-status=
//                live|reconnecting|offline]
//   navigation   #nav-list #nav-compare #nav-log #nav-roles (hidden without role.manage)
//                #nav-users (hidden without user.manage) #nav-account; routes are hashes:
//                #list, #iv/<id>, #file/<interview id>, #profile/<profile_id>,
//                #compare[/<position>], #log, #roles, #users, #account
//   search       #search-form (#search-input, #search-submit) → #search-results >
//                li[data-testid=search-hit][data-id][data-q][data-source=text|transcript]
//                (a link to the interview), #search-empty
//   transcript   in an answer: [data-testid=transcript][data-status=none|pending|done|failed]
//                with [data-testid=transcript-status]; when done [data-testid=
//                transcript-segment][data-start-ms] buttons that seek the recording
//                ([data-testid=recording]) to their start, and [data-testid=transcript-facts]
//   list         #state-filter, #list-refresh, #create-open; rows
//                [data-testid=iv-row][data-id=<id>] with [data-field=state][data-state]
//                (translated label), [data-field=progress][data-percent] ("1/3"),
//                [data-field=device], [data-field=activity], [data-field=interruptions];
//                the row's button [data-testid=iv-open] (or a click on the row) opens it
//   detail       #detail[data-id], #detail-state[data-state], #detail-progress[data-percent],
//                answers [data-testid=answer][data-q=<q>] > [data-testid=answer-text] (the
//                folded text) and [data-testid=answer-status][data-status]; live events
//                #events > li[data-kind=<kind>] NEWEST FIRST (a takeover is
//                li[data-kind=joined][data-took-over=true])
//   actions      #end-open → #end-dialog (#end-note, #end-confirm, #end-cancel);
//                #reset-open → #reset-dialog (#reset-confirm, #reset-cancel);
//                #erase-open → #erase-dialog (#erase-confirm, #erase-cancel), shown with data.erase;
//                roles page: #retention-form (#retention-days, #retention-save),
//                #org-profile-form (#org-display-name, #org-time-zone, #org-report-auto,
//                #org-profile-save);
//                #reentry-row: #reentry-window (hours), #reentry-grant, #reentry-revoke;
//                on an erased interview #end-open, #reset-open, #link-resend and
//                #reentry-row are hidden and #detail-erased-box shows #detail-erased
//                [data-files=pending|rewritten|not_persisted|failed|""];
//                #link-resend → the new link in #link-value (#link-output);
//                #report-generate, #report-auto (the interview's automatic report),
//                #report-open (latest report.html, new tab),
//                #report-versions > li[data-version] with JSON, printable and
//                a[data-format=pdf] links; #review-box (a report and report.generate):
//                #review-form (#review-dimension, #review-score, #review-reason,
//                #review-save), #decision-form (#decision-value, #decision-comment,
//                #decision-save), #compare-position (this position's comparison);
//                #log-open → #log-panel, #log-table, #log-verify → #log-verify-result[data-ok]
//   create       #create-open → #create-dialog: #create-name #create-id-number #create-phone
//                #create-email #create-lang #create-position #create-questions (one per
//                line, "text | seconds | pressure | points: a; b") #create-second-entry
//                #create-submit #create-cancel #create-error
//   messages     refusals: #action-error (role=alert, data-reason); successes: #action-done
//   file         the detail's #file-open (hidden on an erased interview) → #file-view
//                [data-profile-id]: #file-name, #file-phone, #file-id-number, #file-count,
//                #file-refresh, #file-back, #file-error[data-reason=not_found|network|refused];
//                interviews #file-interviews > li[data-testid=file-interview][data-id]
//                [data-current=true on the one opened from] with a[data-testid=
//                file-interview-open] (its detail), [data-field=state][data-state],
//                [data-field=created], [data-field=progress][data-percent]; attempts
//                tr[data-testid=file-attempt][data-attempt][data-current] with
//                [data-field=attempt-state][data-state], [data-field=versions],
//                [data-field=latest] (a[data-testid=file-report]: the current attempt's
//                latest report.html), [data-field=suggestion], [data-field=decision]
//                [data-decision]
//   webhook      roles page, with user.manage: #webhook-section: #webhook-status[data-set],
//                #webhook-form (#webhook-url, #webhook-event-report, #webhook-event-decision,
//                #webhook-save, #webhook-error[data-reason], #webhook-done), #webhook-rotate →
//                #webhook-rotate-dialog (#webhook-rotate-confirm, #webhook-rotate-cancel),
//                #webhook-remove → #webhook-remove-dialog (#webhook-remove-confirm,
//                #webhook-remove-cancel); a new secret, once: #webhook-secret-box
//                (#webhook-secret, #webhook-secret-copy, #webhook-secret-hide);
//                #webhook-fingerprint, #webhook-secret-made, #webhook-refresh; deliveries
//                #webhook-deliveries tr[data-testid=webhook-delivery][data-id][data-kind]
//                [data-state=queued|retrying|sent|failed] with a[data-testid=
//                webhook-delivery-interview]; #webhook-deliveries-empty
//   compare      #compare-view: #compare-position-input, #compare-sort, #compare-state,
//                #compare-decision, #compare-load; rows #compare-table
//                tr[data-testid=compare-row][data-id=<id>] with [data-field=overall],
//                [data-field=decision]; #compare-empty
//   org log      #org-log-view, #org-log-action, #org-log-refresh, #org-log-table
//   roles        #roles-view; permission boxes input[data-role=<role>][data-perm=<perm>]
//                (one per permission the server names in GET /api/hr/roles, never a list
//                of our own), #role-save-<role>; users: input[data-user=<name>]
//                [data-user-role=<role>], button[data-save-user=<name>]
//   users        #users-view; rows tr[data-account=<name>] with [data-field=account-state]
//                [data-state=active|disabled], [data-field=demo] on demo accounts;
//                buttons [data-account-toggle=<name>] (disable / enable),
//                [data-account-reset=<name>] → #user-reset-dialog (#user-reset-password,
//                #user-reset-confirm, #user-reset-cancel, #user-reset-error),
//                [data-account-delete=<name>] → #user-delete-dialog (#user-delete-confirm,
//                #user-delete-cancel); add: #user-add-name #user-add-password
//                #user-add-role #user-add-submit
//   account      #account-view: #pw-current #pw-new #pw-repeat #pw-submit #pw-error;
//                #logout-all (every session of mine ends, this one too)
//   debug        window.__consoleDebug.dropSocket(hold) closes the monitor socket; it
//                reconnects with backoff, or with hold=true only on resumeSocket()
import { bindLangSelect, formatTime, makeI18n } from "/web/shared/i18n.js";
import { foldText } from "/web/shared/answers.js";
import { postJson } from "/web/shared/wire.js";
import S from "./strings.js";
import { Monitor } from "./monitor.js";

const i18n = makeI18n(S);
const t = (key, vars) => i18n.t(key, vars);
const $ = (id) => document.getElementById(id);

// The permissions and roles the editors show come from the server (GET /api/hr/roles):
// a list copied here once dropped a permission on every save.

const state = {
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

async function api(method, path, body) {
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
  if (response.status === 401 && state.me) loggedOut(parsed);
  return { ok: response.ok, status: response.status, body: parsed };
}

const ivPath = (id, rest = "") => `/api/hr/interviews/${encodeURIComponent(id)}${rest}`;

// --- messages -----------------------------------------------------------------------------

function showError(body, status) {
  state.done = null;
  if (status === 0) state.error = { map: null, key: "error.network", reason: "network" };
  else state.error = { map: body?.message, key: "error.generic", reason: body?.reason || "" };
  renderBanners();
  $("action-error").scrollIntoView({ block: "nearest" });
}

function showDone(key, vars = {}) {
  state.error = null;
  state.done = { key, vars };
  renderBanners();
}

function clearBanners() {
  state.error = null;
  state.done = null;
  renderBanners();
}

function renderBanners() {
  const err = $("action-error");
  if (state.error) {
    err.textContent = i18n.message(state.error.map, state.error.key);
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

// --- login / logout -----------------------------------------------------------------------

function renderLoginError() {
  const el = $("login-error");
  if (state.loginError) {
    el.textContent = i18n.message(state.loginError.map, state.loginError.key);
    el.hidden = false;
  } else {
    el.hidden = true;
    el.textContent = "";
  }
}

function showLogin() {
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

function loggedOut(body) {
  if (!state.me) return;
  monitor.stop();
  leaveDetail();
  state.loginError = { map: body?.message, key: "error.generic" };
  showLogin();
}

// --- the monitor --------------------------------------------------------------------------

const monitor = new Monitor({
  onStatus: renderStatus,
  onReady(msg, again) {
    if (state.me) state.me.permissions = msg.permissions;
    if (again) {
      // whatever happened while away that the organisation watch cannot replay
      scheduleListRefresh();
      if (state.detail) scheduleDetailRefresh();
    }
  },
  onFinal(refused) {
    loggedOut(refused || {});
  },
  onFact: onFact,
});

let liveStatus = "offline";
function renderStatus(status) {
  liveStatus = status;
  const el = $("live-status");
  el.dataset.status = status;
  $("live-status-text").textContent = t(`status.${status}`);
  el.setAttribute("aria-label", `${t("status.label")}: ${t(`status.${status}`)}`);
}

// The candidate's camera, live: the newest JPEG frame, and the audio level of each second.
let liveFrameUrl = "";
function onLiveMedia(msg) {
  if (msg.kind === "jpeg") {
    const img = $("live-frame");
    const url = URL.createObjectURL(new Blob([msg.data], { type: "image/jpeg" }));
    img.src = url;
    img.hidden = false;
    img.dataset.frames = String(Number(img.dataset.frames || 0) + 1);
    if (liveFrameUrl) URL.revokeObjectURL(liveFrameUrl);
    liveFrameUrl = url;
    $("media-note").hidden = true;
  } else if (msg.kind === "pcm16k") {
    $("live-level").value = msg.level;
    $("live-level").dataset.level = String(msg.level);
  }
}

function onFact(msg) {
  const d = state.detail;
  switch (msg.type) {
    case "event":
      if (msg.watch === "") {
        scheduleListRefresh();
        if (state.file?.data?.interviews.some((i) => i.interview_id === msg.interview_id)) {
          scheduleFileRefresh();
        }
        if (msg.kind === "report_ready") expectDelivery();
      } else if (d && msg.watch === d.id) onDetailEvent(msg);
      break;
    case "chunk":
      if (d && msg.interview_id === d.id && typeof msg.data === "string") {
        const q = msg.q;
        d.texts.set(q, foldText([d.texts.get(q) ?? "", msg.data]));
        renderAnswerText(q);
      }
      break;
    case "media":
      if (d && msg.interview_id === d.id) onLiveMedia(msg);
      break;
    case "watching":
      if (d && msg.interview_id === d.id && msg.summary && d.data) {
        const { answers, ...rest } = msg.summary;
        Object.assign(d.data, rest);
        if (Array.isArray(answers)) d.data.answers = answers;
        renderDetail();
      }
      break;
    case "behind":
      showDone("error.behind");
      if (msg.interview_id === "") loadList();
      else if (d && msg.interview_id === d.id) openDetail(d.id);
      break;
    case "refused":
      showError(msg, 400);
      break;
    default:
      break;
  }
}

// --- list ---------------------------------------------------------------------------------

let listTimer = null;
function scheduleListRefresh() {
  clearTimeout(listTimer);
  listTimer = setTimeout(loadList, 200);
}

async function loadList() {
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

function cell(tr, field) {
  let td = tr.querySelector(`td[data-col="${field}"]`);
  if (!td) {
    td = document.createElement("td");
    td.dataset.col = field;
    tr.append(td);
  }
  td.dataset.label = t(`col.${field}`);
  return td;
}

function stateBadge(el, code) {
  el.dataset.state = code || "";
  el.className = `badge state-${code || "none"}`;
  el.textContent = code ? t(`state.${code}`) : "";
}

function progressText(p) {
  return p ? `${p.answered}/${p.total}` : "";
}

// The candidate's name, or a marker when its sealed record does not open (the rest reads).
function candidateName(item, fallback) {
  if (item.unreadable?.includes("candidate")) return t("unreadable.name");
  return item.candidate || fallback;
}

// How the candidate's connection stands: connected, interrupted (in progress, nobody
// connected: it waits at the same question, SPEC §8.1) since when, or not connected.
// Returns "on", "interrupted" or "off".
function showConnection(el, item) {
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

function fillRow(tr, item) {
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
  name.textContent = item.device || "";
  name.title = item.device || "";
  dev.append(dot, name);

  const act = cell(tr, "activity");
  act.dataset.field = "activity";
  act.textContent = formatTime(item.last_activity_ms, i18n.lang);
  const intr = cell(tr, "interruptions");
  intr.dataset.field = "interruptions";
  intr.textContent = t("interruptions", {
    d: item.interruptions?.disconnects ?? 0,
    e: item.interruptions?.exits ?? 0,
  });
}

function renderList() {
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
}

$("iv-rows").addEventListener("click", (event) => {
  const tr = event.target.closest("tr[data-id]");
  if (tr) location.hash = `#iv/${encodeURIComponent(tr.dataset.id)}`;
});
$("state-filter").addEventListener("change", loadList);
$("list-refresh").addEventListener("click", loadList);

// --- detail -------------------------------------------------------------------------------

function leaveDetail() {
  if (state.detail) monitor.unwatch(state.detail.id);
  state.detail = null;
  clearTimeout(detailTimer);
}

async function openDetail(id) {
  if (state.detail) monitor.unwatch(state.detail.id);
  const d = { id, data: null, texts: new Map(), events: [], reports: new Set() };
  state.detail = d;
  $("live-frame").hidden = true; // another interview: no picture until its first frame
  $("live-frame").dataset.frames = "0";
  $("live-level").value = 0;
  $("media-note").hidden = false;
  state.log = null;
  const view = $("detail");
  view.dataset.id = id;
  $("file-open").href = `#file/${encodeURIComponent(id)}`;
  $("detail-name").textContent = t("detail.loading");
  stateBadge($("detail-state"), "");
  $("answers").replaceChildren();
  $("events").replaceChildren();
  $("link-output").hidden = true;
  $("log-panel").hidden = true;
  renderReports();
  const r = await api("GET", ivPath(id));
  if (state.detail !== d) return;
  if (!r.ok) {
    if (r.status !== 401) showError(r.body, r.status);
    return;
  }
  d.data = r.body;
  renderDetail();
  monitor.watch(id, "0", "0"); // every event and chunk from the start, then live
}

let detailTimer = null;
const TRANSCRIPT_POLL_MS = 3000; // how often a detail with a pending transcript is read again
const FILES_POLL_MS = 3000; // how often an erased interview's "pending" rewrite is looked at
function scheduleDetailRefresh() {
  clearTimeout(detailTimer);
  detailTimer = setTimeout(refreshDetail, 200);
}

async function refreshDetail() {
  const d = state.detail;
  if (!d) return;
  const r = await api("GET", ivPath(d.id));
  if (state.detail !== d || !r.ok) return;
  d.data = r.body;
  renderDetail();
}

const STATE_AFTER = {
  joined: "in_progress",
  exited: "exited",
  completed: "completed",
  ended: "ended",
  expired: "expired",
  reset: "invited",
};

function onDetailEvent(msg) {
  const d = state.detail;
  d.events.push(msg);
  if (d.events.length > 300) d.events.shift();
  if (msg.kind === "report_ready" && msg.data?.version) d.reports.add(msg.data.version);
  if (msg.kind === "reset") {
    // a new attempt: the answers and reports shown so far belong to the one before
    d.texts.clear();
    d.reports.clear();
  }
  if (d.data && STATE_AFTER[msg.kind]) d.data.state = STATE_AFTER[msg.kind];
  if (d.data?.progress && msg.data?.progress) d.data.progress = msg.data.progress;
  prependEvent(msg);
  if (d.data) renderDetail();
  renderReports();
  scheduleDetailRefresh();
}

function eventLabel(e) {
  const data = e.data || {};
  const vars = {
    by: data.by || "HR",
    n: (data.q ?? 0) + 1,
    status: t(`answer.status.${data.status ?? ""}`),
    version: data.version ?? "",
    // media: the state, and why when it is off (failed, stopped by the candidate's device)
    state: [data.state, data.reason].filter(Boolean).join(" · "),
  };
  if (e.kind === "joined" && data.took_over) return t("event.taken_over", vars);
  const key = `event.${e.kind}`;
  return S[key] ? t(key, vars) : e.kind;
}

function eventExtras(e) {
  const data = e.data || {};
  const out = [];
  if (e.kind === "joined" && data.mode && S[`event.mode.${data.mode}`]) out.push(t(`event.mode.${data.mode}`));
  if ((e.kind === "joined" || e.kind === "disconnected") && data.device) {
    out.push(t("event.device", { device: data.device }));
  }
  // a lost connection is not an exit: it can be resumed until then
  if (e.kind === "disconnected" && data.resumable_until_ms) {
    out.push(t("event.resumable_until", { until: untilText(data.resumable_until_ms) }));
  }
  if (e.kind === "expired" && data.why === "interrupted") out.push(t("event.expired.interrupted"));
  if (e.kind === "ended" && data.note) out.push(t("event.note", { note: data.note }));
  if (e.kind === "consent" && data.review) {
    out.push(t(`detail.consent.${data.review}`), t(`detail.consent.camera_${data.camera}`));
  }
  if (data.progress) out.push(progressText(data.progress));
  return out.join(" · ");
}

function eventItem(e) {
  const li = document.createElement("li");
  li.dataset.kind = e.kind;
  li.dataset.id = e.id;
  if (e.kind === "joined" && e.data?.took_over) li.dataset.tookOver = "true";
  const time = document.createElement("time");
  time.dateTime = new Date(e.t).toISOString();
  time.textContent = new Date(e.t).toLocaleTimeString(i18n.lang);
  const label = document.createElement("span");
  label.className = "ev-label";
  label.textContent = eventLabel(e);
  li.append(time, " ", label);
  const extra = eventExtras(e);
  if (extra) {
    const small = document.createElement("span");
    small.className = "ev-extra";
    small.textContent = extra;
    li.append(" ", small);
  }
  return li;
}

function prependEvent(e) {
  const list = $("events");
  list.prepend(eventItem(e));
  while (list.children.length > 300) list.lastElementChild.remove();
}

function renderEvents() {
  const d = state.detail;
  if (!d) return;
  $("events").replaceChildren(...[...d.events].reverse().map(eventItem));
}

function answerText(q) {
  const d = state.detail;
  if (d.texts.has(q)) return d.texts.get(q);
  const a = d.data?.answers?.find((x) => x.q === q);
  return a?.text ?? "";
}

function renderAnswerText(q) {
  const el = document.querySelector(`#answers [data-q="${q}"] [data-testid="answer-text"]`);
  if (el) el.textContent = answerText(q);
}

function renderAnswers() {
  const d = state.detail;
  const box = $("answers");
  for (const a of d.data.answers || []) {
    let art = box.querySelector(`[data-q="${a.q}"]`);
    if (!art) {
      art = document.createElement("article");
      art.className = "answer";
      art.dataset.testid = "answer";
      art.dataset.q = String(a.q);
      const h = document.createElement("h4");
      const status = document.createElement("span");
      status.className = "answer-status";
      status.dataset.testid = "answer-status";
      const text = document.createElement("div");
      text.className = "answer-text";
      text.dataset.testid = "answer-text";
      text.setAttribute("aria-live", "off");
      const unreadable = document.createElement("p");
      unreadable.className = "answer-unreadable";
      unreadable.dataset.testid = "answer-unreadable";
      art.append(h, status, unreadable, text);
      box.append(art);
    }
    const question = typeof a.question === "string" ? a.question : (a.question?.text ?? "");
    art.querySelector("h4").textContent = `${t("question", { n: a.q + 1 })}: ${question}`;
    const status = art.querySelector(".answer-status");
    status.dataset.status = a.status || "";
    status.textContent = t(`answer.status.${a.status || ""}`);
    const text = art.querySelector(".answer-text");
    text.dataset.empty = t("answer.empty");
    text.textContent = answerText(a.q);
    const unreadable = art.querySelector(".answer-unreadable");
    unreadable.hidden = !a.unreadable;
    unreadable.textContent = a.unreadable ? t("answer.unreadable", { n: a.unreadable_chunks }) : "";
    renderRecording(art, a);
    renderTranscript(art, a);
  }
  if ((d.data.answers || []).some((a) => a.transcript === "pending")) {
    // made by a worker, no live event: the detail is read again until it is there
    clearTimeout(detailTimer);
    detailTimer = setTimeout(refreshDetail, TRANSCRIPT_POLL_MS);
  }
  for (const art of [...box.children]) {
    if (Number(art.dataset.q) >= (d.data.answers || []).length) art.remove();
  }
}

// An answer's camera and microphone: played here from the hub's WebM, or downloaded.
function renderRecording(art, a) {
  const media = a.media || { frames: 0, audio_s: 0 };
  let box = art.querySelector(".answer-media");
  if (!media.frames && !media.audio_s) {
    if (box) box.remove();
    return;
  }
  const url = `/api/hr/interviews/${encodeURIComponent(state.detail.id)}/answers/${a.q}/recording.webm`;
  if (!box) {
    box = document.createElement("div");
    box.className = "answer-media";
    const play = document.createElement("button");
    play.type = "button";
    play.dataset.testid = "recording-open";
    play.addEventListener("click", () => {
      let video = box.querySelector("video");
      if (!video) {
        video = document.createElement("video");
        video.controls = true;
        video.dataset.testid = "recording";
        box.append(video);
      }
      video.src = `${url}?t=${Date.now()}`; // what is stored now
    });
    const download = document.createElement("a");
    download.dataset.testid = "recording-download";
    box.append(play, " ", download);
    art.append(box);
  }
  const play = box.querySelector("button");
  play.textContent = t("recording.play", { frames: media.frames, seconds: Math.round(media.audio_s) });
  const download = box.querySelector("a");
  download.href = url;
  download.download = `${state.detail.id}-q${a.q + 1}.webm`;
  download.textContent = t("recording.download");
}

// The recording's video element, made (and loaded) on demand.
function recordingVideo(art) {
  const box = art.querySelector(".answer-media");
  if (!box) return null;
  let video = box.querySelector("video");
  if (!video) box.querySelector("button").click(); // opens it with what is stored now
  video = box.querySelector("video");
  return video;
}

function seekRecording(art, ms) {
  const video = recordingVideo(art);
  if (!video) return;
  const go = () => {
    video.currentTime = ms / 1000;
    video.play().catch(() => {}); // a browser may refuse to play unasked: the seek stays
  };
  if (video.readyState >= 1) go();
  else video.addEventListener("loadedmetadata", go, { once: true });
  video.scrollIntoView({ block: "nearest" });
}

function clock(ms) {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

// A spoken answer's transcript (made off the hot path, server/transcribe.py): its state,
// and once done its segments, each a button that plays the recording from there.
function renderTranscript(art, a) {
  const status = a.transcript || "none";
  let box = art.querySelector(".answer-transcript");
  if (status === "none" && !box) return;
  if (!box) {
    box = document.createElement("div");
    box.className = "answer-transcript";
    box.dataset.testid = "transcript";
    const line = document.createElement("p");
    line.className = "transcript-status muted";
    line.dataset.testid = "transcript-status";
    const facts = document.createElement("p");
    facts.className = "transcript-facts muted";
    facts.dataset.testid = "transcript-facts";
    const segments = document.createElement("div");
    segments.className = "transcript-segments";
    box.append(line, segments, facts);
    art.append(box);
  }
  const before = box.dataset.status;
  box.dataset.status = status;
  const line = box.querySelector(".transcript-status");
  line.textContent = t(`transcript.status.${status}`, { reason: a.transcript_reason || "" });
  if (status !== "done") {
    box.querySelector(".transcript-segments").replaceChildren(); // e.g. after a reset
    box.querySelector(".transcript-facts").textContent = "";
    return;
  }
  if (before === "done") return;
  const id = state.detail.id;
  api("GET", ivPath(id, `/answers/${a.q}/transcript`)).then((r) => {
    if (!r.ok || state.detail?.id !== id) return;
    const record = r.body;
    const segments = box.querySelector(".transcript-segments");
    segments.replaceChildren();
    if (record.unreadable) {
      line.textContent = t("transcript.unreadable");
      return;
    }
    for (const seg of record.segments || []) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "transcript-segment";
      b.dataset.testid = "transcript-segment";
      b.dataset.startMs = String(seg.start_ms);
      const at = document.createElement("span");
      at.className = "transcript-time";
      at.textContent = clock(seg.start_ms);
      b.append(at, " ", seg.text);
      b.title = t("transcript.seek", { at: clock(seg.start_ms) });
      const offset = record.recording_offset_ms || 0; // the recording may start before the sound
      b.addEventListener("click", () => seekRecording(art, offset + seg.start_ms));
      segments.append(b);
    }
    line.textContent = t("transcript.heading", { model: record.model || record.engine || "" });
    box.querySelector(".transcript-facts").textContent = t("transcript.facts", {
      speech: Math.round((record.speech_ms || 0) / 1000),
      audio: Math.round((record.audio_ms || 0) / 1000),
      pauses: (record.pauses || []).length,
      min: ((record.pause_min_ms || 700) / 1000).toFixed(1),
    });
  });
}

// --- search -------------------------------------------------------------------------------

async function runSearch(event) {
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

function untilText(ms) {
  return formatTime(ms, i18n.lang);
}

// The candidate's choices after the notice (docs/privacy.md): plainly, in the chosen language.
function renderConsent(consent) {
  const note = $("media-note"); // no picture will come without the camera consent
  note.dataset.i18n = consent?.camera === "off" ? "detail.media.camera_off" : "detail.media.none";
  note.textContent = t(note.dataset.i18n);
  const box = $("detail-consent");
  box.dataset.review = consent?.review || "";
  box.dataset.camera = consent?.camera || "";
  if (!consent?.review) {
    box.textContent = t("detail.consent.none");
    return;
  }
  box.textContent = [
    t(`detail.consent.${consent.review}`),
    t(`detail.consent.camera_${consent.camera}`),
    t("detail.consent.at", { at: formatTime(consent.consent_ms, i18n.lang) }),
  ].join(" · ");
}

function renderDetail() {
  const d = state.detail;
  if (!d || !d.data) return;
  const x = d.data;
  $("detail").dataset.id = d.id;
  $("detail-name").textContent = candidateName(x, d.id);
  $("detail-position").textContent = x.position || "";
  stateBadge($("detail-state"), x.state);
  const prog = $("detail-progress");
  prog.textContent = progressText(x.progress);
  prog.dataset.percent = String(x.progress?.percent ?? 0);
  $("detail-meter").value = x.progress?.percent ?? 0;
  showConnection($("detail-connected"), x);
  $("detail-device").textContent = x.device || "";
  $("detail-activity").textContent = formatTime(x.last_activity_ms, i18n.lang);
  $("detail-interruptions").textContent = t("interruptions", {
    d: x.interruptions?.disconnects ?? 0,
    e: x.interruptions?.exits ?? 0,
  });
  $("report-auto").checked = x.report_auto !== false;
  $("report-auto").disabled = !can("report.generate");
  const second = $("detail-second-entry");
  second.dataset.allowed = String(Boolean(x.second_entry));
  if (!x.second_entry) second.textContent = t("detail.second_entry.no");
  else if (x.reentry_until_ms) second.textContent = t("detail.second_entry.yes", { until: untilText(x.reentry_until_ms) });
  else second.textContent = t("detail.second_entry.yes_open");
  renderConsent(x.consent);
  const next = x.next || {};
  let nextText = "";
  if (next.action === "start") nextText = t("next.start", { until: untilText(next.until_ms) });
  else if (next.action === "continue") {
    nextText = next.until_ms ? t("next.continue_until", { until: untilText(next.until_ms) }) : t("next.continue");
  } else if (next.action === "reenter") nextText = t("next.reenter", { until: untilText(next.until_ms) });
  else if (next.action) nextText = t(`next.${next.action}`);
  $("detail-next").textContent = nextText;
  $("detail-attempt").textContent = x.attempts ? `${x.attempt}/${x.attempts}` : String(x.attempt ?? "");
  $("detail-contact").textContent = [x.phone, x.id_number].filter(Boolean).join(" · ");
  // an erased interview can only be read (and erased again): the server refuses the rest
  const erased = Boolean(x.erased_ms);
  for (const id of ["end-open", "reset-open", "link-resend", "reentry-row"]) $(id).hidden = erased;
  // an erased interview has left the candidate's file (and forgotten whose it was)
  $("file-open").hidden = erased;
  $("file-open").href = `#file/${encodeURIComponent(d.id)}`;
  renderErased(x);
  renderAnswers();
}

const FILES_STATES = ["pending", "rewritten", "not_persisted", "failed"];

// After an erasure: when, and whether Redis' files were rewritten without it yet (the
// rewrite may outlast the request: while it is "pending" the detail is read again)
function renderErased(x) {
  $("detail-erased-box").hidden = !x.erased_ms;
  if (!x.erased_ms) return;
  const raw = x.files || "";
  const files = FILES_STATES.find((s) => raw === s || raw.startsWith(`${s}:`)) || "";
  const el = $("detail-erased");
  el.dataset.files = files;
  el.textContent = t("erased.at", { when: formatTime(x.erased_ms, i18n.lang), files: t(`files.${files}`) });
  if (files === "pending") {
    clearTimeout(detailTimer);
    detailTimer = setTimeout(refreshDetail, FILES_POLL_MS);
  }
}

function renderReports() {
  const d = state.detail;
  const list = $("report-versions");
  const open = $("report-open");
  const versions = d ? [...d.reports].sort((a, b) => b - a) : [];
  // a person reviews a report: there must be one, and they need report.generate
  $("review-box").hidden = !versions.length || !can("report.generate");
  if (d?.data?.position) {
    $("compare-position").href = `#compare/${encodeURIComponent(d.data.position)}`;
  }
  if (!versions.length) {
    const li = document.createElement("li");
    li.className = "muted";
    li.textContent = t("report.none");
    list.replaceChildren(li);
    open.setAttribute("aria-disabled", "true");
    open.setAttribute("href", "#");
    open.classList.add("disabled");
    return;
  }
  open.setAttribute("aria-disabled", "false");
  open.classList.remove("disabled");
  open.setAttribute("href", ivPath(d.id, "/report.html"));
  list.replaceChildren(
    ...versions.map((v) => {
      const li = document.createElement("li");
      li.dataset.version = String(v);
      const name = document.createElement("span");
      name.textContent = t("report.version", { v });
      const json = document.createElement("a");
      json.href = ivPath(d.id, `/report?version=${v}`);
      json.target = "_blank";
      json.rel = "noopener";
      json.textContent = t("report.json");
      json.dataset.format = "json";
      const html = document.createElement("a");
      html.href = ivPath(d.id, `/report.html?version=${v}`);
      html.target = "_blank";
      html.rel = "noopener";
      html.textContent = t("report.html");
      html.dataset.format = "html";
      const pdf = document.createElement("a");
      pdf.href = ivPath(d.id, `/report.pdf?version=${v}`);
      pdf.textContent = t("report.pdf");
      pdf.dataset.format = "pdf";
      li.append(name, " ", json, " ", html, " ", pdf);
      return li;
    }),
  );
}

// --- the candidate's file -------------------------------------------------------------------

// Every interview of one person in the organisation (docs/assessment.md "The candidate's
// file"), from one of their interviews (#file/<id>) or by the file's id (#profile/<id>, as a
// webhook names it). Read when opened, and again when one of its interviews has an event.

function filePath(file) {
  if (file.by === "iv") return ivPath(file.id, "/profile");
  return `/api/hr/profiles/${encodeURIComponent(file.id)}`;
}

async function openFile(by, id) {
  const file = { by, id, data: null, error: "", refusal: null };
  state.file = file;
  renderFile();
  await readFile(file);
}

async function readFile(file) {
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

let fileTimer = null;
function scheduleFileRefresh() {
  clearTimeout(fileTimer);
  fileTimer = setTimeout(() => state.file && readFile(state.file), 300);
}

function leaveFile() {
  state.file = null;
  clearTimeout(fileTimer);
}

function fileErrorText(file) {
  if (file.error === "not_found") return t("file.not_found");
  if (file.error === "network") return t("error.network");
  return i18n.message(file.refusal, "error.generic");
}

function renderFile() {
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

function fileInterview(item, file) {
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

const ATTEMPT_COLS = [
  "file.col.attempt",
  "col.state",
  "file.col.versions",
  "file.col.latest",
  "compare.suggestion",
  "decision.label",
];

function attemptsTable(item) {
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
function latestReport(td, interviewId, attempt) {
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

// --- actions ------------------------------------------------------------------------------

function currentId() {
  return state.detail?.id;
}

async function act(method, rest, body) {
  const id = currentId();
  if (!id) return null;
  const r = await api(method, ivPath(id, rest), body);
  if (!r.ok) {
    if (r.status !== 401) showError(r.body, r.status);
    return null;
  }
  return r.body;
}

function openDialog(dialog, focus) {
  clearBanners();
  dialog.showModal();
  focus?.focus();
}

$("end-open").addEventListener("click", () => {
  $("end-note").value = "";
  openDialog($("end-dialog"), $("end-note"));
});
$("end-cancel").addEventListener("click", () => $("end-dialog").close());
$("end-confirm").addEventListener("click", async () => {
  const button = $("end-confirm");
  button.disabled = true;
  const body = await act("POST", "/end", { confirm: true, note: $("end-note").value });
  button.disabled = false;
  $("end-dialog").close();
  if (body) {
    if (state.detail?.data) {
      state.detail.data.state = body.state;
      state.detail.data.progress = body.progress;
      renderDetail();
    }
    showDone("done.ended");
    scheduleDetailRefresh();
  }
  $("end-open").focus();
});

$("erase-open").addEventListener("click", () => openDialog($("erase-dialog"), $("erase-cancel")));
$("erase-cancel").addEventListener("click", () => $("erase-dialog").close());
$("erase-confirm").addEventListener("click", async () => {
  const button = $("erase-confirm");
  button.disabled = true;
  const body = await act("POST", "/erase", { confirm: true });
  button.disabled = false;
  $("erase-dialog").close();
  if (body) {
    showDone(body.files === "pending" ? "done.erased_pending" : "done.erased");
    scheduleDetailRefresh();
  }
  $("erase-open").focus();
});

// --- a person's review: an override with its reason, a decision ----------------------------

async function saveReview(rest, body) {
  const made = await act("POST", rest, body);
  if (!made) return;
  state.detail?.reports.add(made.version);
  renderReports();
  showDone("done.review", { v: made.version });
}

$("report-auto").addEventListener("change", async () => {
  const box = $("report-auto");
  const done = await act("PUT", "/report_auto", { on: box.checked });
  if (!done) {
    box.checked = !box.checked; // refused: show what is true
    return;
  }
  if (state.detail?.data) state.detail.data.report_auto = done.report_auto;
  showDone(done.report_auto ? "done.report_auto_on" : "done.report_auto_off");
});

$("review-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const raw = $("review-score").value.trim();
  const score = Number(raw);
  const reason = $("review-reason").value.trim();
  if (!raw || !Number.isInteger(score) || score < 0 || score > 100 || !reason) {
    state.done = null;
    state.error = { map: null, key: "review.reason_missing", reason: "" };
    renderBanners();
    return;
  }
  await saveReview("/report/override", { dimension: $("review-dimension").value, score, reason });
  $("review-reason").value = "";
});

$("decision-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const comment = $("decision-comment").value.trim();
  await saveReview("/report/decision", { decision: $("decision-value").value, comment });
  $("decision-comment").value = "";
});

// --- a position's candidates side by side -------------------------------------------------

const DIMENSIONS = ["language_expression", "logical_thinking", "emotional_stability"];

function scoreCell(d) {
  const td = document.createElement("td");
  if (!d || d.machine === null) {
    td.textContent = t(d?.status === "no_report" ? "compare.no_report" : "compare.insufficient");
    td.className = "muted";
  } else {
    td.textContent = `${d.machine} ${t("compare.machine")}`;
  }
  if (d && d.override !== null) {
    const person = document.createElement("strong");
    person.textContent = ` · ${d.override} ${t("compare.person")}`;
    td.append(person);
  }
  if (d?.quote) {
    const quote = document.createElement("q");
    quote.className = "small muted quote";
    quote.textContent = d.quote;
    td.append(document.createElement("br"), quote);
  }
  return td;
}

async function loadCompare() {
  const position = $("compare-position-input").value.trim();
  const list = await api("GET", "/api/hr/interviews");
  if (list.ok) {
    const positions = [...new Set(list.body.interviews.map((i) => i.position))].sort();
    $("compare-positions").replaceChildren(
      ...positions.map((p) => Object.assign(document.createElement("option"), { value: p })),
    );
  }
  const head = document.createElement("tr");
  for (const key of ["col.candidate", "col.state", ...DIMENSIONS.map((d) => `dim.${d}`),
    "compare.overall", "compare.suggestion", "decision.label"]) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = t(key);
    head.append(th);
  }
  $("compare-table").tHead.replaceChildren(head);
  if (!position) {
    $("compare-table").tBodies[0].replaceChildren();
    return;
  }
  const query = new URLSearchParams({
    position,
    sort: $("compare-sort").value,
    state: $("compare-state").value,
    decision: $("compare-decision").value,
  });
  const r = await api("GET", `/api/hr/compare?${query}`);
  if (!r.ok) {
    if (r.status !== 401) showError(r.body, r.status);
    return;
  }
  const rows = r.body.candidates.map((c) => {
    const tr = document.createElement("tr");
    tr.dataset.testid = "compare-row";
    tr.dataset.id = c.interview_id;
    const name = document.createElement("td");
    const link = document.createElement("a");
    link.href = `#iv/${encodeURIComponent(c.interview_id)}`;
    link.textContent = c.candidate || "—";
    name.append(link);
    const st = document.createElement("td");
    st.textContent = t(`state.${c.state}`);
    const overall = document.createElement("td");
    overall.dataset.field = "overall";
    overall.textContent = c.effective.overall ?? "—";
    const suggestion = document.createElement("td");
    suggestion.textContent = c.recommendation ? t(`suggest.${c.recommendation}`) : "—";
    const decision = document.createElement("td");
    decision.dataset.field = "decision";
    decision.textContent = c.decision ? t(`decision.${c.decision.decision}`) : t("decision.none");
    if (c.decision?.comment) decision.title = c.decision.comment;
    tr.append(name, st, ...DIMENSIONS.map((d) => scoreCell(c.dimensions[d])), overall, suggestion, decision);
    return tr;
  });
  $("compare-table").tBodies[0].replaceChildren(...rows);
  $("compare-empty").hidden = rows.length > 0;
}

$("compare-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const position = $("compare-position-input").value.trim();
  const target = `#compare/${encodeURIComponent(position)}`;
  if (location.hash === target) loadCompare();
  else location.hash = target;
});
for (const id of ["compare-sort", "compare-state", "compare-decision"]) {
  $(id).addEventListener("change", loadCompare);
}

// --- how reports show the organisation ----------------------------------------------------

async function loadOrgProfile() {
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
  }
  for (const field of fields) field.disabled = false;
}

$("org-profile-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const r = await api("PUT", "/api/hr/org", {
    display_name: $("org-display-name").value.trim(),
    time_zone: $("org-time-zone").value.trim(),
    report_auto: $("org-report-auto").checked,
  });
  if (!r.ok) {
    if (r.status !== 401) showError(r.body, r.status);
    return;
  }
  $("org-time-zone").value = r.body.time_zone;
  showDone("done.org_profile");
});

// --- the organisation's ATS webhook (user.manage) -------------------------------------------

// The signing secret comes in the one answer that made it (the first save, a rotation) and
// is put in its box only: never in `state`, storage or a later render. Deliveries are read
// when the page opens, after a report is announced on the organisation's events (until the
// new delivery is listed), and every few seconds while one is waiting or retrying.

const WEBHOOK_EVENTS = [
  ["report.ready", "webhook-event-report"],
  ["decision.made", "webhook-event-decision"],
];
const WEBHOOK_POLL_MS = 3000; // how often waiting deliveries are looked at again
// the hub's reasons for a refused address ("bad_field:<why>", server/webhooks.py), in words
const WEBHOOK_PROBLEMS = [
  ["inside the hub's network", "webhook.why.inside"],
  ["must use https", "webhook.why.https"],
  ["credentials", "webhook.why.credentials"],
  ["http(s)", "webhook.why.scheme"],
  ["does not resolve", "webhook.why.resolve"],
  ["does not parse", "webhook.why.parse"],
  ["longer than", "webhook.why.long"],
  ["events must be", "webhook.why.events"],
];

let webhookTimer = null;
let webhookWatch = null;

function webhookShown() {
  return !$("roles-view").hidden && !$("webhook-section").hidden;
}

async function loadWebhook() {
  const section = $("webhook-section");
  section.hidden = !can("user.manage");
  if (section.hidden) return;
  // disabled until the stored values are in: what someone types first is not overwritten
  const fields = $("webhook-form").querySelectorAll("input, button");
  for (const field of fields) field.disabled = true;
  const r = await api("GET", "/api/hr/org/webhook");
  for (const field of fields) field.disabled = false;
  if (!r.ok) {
    if (r.status !== 401) setWebhookMessage({ error: { body: r.body, status: r.status } });
    return;
  }
  takeWebhook(r.body, true);
}

async function refreshWebhook() {
  if (!webhookShown()) return;
  const r = await api("GET", "/api/hr/org/webhook");
  if (r.ok && webhookShown()) takeWebhook(r.body, false);
}

// A new report was announced: its delivery is queued just after; read until it is listed.
function expectDelivery() {
  if (!webhookShown() || !state.webhook?.url) return;
  const before = state.webhook.deliveries[0]?.id || "";
  let delay = 300;
  let tries = 0;
  clearTimeout(webhookWatch);
  const again = async () => {
    await refreshWebhook();
    if ((state.webhook?.deliveries[0]?.id || "") === before && ++tries < 6) {
      delay *= 2;
      webhookWatch = setTimeout(again, delay);
    }
  };
  webhookWatch = setTimeout(again, delay);
}

function takeWebhook(body, fillForm) {
  const { url, events, secret_fingerprint, secret_made_ms, deliveries } = body;
  state.webhook = { url, events, secret_fingerprint, secret_made_ms, deliveries };
  if (fillForm) {
    $("webhook-url").value = url;
    for (const [event, id] of WEBHOOK_EVENTS) $(id).checked = !url || events.includes(event);
  }
  loadInterviewNames(deliveries);
  renderWebhook();
  clearTimeout(webhookTimer);
  if (deliveries.some((d) => d.state === "queued" || d.state === "retrying")) {
    webhookTimer = setTimeout(refreshWebhook, WEBHOOK_POLL_MS);
  }
}

// The deliveries name interviews by id: shown as the candidate and position where known.
async function loadInterviewNames(deliveries) {
  if (deliveries.every((d) => !d.interview_id || state.interviewNames.has(d.interview_id))) return;
  const r = await api("GET", "/api/hr/interviews");
  if (!r.ok) return;
  for (const i of r.body.interviews) {
    state.interviewNames.set(i.interview_id, `${candidateName(i, "—")} · ${i.position}`);
  }
  renderWebhook();
}

function setWebhookMessage(message) {
  state.webhookMessage = message;
  renderWebhookMessage();
}

function webhookRefusal({ body, status }) {
  if (status === 0) return t("error.network");
  const reason = body?.reason || "";
  if (reason === "bad_field" || reason.startsWith("bad_field:")) {
    const detail = reason.slice("bad_field:".length);
    const known = WEBHOOK_PROBLEMS.find(([needle]) => detail.includes(needle));
    // the hub's detail (English, with the host) after the words for it
    let why = known ? t(known[1]) : t("webhook.why.invalid");
    if (detail) why += ` (${detail})`;
    return t("webhook.refused", { why });
  }
  return i18n.message(body?.message, "error.generic");
}

function renderWebhookMessage() {
  const m = state.webhookMessage;
  const err = $("webhook-error");
  const done = $("webhook-done");
  err.hidden = !m?.error;
  err.dataset.reason = m?.error?.body?.reason || (m?.error?.key ? "client" : "");
  err.textContent = !m?.error ? "" : m.error.key ? t(m.error.key) : webhookRefusal(m.error);
  done.hidden = !m?.done;
  done.textContent = m?.done ? t(m.done) : "";
}

function renderWebhook() {
  const w = state.webhook;
  if (!w) return;
  const status = $("webhook-status");
  status.dataset.set = String(Boolean(w.url));
  const events = w.events.map((e) => t(`webhook.event.${e}`)).join(", ");
  status.textContent = w.url ? t("webhook.on", { url: withoutQuery(w.url), events }) : t("webhook.off");
  $("webhook-rotate").hidden = !w.url;
  $("webhook-remove").hidden = !w.url;
  $("webhook-fingerprint").textContent = w.secret_fingerprint || "—";
  $("webhook-secret-made").textContent = w.secret_made_ms ? formatTime(w.secret_made_ms, i18n.lang) : "—";
  renderWebhookMessage();
  renderDeliveries(w.deliveries);
}

// The address without its query (a key may be in it), as the hub's log shows it.
function withoutQuery(url) {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return url;
  }
}

const DELIVERY_COLS = [
  "webhook.col.event",
  "webhook.col.interview",
  "col.state",
  "webhook.col.attempts",
  "webhook.col.error",
  "webhook.col.queued",
  "webhook.col.sent",
];

function renderDeliveries(deliveries) {
  const table = $("webhook-deliveries");
  const head = document.createElement("tr");
  for (const key of DELIVERY_COLS) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = t(key);
    head.append(th);
  }
  table.tHead.replaceChildren(head);
  const rows = deliveries.map((d) => {
    const tr = document.createElement("tr");
    tr.dataset.testid = "webhook-delivery";
    tr.dataset.id = d.id;
    tr.dataset.kind = d.kind;
    tr.dataset.state = d.state;
    const td = (key) => {
      const cellEl = tr.insertCell();
      cellEl.dataset.label = t(key);
      return cellEl;
    };
    td("webhook.col.event").textContent = S[`webhook.kind.${d.kind}`] ? t(`webhook.kind.${d.kind}`) : "—";
    const which = td("webhook.col.interview");
    if (d.interview_id) {
      const link = document.createElement("a");
      link.href = `#iv/${encodeURIComponent(d.interview_id)}`;
      link.dataset.testid = "webhook-delivery-interview";
      link.textContent =
        state.interviewNames.get(d.interview_id) || t("webhook.interview", { id: d.interview_id.slice(0, 8) });
      which.append(link);
    }
    const st = td("col.state");
    st.textContent = S[`webhook.state.${d.state}`] ? t(`webhook.state.${d.state}`) : "—";
    if (d.state === "failed" || d.state === "retrying") st.className = "bad";
    td("webhook.col.attempts").textContent = String(d.attempts);
    td("webhook.col.error").textContent = d.last_error || "";
    td("webhook.col.queued").textContent = formatTime(d.queued_ms, i18n.lang);
    td("webhook.col.sent").textContent = d.sent_ms ? formatTime(d.sent_ms, i18n.lang) : "—";
    return tr;
  });
  table.tBodies[0].replaceChildren(...rows);
  $("webhook-deliveries-empty").hidden = rows.length > 0;
}

function showWebhookSecret(secret) {
  $("webhook-secret").value = secret;
  $("webhook-secret-copied").hidden = true;
  $("webhook-secret-box").hidden = false;
  $("webhook-secret-box").scrollIntoView({ block: "nearest" });
  $("webhook-secret").focus();
  $("webhook-secret").select();
}

function forgetWebhookSecret() {
  $("webhook-secret").value = "";
  $("webhook-secret-box").hidden = true;
  $("webhook-secret-copied").hidden = true;
}

function webhookButtons(disabled) {
  for (const id of ["webhook-save", "webhook-rotate", "webhook-remove"]) $(id).disabled = disabled;
}

async function putWebhook(body, doneKey) {
  clearBanners();
  setWebhookMessage(null);
  webhookButtons(true);
  const r = await api("PUT", "/api/hr/org/webhook", body);
  webhookButtons(false);
  if (!r.ok) {
    if (r.status !== 401) setWebhookMessage({ error: { body: r.body, status: r.status } });
    return;
  }
  const { secret, ...config } = r.body;
  takeWebhook(config, true);
  setWebhookMessage({ done: doneKey });
  if (secret) showWebhookSecret(secret);
}

$("webhook-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const url = $("webhook-url").value.trim();
  const events = WEBHOOK_EVENTS.filter(([, id]) => $(id).checked).map(([e]) => e);
  if (!url || !events.length) {
    setWebhookMessage({ error: { key: url ? "webhook.events_missing" : "webhook.url_missing" } });
    (url ? $("webhook-event-report") : $("webhook-url")).focus();
    return;
  }
  await putWebhook({ url, events }, "done.webhook_saved");
});

$("webhook-rotate").addEventListener("click", () => {
  openDialog($("webhook-rotate-dialog"), $("webhook-rotate-cancel")); // the safe choice first
});
$("webhook-rotate-cancel").addEventListener("click", () => $("webhook-rotate-dialog").close());
$("webhook-rotate-confirm").addEventListener("click", async () => {
  $("webhook-rotate-dialog").close();
  const w = state.webhook;
  if (!w?.url) return;
  // the address as stored, not what may be half typed in the field
  await putWebhook({ url: w.url, events: w.events, rotate_secret: true }, "done.webhook_rotated");
});

$("webhook-remove").addEventListener("click", () => {
  openDialog($("webhook-remove-dialog"), $("webhook-remove-cancel"));
});
$("webhook-remove-cancel").addEventListener("click", () => $("webhook-remove-dialog").close());
$("webhook-remove-confirm").addEventListener("click", async () => {
  $("webhook-remove-dialog").close();
  setWebhookMessage(null);
  webhookButtons(true);
  const r = await api("DELETE", "/api/hr/org/webhook", {});
  webhookButtons(false);
  if (!r.ok) {
    if (r.status !== 401) setWebhookMessage({ error: { body: r.body, status: r.status } });
    return;
  }
  forgetWebhookSecret();
  takeWebhook(r.body, true);
  setWebhookMessage({ done: "done.webhook_removed" });
});

$("webhook-secret-copy").addEventListener("click", async () => {
  const input = $("webhook-secret");
  let copied = false;
  try {
    await navigator.clipboard.writeText(input.value);
    copied = true;
  } catch {
    input.select(); // a browser without clipboard access: the person copies it
    copied = document.execCommand?.("copy") ?? false;
  }
  const note = $("webhook-secret-copied");
  note.textContent = t(copied ? "webhook.copied" : "webhook.copy_failed");
  note.className = copied ? "done small" : "error small";
  note.hidden = false;
});
$("webhook-secret-hide").addEventListener("click", () => {
  forgetWebhookSecret();
  $("webhook-url").focus();
});
$("webhook-refresh").addEventListener("click", refreshWebhook);

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

$("reset-open").addEventListener("click", () => openDialog($("reset-dialog"), $("reset-cancel")));
$("reset-cancel").addEventListener("click", () => $("reset-dialog").close());
$("reset-confirm").addEventListener("click", async () => {
  const button = $("reset-confirm");
  button.disabled = true;
  const body = await act("POST", "/reset", { confirm: true });
  button.disabled = false;
  $("reset-dialog").close();
  if (body) {
    showLink(body.link);
    showDone("done.reset", { link: body.link });
    scheduleDetailRefresh();
  }
  $("reset-open").focus();
});

function showLink(link) {
  $("link-value").value = link;
  $("link-output").hidden = false;
}

$("reentry-grant").addEventListener("click", async () => {
  clearBanners();
  const hours = Number($("reentry-window").value);
  const body = { grant: true };
  if (Number.isFinite(hours) && hours > 0) body.window_s = Math.round(hours * 3600);
  if (await act("POST", "/reentry", body)) {
    showDone("done.reentry_granted");
    scheduleDetailRefresh();
  }
});
$("reentry-revoke").addEventListener("click", async () => {
  clearBanners();
  if (await act("POST", "/reentry", { grant: false })) {
    showDone("done.reentry_revoked");
    scheduleDetailRefresh();
  }
});
$("link-resend").addEventListener("click", async () => {
  clearBanners();
  const body = await act("POST", "/link", {});
  if (body) {
    showLink(body.link);
    showDone("done.link", { link: body.link });
  }
});
$("report-generate").addEventListener("click", async () => {
  clearBanners();
  const body = await act("POST", "/report", {});
  if (body && state.detail) {
    state.detail.reports.add(body.version);
    renderReports();
    showDone("done.report", { v: body.version });
  }
});
$("report-open").addEventListener("click", (event) => {
  if ($("report-open").getAttribute("aria-disabled") === "true") event.preventDefault();
});

// --- operation logs -----------------------------------------------------------------------

const LOG_COLS = ["time", "actor", "role", "action", "outcome", "ip", "device"];

function renderLogTable(table, entries) {
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
      td.textContent = col === "time" ? formatTime(e.t, i18n.lang) : String(e[col] ?? "");
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

async function loadLog() {
  const body = await act("GET", "/log");
  if (!body) return;
  state.log = { entries: [...body.entries].reverse(), verify: null };
  $("log-panel").hidden = false;
  $("log-verify-result").hidden = true;
  renderLogTable($("log-table"), state.log.entries);
}

function renderVerify() {
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

async function loadOrgLog() {
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

// --- create -------------------------------------------------------------------------------

// One question per line: "text | 120 | pressure | points: a; b"; after the text, in any
// order, a time limit in seconds, the pressure mark and the expected points (the
// assessment's input, docs/assessment.md). A line without bars is just the text.
const PRESSURE_MARKS = new Set(["pressure", "压力题", "压力"]);
const POINTS_PREFIX = /^(?:points|expected|要点)\s*[:：]\s*/i;

function parseQuestions(text) {
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

function showCreateError(map, key) {
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

// --- roles --------------------------------------------------------------------------------

function can(permission) {
  return Boolean(state.me?.permissions?.includes(permission));
}

async function loadRetention() {
  const form = $("retention-form");
  form.hidden = !can("data.erase");
  if (form.hidden) return;
  const r = await api("GET", "/api/hr/retention");
  if (r.ok) $("retention-days").value = String(r.body.retention_days);
}

async function loadRoles() {
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

function takeRoles(body) {
  state.roles = body.roles;
  state.permissionNames = body.permissions;
  state.roleNames = body.role_names;
}

function roleLabel(role) {
  return S[`role.${role}`] ? t(`role.${role}`) : role;
}

function permLabel(perm) {
  return S[`perm.${perm}`] ? t(`perm.${perm}`) : perm;
}

function checkbox(attrs, checked, label) {
  const input = document.createElement("input");
  input.type = "checkbox";
  input.checked = checked;
  for (const [k, v] of Object.entries(attrs)) input.dataset[k] = v;
  input.setAttribute("aria-label", label);
  return input;
}

function gridTable(headers) {
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

function renderRoles() {
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
      const label = `${th.textContent}: ${permLabel(perm)} (${perm})`;
      td.append(checkbox({ role, perm }, (state.roles[role] || []).includes(perm), label));
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
      td.append(box);
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

// --- users: accounts ------------------------------------------------------------------------

async function loadAccounts() {
  const r = await api("GET", "/api/hr/users");
  if (!r.ok) {
    if (r.status !== 401) showError(r.body, r.status);
    return;
  }
  state.accounts = r.body.users;
  renderAccounts();
}

function actionButton(text, attrs, danger = false) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = danger ? "btn btn-danger" : "btn";
  button.textContent = text;
  for (const [k, v] of Object.entries(attrs)) button.dataset[k] = v;
  return button;
}

function renderAccounts() {
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

const userPath = (name, rest = "") => `/api/hr/users/${encodeURIComponent(name)}${rest}`;
let accountTarget = "";

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

// --- my account ----------------------------------------------------------------------------

function renderPasswordRules() {
  const n = state.me?.password_min_length ?? 12;
  for (const el of document.querySelectorAll(".password-rule")) el.textContent = t("password.rule", { n });
}

function showPasswordError(map, key, reason = "") {
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

async function refreshMe() {
  const r = await api("GET", "/api/hr/me");
  if (r.ok) {
    state.me = r.body;
    renderMe();
  }
}

function renderMe() {
  $("whoami").textContent = state.me.user;
  $("nav-roles").hidden = !can("role.manage");
  $("nav-users").hidden = !can("user.manage");
  renderPasswordRules();
  $("erase-open").hidden = !can("data.erase");
}

// --- routing ------------------------------------------------------------------------------

const VIEWS = {
  list: "list-view",
  detail: "detail",
  file: "file-view",
  log: "org-log-view",
  compare: "compare-view",
  roles: "roles-view",
  users: "users-view",
  account: "account-view",
};
const TABS = {
  list: "nav-list",
  detail: "nav-list",
  file: "nav-list",
  log: "nav-log",
  compare: "nav-compare",
  roles: "nav-roles",
  users: "nav-users",
  account: "nav-account",
};

function showView(name) {
  for (const [key, id] of Object.entries(VIEWS)) $(id).hidden = key !== name;
  for (const id of new Set(Object.values(TABS))) $(id).removeAttribute("aria-current");
  $(TABS[name]).setAttribute("aria-current", "page");
}

function route() {
  if (!state.me) return;
  const hash = decodeURIComponent(location.hash.slice(1));
  clearBanners();
  forgetWebhookSecret(); // shown once: leaving the page drops it
  clearTimeout(webhookTimer);
  clearTimeout(webhookWatch);
  state.webhookMessage = null;
  leaveFile();
  if (hash.startsWith("iv/")) {
    const id = hash.slice(3);
    showView("detail");
    if (state.detail?.id !== id) openDetail(id);
    return;
  }
  leaveDetail();
  if (hash.startsWith("file/") || hash.startsWith("profile/")) {
    const [by, ...rest] = hash.split("/");
    showView("file");
    openFile(by === "file" ? "iv" : "profile", rest.join("/"));
  } else if (hash === "roles" && can("role.manage")) {
    showView("roles");
    loadRoles();
  } else if (hash === "users" && can("user.manage")) {
    showView("users");
    loadAccounts();
  } else if (hash === "account") {
    showView("account");
  } else if (hash === "log") {
    showView("log");
    loadOrgLog();
  } else if (hash === "compare" || hash.startsWith("compare/")) {
    showView("compare");
    if (hash.startsWith("compare/")) $("compare-position-input").value = hash.slice(8);
    loadCompare();
  } else {
    showView("list");
    loadList();
  }
}
window.addEventListener("hashchange", route);

// --- start --------------------------------------------------------------------------------

async function boot() {
  // /api/hr/session answers 200 when logged out too: a login page is not an error.
  const r = await api("GET", "/api/hr/session");
  if (r.ok && !r.body.logged_in) {
    showLogin();
    return;
  }
  if (!r.ok) {
    if (r.status === 0) state.loginError = { map: null, key: "error.network" };
    showLogin();
    return;
  }
  state.me = r.body;
  $("login-view").hidden = true;
  $("console-view").hidden = false;
  $("whoami-box").hidden = false;
  $("live-status").hidden = false;
  renderMe();
  monitor.start();
  monitor.watch("", "", ""); // the organisation's events, from now: refresh the list rows
  state.detail = null;
  route();
}

function rerender() {
  renderStatus(liveStatus);
  renderBanners();
  renderLoginError();
  if (state.createError) showCreateError(state.createError.map, state.createError.key);
  if (!state.me) return;
  renderList();
  if (state.detail) {
    renderDetail();
    renderEvents();
    renderReports();
  }
  if (state.log) {
    renderLogTable($("log-table"), state.log.entries);
    renderVerify();
  }
  if (state.orgLog) renderLogTable($("org-log-table"), state.orgLog);
  renderRoles();
  renderAccounts();
  renderFile();
  renderWebhook();
  renderPasswordRules();
  if (state.passwordError) {
    const { map, key, reason } = state.passwordError;
    showPasswordError(map, key, reason);
  }
}

i18n.apply(document);
bindLangSelect($("lang-select"), i18n);
i18n.onChange(rerender);
renderStatus("offline");


window.__consoleDebug = {
  dropSocket: (hold = false) => monitor.drop(hold),
  resumeSocket: () => monitor.resume(),
  get status() {
    return liveStatus;
  },
};

boot();
