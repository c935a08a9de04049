// People > Staff and roles: the staff list, creating a staff account, one staff member's page
// (activate/deactivate, roles, manager) and the role definitions (#/roles: every role with its
// permissions and holders; define, change and delete custom roles). What a button does is always
// the documented API's; the server's rules (nobody changes their own roles, managers give only
// operational roles to their own employees, ...) answer with their error, shown as it comes.
import { act, button, checkbox, form, h, select, when } from "./people_shared.js";

async function loadRoles(ctx) {
  try {
    return (await ctx.api.get("/internal/v1/roles")).items;
  } catch (e) {
    return [];
  }
}

// Every permission there is: the super admin role holds them all.
function allPermissions(roles) {
  const sa = roles.find((r) => r.name === "super_admin");
  const set = new Set(sa ? sa.permissions : []);
  for (const r of roles) for (const p of r.permissions) set.add(p);
  return [...set].sort();
}

function canChangeRoles(ctx) {
  return ctx.can("roles.assign") || ctx.can("roles.assign_operational");
}

async function renderList(root, ctx) {
  const { t, api, ui } = ctx;
  root.replaceChildren(h(ctx, "h1", { tabindex: -1 }, t("people.staff_title")),
                       h(ctx, "p", {}, h(ctx, "a", { href: "#/roles", "data-testid": "roles-link" }, t("people.roles_link"))));
  let staff;
  try {
    staff = (await api.get("/internal/v1/staff")).items;
  } catch (e) {
    root.append(ui.errorBox(e));
    return;
  }
  const byId = new Map(staff.map((s) => [s.id, s]));
  root.append(ui.table({
    caption: t("people.staff_caption", { count: staff.length }),
    columns: [
      { key: "id", label: t("people.id") },
      { key: "email", label: t("people.email"),
        render: (s) => h(ctx, "a", { href: `#/staff/${s.id}`, "data-testid": "staff-link" }, s.email) },
      { key: "display_name", label: t("people.name") },
      { key: "roles", label: t("people.roles"), render: (s) => (s.roles || []).join(", ") || "\u2014" },
      { key: "active", label: t("people.active"), render: (s) => (s.active ? t("people.yes") : t("people.no")) },
      { key: "manager_id", label: t("people.manager"),
        render: (s) => (s.manager_id ? (byId.get(s.manager_id)?.email || `#${s.manager_id}`) : "\u2014") },
    ],
    rows: staff,
  }));

  if (ctx.can("staff.write")) {
    const roles = ctx.can("roles.assign") ? await loadRoles(ctx) : [];
    const roleBoxes = roles.map((r) => checkbox(ctx, { label: r.name, name: "roles", value: r.name }));
    root.append(h(ctx, "section", { class: "card", "aria-labelledby": "staff-create-h" },
      h(ctx, "h2", { id: "staff-create-h" }, t("people.staff_create")),
      form(ctx, {
        label: t("people.staff_create"),
        testid: "staff-create",
        fields: [
          ui.field({ label: t("people.email"), name: "email", type: "email", required: true }),
          ui.field({ label: t("people.name"), name: "display_name" }),
          ui.field({ label: t("people.password"), name: "password", type: "password", required: true }),
          roleBoxes.length ? h(ctx, "fieldset", {}, h(ctx, "legend", {}, t("people.roles")), roleBoxes) : null,
        ].filter(Boolean),
        submit: t("people.staff_create_submit"),
        onSubmit: async (v) => {
          const body = { email: v.email, password: v.password };
          if (v.display_name) body.display_name = v.display_name;
          if (v.roles) body.roles = v.roles;
          const created = await api.post("/internal/v1/staff", body);
          ui.toast(t("people.staff_created", { email: created.email }), "ok");
          ctx.navigate(`#/staff/${created.id}`);
        },
      })));
  }
}

async function saveRoles(ctx, s, wanted) {
  const { api } = ctx;
  if (ctx.can("roles.assign")) return api.put(`/internal/v1/staff/${s.id}/roles`, { roles: wanted });
  // A manager: one role at a time, by the operational rules.
  let last = s;
  for (const r of wanted) if (!s.roles.includes(r)) last = await api.post(`/internal/v1/staff/${s.id}/roles/${encodeURIComponent(r)}`);
  for (const r of s.roles) if (!wanted.includes(r)) last = await api.del(`/internal/v1/staff/${s.id}/roles/${encodeURIComponent(r)}`);
  return last;
}

