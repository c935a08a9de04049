// Orders and tasks: every order kind in one list (the internal orders: checking, packing,
// collecting, shipping; and the customers' buying orders and donations), filtered and paged by
// the server; an order's page with its facts, items, history and audit trail, and the actions the
// signed-in staff member's permissions allow (assign, reassign, cancel, force-complete, complete a
// packing order, grade items; cancel and refund on a customer's behalf). Every action is a call to
// the documented internal API, which refuses what the role may not do anyway.
import { formatNumber, formatTime } from '../lib/i18n.js';
import { useStyles } from './order_common.js';

const kInternalKinds = ['checking', 'packing', 'collecting', 'shipping'];
const kCustomerKinds = ['buying', 'donation'];
const kTaskStates = ['open', 'assigned', 'in_progress', 'done', 'cancelled'];
const kBuyingStates = ['payment_pending', 'payment_failed', 'paid', 'packed', 'shipping',
  'ready_for_pickup', 'completed', 'cancelled', 'return_requested', 'returned',
  'return_collected', 'refunded', 'pickup_expired', 'restocked'];
const kDonationStates = ['reserved', 'deposited', 'collected', 'completed', 'cancelled', 'expired'];
const kRoleOfKind = { checking: 'checker', packing: 'packer', collecting: 'delivery', shipping: 'delivery' };
const kPageSize = 25;

// Staff names for the assignee column and the assign form (only with staff.read).
async function loadStaff(ctx) {
  if (!ctx.can('staff.read')) return [];
  try {
    const answer = await ctx.api.get('/internal/v1/staff');
    return Array.isArray(answer) ? answer : (answer?.items ?? []);
  } catch {
    return [];
  }
}

function staffName(staff, id, ctx) {
  if (id == null) return ctx.t('orders.unassigned');
  if (ctx.me && id === ctx.me.id) return ctx.t('orders.you');
  const s = staff.find((x) => x.id === id);
  return s ? (s.display_name || s.email) : `#${id}`;
}

export function stateBadge(ctx, state) {
  const kind = { done: 'ok', completed: 'ok', cancelled: 'neutral', open: 'warn', assigned: 'info',
    in_progress: 'info', payment_failed: 'bad', expired: 'neutral', refunded: 'neutral' }[state] ?? 'info';
  return ctx.ui.badge(ctx.t(`orders.states.${state}`), kind);
}

function money(cents, currency = 'EUR') {
  return cents == null ? '—' : formatNumber(cents / 100, { style: 'currency', currency });
}

// 'YYYY-MM-DD' from a date input to the RFC 3339 instant the API filters on (UTC days).
function dayStart(day, plusDays = 0) {
  if (!day) return undefined;
  const d = new Date(`${day}T00:00:00Z`);
  if (Number.isNaN(d.getTime())) return undefined;
  d.setUTCDate(d.getUTCDate() + plusDays);
  return d.toISOString();
}

// ---- the list -----------------------------------------------------------------------------------

function filterForm(ctx, query, { staff, locations, onApply }) {
  const { t, ui } = ctx;
  const kind = query.kind ?? '';
  const kinds = [{ value: '', label: t('orders.filters.allInternal') },
    ...kInternalKinds.map((k) => ({ value: k, label: t(`orders.kinds.${k}`) }))];
  if (ctx.can('customers.read_masked')) {
    kinds.push(...kCustomerKinds.map((k) => ({ value: k, label: t(`orders.kinds.${k}`) })));
  }
  const states = kind === 'buying' ? kBuyingStates : kind === 'donation' ? kDonationStates : kTaskStates;
  const internal = !kCustomerKinds.includes(kind);
  const assignees = [{ value: '', label: t('orders.filters.anyone') },
    { value: 'unassigned', label: t('orders.unassigned') }];
  if (ctx.can('orders.read_all')) {
    assignees.push({ value: String(ctx.me.id), label: t('orders.you') });
    for (const s of staff) {
      if (s.id !== ctx.me.id) assignees.push({ value: String(s.id), label: s.display_name || s.email });
    }
  }
  const fields = [
    ui.field({ label: t('orders.filters.kind'), name: 'kind', value: kind, options: kinds }),
    ui.field({ label: t('orders.filters.state'), name: 'state', value: query.state,
      options: [{ value: '', label: t('orders.filters.anyState') },
        ...states.map((s) => ({ value: s, label: t(`orders.states.${s}`) }))] }),
    internal && ctx.can('orders.read_all')
      ? ui.field({ label: t('orders.filters.assignee'), name: 'assignee', value: query.assignee, options: assignees })
      : null,
    ui.field({ label: t('orders.filters.box'), name: 'box_id', value: query.box_id,
      attrs: { autocomplete: 'off', size: 12 } }),
    locations.length
      ? ui.field({ label: t('orders.filters.location'), name: 'location_id', value: query.location_id,
        options: [{ value: '', label: t('orders.filters.anyLocation') },
          ...locations.map((l) => ({ value: String(l.id), label: l.name }))] })
      : null,
    ui.field({ label: t('orders.filters.from'), name: 'from', type: 'date', value: query.from }),
    ui.field({ label: t('orders.filters.to'), name: 'to', type: 'date', value: query.to }),
  ];
  const form = ui.el('form', {
    class: 'filters', 'aria-label': t('orders.filters.label'),
    onsubmit: (e) => {
      e.preventDefault();
      const data = Object.fromEntries(new FormData(form).entries());
      // A kind of another family has other states: the state filter starts again.
      const family = (k) => (kCustomerKinds.includes(k) ? k : 'internal');
      if (family(data.kind) !== family(kind)) data.state = '';
      onApply(data);
    },
  }, fields, ui.el('button', { type: 'submit', class: 'primary' }, t('orders.filters.apply')));
  // Changing a select applies at once (keyboard users still have the button).
  form.addEventListener('change', (e) => {
    if (e.target.tagName === 'SELECT') form.requestSubmit();
  });
  return form;
}

