// A position's candidates side by side. Part of the HR console (console.js).
import { $, api, showError, state, t } from "./core.js";

// --- a position's candidates side by side -------------------------------------------------

export const DIMENSIONS = ["language_expression", "logical_thinking", "emotional_stability"];

export function scoreCell(d) {
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

export async function loadCompare() {
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
