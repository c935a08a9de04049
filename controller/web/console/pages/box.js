// One box: its facts, compartments as a grid (state, purpose, occupancy, door), open faults,
// recent events as the controller applied them, recent commands, and the staff actions:
// remote open (confirmed, reason required), maintenance on/off, decommission (confirmed).
import { formatAgo, formatTime } from '../lib/i18n.js';
import { boxStateBadge } from './fleet.js';

const kPollMs = 3000;

function compartmentCell(c, ui, t, canOpen, onOpen) {
  const { el, badge } = ui;
  const hold = c.hold;
  const occupancy = hold
    ? t(`fleet.box.phase.${hold.phase}`)
    : t('fleet.box.free');
  return el('li', { class: ['cell', `state-${c.state}`, c.door_open ? 'door-open' : null], 'data-compartment': c.number },
    el('h3', null, t('fleet.box.compartment', { number: c.number, size: c.size_class })),
    el('span', null, badge(t(`fleet.compartmentState.${c.state}`),
      ['jammed', 'forced', 'ajar', 'out_of_service'].includes(c.state) ? 'bad'
        : c.state === 'occupied' ? 'info' : c.state === 'open' || c.state === 'unlocked' ? 'warn' : 'neutral')),
    el('span', null, t('fleet.box.door'), ' ', c.door_open ? badge(t('fleet.box.doorOpen'), 'warn') : t('fleet.box.doorClosed')),
    el('span', null, t('fleet.box.purpose'), ' ', hold ? t(`fleet.box.purposes.${hold.purpose}`) : '—'),
    el('span', null, t('fleet.box.occupancy'), ' ', occupancy,
      hold?.order_id ? el('span', null, ' · ', t('fleet.box.order', { id: hold.order_id })) : null),
    c.fill_percent != null ? el('span', null, ui.meter(c.fill_percent, { label: t('fleet.box.fillOf', { number: c.number }) })) : null,
    canOpen ? el('button', { type: 'button', onclick: () => onOpen(c.number) },
      t('fleet.box.open', { number: c.number })) : null);
}

function eventText(e, t) {
  const parts = [t(`fleet.events.kinds.${e.kind}`) === `fleet.events.kinds.${e.kind}` ? e.kind : t(`fleet.events.kinds.${e.kind}`)];
  if (e.compartment != null) parts.push(t('fleet.events.compartment', { number: e.compartment }));
  return parts.join(' · ');
}

