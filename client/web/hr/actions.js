// The detail's actions: end, erase, reset, second entry, a new link. Part of the HR console (console.js).
import { $, act, actOn, clearBanners, currentId, openDialog, showDone, state } from "./core.js";
import { renderDetail, scheduleDetailRefresh } from "./detail.js";
import { scheduleListRefresh } from "./list.js";

// The end dialog serves the detail's button and a list row's: the interview it ends, and
// the button to give the focus back to.
let endTarget = { id: "", opener: null };

export function openEnd(id, opener) {
  endTarget = { id, opener };
  $("end-note").value = "";
  openDialog($("end-dialog"), $("end-note"));
}

$("end-open").addEventListener("click", () => openEnd(currentId(), $("end-open")));
$("end-cancel").addEventListener("click", () => $("end-dialog").close());
$("end-confirm").addEventListener("click", async () => {
  const { id, opener } = endTarget;
  const button = $("end-confirm");
  button.disabled = true;
  const body = await actOn(id, "POST", "/end", { confirm: true, note: $("end-note").value });
  button.disabled = false;
  $("end-dialog").close();
  if (body) {
    if (state.detail?.id === id && state.detail.data) {
      state.detail.data.state = body.state;
      state.detail.data.progress = body.progress;
      renderDetail();
      scheduleDetailRefresh(); // who ended it and when, as the hub recorded them
    }
    showDone("done.ended");
    scheduleListRefresh();
  }
  opener?.focus();
});

// A row's "grant second entry": the default window (the detail sets another).
export async function grantReentry(id) {
  clearBanners();
  if (await actOn(id, "POST", "/reentry", { grant: true })) {
    showDone("done.reentry_granted");
    scheduleListRefresh();
  }
}

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

export function showLink(link) {
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