function listRequest(ctx, query, before) {
  const kind = query.kind ?? '';
  const common = {
    state: query.state, box_id: query.box_id, location_id: query.location_id,
    created_from: dayStart(query.from), created_to: dayStart(query.to, 1),
    before_id: before, limit: kPageSize,
  };
  if (kind === 'buying') return { path: '/internal/v1/buying-orders', query: common };
  if (kind === 'donation') return { path: '/internal/v1/donations', query: common };
  const q = { ...common, kind: kind || undefined };
  if (query.assignee === 'unassigned') q.unassigned = 'true';
  else if (query.assignee) q.assignee_id = query.assignee;
  return { path: '/internal/v1/orders', query: q };
}

function listColumns(ctx, kind, staff) {
  const { t, ui } = ctx;
  const link = (href, text) => ui.el('a', { href }, text);
  if (kind === 'buying') {
    return [
      { key: 'id', label: t('orders.columns.order'), render: (o) => link(`#/orders/buying-${o.id}`, t('orders.buyingTitle', { id: o.id })) },
      { key: 'state', label: t('orders.columns.state'), render: (o) => stateBadge(ctx, o.state) },
      { key: 'total', label: t('orders.columns.total'), class: 'num-col', render: (o) => money(o.total_cents, o.currency) },
      { key: 'items', label: t('orders.columns.items'), class: 'num-col', render: (o) => String((o.items ?? []).length) },
      { key: 'pickup', label: t('orders.columns.box'), render: (o) => (o.pickup ? `${o.pickup.box_id} · ${o.pickup.compartment}` : null) },
      { key: 'created_at', label: t('orders.columns.created'), render: (o) => formatTime(o.created_at) },
    ];
  }
  if (kind === 'donation') {
    return [
      { key: 'id', label: t('orders.columns.order'), render: (o) => link(`#/orders/donation-${o.id}`, t('orders.donationTitle', { id: o.id })) },
      { key: 'state', label: t('orders.columns.state'), render: (o) => stateBadge(ctx, o.state) },
      { key: 'box', label: t('orders.columns.box'), render: (o) => `${o.box_id} · ${o.compartment}` },
      { key: 'items', label: t('orders.columns.items'), class: 'num-col', render: (o) => String((o.items ?? []).length) },
      { key: 'created_at', label: t('orders.columns.created'), render: (o) => formatTime(o.created_at) },
    ];
  }
  return [
    { key: 'id', label: t('orders.columns.order'), render: (o) => link(`#/orders/${o.id}`, t('orders.taskTitle', { id: o.id })) },
    { key: 'kind', label: t('orders.columns.kind'), render: (o) => t(`orders.kinds.${o.kind}`) },
    { key: 'state', label: t('orders.columns.state'), render: (o) => stateBadge(ctx, o.state) },
    { key: 'assignee', label: t('orders.columns.assignee'), render: (o) => staffName(staff, o.assignee_id, ctx) },
    { key: 'box', label: t('orders.columns.box'), render: (o) => (o.box_id ? `${o.box_id}${o.compartments?.length ? ` · ${o.compartments.join(', ')}` : ''}` : null) },
    { key: 'location', label: t('orders.columns.location'), render: (o) => o.location?.name },
    { key: 'tracking', label: t('orders.columns.tracking'), render: (o) => o.tracking_code },
    { key: 'created_at', label: t('orders.columns.created'), render: (o) => formatTime(o.created_at) },
  ];
}

