// The candidate web app: identity check → notice and consent (once per interview) → device
// check → (practice) → interview → exit or completion → candidate centre. Pages: /i/<token> (the invitation link) and /practice.
import { bindLangSelect, formatTime, makeI18n } from "/web/shared/i18n.js";
import { postJson } from "/web/shared/wire.js";
import { memoryOutbox, openOutbox } from "./outbox.js";
import { practiceTransport } from "./practice.js";
import { Session } from "./session.js";
import { NOTICE_VERSION, TEXTS } from "./texts.js";
import { socketTransport } from "./transport.js";

const i18n = makeI18n(TEXTS);
const t = i18n.t;
const $ = (id) => document.getElementById(id);
const SCREENS = ["identity", "consent", "device", "ready", "takeover", "question", "stopped", "centre"];

const token = decodeURIComponent(location.pathname.match(/^\/i\/([^/]+)$/)?.[1] || "");
const interviewId = token.split(".")[0];
const identityKey = `interview-hub.identity.${interviewId}`;
// Set while this tab holds the interview (survives a reload, not a closed tab): a reload of
// the tab that holds it goes on at once; any other page asks before it takes it over.
const holdingKey = `interview-hub.holding.${interviewId}`;
// The lock a tab holds while it holds the interview: another tab of this browser can tell
// it is still open (a closed or reloaded tab releases it at once).
const holdingLock = `interview-hub.holding.${interviewId}`;
// How long "time is up" stays in view before the page moves on by itself (the candidate can
// go on at once). The next question's countdown still starts when the hub opened it.
const TIME_UP_NOTICE_S = 4;

const app = {
  identity: sessionStorage.getItem(identityKey) || "",
  centreItem: null,
  candidate: "",
  session: null,
  practice: false,
  progress: null,
  question: null,
  deadline: 0,
  timerHandle: null,
  media: null,
  camera: false, // the candidate's camera consent (the notice): no video without it
  notice: null, // {retention_days} from the centre, for the notice
  hrContact: null, // {name, phone, email} from the centre: whom "contact HR" means
  consentNext: "", // what the consent leads to: start, continue or reenter
  connectionLost: false, // the centre was opened because the connection stayed lost
  stopped: null, // {title, message, note} of the last stop, re-rendered on a language switch
  timeUp: null, // {q, next, handle} while "time is up" is announced before moving on
  reentering: false, // joined as a re-entry: the next question says where the candidate is
  reentryClosedQ: null, // the question a re-entry reported closed (answer_saved before it)
  reentryNote: null, // {n, m, q} shown on the question screen after a re-entry
};

function show(name, { keepQuestion = false } = {}) {
  for (const screen of SCREENS) {
    $(`screen-${screen}`).hidden = !(screen === name || (keepQuestion && screen === "question"));
  }
  const inInterview = name === "question" && !app.session?.final;
  $("exit-open").hidden = !inInterview;
  $("progress").hidden = !(name === "question" || keepQuestion);
  $("practice-banner").hidden = !app.practice || !(name === "question" || name === "stopped");
}

function showError(element, text) {
  element.textContent = text;
  element.hidden = !text;
  if (element.id === "identity-error") $("identity").setAttribute("aria-invalid", String(Boolean(text)));
}

function refusalText(body, fallbackKey = "network.error") {
  return i18n.message(body?.message, fallbackKey);
}

// --- identity ----------------------------------------------------------------------------
async function verify(identity) {
  let result;
  try {
    result = await postJson("/api/candidate/centre", { token, identity, device_id: thisDeviceId() });
  } catch {
    return { error: t("network.error") };
  }
  if (!result.ok) return { error: refusalText(result.body), reason: result.body.reason };
  return { centre: result.body };
}

async function onIdentitySubmit(event) {
  event.preventDefault();
  const identity = $("identity").value.trim();
  if (!identity) return showError($("identity-error"), t("identity.empty"));
  $("verify").disabled = true;
  $("verify").textContent = t("identity.checking");
  const result = await verify(identity);
  $("verify").disabled = false;
  $("verify").textContent = t("identity.submit");
  if (result.error) return showError($("identity-error"), result.error);
  showError($("identity-error"), "");
  app.identity = identity;
  sessionStorage.setItem(identityKey, identity);
  route(result.centre);
}

// What the verified candidate can do with this link decides the next screen.
function route(centre) {
  app.candidate = centre.candidate;
  app.notice = centre.notice;
  app.hrContact = centre.hr_contact || null;
  app.centreItem = centre.interviews.find((item) => item.interview_id === interviewId) || null;
  const action = app.centreItem?.next.action;
  if (["start", "continue", "reenter"].includes(action)) {
    // Nothing is recorded before the candidate has read the notice and chosen (once).
    const consent = app.centreItem.consent;
    if (!consent?.review) return showConsent(action);
    app.camera = consent.camera === "on";
  }
  if (action === "continue") return continueOrAsk(app.centreItem);
  if (action === "start" || action === "reenter") return deviceCheck();
  renderCentre(centre);
}

