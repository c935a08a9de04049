// People > Keys and tokens: the token signing keys (keys.rotate: rotate, retire a retiring key)
// and courier tokens (fleet.write: revoke one by id; with audit.read the recently issued ones are
// listed from the audit log, which names each token but never holds its text).
import { act, button, form, h, when } from "./people_shared.js";

async function keysSection(ctx, rerender) {
  const { t, api, ui } = ctx;
  const section = h(ctx, "section", { class: "card", "aria-labelledby": "keys-h" }, h(ctx, "h2", { id: "keys-h" }, t("people.keys_title")));
  let keys;
  try {
    keys = (await api.get("/internal/v1/keys")).items;
  } catch (e) {
    section.append(ui.errorBox(e));
    return section;
  }
  section.append(h(ctx, "p", { class: "hint" }, t("people.keys_hint")));
  section.append(ui.table({
    caption: t("people.keys_caption"),
    columns: [
      { key: "key_id", label: t("people.key_id") },
      { key: "status", label: t("people.status"), render: (k) => t(`people.key_${k.status}`) },
      { key: "created_at", label: t("people.created_at"), render: (k) => when(k.created_at) },
      { key: "retired_at", label: t("people.key_retired_at"), render: (k) => when(k.retired_at) },
      { key: "public_pem", label: t("people.key_public"),
        render: (k) => h(ctx, "details", {}, h(ctx, "summary", {}, t("people.key_show")), h(ctx, "pre", {}, k.public_pem)) },
      { key: "actions", label: t("people.actions"),
        render: (k) => (k.status === "retiring"
          ? button(ctx, t("people.key_retire"), async () => {
              const ok = await ui.confirm({ title: t("people.key_retire"), message: t("people.key_retire_message", { id: k.key_id }), confirmLabel: t("people.key_retire"), danger: true });
              if (ok.ok && (await act(ctx, () => api.post(`/internal/v1/keys/${k.key_id}/retire`), t("people.key_retired")))) await rerender();
            }, { class: "danger", "data-testid": `key-retire-${k.key_id}` })
          : "\u2014") },
    ],
    rows: keys,
  }));
  section.append(button(ctx, t("people.key_rotate"), async () => {
    const ok = await ui.confirm({ title: t("people.key_rotate"), message: t("people.key_rotate_message"), confirmLabel: t("people.key_rotate") });
    if (ok.ok && (await act(ctx, () => api.post("/internal/v1/keys/rotate"), t("people.key_rotated")))) await rerender();
  }, { "data-testid": "key-rotate" }));
  return section;
}

async function revoke(ctx, tokenId, rerender) {
  const { t, api, ui } = ctx;
  const ok = await ui.confirm({ title: t("people.token_revoke"), message: t("people.token_revoke_message", { id: tokenId }), confirmLabel: t("people.token_revoke"), danger: true });
  if (ok.ok && (await act(ctx, () => api.post(`/internal/v1/tokens/${encodeURIComponent(tokenId)}/revoke`), t("people.token_revoked")))) {
    await rerender();
  }
}

async function tokensSection(ctx, rerender) {
  const { t, api, ui } = ctx;
  const section = h(ctx, "section", { class: "card", "aria-labelledby": "tokens-h" }, h(ctx, "h2", { id: "tokens-h" }, t("people.tokens_title")));
  section.append(form(ctx, {
    label: t("people.token_revoke"),
    testid: "token-revoke",
    fields: [ui.field({ label: t("people.token_id"), name: "token_id", required: true })],
    submit: t("people.token_revoke"),
    onSubmit: async (v) => revoke(ctx, v.token_id, rerender),
  }));
  if (ctx.can("audit.read")) {
    try {
      const page = await api.get("/internal/v1/audit", { action: "tokens.courier", outcome: "ok", limit: 20 });
      const rows = page.items.filter((e) => e.after && e.after.token_id);
      section.append(ui.table({
        caption: t("people.tokens_recent"),
        columns: [
          { key: "at", label: t("people.token_issued"), render: (e) => when(e.at) },
          { key: "token_id", label: t("people.token_id"), render: (e) => h(ctx, "code", {}, e.after.token_id) },
          { key: "box", label: t("people.token_box"), render: (e) => e.target_id || "\u2014" },
          { key: "compartments", label: t("people.token_compartments"), render: (e) => (e.after.compartments || []).join(", ") },
          { key: "action", label: t("people.token_action"), render: (e) => e.after.action || "\u2014" },
          { key: "expires", label: t("people.token_expires"), render: (e) => when(e.after.expires) },
          { key: "revoke", label: t("people.actions"),
            render: (e) => (new Date(e.after.expires) > new Date()
              ? button(ctx, t("people.token_revoke"), () => revoke(ctx, e.after.token_id, rerender), { class: "danger" })
              : t("people.token_expired")) },
        ],
        rows,
      }));
    } catch (e) {
      section.append(ui.errorBox(e));
    }
  }
  return section;
}

async function render(root, ctx) {
  const rerender = () => render(root, ctx);
  const parts = [h(ctx, "h1", { tabindex: -1 }, ctx.t("people.keys_page_title"))];
  if (ctx.can("keys.rotate")) parts.push(await keysSection(ctx, rerender));
  if (ctx.can("fleet.write")) parts.push(await tokensSection(ctx, rerender));
  root.replaceChildren(...parts);
}

export default {
  id: "keys",
  routes: ["keys"],
  nav: { label: "people.nav_keys", permission: "fleet.write", group: "people" },
  async render(root, params, ctx) {
    await render(root, ctx);
  },
};
