// An interview's reports and a person's review of them. Part of the HR console (console.js).
import { $, act, can, clearBanners, ivPath, renderBanners, showDone, state, t } from "./core.js";

export function renderReports() {
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

// --- a person's review: an override with its reason, a decision ----------------------------

export async function saveReview(rest, body) {
  const made = await act("POST", rest, body);
  if (!made) return;
  state.detail?.reports.add(made.version);
  renderReports();
  showDone("done.review", { v: made.version });
}

$("report-auto").addEventListener("change", async () => {
  const box = $("report-auto");
  // while the change is on its way, a detail refresh (a live event) must not put back the
  // state it read before; the hub's answer then says what is true
  box.dataset.pending = "1";
  const done = await act("PUT", "/report_auto", { on: box.checked });
  delete box.dataset.pending;
  if (!done) {
    box.checked = !box.checked; // refused: show what is true
    return;
  }
  box.checked = done.report_auto;
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