// A join takes the interview from the device holding it (SPEC §8.4): ask first, unless that
// is this very tab (a reload) or this device's own earlier socket that the hub has not
// dropped yet (a tab closed or cut off, then opened again) while no other tab of this
// browser still has the interview open.
async function continueOrAsk(item) {
  const own = sessionStorage.getItem(holdingKey) || (item.connected_here && !(await anotherTabHolds()));
  if (item.connected && !own) return askTakeover(item.connected_device);
  return startInterview();
}

async function anotherTabHolds() {
  try {
    const { held } = await navigator.locks.query();
    return held.some((lock) => lock.name === holdingLock);
  } catch {
    return false; // no Web Locks here: a tab of this browser is taken for this one
  }
}

// Held from the join until this tab stops holding the interview (or closes).
function holdTabLock() {
  if (app.releaseTabLock || !navigator.locks) return;
  navigator.locks
    .request(holdingLock, () => new Promise((release) => (app.releaseTabLock = release)))
    .catch(() => {});
}

function releaseTabLock() {
  app.releaseTabLock?.();
  app.releaseTabLock = null;
}

function askTakeover(device) {
  app.takeoverDevice = device;
  renderTakeover();
  show("takeover");
  $("takeover-title").focus();
}

function renderTakeover() {
  $("takeover-message").textContent = t("takeover.message", { device: app.takeoverDevice || "?" });
}

// From the centre: what is true now decides (another device may have taken it meanwhile).
async function openFromCentre() {
  const result = await verify(app.identity);
  if (result.error) return showError($("centre-error"), result.error);
  showError($("centre-error"), "");
  route(result.centre);
}

// --- notice and consent (docs/privacy.md) ----------------------------------------------------
function renderNotice() {
  $("consent-kept").textContent = t("consent.kept", { days: app.notice?.retention_days ?? "" });
}

function showConsent(action) {
  app.consentNext = action;
  renderNotice();
  showError($("consent-error"), "");
  show("consent");
  $("consent-title").focus();
}

async function onConsentSubmit(event) {
  event.preventDefault();
  if (!$("consent-agree").checked) {
    showError($("consent-error"), t("consent.required"));
    $("consent-agree").setAttribute("aria-invalid", "true");
    return $("consent-agree").focus();
  }
  $("consent-agree").removeAttribute("aria-invalid");
  const body = await postConsent($("consent-human").checked ? "human_only" : "ai", $("consent-camera").checked);
  if (body.error) return showError($("consent-error"), body.error);
  showError($("consent-error"), "");
  if (app.consentNext === "continue") return startInterview();
  return deviceCheck();
}

// Record the choices; {error} when refused or unreachable.
async function postConsent(review, camera) {
  const button = $("consent-continue");
  button.disabled = true;
  button.textContent = t("consent.saving");
  let result;
  try {
    result = await postJson("/api/candidate/consent", {
      token,
      identity: app.identity,
      review,
      camera,
      notice_version: NOTICE_VERSION,
    });
  } catch {
    result = null;
  } finally {
    button.disabled = false;
    button.textContent = t("consent.continue");
  }
  if (!result) return { error: t("network.error") };
  if (!result.ok) return { error: refusalText(result.body) };
  app.camera = result.body.camera === "on";
  if (app.centreItem) app.centreItem.consent = result.body;
  return result.body;
}

// The right to human-only review at any time: from the centre, for this link's interview.
// Closed for this candidate: they can ask HR for a reset or more time from here (SPEC
// §10.9). What is pending says so, and its button is gone: HR is told once.
const HELP_KINDS = ["more_time", "reset"];

function renderHelp(li, item) {
  const pending = item.help_request?.kind || "";
  if (pending) {
    const status = document.createElement("div");
    status.className = "help-state";
    status.dataset.kind = pending;
    status.setAttribute("role", "status");
    status.textContent = t(`help.pending.${pending}`, { at: formatTime(item.help_request.requested_ms, i18n.lang) });
    li.append(status);
  }
  for (const kind of HELP_KINDS) {
    if (kind === pending) continue;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "secondary";
    button.dataset.help = kind;
    button.textContent = t(`help.ask.${kind}`);
    button.addEventListener("click", () => askHelp(item, kind, button));
    li.append(button);
  }
}

async function askHelp(item, kind, button) {
  button.disabled = true;
  let result;
  try {
    result = await postJson("/api/candidate/help", { token, identity: app.identity, kind });
  } catch {
    result = null;
  }
  button.disabled = false;
  if (!result) return showError($("centre-error"), t("network.error"));
  if (!result.ok) return showError($("centre-error"), refusalText(result.body));
  showError($("centre-error"), "");
  item.help_request = { kind: result.body.kind, requested_ms: result.body.requested_ms };
  renderCentre(app.lastCentre);
  $("centre-title").focus();
}