async function renderStaff(root, ctx, id) {
  const { t, api, ui } = ctx;
  let s;
  let staff = [];
  try {
    s = await api.get(`/internal/v1/staff/${encodeURIComponent(id)}`);
    staff = (await api.get("/internal/v1/staff")).items;
  } catch (e) {
    root.replaceChildren(h(ctx, "p", {}, h(ctx, "a", { href: "#/staff" }, t("people.back_staff"))), ui.errorBox(e));
    return;
  }
  const rerender = () => renderStaff(root, ctx, id);
  const self = ctx.me && ctx.me.id === s.id;
  const manager = staff.find((m) => m.id === s.manager_id);
  const parts = [
    h(ctx, "p", {}, h(ctx, "a", { href: "#/staff" }, t("people.back_staff"))),
    h(ctx, "h1", { tabindex: -1, "data-testid": "staff-title" }, s.display_name ? `${s.display_name} (${s.email})` : s.email),
    h(ctx, "dl", { class: "facts" },
      h(ctx, "dt", {}, t("people.active")), h(ctx, "dd", { "data-testid": "staff-active" }, s.active ? t("people.yes") : t("people.no")),
      h(ctx, "dt", {}, t("people.roles")), h(ctx, "dd", { "data-testid": "staff-roles" }, (s.roles || []).join(", ") || "\u2014"),
      h(ctx, "dt", {}, t("people.manager")), h(ctx, "dd", {}, manager ? manager.email : "\u2014"),
      h(ctx, "dt", {}, t("people.created_at")), h(ctx, "dd", {}, when(s.created_at))),
    self ? h(ctx, "p", { class: "hint" }, t("people.staff_self")) : null,
  ];

  if (ctx.can("staff.write") && !self) {
    const activation = s.active
      ? button(ctx, t("people.deactivate"), async () => {
          const ok = await ui.confirm({ title: t("people.deactivate_title"), message: t("people.deactivate_message", { email: s.email }), confirmLabel: t("people.deactivate"), danger: true });
          if (ok.ok && (await act(ctx, () => api.post(`/internal/v1/staff/${s.id}/deactivate`), t("people.deactivated")))) await rerender();
        }, { class: "danger", "data-testid": "staff-deactivate" })
      : button(ctx, t("people.activate"), async () => {
          if (await act(ctx, () => api.post(`/internal/v1/staff/${s.id}/activate`), t("people.activated"))) await rerender();
        }, { "data-testid": "staff-activate" });
    const managerForm = form(ctx, {
      label: t("people.manager_set"),
      testid: "staff-manager",
      fields: [select(ctx, {
        label: t("people.manager"),
        name: "manager_id",
        value: s.manager_id ?? "",
        options: [{ value: "", label: t("people.manager_none") },
                  ...staff.filter((m) => m.id !== s.id).map((m) => ({ value: m.id, label: m.email }))],
      })],
      submit: t("people.manager_save"),
      onSubmit: async (v) => {
        await api.put(`/internal/v1/staff/${s.id}/manager`, { manager_id: v.manager_id ? Number(v.manager_id) : null });
        ui.toast(t("people.manager_saved"), "ok");
        await rerender();
      },
    });
    parts.push(h(ctx, "section", { class: "card", "aria-labelledby": "activation-h" },
                 h(ctx, "h2", { id: "activation-h" }, t("people.activation")), activation, managerForm));
  }

  if (canChangeRoles(ctx) && !self) {
    const roles = await loadRoles(ctx);
    parts.push(h(ctx, "section", { class: "card", "aria-labelledby": "roles-h" },
      h(ctx, "h2", { id: "roles-h" }, t("people.roles")),
      ctx.can("roles.assign") ? null : h(ctx, "p", { class: "hint" }, t("people.roles_operational_hint")),
      form(ctx, {
        label: t("people.roles"),
        testid: "staff-roles-form",
        fields: [h(ctx, "fieldset", {}, h(ctx, "legend", {}, t("people.roles_of", { email: s.email })),
                   roles.map((r) => checkbox(ctx, { label: `${r.name}${r.operational ? "" : ` (${t("people.not_operational")})`}`,
                                                    name: "roles", value: r.name, checked: s.roles.includes(r.name) })))],
        submit: t("people.roles_save"),
        onSubmit: async (v) => {
          await saveRoles(ctx, s, v.roles || []);
          ui.toast(t("people.roles_saved"), "ok");
          await rerender();
        },
      })));
  }
  root.replaceChildren(...parts.filter(Boolean));
}

