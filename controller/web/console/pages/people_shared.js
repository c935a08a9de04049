// Helpers shared by the Catalogue and People pages (catalogue.js, customers.js, staff.js,
// coupons.js, keys.js, audit.js). Not a page: pages/index.js does not list it.
// Everything visible still comes from the i18n files through ctx.t.

// "12.34" from cents; the dash for no price. The currency is the controller's configuration
// (buying.currency), not the console's, so no symbol is guessed here.
export function money(cents) {
  if (cents === null || cents === undefined) return "\u2014";
  const sign = cents < 0 ? "-" : "";
  const abs = Math.abs(cents);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, "0")}`;
}

// Cents from what a person types ("12", "12.5", "12,50"); null when it is not an amount.
export function parseMoney(text) {
  const m = String(text).trim().replace(",", ".").match(/^(\d{1,7})(?:\.(\d{1,2}))?$/);
  if (!m) return null;
  return Number(m[1]) * 100 + Number((m[2] || "0").padEnd(2, "0"));
}

export function when(iso) {
  if (!iso) return "\u2014";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

// el() that drops null/false children, so conditional parts read naturally.
export function h(ctx, tag, attrs, ...children) {
  return ctx.ui.el(tag, attrs || {}, ...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

export function on(node, event, fn) {
  node.addEventListener(event, fn);
  return node;
}

export function button(ctx, label, onClick, attrs = {}) {
  return on(h(ctx, "button", { type: "button", ...attrs }, label), "click", onClick);
}

// A labelled <select> with {value, label} options (ui.field draws it).
export function select(ctx, { label, name, options, value }) {
  return ctx.ui.field({ label, name, options, value });
}

export function checkbox(ctx, { label, name, checked, value }) {
  const id = `c-${name}-${value ?? ""}-${Math.random().toString(36).slice(2, 8)}`;
  const box = h(ctx, "input", { type: "checkbox", id, name, value: value ?? "on" });
  box.checked = Boolean(checked);
  return h(ctx, "div", { class: "check" }, box, h(ctx, "label", { for: id }, label));
}

// A form whose submit calls onSubmit(values) with the trimmed text values (checkboxes: arrays of
// checked values); an ApiError is shown in the form (ui.errorBox), others are rethrown.
export function form(ctx, { label, fields, submit, onSubmit, testid }) {
  const errors = h(ctx, "div", { class: "form-errors", "aria-live": "polite" });
  const attrs = { "aria-label": label, class: "panel-form" };
  if (testid) attrs["data-testid"] = testid;
  const f = h(ctx, "form", attrs, ...fields, errors, h(ctx, "button", { type: "submit", class: "primary" }, submit));
  on(f, "submit", async (ev) => {
    ev.preventDefault();
    errors.replaceChildren();
    const data = new FormData(f);
    const values = {};
    for (const [k, v] of data.entries()) {
      const box = f.querySelector(`input[type=checkbox][name="${CSS.escape(k)}"]`);
      if (box) (values[k] = values[k] || []).push(v);
      else values[k] = typeof v === "string" ? v.trim() : v;
    }
    const button = f.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await onSubmit(values, f);
    } catch (e) {
      if (e && e.status !== undefined) errors.replaceChildren(ctx.ui.errorBox(e));
      else throw e;
    } finally {
      button.disabled = false;
    }
  });
  return f;
}

// Runs an API action; an ApiError becomes a toast instead of an unhandled rejection.
export async function act(ctx, fn, okMessage) {
  try {
    const result = await fn();
    if (okMessage) ctx.ui.toast(okMessage, "ok");
    return result;
  } catch (e) {
    if (e && e.status !== undefined) {
      ctx.ui.toast(`${e.message} (${e.code})`, "error");
      return undefined;
    }
    throw e;
  }
}

// Prev/next for lists that page by offset without telling the total (customers, audit).
export function prevNext(ctx, { hasPrev, hasNext, onPrev, onNext, label }) {
  const prev = button(ctx, ctx.t("people.prev"), onPrev, { "data-testid": "page-prev" });
  const next = button(ctx, ctx.t("people.next"), onNext, { "data-testid": "page-next" });
  prev.disabled = !hasPrev;
  next.disabled = !hasNext;
  return h(ctx, "nav", { class: "pager", "aria-label": label || ctx.t("people.pages") }, prev, next);
}

// Offers JSON as a file download (the customer export).
export function downloadJson(ctx, filename, data) {
  const blob = new Blob([JSON.stringify(data, null, 2)], { type: "application/json" });
  const url = URL.createObjectURL(blob);
  const a = h(ctx, "a", { href: url, download: filename }, filename);
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