async function askHumanOnly(item, button) {
  button.disabled = true;
  const body = await postConsent("human_only", item.consent.camera === "on");
  button.disabled = false;
  if (body.error) return showError($("centre-error"), body.error);
  showError($("centre-error"), "");
  item.consent = body;
  renderCentre(app.lastCentre);
  $("centre-title").focus();
}

// --- device check (camera, microphone, connection) ------------------------------------------
async function deviceCheck() {
  show("device");
  setCheck("check-connection", "checking", t("device.checking"));
  const started = performance.now();
  try {
    const response = await fetch("/healthz", { cache: "no-store" });
    if (!response.ok) throw new Error(String(response.status));
    const ms = Math.round(performance.now() - started);
    setCheck("check-connection", "ok", t("device.connection_ok", { ms }), "device.connection_ok", { ms });
  } catch {
    setCheck("check-connection", "failed", t("device.connection_failed"), "device.connection_failed");
  }
  // Without the camera consent the camera is never opened, not even for the preview.
  $("preview").hidden = !app.camera;
  const checks = [["check-microphone", "audio"]];
  if (app.camera) checks.push(["check-camera", "video"]);
  else setCheck("check-camera", "off", t("device.camera_off"), "device.camera_off");
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: app.camera, audio: true });
    app.media = stream;
    $("preview").srcObject = app.camera ? stream : null;
    for (const [id, kind] of checks) {
      const found = stream.getTracks().some((track) => track.kind === kind);
      const key = found ? "device.ok" : "device.failed";
      setCheck(id, found ? "ok" : "failed", t(key), key);
    }
    meterMicrophone(stream);
  } catch {
    for (const [id] of checks) setCheck(id, "failed", t("device.failed"), "device.failed");
  }
}

function setCheck(id, status, text, key = "", vars = {}) {
  app.checks = app.checks || {};
  if (key) app.checks[id] = { status, key, vars };
  const element = $(id);
  element.dataset.status = status;
  element.removeAttribute("data-i18n");
  element.textContent = text;
}

function meterMicrophone(stream) {
  if (!stream.getAudioTracks().length || !window.AudioContext) return;
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  context.createMediaStreamSource(stream).connect(analyser);
  const samples = new Uint8Array(analyser.fftSize);
  const tick = () => {
    if (!app.media) return context.close();
    analyser.getByteTimeDomainData(samples);
    let peak = 0;
    for (const s of samples) peak = Math.max(peak, Math.abs(s - 128) / 128);
    $("mic-level").value = peak;
    requestAnimationFrame(tick);
  };
  tick();
}

function stopMedia() {
  for (const track of app.media?.getTracks() || []) track.stop();
  app.media = null;
  $("preview").srcObject = null;
}

function showReady() {
  stopMedia();
  const item = app.centreItem;
  $("ready-summary").textContent = t("ready.summary", {
    name: app.candidate,
    position: item?.position || "",
    total: item?.progress.total ?? "",
  });
  $("interview-start").textContent = t(item?.next.action === "reenter" ? "ready.resume" : "ready.start");
  const place = item?.next.action === "reenter" ? reentryPlace(item.progress) : null;
  $("ready-reentry").hidden = !place;
  $("ready-reentry").textContent = place ? t("reentry.note", place) : "";
  $("practice-start").hidden = !item || item.next.action !== "start";
  show("ready");
}

// Where a re-entry continues (1-based): every closed question (answered or partly) comes
// before the open one, and the question the exit closed is the one just before it (SPEC
// §8.3). Null when the exit closed the last question (the re-entry completes at once).
function reentryPlace(progress) {
  const n = progress.answered + progress.partial + 1;
  return n <= progress.total && n > 1 ? { n, m: n - 1 } : null;
}

