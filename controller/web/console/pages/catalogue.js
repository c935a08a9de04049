// Catalogue: products (paged list with filters, create, edit, withdraw/relist) and, for managers
// only (prices.write), the price change, with the price history drawn as a chart. Checkers
// (products.write without prices.write) see the products and the history but no price control;
// the server refuses a price call from them anyway (403, audited).
import { act, button, form, h, money, parseMoney, select, when } from "./people_shared.js";
import { priceChart } from "./chart_svg.js";

const kPageSize = 25;
const kStatuses = ["available", "reserved", "sold", "withdrawn"];
// Filters survive going to a product and back.
const filters = { q: "", status: "", unpriced: false, page: 1 };

function statusLabel(t, status) {
  return t(`catalogue.status_${status}`);
}

// A list render that a newer one overtook (filters applied while it loaded) stops.
let renderSeq = 0;

async function renderList(root, ctx) {
  const mine = ++renderSeq;
  const { t, api, ui } = ctx;
  root.replaceChildren(h(ctx, "h1", { tabindex: -1 }, t("catalogue.title")));

  const search = form(ctx, {
    label: t("catalogue.filters"),
    testid: "product-filters",
    fields: [
      ui.field({ label: t("catalogue.search"), name: "q", type: "search", value: filters.q }),
      select(ctx, {
        label: t("catalogue.status"),
        name: "status",
        value: filters.status,
        options: [{ value: "", label: t("catalogue.status_any") },
                  ...kStatuses.map((s) => ({ value: s, label: statusLabel(t, s) }))],
      }),
      select(ctx, {
        label: t("catalogue.price_filter"),
        name: "unpriced",
        value: filters.unpriced ? "true" : "",
        options: [{ value: "", label: t("catalogue.price_any") },
                  { value: "true", label: t("catalogue.price_none") }],
      }),
    ],
    submit: t("catalogue.apply"),
    onSubmit: async (v) => {
      filters.q = v.q || "";
      filters.status = v.status || "";
      filters.unpriced = v.unpriced === "true";
      filters.page = 1;
      await renderList(root, ctx);
    },
  });
  search.classList.add("filters");
  root.append(search);

  const query = { limit: kPageSize, offset: (filters.page - 1) * kPageSize };
  if (filters.q) query.q = filters.q;
  if (filters.status) query.status = filters.status;
  if (filters.unpriced) query.unpriced = "true";
  let page;
  try {
    page = await api.get("/internal/v1/products", query);
  } catch (e) {
    if (mine === renderSeq) root.append(ui.errorBox(e));
    return;
  }
  if (mine !== renderSeq) return;
  root.append(ui.table({
    caption: t("catalogue.list_caption", { total: page.total }),
    columns: [
      { key: "id", label: t("catalogue.id") },
      { key: "title", label: t("catalogue.product_title"),
        render: (p) => h(ctx, "a", { href: `#/catalogue/${p.id}`, "data-testid": "product-link" }, p.title) },
      { key: "category", label: t("catalogue.category") },
      { key: "size", label: t("catalogue.size") },
      { key: "condition", label: t("catalogue.condition") },
      { key: "price_cents", label: t("catalogue.price"), render: (p) => money(p.price_cents) },
      { key: "status", label: t("catalogue.status"), render: (p) => statusLabel(t, p.status) },
      { key: "listed", label: t("catalogue.listed"), render: (p) => (p.listed ? t("people.yes") : t("people.no")) },
    ],
    rows: page.items,
  }));
  root.append(ui.pager({
    page: filters.page,
    pageSize: kPageSize,
    total: page.total,
    onPage: async (n) => {
      filters.page = n;
      await renderList(root, ctx);
    },
  }));

  root.append(h(ctx, "h2", {}, t("catalogue.create")));
  root.append(form(ctx, {
    label: t("catalogue.create"),
    testid: "product-create",
    fields: productFields(ctx, {}),
    submit: t("catalogue.create_submit"),
    onSubmit: async (v) => {
      const created = await api.post("/internal/v1/products", textBody(v));
      ui.toast(t("catalogue.created", { title: created.title }), "ok");
      ctx.navigate(`#/catalogue/${created.id}`);
    },
  }));
}

