// People > Coupons: every offline coupon with its usage (filter by customer), issuing one
// (prices.write: percent off or an amount, optionally for one customer) and redeeming one by code
// at a counter (orders.read_assigned; a second redemption is refused by the server).
import { form, h, money, select, when } from "./people_shared.js";

function value(ctx, c) {
  if (c.percent_off) return ctx.t("people.coupon_percent", { percent: c.percent_off });
  return money(c.amount_cents);
}

function usage(ctx, c) {
  const { t } = ctx;
  if (!c.redeemed_at) return new Date(c.expires_at) < new Date() ? t("people.coupon_expired") : t("people.coupon_unused");
  const r = c.redemption || {};
  return t("people.coupon_redeemed", { when: when(c.redeemed_at), place: r.place || "\u2014",
                                       by: r.redeemed_by ? `#${r.redeemed_by}` : t("people.coupon_by_customer") });
}

// A render that a newer one overtook (an action while the list loaded) stops.
let renderSeq = 0;

async function render(root, ctx, customerId) {
  const { t, api, ui } = ctx;
  const mine = ++renderSeq;
  const rerender = () => render(root, ctx, customerId);
  root.replaceChildren(h(ctx, "h1", { tabindex: -1 }, customerId ? t("people.coupons_of", { id: customerId }) : t("people.coupons_title")));
  if (customerId) root.append(h(ctx, "p", {}, h(ctx, "a", { href: "#/coupons" }, t("people.coupons_all"))));

  if (ctx.can("customers.read_masked")) {
    const filter = form(ctx, {
      label: t("people.coupons_filter"),
      testid: "coupon-filter",
      fields: [ui.field({ label: t("people.customer_id"), name: "customer_id", type: "number", value: customerId || "" })],
      submit: t("people.search"),
      onSubmit: async (v) => ctx.navigate(v.customer_id ? `#/coupons/customer/${encodeURIComponent(v.customer_id)}` : "#/coupons"),
    });
    filter.classList.add("filters");
    root.append(filter);
    try {
      const query = customerId ? { customer_id: customerId } : {};
      const items = (await api.get("/internal/v1/coupons", query)).items;
      if (mine !== renderSeq) return;
      root.append(ui.table({
        caption: t("people.coupons_caption", { count: items.length }),
        columns: [
          { key: "code", label: t("people.coupon_code"), render: (c) => h(ctx, "code", {}, c.code) },
          { key: "value", label: t("people.coupon_value"), render: (c) => value(ctx, c) },
          { key: "customer_id", label: t("people.customer"),
            render: (c) => (c.customer_id ? h(ctx, "a", { href: `#/customers/${c.customer_id}` }, `#${c.customer_id}`) : t("people.coupon_anyone")) },
          { key: "source", label: t("people.coupon_source"), render: (c) => t(`people.coupon_source_${c.source}`) },
          { key: "description", label: t("people.description") },
          { key: "issued_at", label: t("people.coupon_issued"), render: (c) => when(c.issued_at) },
          { key: "expires_at", label: t("people.coupon_expires"), render: (c) => when(c.expires_at) },
          { key: "usage", label: t("people.coupon_usage"), render: (c) => usage(ctx, c) },
        ],
        rows: items,
      }));
    } catch (e) {
      root.append(ui.errorBox(e));
    }
  }

  if (ctx.can("prices.write")) {
    root.append(h(ctx, "section", { class: "card", "aria-labelledby": "coupon-issue-h" },
      h(ctx, "h2", { id: "coupon-issue-h" }, t("people.coupon_issue")),
      form(ctx, {
        label: t("people.coupon_issue"),
        testid: "coupon-issue",
        fields: [
          select(ctx, { label: t("people.coupon_kind"), name: "kind", value: "percent",
                        options: [{ value: "percent", label: t("people.coupon_kind_percent") },
                                  { value: "amount", label: t("people.coupon_kind_amount") }] }),
          ui.field({ label: t("people.coupon_amount"), name: "amount", type: "number", required: true }),
          ui.field({ label: t("people.customer_id_optional"), name: "customer_id", type: "number", value: customerId || "" }),
          ui.field({ label: t("people.description"), name: "description" }),
          ui.field({ label: t("people.coupon_valid_days"), name: "valid_days", type: "number", value: "30" }),
        ],
        submit: t("people.coupon_issue_submit"),
        onSubmit: async (v) => {
          const body = {};
          const n = Number(v.amount);
          if (v.kind === "percent") body.percent_off = n;
          else body.amount_cents = Math.round(n * 100);
          if (v.customer_id) body.customer_id = Number(v.customer_id);
          if (v.description) body.description = v.description;
          if (v.valid_days) body.valid_days = Number(v.valid_days);
          const c = await api.post("/internal/v1/coupons", body);
          ui.toast(t("people.coupon_issued_toast", { code: c.code }), "ok");
          await rerender();
        },
      })));
  }

  if (ctx.can("orders.read_assigned")) {
    root.append(h(ctx, "section", { class: "card", "aria-labelledby": "coupon-redeem-h" },
      h(ctx, "h2", { id: "coupon-redeem-h" }, t("people.coupon_redeem")),
      form(ctx, {
        label: t("people.coupon_redeem"),
        testid: "coupon-redeem",
        fields: [
          ui.field({ label: t("people.coupon_code"), name: "code", required: true }),
          ui.field({ label: t("people.coupon_place"), name: "place" }),
        ],
        submit: t("people.coupon_redeem_submit"),
        onSubmit: async (v) => {
          const body = { code: v.code };
          if (v.place) body.place = v.place;
          const c = await api.post("/internal/v1/coupons/redeem", body);
          ui.toast(t("people.coupon_redeemed_toast", { code: c.code, value: value(ctx, c) }), "ok");
          await rerender();
        },
      })));
  }
}

export default {
  id: "coupons",
  routes: ["coupons", "coupons/customer/:id"],
  nav: { label: "people.nav_coupons", permission: "customers.read_masked", group: "people" },
  async render(root, params, ctx) {
    await render(root, ctx, params && params.id ? params.id : "");
  },
};