// --- the interview (real or practice) ---------------------------------------------------------
const ui = {
  connection(state) {
    app.connState = state;
    const conn = $("conn");
    conn.dataset.state = state;
    conn.hidden = state === "online";
    conn.textContent = t(`conn.${state}`);
    updateFinishButton();
  },
  joined(m) {
    if (!app.practice) {
      sessionStorage.setItem(holdingKey, "1");
      holdTabLock();
    }
    app.lastJoinMode = m.mode;
    app.questionsSinceJoin = 0;
    app.reentering = m.mode === "reenter";
    app.reentryClosedQ = null;
    renderProgress(m.progress);
  },
  answerSaved(m) {
    renderProgress(m.progress);
    if (app.reentering) app.reentryClosedQ = m.q; // closed by the expiry, reported at the re-entry
    // The hub closed the question on the screen because its time ran out: say so before the
    // next question replaces it (a resume that finds the deadline passed says so too).
    if (m.status === "timed_out" && app.question?.q === m.q && !$("screen-question").hidden) {
      announceTimeUp(m.q);
    }
  },
  question(m, text, options = {}) {
    const arrivedAt = Date.now();
    if (app.timeUp && app.timeUp.q !== m.q) {
      app.timeUp.next = () => showQuestion(m, text, options, arrivedAt);
      return;
    }
    showQuestion(m, text, options, arrivedAt);
  },
  saveState(state) {
    if (app.timeUp) return; // the state of the next question: shown with it
    const element = $("save-state");
    element.dataset.state = state;
    element.textContent = t(`save.${state}`);
    updateFinishButton();
  },
  // time_up or answer_too_long: nothing more can be stored for this question
  locked(m) {
    $("answer").disabled = true;
    // time up: the hub moves on by itself; a full answer: "next" finishes it
    if (m.reason === "time_up") app.lockedQ = app.question?.q;
    updateFinishButton();
    showError($("question-error"), i18n.message(m.message, "question.time_up"));
  },
  graceOver() {
    // Away longer than the resume grace: the interview waits at the same question (a lost
    // connection is never an exit); continuing from here is the candidate's choice, made
    // in the centre, so a device found again much later takes nothing over unasked.
    app.connectionLost = true;
    sessionStorage.removeItem(holdingKey);
    releaseTabLock();
    openCentre();
  },
  // Back from a drop, the interview is held by another device: ask before taking it back.
  heldElsewhere(device) {
    clearInterval(app.timerHandle);
    closeExitDialog();
    sessionStorage.removeItem(holdingKey);
    releaseTabLock();
    app.connState = null;
    $("conn").hidden = true; // not reconnecting any more: waiting for the candidate's choice
    askTakeover(device);
  },
  exitPreview(m) {
    openExitDialog(m);
  },
  exited(m) {
    closeExitDialog();
    renderProgress(m.progress);
    stop("stopped.exited", app.practice ? t("practice.banner") : exitedMessage(m));
  },
  completed(m) {
    if (app.timeUp) {
      app.timeUp.next = () => ui.completed(m); // the last question's time ran out: say so first
      return;
    }
    renderProgress(m.progress);
    stop("stopped.completed", t("stopped.completed_detail"));
  },
  ended(m) {
    closeExitDialog();
    stop("stopped.ended", t("stopped.ended_detail"), m.note, { keepQuestion: true });
  },
  taken_over(m) {
    closeExitDialog();
    stop("stopped.taken_over", t("stopped.taken_over_detail", { device: m.device || "?" }), "", { keepQuestion: true });
  },
  refused(m) {
    closeExitDialog();
    const title = m.refused_type === "join" ? "stopped.refused" : "stopped.error";
    stop(title, i18n.message(m.message, "network.error"));
  },
  mediaState(state, reason) {
    // Once the session is over nothing is recorded: a late "connected" must not say otherwise.
    if (app.session?.final && state !== "stopped") return;
    app.mediaStateNow = state;
    const status = $("media-status");
    status.dataset.state = state;
    status.dataset.reason = reason || "";
    // camera off by the candidate's choice: the microphone alone is recording
    const key = !app.camera && TEXTS[`media.${state}_audio`] ? `media.${state}_audio` : `media.${state}`;
    status.textContent = t(key) || "";
    const view = $("self-view");
    const stream = app.session?.mediaLink?.stream;
    view.hidden = !stream || !app.camera || ["off", "failed", "paused", "stopped"].includes(state);
    if (view.srcObject !== stream) view.srcObject = stream || null;
  },
  notice(m) {
    showError($("question-error"), i18n.message(m.message, "network.error"));
  },
  failure(error) {
    console.error("interview-hub:", error);
  },
};

function showQuestion(m, text, { keepBox = false } = {}, arrivedAt = Date.now()) {
  const sameQuestion = app.question?.q === m.q && app.deadline !== undefined;
  app.question = m;
  // A question opened on this socket counts down from its arrival; the first one after a
  // resume join from its deadline (SPEC §7.1). A reconnect keeps the countdown it had.
  const fresh = app.lastJoinMode !== "resume" || app.questionsSinceJoin > 0;
  app.questionsSinceJoin = (app.questionsSinceJoin || 0) + 1;
  if (!sameQuestion) {
    app.deadline = m.time_limit_s ? (fresh ? arrivedAt + m.time_limit_s * 1000 : m.deadline_ms) : 0;
  }
  if (app.reentering) {
    // The first question after a re-entry: where the candidate continues, and what became
    // of the question the exit closed.
    const closed = app.reentryClosedQ ?? m.q - 1;
    app.reentryNote = closed >= 0 ? { n: m.q + 1, m: closed + 1, q: m.q } : null;
    app.reentering = false;
  } else if (app.reentryNote?.q !== m.q) {
    app.reentryNote = null;
  }
  renderReentryNote();
  $("question-number").textContent = t("question.of", { n: m.q + 1, total: m.total });
  $("question-text").textContent = m.text;
  const answer = $("answer");
  answer.disabled = false;
  app.announced = 0;
  if (!keepBox) answer.value = text;
  showError($("question-error"), "");
  updateFinishButton();
  startTimer();
  show("question");
  answer.focus();
}

