// The courier app: the console on a phone (390x844). My tasks for today; per task the box and the
// compartments to empty (collecting) or load (shipping), the courier QR code to hold to the box
// camera (GET /internal/v1/orders/{id}/courier-qr.png: the courier token, for its holder only),
// the door-by-door progress as the box reports it (short polling with live.every), the
// tracking-code sticker in a print page for a 50 mm label printer, and reporting a problem at the
// box (POST /internal/v1/orders/{id}/problems: a fault the on-call staff are alarmed about).
import { formatTime } from '../lib/i18n.js';
import { useStyles } from './order_common.js';
import { stateBadge } from './orders.js';

const kCourierKinds = ['collecting', 'shipping'];
const kHeld = ['assigned', 'in_progress'];
const kPollMs = 2000;

function isToday(value) {
  if (!value) return false;
  const d = new Date(value);
  const now = new Date();
  return d.getFullYear() === now.getFullYear() && d.getMonth() === now.getMonth() && d.getDate() === now.getDate();
}

// Each compartment's step: what the box reported for it.
export function doorSteps(order, box) {
  const items = new Map((order.items ?? []).map((i) => [i.compartment, i]));
  const doors = new Map((box?.compartments ?? []).map((c) => [c.number, c]));
  return (order.compartments ?? []).map((n) => {
    const item = items.get(n);
    const door = doors.get(n);
    let step;
    if (order.kind === 'collecting') {
      if (item?.outcome) step = item.outcome;             // jammed, empty, skipped
      else if (item?.collected_at) step = 'emptied';
      else if (door?.door_open) step = 'door_open';
      else step = 'to_empty';
    } else if (order.state === 'done') {
      step = 'loaded';
    } else if (door?.door_open) {
      step = 'door_open';
    } else {
      step = 'to_load';
    }
    return { compartment: n, step, at: item?.collected_at ?? null, size: door?.size_class };
  });
}

const kStepBadge = { emptied: 'ok', loaded: 'ok', door_open: 'info', to_empty: 'neutral', to_load: 'neutral',
  jammed: 'bad', empty: 'warn', skipped: 'warn' };

function progressCount(steps) {
  return steps.filter((s) => ['emptied', 'loaded', 'jammed', 'empty', 'skipped'].includes(s.step)).length;
}

async function loadBox(ctx, boxId) {
  if (!boxId || !ctx.can('fleet.read')) return null;
  try {
    return await ctx.api.get(`/internal/v1/boxes/${encodeURIComponent(boxId)}`);
  } catch {
    return null;
  }
}

// ---- my tasks -----------------------------------------------------------------------------------

async function myTasks(ctx) {
  const query = { limit: 100 };
  if (ctx.can('orders.read_all')) query.assignee_id = ctx.me.id;
  const page = await ctx.api.get('/internal/v1/orders', query);
  const order = { in_progress: 0, assigned: 1, done: 2, cancelled: 3 };
  return (page.items ?? [])
    .filter((o) => kCourierKinds.includes(o.kind) && o.assignee_id === ctx.me.id)
    .filter((o) => kHeld.includes(o.state) || isToday(o.done_at))
    .sort((a, b) => (order[a.state] ?? 9) - (order[b.state] ?? 9) || a.id - b.id);
}

function taskCard(ctx, o) {
  const { t, ui } = ctx;
  const steps = doorSteps(o, null);
  const done = progressCount(steps);
  return ui.el('li', { class: 'task-card', 'data-testid': `courier-task-${o.id}` },
    ui.el('a', { href: `#/courier/${o.id}`, class: 'task-link' },
      ui.el('span', { class: 'task-title' },
        t(`courier.kindTitle.${o.kind}`, { place: o.location?.name ?? o.box_id ?? '' })),
      ui.el('span', { class: 'task-address' }, o.location?.address ?? ''),
      ui.el('span', { class: 'task-meta' },
        stateBadge(ctx, o.state), ' ',
        t('courier.boxLine', { box: o.box_id ?? '—', n: (o.compartments ?? []).length }), ' · ',
        o.kind === 'collecting' ? t('courier.progressShort', { done, total: steps.length }) : '')));
}