async function renderList(root, params, ctx) {
  const { t, ui, api } = ctx;
  useStyles();
  const query = { ...(params.query ?? {}) };
  const [staff, locations] = await Promise.all([
    loadStaff(ctx),
    ctx.can('fleet.read')
      ? api.get('/internal/v1/locations').then((r) => (Array.isArray(r) ? r : (r?.items ?? []))).catch(() => [])
      : [],
  ]);
  // Keyset paging: the cursors of the pages before this one, so "Newer" goes back.
  const cursors = query.before ? String(query.before).split(',').filter(Boolean) : [];
  const results = ui.el('div', { 'aria-live': 'polite' });
  const apply = (data) => {
    const next = {};
    for (const k of ['kind', 'state', 'assignee', 'box_id', 'location_id', 'from', 'to']) {
      if (data[k]) next[k] = data[k];
    }
    const qs = new URLSearchParams(next).toString();
    ctx.navigate(`#/orders${qs ? `?${qs}` : ''}`);
  };
  ui.mount(root,
    ui.pageTitle(t('orders.title')),
    ui.el('p', { class: 'muted' }, ctx.can('orders.read_all') ? t('orders.introAll') : t('orders.introMine')),
    filterForm(ctx, query, { staff, locations, onApply: apply }),
    results);

  const kind = query.kind ?? '';
  const before = cursors.length ? cursors[cursors.length - 1] : undefined;
  const req = listRequest(ctx, query, before);
  let page;
  try {
    page = await api.get(req.path, req.query);
  } catch (e) {
    ui.mount(results, ui.errorBox(e));
    return;
  }
  const rows = page.items ?? [];
  const go = (nextCursors) => {
    const q = { ...query };
    delete q.before;
    if (nextCursors.length) q.before = nextCursors.join(',');
    const qs = new URLSearchParams(q).toString();
    ctx.navigate(`#/orders${qs ? `?${qs}` : ''}`);
  };
  ui.mount(results,
    ui.table({
      caption: t('orders.tableCaption', { page: cursors.length + 1 }),
      columns: listColumns(ctx, kind, staff),
      rows,
      empty: t('orders.empty'),
      rowAttrs: (o) => ({ 'data-order-id': o.id, 'data-testid': `order-row-${o.id}` }),
    }),
    ui.el('nav', { class: 'pager', 'aria-label': t('orders.pager.label') },
      ui.el('button', { type: 'button', disabled: cursors.length === 0, onclick: () => go(cursors.slice(0, -1)) },
        t('orders.pager.newer')),
      ui.el('span', { class: 'pager-status' }, t('orders.pager.status', { page: cursors.length + 1, count: rows.length })),
      ui.el('button', { type: 'button', disabled: page.next_before_id == null, onclick: () => go([...cursors, page.next_before_id]) },
        t('orders.pager.older'))));
}

// ---- an internal order ------------------------------------------------------------------------

function facts(ctx, pairs) {
  return ctx.ui.el('dl', { class: 'facts' }, pairs.filter(([, v]) => v != null && v !== '')
    .flatMap(([k, v]) => [ctx.ui.el('dt', null, k), ctx.ui.el('dd', null, v)]));
}

// The audit rows about an order (audit.read), newest first.
async function auditTrail(ctx, targetType, targetId) {
  const { t, ui, api } = ctx;
  if (!ctx.can('audit.read')) return null;
  let rows = [];
  try {
    const page = await api.get('/internal/v1/audit', { target_type: targetType, target_id: targetId, limit: 50 });
    rows = page.items ?? [];
  } catch (e) {
    return ui.errorBox(e);
  }
  return auditTable(ctx, rows);
}