function renderReentryNote() {
  const note = app.reentryNote;
  $("reentry-note").hidden = !note;
  $("reentry-note").textContent = note ? t("reentry.note", note) : "";
}

// "Time is up" in view and spoken, with the question still on screen; the page moves on
// when the candidate says so or after TIME_UP_NOTICE_S, whichever comes first.
function announceTimeUp(q) {
  clearInterval(app.timerHandle);
  clearTimeout(app.timeUp?.handle);
  closeSkipDialog();
  app.timeUp = { q, next: null, handle: setTimeout(moveOnAfterTimeUp, TIME_UP_NOTICE_S * 1000) };
  $("answer").disabled = true;
  $("time-left").textContent = t("question.time_left", { time: "0:00" });
  $("time-left").dataset.low = "true";
  $("time-up").hidden = false;
  renderTimeUp();
  updateFinishButton();
  $("time-up").scrollIntoView?.({ block: "nearest" });
}

function renderTimeUp() {
  if (app.timeUp) $("time-up-message").textContent = t("question.time_up_next", { n: app.timeUp.q + 1 });
}

function moveOnAfterTimeUp() {
  const held = app.timeUp;
  clearTimeout(held?.handle);
  app.timeUp = null;
  $("time-up").hidden = true;
  if (held?.next) held.next();
  if (app.session && !app.session.final) ui.saveState(app.session.saveState());
}

function cancelTimeUp() {
  clearTimeout(app.timeUp?.handle);
  app.timeUp = null;
  $("time-up").hidden = true;
}

function exitedMessage(m) {
  const parts = [t("exit.kept_none")];
  parts.push(m.reentry_allowed ? t("exit.reentry_until", { until: formatTime(m.reentry_until_ms, i18n.lang) }) : t("exit.no_reentry"));
  return parts.join(" ");
}

function stop(titleKey, message, note = "", options = {}) {
  if (!app.practice) {
    sessionStorage.removeItem(holdingKey); // a later join asks first
    releaseTabLock();
  }
  clearInterval(app.timerHandle);
  cancelTimeUp();
  closeSkipDialog();
  $("answer").disabled = true;
  $("finish").disabled = true;
  $("exit-open").hidden = true;
  app.stopped = { titleKey, message, note, options };
  renderStopped();
  $("stopped-centre").hidden = !app.practice && !token;
  show("stopped", options);
  window.scrollTo(0, 0); // the notice is above the locked question: bring it into view
  $("stopped-title").focus?.();
}

function renderStopped() {
  const s = app.stopped;
  if (!s) return;
  $("stopped-title").textContent = app.practice && s.titleKey !== "stopped.refused" ? t("practice.done") : t(s.titleKey);
  $("stopped-message").textContent = s.message;
  $("stopped-note").hidden = !s.note;
  $("stopped-note").textContent = s.note ? t("stopped.note", { note: s.note }) : "";
  $("stopped-centre").textContent = t(app.practice ? "practice.back" : "stopped.to_centre");
  renderContact($("stopped-contact"));
}

// "Contact HR" leads somewhere: the organisation's HR contact as its HR set it (SPEC §10.2),
// as links a phone can call or mail; nothing when none is set (or in a practice).
function renderContact(element) {
  const contact = app.practice ? null : app.hrContact;
  const parts = contact ? [contact.name, contact.phone, contact.email].filter(Boolean) : [];
  element.hidden = parts.length === 0;
  element.replaceChildren();
  if (element.hidden) return;
  element.append(t("contact.label")); // "Contact HR: " / "HR 联系方式：" (no space after ：)
  if (contact.name) element.append(contact.name);
  for (const [value, scheme] of [[contact.phone, "tel:"], [contact.email, "mailto:"]]) {
    if (!value) continue;
    if (element.childNodes.length > 1) element.append(" · ");
    const link = document.createElement("a");
    link.href = scheme + (scheme === "tel:" ? value.replace(/[^0-9+]/g, "") : value);
    link.textContent = value;
    element.append(link);
  }
}

function renderProgress(progress) {
  if (!progress) return;
  app.progress = progress;
  $("progress-fill").style.width = `${progress.percent}%`;
  $("progress-partial").style.width = `${progress.total ? (progress.partial * 100) / progress.total : 0}%`;
  $("progress-text").textContent = progressText("progress.label", progress);
  $("progress").dataset.partial = String(progress.partial);
  $("progress").dataset.percent = String(progress.percent);
}

// A progress sentence; partly answered questions are named once there are any.
function progressText(key, progress) {
  return t(progress.partial > 0 ? `${key}_partial` : key, progress);
}

function updateFinishButton() {
  const m = app.question;
  const button = $("finish");
  if (!m) return;
  button.textContent = t(m.q + 1 >= m.total ? "answer.last" : "answer.next");
  button.disabled =
    !app.session?.connected ||
    app.session.final ||
    app.finishing === true ||
    app.lockedQ === m.q ||
    app.timeUp !== null;
}