async function renderTasks(root, ctx) {
  const { t, ui } = ctx;
  const list = ui.el('ul', { class: 'task-list', 'aria-live': 'polite', 'aria-label': t('courier.listLabel') });
  const status = ui.el('p', { class: 'live-status' });
  ui.mount(root,
    ui.pageTitle(t('courier.title')),
    ui.el('p', { class: 'muted' }, t('courier.intro')),
    list, status);
  const draw = async () => {
    const tasks = await myTasks(ctx);
    ui.mount(list, tasks.length
      ? tasks.map((o) => taskCard(ctx, o))
      : ui.el('li', { class: 'task-card empty' }, t('courier.none')));
    status.textContent = t('courier.updated', { time: formatTime(new Date().toISOString()) });
  };
  try {
    await draw();
  } catch (e) {
    ui.mount(list, ui.el('li', null, ui.errorBox(e)));
  }
  ctx.live.every(10000, draw);
}

// ---- one task -----------------------------------------------------------------------------------

function progressList(ctx, steps) {
  const { t, ui } = ctx;
  return steps.map((s) => ui.el('li', {
    class: ['door-step', `step-${s.step}`], 'data-testid': `door-${s.compartment}`, 'data-step': s.step,
  },
  ui.el('span', { class: 'door-number' }, t('courier.door', { n: s.compartment })),
  ui.badge(t(`courier.steps.${s.step}`), kStepBadge[s.step] ?? 'neutral'),
  s.at ? ui.el('span', { class: 'muted door-time' }, formatTime(s.at)) : null));
}

function problemForm(ctx, o, onDone) {
  const { t, ui, api } = ctx;
  const errorLine = ui.el('div', { 'aria-live': 'assertive' });
  const form = ui.el('form', {
    class: 'card problem-form', 'aria-labelledby': 'problem-title', 'data-testid': 'problem-form',
    onsubmit: async (e) => {
      e.preventDefault();
      const data = Object.fromEntries(new FormData(form).entries());
      const body = { problem: data.problem };
      if (data.compartment) body.compartment = Number(data.compartment);
      if (data.note?.trim()) body.note = data.note.trim();
      if (body.problem === 'other' && !body.note) {
        ui.mount(errorLine, ui.el('p', { class: 'field-error' }, t('courier.problem.noteRequired')));
        return;
      }
      try {
        const fault = await api.post(`/internal/v1/orders/${o.id}/problems`, body);
        ui.mount(errorLine);
        form.reset();
        ui.toast(t('courier.problem.sent', { id: fault.id }), 'ok');
        onDone?.(fault);
      } catch (err) {
        ui.mount(errorLine, ui.errorBox(err));
      }
    },
  },
  ui.el('h2', { id: 'problem-title' }, t('courier.problem.title')),
  ui.el('p', { class: 'muted' }, t('courier.problem.intro')),
  ui.field({ label: t('courier.problem.what'), name: 'problem', required: true, options: [
    { value: 'jammed_door', label: t('courier.problem.kinds.jammed_door') },
    { value: 'missing_bag', label: t('courier.problem.kinds.missing_bag') },
    { value: 'other', label: t('courier.problem.kinds.other') }] }),
  ui.field({ label: t('courier.problem.compartment'), name: 'compartment', options: [
    { value: '', label: t('courier.problem.anyCompartment') },
    ...(o.compartments ?? []).map((n) => ({ value: String(n), label: t('courier.door', { n }) }))] }),
  ui.field({ label: t('courier.problem.note'), name: 'note', type: 'textarea', hint: t('courier.problem.noteHint'),
    attrs: { maxlength: 500 } }),
  errorLine,
  ui.el('button', { type: 'submit', class: 'primary wide', 'data-testid': 'problem-submit' }, t('courier.problem.submit')));
  return form;
}