function roleForm(ctx, { role, permissions, onDone }) {
  const { t, api, ui } = ctx;
  const fields = [];
  if (!role) fields.push(ui.field({ label: t("people.role_name"), name: "name", required: true }));
  fields.push(ui.field({ label: t("people.description"), name: "description", value: role?.description || "" }));
  fields.push(checkbox(ctx, { label: t("people.role_operational"), name: "operational", value: "true", checked: role?.operational }));
  fields.push(h(ctx, "fieldset", { class: "permissions" }, h(ctx, "legend", {}, t("people.permissions")),
                permissions.map((p) => checkbox(ctx, { label: p, name: "permissions", value: p, checked: role?.permissions.includes(p) }))));
  return form(ctx, {
    label: role ? t("people.role_edit", { name: role.name }) : t("people.role_create"),
    testid: role ? `role-edit-${role.name}` : "role-create",
    fields,
    submit: role ? t("people.role_save") : t("people.role_create_submit"),
    onSubmit: async (v) => {
      const body = { description: v.description || "", operational: Boolean(v.operational), permissions: v.permissions || [] };
      if (role) await api.patch(`/internal/v1/roles/${encodeURIComponent(role.name)}`, body);
      else await api.post("/internal/v1/roles", { name: v.name, ...body });
      ui.toast(t("people.role_saved"), "ok");
      await onDone();
    },
  });
}

async function renderRoles(root, ctx) {
  const { t, api, ui } = ctx;
  root.replaceChildren(h(ctx, "p", {}, h(ctx, "a", { href: "#/staff" }, t("people.back_staff"))),
                       h(ctx, "h1", { tabindex: -1 }, t("people.roles_title")));
  let roles;
  try {
    roles = (await api.get("/internal/v1/roles")).items;
  } catch (e) {
    root.append(ui.errorBox(e));
    return;
  }
  const rerender = () => renderRoles(root, ctx);
  const permissions = allPermissions(roles);
  const editable = ctx.can("roles.assign");
  root.append(ui.table({
    caption: t("people.roles_caption"),
    columns: [
      { key: "name", label: t("people.role_name") },
      { key: "builtin", label: t("people.role_kind"), render: (r) => (r.builtin ? t("people.builtin") : t("people.custom")) },
      { key: "operational", label: t("people.role_operational_short"), render: (r) => (r.operational ? t("people.yes") : t("people.no")) },
      { key: "holders", label: t("people.holders") },
      { key: "permissions", label: t("people.permissions"), render: (r) => h(ctx, "span", { class: "perm-list" }, r.permissions.join(", ")) },
      { key: "description", label: t("people.description") },
    ],
    rows: roles,
  }));
  if (!editable) return;
  for (const r of roles.filter((x) => !x.builtin)) {
    const del = button(ctx, t("people.role_delete"), async () => {
      const ok = await ui.confirm({ title: t("people.role_delete"), message: t("people.role_delete_message", { name: r.name }), confirmLabel: t("people.role_delete"), danger: true });
      if (ok.ok && (await act(ctx, () => api.del(`/internal/v1/roles/${encodeURIComponent(r.name)}`), t("people.role_deleted")))) await rerender();
    }, { class: "danger" });
    root.append(h(ctx, "details", { class: "card" }, h(ctx, "summary", {}, t("people.role_edit", { name: r.name })),
                  roleForm(ctx, { role: r, permissions, onDone: rerender }), del));
  }
  root.append(h(ctx, "section", { class: "card", "aria-labelledby": "role-create-h" },
                h(ctx, "h2", { id: "role-create-h" }, t("people.role_create")),
                roleForm(ctx, { permissions, onDone: rerender })));
}

export default {
  id: "staff",
  routes: ["staff", "staff/:id", "roles"],
  nav: { label: "people.nav_staff", permission: "staff.read", group: "people" },
  async render(root, params, ctx) {
    if (params && params.id) await renderStaff(root, ctx, params.id);
    else if (location.hash.startsWith("#/roles")) await renderRoles(root, ctx);
    else await renderList(root, ctx);
  },
};