function startTimer() {
  clearInterval(app.timerHandle);
  const element = $("time-left");
  const render = () => {
    if (!app.deadline) {
      element.textContent = t("question.no_limit");
      element.dataset.low = "false";
      return;
    }
    const left = Math.max(0, Math.ceil((app.deadline - Date.now()) / 1000));
    const time = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
    element.textContent = t("question.time_left", { time });
    element.dataset.low = String(left <= 30);
    // A screen reader hears the time at a few marks, not every second.
    for (const mark of [60, 30, 10]) {
      if (left <= mark && left > 0 && app.announced !== mark && (app.announced || Infinity) > mark) {
        app.announced = mark;
        $("time-announce").textContent = t("question.time_left", { time });
      }
    }
  };
  render();
  app.timerHandle = setInterval(render, 1000);
}

async function startSession({ practice }) {
  stopMedia();
  app.practice = practice;
  app.stopped = null;
  const outbox = practice ? memoryOutbox() : await openOutbox(interviewId);
  const session = new Session({
    token: practice ? "practice" : token,
    identity: practice ? "" : app.identity,
    device: describeDevice(),
    deviceId: thisDeviceId(),
    openTransport: practice ? practiceTransport(practiceQuestions()) : socketTransport,
    outbox,
    ui,
    practice,
    camera: app.camera,
  });
  app.session = session;
  window.__interviewHub = { session }; // for tests: session.block() / unblock()
  $("practice-banner").hidden = !practice;
  session.start();
}

function startInterview() {
  app.connectionLost = false;
  return startSession({ practice: false });
}

function practiceQuestions() {
  return [
    { text: t("practice.q1"), time_limit_s: 0 },
    { text: t("practice.q2"), time_limit_s: 0 },
    { text: t("practice.q3"), time_limit_s: 60 },
  ];
}

// One random id per browser, kept in localStorage so every tab shares it: the centre tells
// this device's own earlier socket from another device's (SPEC §2.1, §10.2). Never shown.
function thisDeviceId() {
  const key = "interview-hub.device-id";
  try {
    let id = localStorage.getItem(key);
    if (!id) {
      const bytes = crypto.getRandomValues(new Uint8Array(16));
      id = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
      localStorage.setItem(key, id);
    }
    return id;
  } catch {
    return ""; // no storage: every socket of this device counts as another device's
  }
}

// A short, human description of this device, shown to the device it takes over from.
function describeDevice() {
  const ua = navigator.userAgent;
  const browser = /Edg\//.test(ua) ? "Edge" : /Firefox\//.test(ua) ? "Firefox" : /Chrom(e|ium)\//.test(ua) ? "Chrome" : /Safari\//.test(ua) ? "Safari" : "Browser";
  const system = /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS" : /Windows/.test(ua) ? "Windows" : /Mac OS X/.test(ua) ? "macOS" : /Linux/.test(ua) ? "Linux" : "";
  const kind = t(/Mobi|iPhone|Android/.test(ua) ? "device.phone" : "device.computer");
  return `${browser} · ${system} ${kind}`.trim();
}

// --- exit -----------------------------------------------------------------------------------
async function onExitOpen() {
  if (!app.session || app.session.final) return;
  showError($("exit-error"), "");
  try {
    await app.session.requestExit();
  } catch (error) {
    if (error.body?.reason) {
      // e.g. the interview is no longer in progress: show why, in the dialog
      openExitDialog(null);
      showError($("exit-error"), refusalText(error.body));
    } else {
      openExitDialog(null);
      showError($("exit-error"), t("exit.failed"));
    }
  }
}

function openExitDialog(m) {
  const dialog = $("exit-dialog");
  app.lastPreview = m;
  if (m) {
    const p = m.progress;
    $("exit-fill").style.width = `${p.percent}%`;
    $("exit-progress").textContent = progressText("exit.progress", p);
    $("exit-progress").dataset.percent = String(p.percent);
    $("exit-kept").textContent = t("exit.kept_none");
    // The open question is closed by the exit, as it is (SPEC §8.3): say which, and how.
    $("exit-closes").hidden = m.current_q < 0;
    $("exit-closes").textContent =
      m.current_q < 0 ? "" : t(m.saved_seq > 0 ? "exit.closes" : "exit.closes_empty", { n: m.current_q + 1 });
    $("exit-reentry").textContent = m.reentry_allowed
      ? t("exit.reentry_until", { until: formatTime(m.reentry_until_ms, i18n.lang) })
      : t("exit.no_reentry");
    $("exit-http").hidden = !m.viaHttp;
    $("exit-unsent").hidden = !(m.viaHttp && m.unsent > 0);
    $("exit-unsent").textContent = t("exit.unsent", { n: m.unsent });
    $("exit-confirm").disabled = false;
  } else {
    $("exit-confirm").disabled = true;
  }
  if (!dialog.open) dialog.showModal();
  $("exit-cancel").focus();
}