async function renderTask(root, id, ctx) {
  const { t, ui, api } = ctx;
  let o;
  try {
    o = await api.get(`/internal/v1/orders/${id}`);
  } catch (e) {
    ui.mount(root, back(ctx), ui.pageTitle(t('courier.taskTitle', { id })), ui.errorBox(e));
    return;
  }
  let box = await loadBox(ctx, o.box_id);
  const progress = ui.el('ol', { class: 'door-steps', 'data-testid': 'door-progress', 'aria-label': t('courier.progressLabel') });
  const summary = ui.el('p', { class: 'progress-summary', role: 'status', 'data-testid': 'progress-summary' });
  const qrArea = ui.el('section', { class: 'qr-area', 'aria-labelledby': 'qr-title' });
  const badgeSlot = ui.el('span', { 'data-testid': 'task-state' });
  const status = ui.el('p', { class: 'live-status' });
  let shownToken = null;
  // The problem form while the task is the courier's and unfinished (kept, not redrawn, while so).
  const problemSlot = ui.el('div');
  let problemShown = false;
  const drawProblem = () => {
    const open = kHeld.includes(o.state) && o.assignee_id === ctx.me.id && kCourierKinds.includes(o.kind);
    if (open && !problemShown) ui.mount(problemSlot, problemForm(ctx, o));
    if (!open && problemShown) ui.mount(problemSlot);
    problemShown = open;
  };

  const drawQr = () => {
    if (!kHeld.includes(o.state) || o.assignee_id !== ctx.me.id || !o.token) {
      shownToken = null;
      ui.mount(qrArea,
        ui.el('h2', { id: 'qr-title' }, t('courier.qr.title')),
        ui.el('p', { class: 'notice', 'data-testid': 'qr-none' },
          o.state === 'done' ? t('courier.qr.finished') : o.state === 'cancelled' ? t('courier.qr.cancelled') : t('courier.qr.notYours')));
      return;
    }
    if (shownToken === o.token.token_id) return;   // the same code: leave the picture alone
    shownToken = o.token.token_id;
    ui.mount(qrArea,
      ui.el('h2', { id: 'qr-title' }, t('courier.qr.title')),
      ui.el('p', null, t(o.kind === 'collecting' ? 'courier.qr.howCollect' : 'courier.qr.howLoad', { box: o.box_id })),
      ui.el('figure', { class: 'qr-figure' },
        ui.el('img', {
          class: 'courier-qr', 'data-testid': 'courier-qr', width: 320, height: 320,
          src: api.url(`/internal/v1/orders/${o.id}/courier-qr.png`, { v: o.token.token_id }),
          alt: t('courier.qr.alt', { box: o.box_id }),
        }),
        ui.el('figcaption', { class: 'muted' }, t('courier.qr.caption', { box: o.box_id }))));
  };

  const draw = () => {
    const steps = doorSteps(o, box);
    ui.mount(progress, progressList(ctx, steps));
    const done = progressCount(steps);
    summary.textContent = o.state === 'done'
      ? t('courier.progress.done')
      : t(o.kind === 'collecting' ? 'courier.progress.collecting' : 'courier.progress.shipping',
        { done, total: steps.length });
    ui.mount(badgeSlot, stateBadge(ctx, o.state));
    status.textContent = t('courier.updated', { time: formatTime(new Date().toISOString()) });
    drawQr();
    drawProblem();
  };

  const header = ui.el('section', { class: 'card task-head' },
    ui.el('p', { class: 'task-address' }, o.location ? `${o.location.name} · ${o.location.address}` : ''),
    ui.el('dl', { class: 'facts' },
      ui.el('dt', null, t('courier.box')), ui.el('dd', null, o.box_id ?? '—'),
      ui.el('dt', null, t('courier.compartments')), ui.el('dd', null, (o.compartments ?? []).join(', ') || '—'),
      o.tracking_code ? [ui.el('dt', null, t('courier.tracking')), ui.el('dd', null, o.tracking_code)] : null),
    ui.el('p', null, badgeSlot));

  ui.mount(root,
    back(ctx),
    ui.pageTitle(t(`courier.kindTitle.${o.kind}`, { place: o.location?.name ?? o.box_id ?? '' })),
    header,
    qrArea,
    ui.el('section', { class: 'card', 'aria-labelledby': 'progress-title' },
      ui.el('h2', { id: 'progress-title' }, t('courier.progressTitle')),
      summary, progress, status),
    o.tracking_code
      ? ui.el('p', { class: 'actions' },
        ui.el('a', { class: 'button wide', href: `#/courier/${o.id}/label`, 'data-testid': 'label-link' }, t('courier.label.open')))
      : null,
    problemSlot);
  draw();

  // Live: the box's reports come in through the controller; the order and the box are re-read.
  ctx.live.every(kPollMs, async () => {
    const [next, nextBox] = await Promise.all([api.get(`/internal/v1/orders/${id}`), loadBox(ctx, o.box_id)]);
    o = next;
    box = nextBox;
    draw();
  });
}