export function auditTable(ctx, rows) {
  const { t, ui } = ctx;
  return ui.table({
    caption: t('orders.audit.caption'),
    columns: [
      { key: 'at', label: t('orders.audit.at'), render: (r) => formatTime(r.at) },
      { key: 'action', label: t('orders.audit.action'), render: (r) => r.action },
      { key: 'actor', label: t('orders.audit.actor'), render: (r) => `${r.actor_kind}${r.actor_id != null ? ` #${r.actor_id}` : ''}` },
      { key: 'outcome', label: t('orders.audit.outcome'), render: (r) => ui.badge(r.outcome, r.outcome === 'ok' ? 'ok' : 'bad') },
      { key: 'reason', label: t('orders.audit.reason'), render: (r) => r.reason },
      { key: 'change', label: t('orders.audit.change'), render: (r) => describeChange(r) },
    ],
    rows,
    empty: t('orders.audit.empty'),
  });
}

function describeChange(r) {
  const show = (v) => (v == null ? '' : typeof v === 'object' ? Object.entries(v).map(([k, x]) => `${k}: ${typeof x === 'object' ? JSON.stringify(x) : x}`).join(', ') : String(v));
  const before = show(r.before);
  const after = show(r.after);
  if (before && after) return `${before} → ${after}`;
  return after || before || null;
}

function historyTable(ctx, o) {
  const { t, ui } = ctx;
  const rows = [
    { at: o.created_at, what: o.trigger ? t('orders.history.created', { trigger: t(`orders.triggers.${o.trigger}`) }) : t('orders.history.createdPlain') },
    o.assigned_at ? { at: o.assigned_at, what: t('orders.history.assigned') } : null,
    ...(o.kind === 'collecting' ? (o.items ?? []).filter((i) => i.collected_at)
      .map((i) => ({ at: i.collected_at, what: t('orders.history.emptied', { n: i.compartment }) })) : []),
    o.done_at ? { at: o.done_at, what: t(`orders.history.${o.state === 'cancelled' ? 'cancelled' : 'done'}`) } : null,
  ].filter(Boolean).sort((a, b) => String(a.at).localeCompare(String(b.at)));
  return ui.table({
    caption: t('orders.history.caption'),
    columns: [
      { key: 'at', label: t('orders.history.at'), render: (r) => formatTime(r.at) },
      { key: 'what', label: t('orders.history.what') },
    ],
    rows,
  });
}

// Assign (open order) or reassign (work someone holds, with a reason): staff with the kind's role.
function assignForm(ctx, o, staff, reload) {
  const { t, ui, api } = ctx;
  const reassign = o.assignee_id != null;
  const role = kRoleOfKind[o.kind];
  const eligible = staff.filter((s) => s.active !== false && (s.roles ?? []).includes(role) && s.id !== o.assignee_id);
  const errorLine = ui.el('div', { 'aria-live': 'assertive' });
  const staffField = eligible.length
    ? ui.field({ label: t('orders.assign.staff', { role: t(`orders.roles.${role}`) }), name: 'staff_id', required: true,
      options: [{ value: '', label: t('orders.assign.choose') },
        ...eligible.map((s) => ({ value: String(s.id), label: s.display_name || s.email }))] })
    : ui.field({ label: t('orders.assign.staffId', { role: t(`orders.roles.${role}`) }), name: 'staff_id', type: 'number', required: true,
      attrs: { min: 1 } });
  const reason = reassign
    ? ui.field({ label: t('orders.assign.reason'), name: 'reason', type: 'textarea', required: true,
      hint: t('orders.reasonHint') })
    : null;
  const form = ui.el('form', {
    class: 'card', 'aria-labelledby': 'assign-title',
    onsubmit: async (e) => {
      e.preventDefault();
      const data = Object.fromEntries(new FormData(form).entries());
      const staffId = Number(data.staff_id);
      if (!staffId) { ui.mount(errorLine, ui.el('p', { class: 'field-error' }, t('orders.assign.pick'))); return; }
      if (reassign && !String(data.reason ?? '').trim()) {
        ui.mount(errorLine, ui.el('p', { class: 'field-error' }, t('core.confirm.reasonRequired')));
        return;
      }
      try {
        if (reassign) await api.post(`/internal/v1/orders/${o.id}/reassign`, { staff_id: staffId, reason: data.reason.trim() });
        else await api.post(`/internal/v1/orders/${o.id}/assign`, { staff_id: staffId });
        ui.toast(t(reassign ? 'orders.assign.reassigned' : 'orders.assign.assigned', { name: staffName(staff, staffId, ctx) }), 'ok');
        reload();
      } catch (err) {
        ui.mount(errorLine, ui.errorBox(err));
      }
    },
  },
  ui.el('h2', { id: 'assign-title' }, t(reassign ? 'orders.assign.reassignTitle' : 'orders.assign.title')),
  staffField, reason, errorLine,
  ui.el('button', { type: 'submit', class: 'primary', 'data-testid': 'assign-submit' },
    t(reassign ? 'orders.assign.reassignSubmit' : 'orders.assign.submit')));
  return form;
}

// A manager's cancel / force-complete with a reason (confirmed in a dialog).
function reasonAction(ctx, o, action, reload) {
  const { t, ui, api } = ctx;
  return ui.el('button', {
    type: 'button', class: action === 'cancel' ? 'danger' : null, 'data-testid': `order-${action}`,
    onclick: async () => {
      const answer = await ui.confirm({
        title: t(`orders.actions.${action}.title`, { id: o.id }),
        message: t(`orders.actions.${action}.message`),
        reasonLabel: t('orders.reasonLabel'), reasonRequired: true,
        confirmLabel: t(`orders.actions.${action}.confirm`), danger: action === 'cancel',
      });
      if (!answer.ok) return;
      try {
        await api.post(`/internal/v1/orders/${o.id}/${action}`, { reason: answer.reason });
        ui.toast(t(`orders.actions.${action}.done`, { id: o.id }), 'ok');
        reload();
      } catch (err) {
        ui.toast(err.message, 'error');
        reload(err);
      }
    },
  }, t(`orders.actions.${action}.button`));
}

// Grading one item of a checking order: publish (a donated item needs a title) or recycle.
function gradeForm(ctx, o, item, reload) {
  const { t, ui, api } = ctx;
  const errorLine = ui.el('div', { 'aria-live': 'assertive' });
  const legendId = ui.uid('grade');
  const publishId = ui.uid('grade-publish');
  const recycleId = ui.uid('grade-recycle');
  const donated = item.product_id == null;
  const form = ui.el('form', {
    class: 'grade-form', 'aria-labelledby': legendId, 'data-testid': `grade-form-${item.position}`,
    onsubmit: async (e) => {
      e.preventDefault();
      const data = Object.fromEntries(new FormData(form).entries());
      const body = { grade: data.grade };
      if (data.grade === 'publish') {
        for (const k of ['title', 'size', 'condition', 'description']) {
          if (data[k]?.trim()) body[k] = data[k].trim();
        }
      }
      try {
        await api.post(`/internal/v1/orders/${o.id}/items/${item.position}/grade`, body);
        ui.toast(t('orders.grade.done', { n: item.position }), 'ok');
        reload();
      } catch (err) {
        ui.mount(errorLine, ui.errorBox(err));
      }
    },
  },
  ui.el('fieldset', null,
    ui.el('legend', { id: legendId }, t('orders.grade.legend', { n: item.position })),
    ui.el('div', { class: 'radios' },
      ui.el('input', { type: 'radio', name: 'grade', value: 'publish', id: publishId, checked: true }),
      ui.el('label', { for: publishId }, t('orders.grade.publish')),
      ui.el('input', { type: 'radio', name: 'grade', value: 'recycle', id: recycleId }),
      ui.el('label', { for: recycleId }, t('orders.grade.recycle')))),
  donated ? ui.field({ label: t('orders.grade.title'), name: 'title', value: item.title ?? '',
    hint: t('orders.grade.titleHint'), attrs: { maxlength: 200 } }) : null,
  donated ? ui.field({ label: t('orders.grade.size'), name: 'size', attrs: { maxlength: 32 } }) : null,
  donated ? ui.field({ label: t('orders.grade.condition'), name: 'condition', value: item.condition_notes ?? '', attrs: { maxlength: 64 } }) : null,
  errorLine,
  ui.el('button', { type: 'submit', class: 'primary', 'data-testid': `grade-submit-${item.position}` }, t('orders.grade.submit')));
  return form;
}

function itemsSection(ctx, o, reload) {
  const { t, ui } = ctx;
  if (o.kind === 'checking') {
    const mine = o.assignee_id === ctx.me.id && ['assigned', 'in_progress'].includes(o.state);
    return [
      ui.table({
        caption: t('orders.items.checkingCaption'),
        columns: [
          { key: 'position', label: t('orders.items.position'), render: (i) => String(i.position) },
          { key: 'category', label: t('orders.items.category') },
          { key: 'count', label: t('orders.items.count'), class: 'num-col', render: (i) => String(i.count) },
          { key: 'condition_notes', label: t('orders.items.notes') },
          { key: 'title', label: t('orders.items.product'), render: (i) => (i.product_id ? `${i.title ?? ''} (#${i.product_id})` : null) },
          { key: 'grade', label: t('orders.items.grade'), render: (i) => (i.grade ? ui.badge(t(`orders.grade.${i.grade}`), i.grade === 'publish' ? 'ok' : 'neutral') : ui.badge(t('orders.grade.pending'), 'warn')) },
        ],
        rows: o.items ?? [],
        rowAttrs: (i) => ({ 'data-testid': `item-row-${i.position}` }),
      }),
      mine ? (o.items ?? []).filter((i) => !i.grade).map((i) => gradeForm(ctx, o, i, reload)) : null,
      !mine && (o.items ?? []).some((i) => !i.grade) && ['assigned', 'in_progress'].includes(o.state)
        ? ui.el('p', { class: 'muted' }, t('orders.grade.onlyAssignee')) : null,
    ];
  }
  if (o.kind === 'collecting') {
    return ui.table({
      caption: t('orders.items.collectingCaption'),
      columns: [
        { key: 'compartment', label: t('orders.items.compartment'), render: (i) => String(i.compartment) },
        { key: 'source', label: t('orders.items.source'), render: (i) => (ctx.can('customers.read_masked')
          ? ui.el('a', { href: `#/orders/${i.source_kind === 'donation' ? 'donation' : 'buying'}-${i.source_id}` }, t(`orders.sources.${i.source_kind}`, { id: i.source_id }))
          : t(`orders.sources.${i.source_kind}`, { id: i.source_id })) },
        { key: 'collected_at', label: t('orders.items.collected'), render: (i) => (i.collected_at ? formatTime(i.collected_at) : null) },
        { key: 'outcome', label: t('orders.items.outcome'), render: (i) => (i.outcome ? ui.badge(t(`orders.outcomes.${i.outcome}`), 'warn') : i.collected_at ? ui.badge(t('orders.outcomes.emptied'), 'ok') : ui.badge(t('orders.outcomes.waiting'), 'neutral')) },
      ],
      rows: o.items ?? [],
    });
  }
  return null;
}

async function renderTask(root, id, ctx) {
  const { t, ui, api } = ctx;
  const reload = () => renderTask(root, id, ctx);
  let o;
  try {
    o = await api.get(`/internal/v1/orders/${id}`);
  } catch (e) {
    ui.mount(root, ui.pageTitle(t('orders.taskTitle', { id })), ui.errorBox(e), backLink(ctx));
    return;
  }
  const staff = await loadStaff(ctx);
  const unfinished = ['open', 'assigned', 'in_progress'].includes(o.state);
  const held = ['assigned', 'in_progress'].includes(o.state);
  const manager = ctx.can('orders.assign');
  const mine = o.assignee_id === ctx.me.id;
  // The customer's order is customer service's page: a link only for those who may open it.
  const sourceText = o.source ? t(`orders.sources.${o.source.kind}`, { id: o.source.id }) : null;
  const source = o.source && ctx.can('customers.read_masked')
    ? ui.el('a', { href: `#/orders/${o.source.kind === 'donation' ? 'donation' : 'buying'}-${o.source.id}` }, sourceText)
    : sourceText;
  const actions = [
    manager && held ? reasonAction(ctx, o, 'force-complete', reload) : null,
    manager && unfinished ? reasonAction(ctx, o, 'cancel', reload) : null,
    mine && o.kind === 'packing' && held
      ? ui.el('button', {
        type: 'button', class: 'primary', 'data-testid': 'order-complete',
        onclick: async () => {
          const answer = await ui.confirm({ title: t('orders.actions.complete.title', { id: o.id }),
            message: t('orders.actions.complete.message'), confirmLabel: t('orders.actions.complete.confirm') });
          if (!answer.ok) return;
          try {
            await api.post(`/internal/v1/orders/${o.id}/complete`);
            ui.toast(t('orders.actions.complete.done', { id: o.id }), 'ok');
            reload();
          } catch (err) { ui.toast(err.message, 'error'); }
        },
      }, t('orders.actions.complete.button'))
      : null,
    o.tracking_code ? ui.el('a', { class: 'button', href: `#/courier/${o.id}/label` }, t('orders.printLabel')) : null,
    mine && ['collecting', 'shipping'].includes(o.kind) && held
      ? ui.el('a', { class: 'button', href: `#/courier/${o.id}` }, t('orders.openCourier')) : null,
  ].filter(Boolean);
  const audit = await auditTrail(ctx, 'internal_order', String(o.id));
  ui.mount(root,
    backLink(ctx),
    ui.pageTitle(t('orders.taskHeading', { id: o.id, kind: t(`orders.kinds.${o.kind}`) }), stateBadge(ctx, o.state)),
    ui.el('section', { class: 'card', 'aria-label': t('orders.factsLabel') }, facts(ctx, [
      [t('orders.columns.kind'), t(`orders.kinds.${o.kind}`)],
      [t('orders.columns.state'), stateBadge(ctx, o.state)],
      [t('orders.columns.assignee'), staffName(staff, o.assignee_id, ctx)],
      [t('orders.columns.boxOnly'), o.box_id ? ui.el('a', { href: `#/boxes/${encodeURIComponent(o.box_id)}` }, o.box_id) : null],
      [t('orders.columns.compartments'), o.compartments?.length ? o.compartments.join(', ') : null],
      [t('orders.columns.location'), o.location ? `${o.location.name}, ${o.location.address}` : null],
      [t('orders.columns.tracking'), o.tracking_code],
      [t('orders.columns.trigger'), o.trigger ? t(`orders.triggers.${o.trigger}`) : null],
      [t('orders.columns.source'), source],
      [t('orders.columns.note'), o.note],
      [t('orders.columns.replacedBy'), o.replaced_by ? ui.el('a', { href: `#/orders/${o.replaced_by}` }, t('orders.taskTitle', { id: o.replaced_by })) : null],
    ])),
    actions.length ? ui.el('div', { class: 'actions', role: 'group', 'aria-label': t('orders.actionsLabel') }, actions) : null,
    manager && unfinished ? assignForm(ctx, o, staff, reload) : null,
    itemsSection(ctx, o, reload),
    ui.el('h2', null, t('orders.history.title')),
    historyTable(ctx, o),
    audit ? [ui.el('h2', null, t('orders.audit.title')), audit] : null);
}

function backLink(ctx) {
  return ctx.ui.el('p', null, ctx.ui.el('a', { href: '#/orders' }, ctx.t('orders.back')));
}

// ---- a customer's buying order or donation ----------------------------------------------------

function caseHistory(ctx, history) {
  const { t, ui } = ctx;
  return ui.table({
    caption: t('orders.history.caption'),
    columns: [
      { key: 'at', label: t('orders.history.at'), render: (h) => formatTime(h.at) },
      { key: 'change', label: t('orders.history.what'), render: (h) => `${h.from ? `${t(`orders.states.${h.from}`)} → ` : ''}${t(`orders.states.${h.to}`)}` },
      { key: 'actor', label: t('orders.audit.actor'), render: (h) => (h.actor ? `${h.actor.kind}${h.actor.id != null ? ` #${h.actor.id}` : ''}` : null) },
      { key: 'reason', label: t('orders.audit.reason'), render: (h) => h.reason },
    ],
    rows: history ?? [],
  });
}

function customerFacts(ctx, c) {
  if (!c) return null;
  const { t } = ctx;
  return ctx.ui.el('section', { class: 'card', 'aria-labelledby': 'customer-title' },
    ctx.ui.el('h2', { id: 'customer-title' }, t('orders.customer.title')),
    facts(ctx, [
      [t('orders.customer.id'), `#${c.id}`],
      [t('orders.customer.email'), c.email],
      [t('orders.customer.name'), c.display_name],
    ]));
}

function internalOrdersTable(ctx, list) {
  const { t, ui } = ctx;
  if (!list?.length) return null;
  return ui.table({
    caption: t('orders.internalCaption'),
    columns: [
      { key: 'id', label: t('orders.columns.order'), render: (o) => ui.el('a', { href: `#/orders/${o.id}` }, t('orders.taskTitle', { id: o.id })) },
      { key: 'kind', label: t('orders.columns.kind'), render: (o) => (o.kind ? t(`orders.kinds.${o.kind}`) : null) },
      { key: 'state', label: t('orders.columns.state'), render: (o) => (o.state ? stateBadge(ctx, o.state) : null) },
    ],
    rows: list,
  });
}

async function renderBuying(root, id, ctx) {
  const { t, ui, api } = ctx;
  const reload = () => renderBuying(root, id, ctx);
  let c;
  try {
    c = await api.get(`/internal/v1/buying-orders/${id}`);
  } catch (e) {
    ui.mount(root, backLink(ctx), ui.pageTitle(t('orders.buyingTitle', { id })), ui.errorBox(e));
    return;
  }
  const o = c.order;
  const refundForm = ctx.can('refunds.issue') && c.refundable_cents > 0 ? (() => {
    const errorLine = ui.el('div', { 'aria-live': 'assertive' });
    const form = ui.el('form', {
      class: 'card', 'aria-labelledby': 'refund-title',
      onsubmit: async (e) => {
        e.preventDefault();
        const data = Object.fromEntries(new FormData(form).entries());
        const body = { reason: String(data.reason ?? '').trim() };
        if (!body.reason) { ui.mount(errorLine, ui.el('p', { class: 'field-error' }, t('core.confirm.reasonRequired'))); return; }
        if (data.amount) body.amount_cents = Math.round(Number(data.amount) * 100);
        const answer = await ui.confirm({ title: t('orders.refund.confirmTitle', { id }),
          message: t('orders.refund.confirmMessage', { amount: money(body.amount_cents ?? c.refundable_cents, o.currency) }),
          confirmLabel: t('orders.refund.submit'), danger: true });
        if (!answer.ok) return;
        try {
          await api.post(`/internal/v1/buying-orders/${id}/refund`, body);
          ui.toast(t('orders.refund.done'), 'ok');
          reload();
        } catch (err) { ui.mount(errorLine, ui.errorBox(err)); }
      },
    },
    ui.el('h2', { id: 'refund-title' }, t('orders.refund.title')),
    ui.el('p', { class: 'muted' }, t('orders.refund.refundable', { amount: money(c.refundable_cents, o.currency) })),
    ui.field({ label: t('orders.refund.amount'), name: 'amount', type: 'number', hint: t('orders.refund.amountHint'),
      attrs: { min: 0.01, step: 0.01, max: (c.refundable_cents / 100).toFixed(2) } }),
    ui.field({ label: t('orders.reasonLabel'), name: 'reason', type: 'textarea', required: true, hint: t('orders.reasonHint') }),
    errorLine,
    ui.el('button', { type: 'submit', class: 'danger' }, t('orders.refund.submit')));
    return form;
  })() : null;
  const cancel = ctx.can('orders.act_on_behalf') && ['paid', 'packed'].includes(o.state)
    ? customerCancel(ctx, `/internal/v1/buying-orders/${id}/cancel`, t('orders.buyingTitle', { id }), reload)
    : null;
  ui.mount(root,
    backLink(ctx),
    ui.pageTitle(t('orders.buyingTitle', { id }), stateBadge(ctx, o.state)),
    ui.el('section', { class: 'card', 'aria-label': t('orders.factsLabel') }, facts(ctx, [
      [t('orders.columns.state'), stateBadge(ctx, o.state)],
      [t('orders.columns.total'), money(o.total_cents, o.currency)],
      [t('orders.money.charged'), money(c.charged_cents, o.currency)],
      [t('orders.money.refunded'), money(c.refunded_cents, o.currency)],
      [t('orders.money.refundable'), money(c.refundable_cents, o.currency)],
      [t('orders.columns.box'), o.pickup ? `${o.pickup.box_id} · ${o.pickup.compartment}` : null],
      [t('orders.columns.created'), formatTime(o.created_at)],
    ])),
    customerFacts(ctx, c.customer),
    cancel ? ui.el('div', { class: 'actions' }, cancel) : null,
    refundForm,
    ui.table({
      caption: t('orders.items.buyingCaption'),
      columns: [
        { key: 'position', label: t('orders.items.position'), render: (i) => String(i.position) },
        { key: 'title', label: t('orders.items.product') },
        { key: 'price', label: t('orders.columns.total'), class: 'num-col', render: (i) => money(i.price_cents, o.currency) },
      ],
      rows: o.items ?? [],
    }),
    internalOrdersTable(ctx, c.internal_orders),
    ui.el('h2', null, t('orders.history.title')),
    caseHistory(ctx, c.history),
    c.audit ? [ui.el('h2', null, t('orders.audit.title')), auditTable(ctx, c.audit)] : null);
}

function customerCancel(ctx, path, what, reload) {
  const { t, ui, api } = ctx;
  return ui.el('button', {
    type: 'button', class: 'danger', 'data-testid': 'customer-cancel',
    onclick: async () => {
      const answer = await ui.confirm({ title: t('orders.onBehalf.title', { what }),
        message: t('orders.onBehalf.message'), reasonLabel: t('orders.reasonLabel'),
        reasonRequired: true, confirmLabel: t('orders.onBehalf.confirm'), danger: true });
      if (!answer.ok) return;
      try {
        await api.post(path, { reason: answer.reason });
        ui.toast(t('orders.onBehalf.done', { what }), 'ok');
        reload();
      } catch (err) { ui.toast(err.message, 'error'); }
    },
  }, t('orders.onBehalf.button'));
}

async function renderDonation(root, id, ctx) {
  const { t, ui, api } = ctx;
  const reload = () => renderDonation(root, id, ctx);
  let c;
  try {
    c = await api.get(`/internal/v1/donations/${id}`);
  } catch (e) {
    ui.mount(root, backLink(ctx), ui.pageTitle(t('orders.donationTitle', { id })), ui.errorBox(e));
    return;
  }
  const d = c.donation;
  const cancel = ctx.can('orders.act_on_behalf') && d.state === 'reserved'
    ? customerCancel(ctx, `/internal/v1/donations/${id}/cancel`, t('orders.donationTitle', { id }), reload)
    : null;
  ui.mount(root,
    backLink(ctx),
    ui.pageTitle(t('orders.donationTitle', { id }), stateBadge(ctx, d.state)),
    ui.el('section', { class: 'card', 'aria-label': t('orders.factsLabel') }, facts(ctx, [
      [t('orders.columns.state'), stateBadge(ctx, d.state)],
      [t('orders.columns.box'), `${d.box_id} · ${d.compartment}`],
      [t('orders.columns.size'), d.size_class],
      [t('orders.columns.reward'), d.reward ? (d.reward.kind === 'coins' ? t('orders.reward.coins', { n: d.reward.coins }) : t('orders.reward.coupon', { n: d.reward.percent_off })) : null],
      [t('orders.columns.created'), formatTime(d.created_at)],
    ])),
    customerFacts(ctx, c.customer),
    cancel ? ui.el('div', { class: 'actions' }, cancel) : null,
    ui.table({
      caption: t('orders.items.donationCaption'),
      columns: [
        { key: 'position', label: t('orders.items.position'), render: (i) => String(i.position) },
        { key: 'category', label: t('orders.items.category') },
        { key: 'count', label: t('orders.items.count'), class: 'num-col', render: (i) => String(i.count) },
        { key: 'condition_notes', label: t('orders.items.notes') },
        { key: 'grade', label: t('orders.items.grade'), render: (i) => (i.grade ? t(`orders.grade.${i.grade}`) : null) },
      ],
      rows: d.items ?? [],
    }),
    internalOrdersTable(ctx, c.internal_orders),
    ui.el('h2', null, t('orders.history.title')),
    caseHistory(ctx, c.history),
    c.audit ? [ui.el('h2', null, t('orders.audit.title')), auditTable(ctx, c.audit)] : null);
}

export default {
  id: 'orders',
  routes: ['orders', 'orders/:id'],
  nav: { label: 'orders.nav', permission: 'orders.read_assigned', group: 'work' },
  async render(root, params, ctx) {
    useStyles();
    if (!params.id) return renderList(root, params, ctx);
    const m = /^(?:(buying|donation)-)?(\d+)$/.exec(params.id);
    if (!m) {
      ctx.ui.mount(root, backLink(ctx), ctx.ui.pageTitle(ctx.t('core.notFound.title')));
      return undefined;
    }
    if (m[1] === 'buying') return renderBuying(root, m[2], ctx);
    if (m[1] === 'donation') return renderDonation(root, m[2], ctx);
    return renderTask(root, m[2], ctx);
  },
};
