// The detail's actions: end, erase, reset, second entry, a new link. Part of the HR console (console.js).
import { $, act, clearBanners, openDialog, showDone, state } from "./core.js";
import { renderDetail, scheduleDetailRefresh } from "./detail.js";

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
