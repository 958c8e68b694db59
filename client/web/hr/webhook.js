// The organisation's ATS webhook (roles page, user.manage). Part of the HR console (console.js).
import { formatTime } from "/web/shared/i18n.js";
import { $, api, can, clearBanners, i18n, openDialog, state, t } from "./core.js";
import { candidateName } from "./list.js";
import S from "./strings.js";

// --- the organisation's ATS webhook (user.manage) -------------------------------------------

// The signing secret comes in the one answer that made it (the first save, a rotation) and
// is put in its box only: never in `state`, storage or a later render. Deliveries are read
// when the page opens, after a report is announced on the organisation's events (until the
// new delivery is listed), and every few seconds while one is waiting or retrying.

export const WEBHOOK_EVENTS = [
  ["report.ready", "webhook-event-report"],
  ["decision.made", "webhook-event-decision"],
];
export const WEBHOOK_POLL_MS = 3000; // how often waiting deliveries are looked at again
// the hub's reasons for a refused address ("bad_field:<why>", server/webhooks.py), in words
export const WEBHOOK_PROBLEMS = [
  ["inside the hub's network", "webhook.why.inside"],
  ["must use https", "webhook.why.https"],
  ["credentials", "webhook.why.credentials"],
  ["http(s)", "webhook.why.scheme"],
  ["does not resolve", "webhook.why.resolve"],
  ["does not parse", "webhook.why.parse"],
  ["longer than", "webhook.why.long"],
  ["events must be", "webhook.why.events"],
];

export let webhookTimer = null;
export let webhookWatch = null;

export function webhookShown() {
  return !$("roles-view").hidden && !$("webhook-section").hidden;
}

export async function loadWebhook() {
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

export async function refreshWebhook() {
  if (!webhookShown()) return;
  const r = await api("GET", "/api/hr/org/webhook");
  if (r.ok && webhookShown()) takeWebhook(r.body, false);
}

// A new report was announced: its delivery is queued just after; read until it is listed.
export function expectDelivery() {
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

export function takeWebhook(body, fillForm) {
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
export async function loadInterviewNames(deliveries) {
  if (deliveries.every((d) => !d.interview_id || state.interviewNames.has(d.interview_id))) return;
  const r = await api("GET", "/api/hr/interviews");
  if (!r.ok) return;
  for (const i of r.body.interviews) {
    state.interviewNames.set(i.interview_id, `${candidateName(i, "—")} · ${i.position}`);
  }
  renderWebhook();
}

export function setWebhookMessage(message) {
  state.webhookMessage = message;
  renderWebhookMessage();
}

export function webhookRefusal({ body, status }) {
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

export function renderWebhookMessage() {
  const m = state.webhookMessage;
  const err = $("webhook-error");
  const done = $("webhook-done");
  err.hidden = !m?.error;
  err.dataset.reason = m?.error?.body?.reason || (m?.error?.key ? "client" : "");
  err.textContent = !m?.error ? "" : m.error.key ? t(m.error.key) : webhookRefusal(m.error);
  done.hidden = !m?.done;
  done.textContent = m?.done ? t(m.done) : "";
}

export function renderWebhook() {
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
export function withoutQuery(url) {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return url;
  }
}

export const DELIVERY_COLS = [
  "webhook.col.event",
  "webhook.col.interview",
  "col.state",
  "webhook.col.attempts",
  "webhook.col.error",
  "webhook.col.queued",
  "webhook.col.sent",
];

export function renderDeliveries(deliveries) {
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

export function showWebhookSecret(secret) {
  $("webhook-secret").value = secret;
  $("webhook-secret-copied").hidden = true;
  $("webhook-secret-box").hidden = false;
  $("webhook-secret-box").scrollIntoView({ block: "nearest" });
  $("webhook-secret").focus();
  $("webhook-secret").select();
}

export function forgetWebhookSecret() {
  $("webhook-secret").value = "";
  $("webhook-secret-box").hidden = true;
  $("webhook-secret-copied").hidden = true;
}

export function webhookButtons(disabled) {
  for (const id of ["webhook-save", "webhook-rotate", "webhook-remove"]) $(id).disabled = disabled;
}

export async function putWebhook(body, doneKey) {
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