function closeExitDialog() {
  const dialog = $("exit-dialog");
  if (dialog.open) dialog.close();
}

async function onExitConfirm() {
  $("exit-confirm").disabled = true;
  try {
    await app.session.confirmExit();
  } catch (error) {
    $("exit-confirm").disabled = false;
    showError($("exit-error"), error.body ? refusalText(error.body) : t("exit.failed"));
  }
}

function onExitCancel() {
  app.session?.cancelExit();
  closeExitDialog();
  $("answer").focus();
}

// --- candidate centre -------------------------------------------------------------------------
async function openCentre() {
  if (app.practice) {
    app.practice = false;
    app.session = null;
    $("practice-banner").hidden = true;
    if (!token) return location.reload(); // /practice alone: practise again
    return showReady();
  }
  const result = await verify(app.identity);
  if (result.centre) renderCentre(result.centre);
}

// Why the candidate cannot enter, in the hub's words; but a second entry that was used is
// not "not allowed": the hub's reason is the same (SPEC §8.3), the second exit tells them apart.
function nextMessage(item) {
  if (item.next.why === "reentry_not_permitted" && item.interruptions.exits >= 2) return t("centre.reentry_used");
  return i18n.message(item.next.message);
}

function renderCentre(centre) {
  app.lastCentre = centre;
  if (centre.hr_contact) app.hrContact = centre.hr_contact;
  renderContact($("centre-contact"));
  const list = $("centre-list");
  list.replaceChildren();
  const mine = centre.interviews.find((item) => item.interview_id === interviewId);
  // why the candidate is here: the hub's reason when they cannot enter, or a lost connection
  const lost = app.connectionLost && mine?.next.action === "continue";
  const summary = mine?.next.message ? nextMessage(mine) : lost ? t("centre.lost") : "";
  $("centre-summary").hidden = !summary;
  $("centre-summary").textContent = summary;
  for (const item of centre.interviews) {
    const li = document.createElement("li");
    li.dataset.id = item.interview_id;
    li.dataset.state = item.state;
    const title = document.createElement("div");
    title.className = "title";
    title.textContent = item.position;
    const state = document.createElement("span");
    state.className = "state";
    state.textContent = t(`state.${item.state}`);
    title.append(state);
    const progress = document.createElement("div");
    progress.textContent = progressText("progress.label", item.progress);
    const interruptions = document.createElement("div");
    interruptions.className = "note";
    interruptions.textContent = t("centre.interruptions", item.interruptions);
    const next = document.createElement("div");
    next.className = "next";
    const action = item.next.action;
    const key = action === "continue" && !item.next.until_ms ? "centre.next.continue_open" : `centre.next.${action}`;
    // When the candidate cannot enter, the hub says why (the reason a join would get).
    next.textContent = item.next.message
      ? nextMessage(item)
      : t(key, { until: formatTime(item.next.until_ms, i18n.lang) });
    li.append(title, progress, interruptions, next);
    if (item.interview_id === interviewId && item.consent?.review) {
      // the candidate's choice, and the right to ask for human-only review at any time
      if (item.consent.review === "human_only") {
        const held = document.createElement("div");
        held.className = "consent-state";
        held.dataset.review = "human_only";
        held.textContent = t("consent.human_requested");
        li.append(held);
      } else {
        const ask = document.createElement("button");
        ask.type = "button";
        ask.className = "secondary";
        ask.id = "ask-human-only";
        ask.textContent = t("consent.ask_human");
        ask.addEventListener("click", () => askHumanOnly(item, ask));
        li.append(ask);
      }
    }
    if (item.interview_id === interviewId && action === "contact_hr") renderHelp(li, item);
    if (item.interview_id === interviewId && ["start", "continue", "reenter"].includes(action)) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "primary";
      button.dataset.action = "open";
      button.textContent = t("centre.open");
      button.addEventListener("click", openFromCentre);
      li.append(button);
    }
    list.append(li);
  }
  show("centre");
}

