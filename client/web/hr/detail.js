// One interview: its facts, answers, recordings, transcripts and live events. Part of the HR console (console.js).
import { formatTime } from "/web/shared/i18n.js";
import { $, api, can, deviceText, i18n, ivPath, markPermission, showError, state, t } from "./core.js";
import {
  candidateName,
  fillEndButton,
  interruptionsText,
  progressText,
  showConnection,
  stateBadge,
} from "./list.js";
import { monitor } from "./live.js";
import { renderReports } from "./report.js";
import S from "./strings.js";

// --- detail -------------------------------------------------------------------------------

export function leaveDetail() {
  if (state.detail) monitor.unwatch(state.detail.id);
  state.detail = null;
  clearTimeout(detailTimer);
}

export async function openDetail(id) {
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

export let detailTimer = null;
export const TRANSCRIPT_POLL_MS = 3000; // how often a detail with a pending transcript is read again
export const FILES_POLL_MS = 3000; // how often an erased interview's "pending" rewrite is looked at
export function scheduleDetailRefresh() {
  clearTimeout(detailTimer);
  detailTimer = setTimeout(refreshDetail, 200);
}

export async function refreshDetail() {
  const d = state.detail;
  if (!d) return;
  const r = await api("GET", ivPath(d.id));
  if (state.detail !== d || !r.ok) return;
  d.data = r.body;
  renderDetail();
}

export const STATE_AFTER = {
  joined: "in_progress",
  exited: "exited",
  completed: "completed",
  ended: "ended",
  expired: "expired",
  reset: "invited",
};

export function onDetailEvent(msg) {
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

export function eventLabel(e) {
  const data = e.data || {};
  const vars = {
    by: data.by || "HR",
    n: (data.q ?? 0) + 1,
    status: t(`answer.status.${data.status ?? ""}`),
    version: data.version ?? "",
    // media: the state, and why when it is off (failed, stopped by the candidate's device)
    state: [mediaWords("state", data.state), mediaWords("reason", data.reason)]
      .filter(Boolean)
      .join(" · "),
  };
  if (e.kind === "joined" && data.took_over) return t("event.taken_over", vars);
  const key = `event.${e.kind}`;
  return S[key] ? t(key, vars) : t("event.other");
}

export // The hub's media state and reason codes (server/hub.py, the candidate's media.js) in words;
// a code this console does not know is said as "other", never shown raw.
function mediaWords(kind, code) {
  if (!code) return "";
  return S[`media.${kind}.${code}`] ? t(`media.${kind}.${code}`) : t(`media.${kind}.other`);
}

function eventExtras(e) {
  const data = e.data || {};
  const out = [];
  if (e.kind === "joined" && data.mode && S[`event.mode.${data.mode}`]) out.push(t(`event.mode.${data.mode}`));
  if ((e.kind === "joined" || e.kind === "disconnected") && data.device) {
    out.push(t("event.device", { device: deviceText(data.device) }));
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

export function eventItem(e) {
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

export function prependEvent(e) {
  const list = $("events");
  list.prepend(eventItem(e));
  while (list.children.length > 300) list.lastElementChild.remove();
}

export function renderEvents() {
  const d = state.detail;
  if (!d) return;
  $("events").replaceChildren(...[...d.events].reverse().map(eventItem));
}

export function answerText(q) {
  const d = state.detail;
  if (d.texts.has(q)) return d.texts.get(q);
  const a = d.data?.answers?.find((x) => x.q === q);
  return a?.text ?? "";
}

export function renderAnswerText(q) {
  const el = document.querySelector(`#answers [data-q="${q}"] [data-testid="answer-text"]`);
  if (el) el.textContent = answerText(q);
}

export function renderAnswers() {
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
    const limit = a.time_limit_s;
    const vars = { n: a.q + 1, text: question, limit: limit ? durationText(limit) : "" };
    art.querySelector("h4").textContent = t(limit ? "question.heading_limit" : "question.heading", vars);
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

// A question's time limit in words: "2 min" / "2 分钟", "90 s" / "90 秒".
function durationText(seconds) {
  return seconds % 60 ? t("duration.s", { n: seconds }) : t("duration.min", { n: seconds / 60 });
}

// An answer's camera and microphone: played here from the hub's WebM, or downloaded.
export function renderRecording(art, a) {
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
export function recordingVideo(art) {
  const box = art.querySelector(".answer-media");
  if (!box) return null;
  let video = box.querySelector("video");
  if (!video) box.querySelector("button").click(); // opens it with what is stored now
  video = box.querySelector("video");
  return video;
}

export function seekRecording(art, ms) {
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

export function clock(ms) {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

// A spoken answer's transcript (made off the hot path, server/transcribe.py): its state,
// and once done its segments, each a button that plays the recording from there.
export function renderTranscript(art, a) {
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

export function untilText(ms) {
  return formatTime(ms, i18n.lang);
}

// The candidate's choices after the notice (docs/privacy.md): plainly, in the chosen language.
export function renderConsent(consent) {
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

export function renderDetail() {
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
  $("detail-device").textContent = deviceText(x.device);
  $("detail-activity").textContent = formatTime(x.last_activity_ms, i18n.lang);
  $("detail-interruptions").textContent = interruptionsText(x);
  if (!$("report-auto").dataset.pending) $("report-auto").checked = x.report_auto !== false;
  $("report-auto").disabled = !can("report.generate");
  const second = $("detail-second-entry");
  // an ended or completed interview takes nobody in again, whatever its policy said
  const over = x.state === "ended" || x.state === "completed";
  second.dataset.allowed = String(Boolean(x.second_entry) && !over);
  if (over) second.textContent = t(`detail.second_entry.over_${x.state}`);
  else if (!x.second_entry) second.textContent = t("detail.second_entry.no");
  else if (x.reentry_until_ms) second.textContent = t("detail.second_entry.yes", { until: untilText(x.reentry_until_ms) });
  else second.textContent = t("detail.second_entry.yes_open");
  renderConsent(x.consent);
  // what the candidate asked HR for (SPEC §10.9), until a reset, a new link or a second entry
  const help = x.help_request?.kind || "";
  $("detail-help").hidden = !help;
  $("detail-help").dataset.kind = help;
  $("detail-help").textContent = help
    ? t(`detail.help.${help}`, { at: formatTime(x.help_request.requested_ms, i18n.lang) })
    : "";
  const next = x.next || {};
  let nextText = "";
  if (next.action === "start") nextText = t("next.start", { until: untilText(next.until_ms) });
  else if (next.action === "continue") {
    nextText = next.until_ms ? t("next.continue_until", { until: untilText(next.until_ms) }) : t("next.continue");
  } else if (next.action === "reenter") nextText = t("next.reenter", { until: untilText(next.until_ms) });
  else if (next.action) nextText = t(`next.${next.action}`);
  $("detail-next").textContent = nextText;
  $("detail-attempt").textContent = t(x.attempts > 1 ? "detail.attempt.value" : "detail.attempt.first", {
    n: x.attempt ?? 1,
    total: x.attempts ?? 1,
  });
  $("detail-contact").textContent = [x.phone, x.id_number].filter(Boolean).join(" · ");
  // an erased interview can only be read (and erased again): the server refuses the rest
  const erased = Boolean(x.erased_ms);
  for (const id of ["end-open", "reset-open", "link-resend", "reentry-row", "reentry-grant"]) {
    $(id).hidden = erased;
  }
  renderDetailPermissions(x);
  // an erased interview has left the candidate's file (and forgotten whose it was)
  $("file-open").hidden = erased;
  $("file-open").href = `#file/${encodeURIComponent(d.id)}`;
  renderErased(x);
  renderAnswers();
}

export // What this user's roles cannot do is unavailable before any form is filled, with who to
// ask beside it; an ended interview's end button says who ended it and when.
function renderDetailPermissions(x) {
  fillEndButton($("end-open"), x, t("end.open"));
  markPermission($("reset-open"), "interview.reset");
  markPermission($("link-resend"), "interview.create");
  const reentry = markPermission($("reentry-grant"), "interview.reentry.grant");
  $("reentry-revoke").disabled = !reentry;
  const over = x.state === "ended" || x.state === "completed";
  for (const id of ["reentry-grant", "reentry-revoke", "reentry-window"]) {
    if (over) $(id).disabled = true;
  }
  markPermission($("report-generate"), "report.generate");
  markPermission($("log-open"), "log.view");
}

const FILES_STATES = ["pending", "rewritten", "not_persisted", "failed"];

// After an erasure: when, and whether Redis' files were rewritten without it yet (the
// rewrite may outlast the request: while it is "pending" the detail is read again)
export function renderErased(x) {
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