function productFields(ctx, p) {
  const { t, ui } = ctx;
  return [
    ui.field({ label: t("catalogue.product_title"), name: "title", value: p.title || "", required: true }),
    ui.field({ label: t("catalogue.category"), name: "category", value: p.category || "", required: true }),
    ui.field({ label: t("catalogue.size"), name: "size", value: p.size || "" }),
    ui.field({ label: t("catalogue.condition"), name: "condition", value: p.condition || "" }),
    ui.field({ label: t("catalogue.description"), name: "description", type: "textarea", value: p.description || "" }),
  ];
}

function textBody(v) {
  const body = {};
  for (const k of ["title", "category", "size", "condition", "description"]) {
    if (v[k] !== undefined && (v[k] !== "" || k === "description")) body[k] = v[k];
  }
  return body;
}

function historyPoints(p) {
  return [...(p.price_history || [])]
    .sort((a, b) => new Date(a.changed_at) - new Date(b.changed_at))
    .map((r) => ({ at: new Date(r.changed_at), cents: r.new_price_cents, row: r }));
}

function historySection(ctx, p) {
  const { t, ui } = ctx;
  const points = historyPoints(p);
  const section = h(ctx, "section", { "aria-labelledby": "price-history-h", "data-testid": "price-history" },
                    h(ctx, "h2", { id: "price-history-h" }, t("catalogue.history")));
  if (points.length === 0) {
    section.append(h(ctx, "p", { "data-testid": "price-history-empty" }, t("catalogue.history_empty")));
    return section;
  }
  const said = points.map((pt) => t("catalogue.history_point", { price: money(pt.cents), when: when(pt.row.changed_at) }));
  section.append(priceChart(points, {
    title: t("catalogue.chart_title", { title: p.title }),
    description: t("catalogue.chart_description", { count: points.length, series: said.join("; ") }),
    money,
    // Changes within two days are told apart by the time of day.
    date: (d) => (Date.now() - points[0].at.getTime() < 2 * 86400000
      ? d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" })
      : d.toLocaleDateString(undefined, { month: "short", day: "numeric" })),
    now: new Date(),
  }));
  section.append(ui.table({
    caption: t("catalogue.history_table"),
    columns: [
      { key: "changed_at", label: t("catalogue.changed_at"), render: (r) => when(r.changed_at) },
      { key: "old_price_cents", label: t("catalogue.old_price"), render: (r) => money(r.old_price_cents) },
      { key: "new_price_cents", label: t("catalogue.new_price"), render: (r) => money(r.new_price_cents) },
      { key: "changed_by", label: t("catalogue.changed_by") },
    ],
    rows: points.map((pt) => pt.row).reverse(),
  }));
  return section;
}

function priceSection(ctx, p, rerender) {
  const { t, api, ui } = ctx;
  const input = ui.field({ label: t("catalogue.new_price_label"), name: "price", value: p.price_cents ? money(p.price_cents) : "", required: true });
  const f = form(ctx, {
    label: t("catalogue.price_change"),
    testid: "price-form",
    fields: [input],
    submit: t("catalogue.price_submit"),
    onSubmit: async (v) => {
      const cents = parseMoney(v.price);
      if (cents === null || cents < 1) {
        ui.toast(t("catalogue.price_invalid"), "error");
        return;
      }
      await api.put(`/internal/v1/products/${p.id}/price`, { price_cents: cents });
      ui.toast(t("catalogue.price_saved", { price: money(cents) }), "ok");
      await rerender();
    },
  });
  return h(ctx, "section", { "aria-labelledby": "price-change-h" },
           h(ctx, "h2", { id: "price-change-h" }, t("catalogue.price_change")),
           h(ctx, "p", { class: "hint" }, t("catalogue.price_hint")), f);
}

