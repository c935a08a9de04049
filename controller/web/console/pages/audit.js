// People > Audit log: newest first, filtered by actor, action, target, outcome and time, paged by
// the API's keyset (next_before_id); each row opens to its before/after and request id.
import { form, h, prevNext, select, when } from "./people_shared.js";

const kPageSize = 50;
const state = { filters: {}, cursors: [] };  // cursors: the before_id of each page shown so far
// A render that a newer one (a filter applied while the first page loads) overtook must not
// append its stale table after the newer one's.
let renderSeq = 0;

function filterForm(ctx, onApply) {
  const { t, ui } = ctx;
  const f = state.filters;
  const fields = [
    select(ctx, { label: t("people.audit_actor_kind"), name: "actor_kind", value: f.actor_kind,
                  options: [{ value: "", label: t("people.any") },
                            ...["staff", "customer", "anonymous", "system"].map((k) => ({ value: k, label: t(`people.actor_${k}`) }))] }),
    ui.field({ label: t("people.audit_actor_id"), name: "actor_id", type: "number", value: f.actor_id || "" }),
    ui.field({ label: t("people.audit_action"), name: "action", value: f.action || "" }),
    ui.field({ label: t("people.audit_target_type"), name: "target_type", value: f.target_type || "" }),
    ui.field({ label: t("people.audit_target_id"), name: "target_id", value: f.target_id || "" }),
    select(ctx, { label: t("people.audit_outcome"), name: "outcome", value: f.outcome,
                  options: [{ value: "", label: t("people.any") }, { value: "ok", label: t("people.outcome_ok") },
                            { value: "denied", label: t("people.outcome_denied") }] }),
    ui.field({ label: t("people.audit_from"), name: "from", type: "datetime-local", value: f.fromLocal || "" }),
    ui.field({ label: t("people.audit_to"), name: "to", type: "datetime-local", value: f.toLocal || "" }),
  ];
  const fm = form(ctx, {
    label: t("people.audit_filters"),
    testid: "audit-filters",
    fields,
    submit: t("people.apply"),
    onSubmit: async (v) => {
      const next = {};
      for (const k of ["actor_kind", "actor_id", "action", "target_type", "target_id", "outcome"]) if (v[k]) next[k] = v[k];
      // datetime-local is the browser's local time; the API wants RFC 3339.
      if (v.from) Object.assign(next, { from: new Date(v.from).toISOString(), fromLocal: v.from });
      if (v.to) Object.assign(next, { to: new Date(v.to).toISOString(), toLocal: v.to });
      state.filters = next;
      state.cursors = [];
      await onApply();
    },
  });
  fm.classList.add("filters");
  return fm;
}

function detail(ctx, e) {
  const { t } = ctx;
  const json = (v) => (v === null || v === undefined ? "\u2014" : JSON.stringify(v, null, 2));
  return h(ctx, "details", {},
           h(ctx, "summary", {}, t("people.audit_more")),
           h(ctx, "dl", { class: "facts" },
             h(ctx, "dt", {}, t("people.audit_request")), h(ctx, "dd", {}, e.request_id || "\u2014"),
             h(ctx, "dt", {}, t("people.audit_address")), h(ctx, "dd", {}, e.address || "\u2014"),
             h(ctx, "dt", {}, t("people.audit_before")), h(ctx, "dd", {}, h(ctx, "pre", {}, json(e.before))),
             h(ctx, "dt", {}, t("people.audit_after")), h(ctx, "dd", {}, h(ctx, "pre", {}, json(e.after)))));
}

async function render(root, ctx) {
  const { t, api, ui } = ctx;
  const rerender = () => render(root, ctx);
  const mine = ++renderSeq;
  root.replaceChildren(h(ctx, "h1", { tabindex: -1 }, t("people.audit_title")), filterForm(ctx, rerender));
  const query = { limit: kPageSize };
  for (const k of ["actor_kind", "actor_id", "action", "target_type", "target_id", "outcome", "from", "to"]) {
    if (state.filters[k]) query[k] = state.filters[k];
  }
  const before = state.cursors[state.cursors.length - 1];
  if (before) query.before_id = before;
  let page;
  try {
    page = await api.get("/internal/v1/audit", query);
  } catch (e) {
    if (mine === renderSeq) root.append(ui.errorBox(e));
    return;
  }
  if (mine !== renderSeq) return;
  root.append(ui.table({
    caption: t("people.audit_caption", { count: page.items.length }),
    columns: [
      { key: "at", label: t("people.audit_at"), render: (e) => when(e.at) },
      { key: "actor", label: t("people.audit_actor"),
        render: (e) => (e.actor_id ? `${t(`people.actor_${e.actor_kind}`)} #${e.actor_id}` : t(`people.actor_${e.actor_kind}`)) },
      { key: "action", label: t("people.audit_action"), render: (e) => h(ctx, "code", {}, e.action) },
      { key: "target", label: t("people.audit_target"),
        render: (e) => (e.target_type ? `${e.target_type} ${e.target_id ?? ""}`.trim() : "\u2014") },
      { key: "outcome", label: t("people.audit_outcome"),
        render: (e) => h(ctx, "span", { class: `outcome outcome-${e.outcome}`, "data-testid": "audit-outcome" },
                         e.outcome === "denied" ? `${t("people.outcome_denied")}${e.reason ? `: ${e.reason}` : ""}` : t("people.outcome_ok")) },
      { key: "detail", label: t("people.audit_detail"), render: (e) => detail(ctx, e) },
    ],
    rows: page.items,
  }));
  root.append(prevNext(ctx, {
    label: t("people.audit_pages"),
    hasPrev: state.cursors.length > 0,
    hasNext: Boolean(page.next_before_id),
    onPrev: async () => {
      state.cursors.pop();
      await rerender();
    },
    onNext: async () => {
      state.cursors.push(page.next_before_id);
      await rerender();
    },
  }));
}

export default {
  id: "audit",
  routes: ["audit"],
  nav: { label: "people.nav_audit", permission: "audit.read", group: "people" },
  async render(root, params, ctx) {
    await render(root, ctx);
  },
};
