// The live monitor socket: its status, the live picture and the facts it brings. Part of the HR console (console.js).
import { foldText } from "/web/shared/answers.js";
import { loggedOut } from "./auth.js";
import { $, showDone, showError, state, t } from "./core.js";
import { onDetailEvent, openDetail, renderAnswerText, renderDetail, scheduleDetailRefresh } from "./detail.js";
import { scheduleFileRefresh } from "./file.js";
import { loadList, scheduleListRefresh } from "./list.js";
import { expectDelivery } from "./webhook.js";
import { Monitor } from "./monitor.js";

// --- the monitor --------------------------------------------------------------------------

export const monitor = new Monitor({
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

export let liveStatus = "offline";
export function renderStatus(status) {
  liveStatus = status;
  const el = $("live-status");
  el.dataset.status = status;
  $("live-status-text").textContent = t(`status.${status}`);
  el.setAttribute("aria-label", `${t("status.label")}: ${t(`status.${status}`)}`);
}

// The candidate's camera, live: the newest JPEG frame, and the audio level of each second.
export let liveFrameUrl = "";
export function onLiveMedia(msg) {
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

export function onFact(msg) {
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
