// People > Customers: the list (email search, paging), one customer's page with coin balance and
// order counts, the GDPR export (download as JSON) and erase (confirmed), and a
// coin correction. Personal data is masked by the server unless the staff member has
// customers.read_full; the page says so rather than pretending to hide anything itself.
import { act, button, downloadJson, form, h, prevNext, when } from "./people_shared.js";

const kPageSize = 25;
const state = { email: "", offset: 0 };

// A list render that a newer one overtook (filters applied while it loaded) stops.
let renderSeq = 0;

async function renderList(root, ctx) {
  const mine = ++renderSeq;
  const { t, api, ui } = ctx;
  root.replaceChildren(h(ctx, "h1", { tabindex: -1 }, t("people.customers_title")));
  if (!ctx.can("customers.read_full")) {
    root.append(h(ctx, "p", { class: "hint", "data-testid": "customers-masked-note" }, t("people.customers_masked_note")));
  }
  const search = form(ctx, {
    label: t("people.customers_search"),
    testid: "customer-search",
    fields: [ui.field({ label: t("people.email"), name: "email", type: "search", value: state.email })],
    submit: t("people.search"),
    onSubmit: async (v) => {
      state.email = v.email || "";
      state.offset = 0;
      await renderList(root, ctx);
    },
  });
  search.classList.add("filters");
  root.append(search);
  const query = { limit: kPageSize + 1, offset: state.offset };
  if (state.email) query.email = state.email;
  let page;
  try {
    page = await api.get("/internal/v1/customers", query);
  } catch (e) {
    if (mine === renderSeq) root.append(ui.errorBox(e));
    return;
  }
  if (mine !== renderSeq) return;
  // One more than a page was asked for: whether it came back says if there is a next page.
  const rows = page.items.slice(0, kPageSize);
  root.append(ui.table({
    caption: t("people.customers_caption"),
    columns: [
      { key: "id", label: t("people.id") },
      { key: "email", label: t("people.email"),
        render: (c) => h(ctx, "a", { href: `#/customers/${c.id}`, "data-testid": "customer-link" }, c.email) },
      { key: "display_name", label: t("people.name") },
      { key: "status", label: t("people.status"), render: (c) => (c.erased_at ? t("people.erased") : c.status) },
      { key: "created_at", label: t("people.created_at"), render: (c) => when(c.created_at) },
    ],
    rows,
  }));
  root.append(prevNext(ctx, {
    hasPrev: state.offset > 0,
    hasNext: page.items.length > kPageSize,
    onPrev: async () => {
      state.offset = Math.max(0, state.offset - kPageSize);
      await renderList(root, ctx);
    },
    onNext: async () => {
      state.offset += kPageSize;
      await renderList(root, ctx);
    },
  }));
}

async function renderCustomer(root, ctx, id) {
  const { t, api, ui } = ctx;
  let c;
  try {
    c = await api.get(`/internal/v1/customers/${encodeURIComponent(id)}`);
  } catch (e) {
    root.replaceChildren(h(ctx, "p", {}, h(ctx, "a", { href: "#/customers" }, t("people.back_customers"))), ui.errorBox(e));
    return;
  }
  const rerender = () => renderCustomer(root, ctx, id);
  const full = ctx.can("customers.read_full");
  const parts = [
    h(ctx, "p", {}, h(ctx, "a", { href: "#/customers" }, t("people.back_customers"))),
    h(ctx, "h1", { tabindex: -1, "data-testid": "customer-title" }, t("people.customer_title", { id: c.id })),
    c.masked ? h(ctx, "p", { class: "hint", "data-testid": "customer-masked" }, t("people.customer_masked")) : null,
    h(ctx, "dl", { class: "facts", "data-testid": "customer-facts" },
      h(ctx, "dt", {}, t("people.email")), h(ctx, "dd", { "data-testid": "customer-email" }, c.email),
      h(ctx, "dt", {}, t("people.name")), h(ctx, "dd", {}, c.display_name || "\u2014"),
      h(ctx, "dt", {}, t("people.phone")), h(ctx, "dd", {}, c.phone || "\u2014"),
      h(ctx, "dt", {}, t("people.status")), h(ctx, "dd", {}, c.erased_at ? t("people.erased_at", { when: when(c.erased_at) }) : c.status),
      h(ctx, "dt", {}, t("people.created_at")), h(ctx, "dd", {}, when(c.created_at)),
      h(ctx, "dt", {}, t("people.coins")), h(ctx, "dd", { "data-testid": "customer-coins" }, String(c.coin_balance ?? 0)),
      h(ctx, "dt", {}, t("people.donations")), h(ctx, "dd", {}, String(c.donations ?? 0)),
      h(ctx, "dt", {}, t("people.orders")), h(ctx, "dd", {}, String(c.orders ?? 0))),
    h(ctx, "p", {}, h(ctx, "a", { href: `#/coupons/customer/${c.id}` }, t("people.customer_coupons"))),
  ];

  if (full && !c.erased_at) {
    const gdpr = h(ctx, "section", { class: "card", "aria-labelledby": "gdpr-h" }, h(ctx, "h2", { id: "gdpr-h" }, t("people.gdpr")));
    gdpr.append(button(ctx, t("people.export"), async () => {
      const data = await act(ctx, () => api.get(`/internal/v1/customers/${c.id}/export`));
      if (data) {
        downloadJson(ctx, `customer-${c.id}-export.json`, data);
        ui.toast(t("people.exported"), "ok");
      }
    }, { "data-testid": "customer-export" }));
    gdpr.append(button(ctx, t("people.erase"), async () => {
      const answer = await ui.confirm({
        title: t("people.erase_title"),
        message: t("people.erase_message", { id: c.id }),
        confirmLabel: t("people.erase"),
        danger: true,
      });
      if (!answer.ok) return;
      if (await act(ctx, () => api.post(`/internal/v1/customers/${c.id}/erase`), t("people.erased_toast"))) await rerender();
    }, { class: "danger", "data-testid": "customer-erase" }));
    parts.push(gdpr);
  }
  if (ctx.can("prices.write") && !c.erased_at) {
    parts.push(h(ctx, "section", { class: "card", "aria-labelledby": "coins-h" },
      h(ctx, "h2", { id: "coins-h" }, t("people.coins_adjust")),
      form(ctx, {
        label: t("people.coins_adjust"),
        testid: "coins-form",
        fields: [
          ui.field({ label: t("people.coins_delta"), name: "delta", type: "number", required: true }),
          ui.field({ label: t("people.reason"), name: "reason", required: true }),
        ],
        submit: t("people.coins_submit"),
        onSubmit: async (v) => {
          const r = await api.post(`/internal/v1/customers/${c.id}/coins`, { delta: Number(v.delta), reason: v.reason });
          ui.toast(t("people.coins_done", { balance: String(r.balance ?? "") }), "ok");
          await rerender();
        },
      })));
  }
  root.replaceChildren(...parts.filter(Boolean));
}

export default {
  id: "customers",
  routes: ["customers", "customers/:id"],
  nav: { label: "people.nav_customers", permission: "customers.read_masked", group: "people" },
  async render(root, params, ctx) {
    if (params && params.id) await renderCustomer(root, ctx, params.id);
    else await renderList(root, ctx);
  },
};
