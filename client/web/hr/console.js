// The HR live console (served at /hr). Plain ES modules, no inline script (strict CSP), no
// bundler. This one routes and starts; each screen is its own module: core.js (state, HTTP,
// banners), auth.js, live.js (the monitor socket), list.js, detail.js, actions.js, report.js,
// file.js, compare.js, log.js, roles.js, webhook.js, users.js, account.js.
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
import { bindLangSelect } from "/web/shared/i18n.js";
import { renderMe, renderPasswordRules, showPasswordError } from "./account.js";
import { renderLoginError, showLogin } from "./auth.js";
import { loadCompare } from "./compare.js";
import { $, api, can, clearBanners, i18n, renderBanners, state } from "./core.js";
import { leaveDetail, openDetail, renderDetail, renderEvents } from "./detail.js";
import { leaveFile, openFile, renderFile } from "./file.js";
import { loadList, renderList, showCreateError } from "./list.js";
import { liveStatus, monitor, renderStatus } from "./live.js";
import { loadOrgLog, renderLogTable, renderVerify } from "./log.js";
import { renderReports } from "./report.js";
import { loadRoles, renderRoles } from "./roles.js";
import { loadAccounts, renderAccounts } from "./users.js";
import { forgetWebhookSecret, renderWebhook, webhookTimer, webhookWatch } from "./webhook.js";
// screens that only bind their own handlers
import "./actions.js";

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

export async function boot() {
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