// --- wiring -----------------------------------------------------------------------------------
function main() {
  i18n.apply(document);
  document.title = t("app.title");
  i18n.onChange(() => {
    document.title = t("app.title");
  });
  bindLangSelect($("lang"), i18n);
  i18n.onChange(() => {
    renderProgress(app.progress);
    renderStopped();
    if (app.question && !$("screen-question").hidden) {
      $("question-number").textContent = t("question.of", { n: app.question.q + 1, total: app.question.total });
      updateFinishButton();
    }
    if (app.session) ui.saveState(app.session.saveState());
    if (app.connState) ui.connection(app.connState);
    if ($("exit-dialog").open && app.lastPreview) openExitDialog(app.lastPreview);
    if ($("skip-dialog").open) renderSkip();
    renderTimeUp();
    renderReentryNote();
    for (const [id, c] of Object.entries(app.checks || {})) setCheck(id, c.status, t(c.key, c.vars));
    if (!$("screen-centre").hidden && app.lastCentre) renderCentre(app.lastCentre);
    if (!$("screen-ready").hidden) showReady();
    if (!$("screen-consent").hidden) renderNotice();
    if (!$("screen-takeover").hidden) renderTakeover();
  });

  $("identity-form").addEventListener("submit", onIdentitySubmit);
  $("consent-form").addEventListener("submit", onConsentSubmit);
  $("device-continue").addEventListener("click", showReady);
  $("practice-start").addEventListener("click", () => startSession({ practice: true }));
  $("interview-start").addEventListener("click", startInterview);
  $("answer").addEventListener("input", (event) => {
    app.session?.typed($("answer").value); // remembered at once, sent within 150 ms
    if (!event.isComposing) scheduleEdit(); // an IME's unfinished pinyin is not an answer
  });
  $("answer").addEventListener("compositionend", () => scheduleEdit());
  $("answer").addEventListener("blur", () => flushEdit());
  $("finish").addEventListener("click", onFinish);
  $("speak").addEventListener("click", speakQuestion);
  $("exit-open").addEventListener("click", onExitOpen);
  $("exit-confirm").addEventListener("click", onExitConfirm);
  $("exit-cancel").addEventListener("click", onExitCancel);
  $("exit-dialog").addEventListener("cancel", (event) => {
    event.preventDefault(); // Escape means "stay"
    onExitCancel();
  });
  $("stopped-centre").addEventListener("click", openCentre);
  $("time-up-go").addEventListener("click", moveOnAfterTimeUp);
  $("skip-confirm").addEventListener("click", () => {
    closeSkipDialog();
    finishAnswer();
  });
  $("skip-cancel").addEventListener("click", onSkipCancel);
  $("skip-dialog").addEventListener("cancel", (event) => {
    event.preventDefault(); // Escape means "keep answering"
    onSkipCancel();
  });
  $("takeover-continue").addEventListener("click", startInterview);
  $("takeover-cancel").addEventListener("click", openCentre);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !$("exit-open").hidden && !$("exit-dialog").open) onExitOpen();
  });
  window.addEventListener("pagehide", () => flushEdit());
  // After an idle close the session waits for the candidate: any activity reconnects it.
  for (const kind of ["keydown", "pointerdown", "focus"]) {
    window.addEventListener(kind, () => app.session?.wake?.(), true);
  }

  if (location.pathname === "/practice") {
    $("practice-banner").hidden = false;
    return startSession({ practice: true });
  }
  if (!token) {
    show("identity");
    $("identity-form").hidden = true;
    return showError($("identity-error"), t("identity.no_link"));
  }
  if (app.identity) {
    // A reload: verify again with what this tab remembers and carry on.
    verify(app.identity).then((result) => {
      if (result.centre) route(result.centre);
      else {
        sessionStorage.removeItem(identityKey);
        show("identity");
        showError($("identity-error"), result.error);
      }
    });
    return;
  }
  show("identity");
  $("identity").focus();
}

// Typing streams: edits go out at most every 150 ms, and at once on blur, finish or exit.
let editTimer = null;
function scheduleEdit() {
  // Never show "saved" while an edit is still only in the box.
  if (app.session && !app.session.final) ui.saveState(app.session.connected ? "saving" : "offline");
  if (editTimer) return;
  editTimer = setTimeout(flushEdit, 150);
}

function flushEdit() {
  clearTimeout(editTimer);
  editTimer = null;
  if (app.session && !app.session.final && !$("answer").disabled) app.session.edit($("answer").value);
}

// "Next" on an empty answer asks first: an empty box is more often a slip than a choice.
// While the camera or microphone records, the answer may be spoken: no question then.
function onFinish() {
  const recording = app.mediaStateNow === "connected";
  if (!$("answer").value.trim() && !recording && app.lockedQ !== app.question?.q) {
    renderSkip();
    $("skip-dialog").showModal();
    $("skip-cancel").focus();
    return;
  }
  return finishAnswer();
}

function renderSkip() {
  $("skip-message").textContent = t("skip.message", { n: (app.question?.q ?? 0) + 1 });
}

function closeSkipDialog() {
  if ($("skip-dialog").open) $("skip-dialog").close();
}

function onSkipCancel() {
  closeSkipDialog();
  $("answer").focus();
}

async function finishAnswer() {
  flushEdit();
  const q = app.question?.q;
  app.finishing = true;
  $("answer").disabled = true; // what is typed now would belong to no question
  updateFinishButton();
  try {
    const sent = await app.session.finish();
    if (!sent && app.question?.q === q && app.lockedQ !== q && !app.session.final) {
      $("answer").disabled = false; // not finished (offline): keep answering
    }
  } finally {
    app.finishing = false;
    updateFinishButton();
  }
}

function speakQuestion() {
  if (!window.speechSynthesis || !app.question) return;
  const utterance = new SpeechSynthesisUtterance(app.question.text);
  utterance.lang = i18n.lang;
  speechSynthesis.cancel();
  speechSynthesis.speak(utterance);
}

main();