function back(ctx) {
  return ctx.ui.el('p', null, ctx.ui.el('a', { href: '#/courier' }, ctx.t('courier.back')));
}

// ---- the label print page -----------------------------------------------------------------------

async function renderLabel(root, id, ctx) {
  const { t, ui, api } = ctx;
  let o;
  try {
    o = await api.get(`/internal/v1/orders/${id}`);
  } catch (e) {
    ui.mount(root, back(ctx), ui.pageTitle(t('courier.label.title')), ui.errorBox(e));
    return;
  }
  if (!o.tracking_code) {
    ui.mount(root, back(ctx), ui.pageTitle(t('courier.label.title')),
      ui.el('p', { class: 'notice' }, t('courier.label.none')));
    return;
  }
  document.body.classList.add('printing-label');
  const sheet = ui.el('div', { class: 'label-sheet', 'data-testid': 'label-sheet' },
    ui.el('img', {
      class: 'label-qr', src: api.url(`/internal/v1/orders/${o.id}/label.png`), width: 400, height: 400,
      alt: t('courier.label.alt', { code: o.tracking_code }),
    }),
    ui.el('p', { class: 'label-code' }, o.tracking_code),
    ui.el('p', { class: 'label-meta' }, t('courier.label.meta', { id: o.id, box: o.box_id ?? '' })));
  ui.mount(root,
    ui.el('p', { class: 'no-print' }, ui.el('a', { href: `#/courier/${o.id}` }, t('courier.label.back'))),
    ui.pageTitle(t('courier.label.title')),
    ui.el('p', { class: 'muted no-print' }, t('courier.label.intro')),
    sheet,
    ui.el('p', { class: 'actions no-print' },
      ui.el('button', { type: 'button', class: 'primary wide', onclick: () => window.print() }, t('courier.label.print'))));
  // The class only matters for this page: it goes when the page is left.
  window.addEventListener('hashchange', () => document.body.classList.remove('printing-label'), { once: true });
}

export default {
  id: 'courier',
  routes: ['courier', 'courier/:id', 'courier/:id/label'],
  // Couriers (and managers, who may stand in) carry courier tokens: tokens.issue_courier marks them.
  nav: { label: 'courier.nav', permission: 'tokens.issue_courier', group: 'work', landingFor: ['delivery'] },
  async render(root, params, ctx) {
    useStyles();
    if (!params.id) return renderTasks(root, ctx);
    if (!/^\d+$/.test(params.id)) {
      ctx.ui.mount(root, back(ctx), ctx.ui.pageTitle(ctx.t('core.notFound.title')));
      return undefined;
    }
    if (window.location.hash.split('?')[0].endsWith('/label')) return renderLabel(root, params.id, ctx);
    return renderTask(root, params.id, ctx);
  },
};