async function renderProduct(root, ctx, id) {
  const { t, api, ui } = ctx;
  let p;
  try {
    p = await api.get(`/internal/v1/products/${encodeURIComponent(id)}`);
  } catch (e) {
    root.replaceChildren(h(ctx, "p", {}, h(ctx, "a", { href: "#/catalogue" }, t("catalogue.back"))), ui.errorBox(e));
    return;
  }
  const rerender = () => renderProduct(root, ctx, id);
  const facts = h(ctx, "dl", { class: "facts", "data-testid": "product-facts" },
                  h(ctx, "dt", {}, t("catalogue.price")), h(ctx, "dd", { "data-testid": "product-price" }, money(p.price_cents)),
                  h(ctx, "dt", {}, t("catalogue.status")), h(ctx, "dd", { "data-testid": "product-status" }, statusLabel(t, p.status)),
                  h(ctx, "dt", {}, t("catalogue.listed")), h(ctx, "dd", {}, p.listed ? t("people.yes") : t("people.no")),
                  h(ctx, "dt", {}, t("catalogue.created_at")), h(ctx, "dd", {}, when(p.created_at)),
                  h(ctx, "dt", {}, t("catalogue.updated_at")), h(ctx, "dd", {}, when(p.updated_at)));

  const edit = form(ctx, {
    label: t("catalogue.edit"),
    testid: "product-edit",
    fields: productFields(ctx, p),
    submit: t("catalogue.save"),
    onSubmit: async (v) => {
      await api.patch(`/internal/v1/products/${p.id}`, textBody(v));
      ui.toast(t("catalogue.saved"), "ok");
      await rerender();
    },
  });

  const withdrawable = p.status === "available" || p.status === "withdrawn";
  const toggle = withdrawable
    ? button(ctx, p.status === "available" ? t("catalogue.withdraw") : t("catalogue.relist"), async () => {
        const next = p.status === "available" ? "withdrawn" : "available";
        const ok = await ui.confirm({
          title: next === "withdrawn" ? t("catalogue.withdraw_title") : t("catalogue.relist_title"),
          message: t(next === "withdrawn" ? "catalogue.withdraw_message" : "catalogue.relist_message", { title: p.title }),
          confirmLabel: next === "withdrawn" ? t("catalogue.withdraw") : t("catalogue.relist"),
          danger: next === "withdrawn",
        });
        if (!ok.ok) return;
        if (await act(ctx, () => api.patch(`/internal/v1/products/${p.id}`, { status: next }),
                      next === "withdrawn" ? t("catalogue.withdrawn") : t("catalogue.relisted"))) {
          await rerender();
        }
      }, { "data-testid": "product-withdraw" })
    : h(ctx, "p", { class: "hint" }, t("catalogue.not_withdrawable", { status: statusLabel(t, p.status) }));

  const parts = [
    h(ctx, "p", {}, h(ctx, "a", { href: "#/catalogue" }, t("catalogue.back"))),
    h(ctx, "h1", { tabindex: -1, "data-testid": "product-title" }, `${p.title} (#${p.id})`),
    facts,
    ctx.can("prices.write") ? priceSection(ctx, p, rerender) : null,
    historySection(ctx, p),
    h(ctx, "section", { "aria-labelledby": "edit-h" }, h(ctx, "h2", { id: "edit-h" }, t("catalogue.edit")), edit),
    h(ctx, "section", { "aria-labelledby": "listing-h" }, h(ctx, "h2", { id: "listing-h" }, t("catalogue.listing")), toggle),
  ];
  root.replaceChildren(...parts.filter(Boolean));
  root.querySelectorAll("section").forEach((s) => s.classList.add("card"));
}

export default {
  id: "catalogue",
  routes: ["catalogue", "catalogue/:id"],
  nav: { label: "catalogue.nav", permission: "products.write", group: "catalogue" },
  async render(root, params, ctx) {
    if (params && params.id) await renderProduct(root, ctx, params.id);
    else await renderList(root, ctx);
  },
};