export default {
  id: 'box',
  routes: ['boxes/:id'],
  nav: null,
  async render(root, params, ctx) {
    const { api, t, ui, can } = ctx;
    const { el } = ui;
    const id = params.id;
    const path = `/internal/v1/boxes/${encodeURIComponent(id)}`;
    const head = el('div');
    const actions = el('div', { class: 'actions' });
    const grid = el('div');
    const faults = el('div');
    const events = el('div');
    const commands = el('div');
    const status = el('p', { class: 'live-status', id: 'box-updated' });
    let box = null;

    async function act(fn, okText) {
      try {
        await fn();
        ui.toast(okText, 'ok');
        await load();
      } catch (e) {
        ui.toast(e.message, 'error');
        actions.after(ui.errorBox(e));
      }
    }

    async function openCompartment(number) {
      const answer = await ui.confirm({
        title: t('fleet.box.openTitle', { number, box: id }),
        message: t('fleet.box.openMessage'),
        reasonLabel: t('fleet.box.reason'),
        reasonRequired: true,
        confirmLabel: t('fleet.box.openConfirm'),
      });
      if (!answer.ok) return;
      await act(() => api.post(`${path}/compartments/${number}/open`, { reason: answer.reason }),
        t('fleet.box.openSent', { number }));
    }

    function drawActions() {
      const buttons = [];
      if (can('fleet.write') && box.status !== 'decommissioned') {
        buttons.push(el('button', { type: 'button', id: 'maintenance-toggle', 'aria-pressed': String(box.maintenance),
          onclick: async () => {
            const on = !box.maintenance;
            const answer = await ui.confirm({
              title: on ? t('fleet.box.maintenanceOnTitle') : t('fleet.box.maintenanceOffTitle'),
              message: on ? t('fleet.box.maintenanceOnMessage') : t('fleet.box.maintenanceOffMessage'),
            });
            if (answer.ok) await act(() => api.post(`${path}/maintenance`, { on }), on ? t('fleet.box.maintenanceOnDone') : t('fleet.box.maintenanceOffDone'));
          } }, box.maintenance ? t('fleet.box.maintenanceOff') : t('fleet.box.maintenanceOn')));
        buttons.push(el('button', { type: 'button', class: 'danger', id: 'decommission',
          onclick: async () => {
            const answer = await ui.confirm({
              title: t('fleet.box.decommissionTitle', { box: id }),
              message: t('fleet.box.decommissionMessage'),
              confirmLabel: t('fleet.box.decommission'),
              danger: true,
            });
            if (answer.ok) await act(() => api.post(`${path}/decommission`), t('fleet.box.decommissioned'));
          } }, t('fleet.box.decommission')));
      }
      ui.mount(actions, buttons);
    }

    let shown = '';
    async function load() {
      const fresh = await api.get(path);
      status.textContent = t('core.updated', { time: new Date().toLocaleTimeString() });
      // Redraw only what changed: a keyboard user's focus stays where it is between polls.
      const signature = JSON.stringify(fresh);
      if (signature === shown) return;
      shown = signature;
      box = fresh;
      const state = box.last_state ?? {};
      ui.mount(head, el('dl', { class: 'facts card' },
        el('dt', null, t('fleet.col.state')), el('dd', { id: 'box-state' }, boxStateBadge(box, ui, t)),
        el('dt', null, t('fleet.col.lastSeen')), el('dd', null, box.last_seen ? el('time', { datetime: box.last_seen }, `${formatAgo(box.last_seen)} (${formatTime(box.last_seen)})`) : t('core.never')),
        el('dt', null, t('fleet.col.firmware')), el('dd', null, box.firmware_version ?? '—'),
        el('dt', null, t('fleet.col.location')), el('dd', null, box.location_name ?? '—'),
        el('dt', null, t('fleet.col.climate')), el('dd', null,
          [state.temperature_c != null ? t('fleet.climate.temperature', { value: Number(state.temperature_c).toFixed(1) }) : null,
            state.humidity_percent != null ? t('fleet.climate.humidity', { value: Math.round(state.humidity_percent) }) : null]
            .filter(Boolean).join(' · ') || '—'),
        el('dt', null, t('fleet.box.backlog')), el('dd', null, box.backlog ?? '—')));
      drawActions();
      const canOpen = can('box.open') && box.status !== 'decommissioned';
      ui.mount(grid, el('h2', null, t('fleet.box.compartments')),
        el('ul', { class: 'grid', 'aria-label': t('fleet.box.compartments') },
          box.compartments.map((c) => compartmentCell(c, ui, t, canOpen, openCompartment))));
      ui.mount(faults, el('h2', null, t('fleet.box.faults')), ui.table({
        caption: t('fleet.box.faultsCaption'), captionHidden: true, rows: box.faults, empty: t('fleet.box.noFaults'),
        columns: [
          { key: 'kind', label: t('fleet.box.faultKind'), render: (f) => t(`fleet.faults.${f.kind}`) },
          { key: 'compartment', label: t('fleet.box.compartmentCol'), render: (f) => f.compartment },
          { key: 'opened_at', label: t('fleet.box.since'), render: (f) => formatTime(f.opened_at) },
          { key: 'detail', label: t('fleet.box.detail'), render: (f) => f.detail },
        ] }));
      ui.mount(events, el('h2', null, t('fleet.box.events')), ui.table({
        caption: t('fleet.box.eventsCaption'), captionHidden: true, rows: box.recent_events ?? [], empty: t('fleet.box.noEvents'),
        columns: [
          { key: 'seq', label: t('fleet.box.seq'), class: 'num-col', render: (e) => String(e.seq) },
          { key: 'kind', label: t('fleet.box.event'), render: (e) => eventText(e, t) },
          { key: 'at', label: t('fleet.box.boxTime'), render: (e) => formatTime(e.at) },
          { key: 'applied_at', label: t('fleet.box.appliedAt'), render: (e) => formatTime(e.applied_at) },
        ] }));
      ui.mount(commands, el('h2', null, t('fleet.box.commands')), ui.table({
        caption: t('fleet.box.commandsCaption'), captionHidden: true, rows: box.commands ?? [], empty: t('fleet.box.noCommands'),
        columns: [
          { key: 'op', label: t('fleet.box.command'), render: (c) => `${c.op}${c.compartment != null ? ` #${c.compartment}` : ''}` },
          { key: 'reason', label: t('fleet.box.reasonCol'), render: (c) => c.reason },
          { key: 'created_at', label: t('fleet.box.requested'), render: (c) => formatTime(c.created_at) },
          { key: 'result', label: t('fleet.box.result'), render: (c) => (c.result_ok == null
            ? ui.badge(t('fleet.box.pending'), 'neutral')
            : c.result_ok ? ui.badge(t('fleet.box.done'), 'ok') : ui.badge(c.result_code ?? t('fleet.box.failed'), 'bad')) },
        ] }));
    }

    root.append(ui.pageTitle(t('fleet.box.title', { box: id }),
      el('a', { href: '#/fleet' }, t('fleet.box.back'))), status, head, actions, grid, faults, events, commands);
    await load();
    ctx.live.every(kPollMs, load);
  },
};
