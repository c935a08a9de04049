// Fleet: locations and boxes with online state, last seen, firmware, open faults, fill levels,
// temperature and humidity. Paged and filtered on the server (GET /internal/v1/boxes), kept
// current by short polling of the page being looked at (docs/console.md, "Live updates").
import { formatAgo, formatTime } from '../lib/i18n.js';

const kPageSize = 50;
const kPollMs = 5000;
const kFaultKinds = ['jammed', 'forced', 'ajar', 'tamper', 'out_of_service', 'unlock_unknown'];

export function boxStateBadge(box, { el, badge }, t) {
  if (box.status === 'decommissioned') return badge(t('fleet.state.decommissioned'), 'neutral');
  const parts = [box.online ? badge(t('fleet.state.online'), 'ok') : badge(t('fleet.state.offline'), 'bad')];
  if (box.maintenance) parts.push(' ', badge(t('fleet.state.maintenance'), 'warn'));
  return el('span', null, parts);
}

function climate(box, t) {
  const parts = [];
  if (box.temperature_c != null) parts.push(t('fleet.climate.temperature', { value: box.temperature_c.toFixed(1) }));
  if (box.humidity_percent != null) parts.push(t('fleet.climate.humidity', { value: Math.round(box.humidity_percent) }));
  return parts.join(' · ');
}

export default {
  id: 'fleet',
  routes: ['fleet'],
  nav: { label: 'fleet.nav', permission: 'fleet.read', group: 'fleet' },
  async render(root, params, ctx) {
    const { api, t, ui } = ctx;
    const { el } = ui;
    const q = params.query ?? {};
    const filters = {
      location_id: q.location_id ?? '',
      state: q.state ?? '',
      fault: q.fault ?? '',
      q: q.q ?? '',
      page: Math.max(1, Number.parseInt(q.page ?? '1', 10) || 1),
    };
    const locations = (await api.get('/internal/v1/locations')).items ?? [];
    const locationName = new Map(locations.map((l) => [l.id, l.name]));

    const summary = el('div', { class: 'summary', 'aria-live': 'polite' });
    const locationArea = el('div', { id: 'fleet-locations' });
    const listArea = el('div', { id: 'fleet-list' });
    const status = el('p', { class: 'live-status', id: 'fleet-updated' });

    const form = el('form', { class: 'filters', role: 'search', 'aria-label': t('fleet.filters.label'),
      onsubmit: (e) => { e.preventDefault(); filters.page = 1; apply(); } },
    ui.field({ label: t('fleet.filters.search'), name: 'q', type: 'search', value: filters.q,
      attrs: { placeholder: t('fleet.filters.searchPlaceholder') } }),
    ui.field({ label: t('fleet.filters.location'), name: 'location_id', value: filters.location_id,
      options: [{ value: '', label: t('fleet.filters.any') },
        ...locations.map((l) => ({ value: l.id, label: l.name }))] }),
    ui.field({ label: t('fleet.filters.state'), name: 'state', value: filters.state,
      options: [{ value: '', label: t('fleet.filters.any') },
        ...['online', 'offline', 'maintenance', 'decommissioned'].map((s) => ({ value: s, label: t(`fleet.state.${s}`) }))] }),
    ui.field({ label: t('fleet.filters.fault'), name: 'fault', value: filters.fault,
      options: [{ value: '', label: t('fleet.filters.any') }, { value: 'any', label: t('fleet.filters.anyFault') },
        { value: 'none', label: t('fleet.filters.noFault') },
        ...kFaultKinds.map((k) => ({ value: k, label: t(`fleet.faults.${k}`) }))] }),
    el('button', { type: 'submit', class: 'primary' }, t('fleet.filters.apply')));
    for (const name of ['location_id', 'state', 'fault']) {
      form.elements[name].addEventListener('change', () => { filters.page = 1; apply(); });
    }

    const columns = [
      { key: 'id', label: t('fleet.col.box'), render: (b) => el('a', { href: `#/boxes/${encodeURIComponent(b.id)}` }, b.id) },
      { key: 'location', label: t('fleet.col.location'), render: (b) => locationName.get(b.location_id) ?? '—' },
      { key: 'state', label: t('fleet.col.state'), render: (b) => boxStateBadge(b, ui, t) },
      { key: 'last_seen', label: t('fleet.col.lastSeen'), render: (b) => (b.last_seen
        ? el('time', { datetime: b.last_seen, title: formatTime(b.last_seen) }, formatAgo(b.last_seen)) : t('core.never')) },
      { key: 'firmware', label: t('fleet.col.firmware'), render: (b) => b.firmware_version },
      { key: 'faults', label: t('fleet.col.faults'), class: 'num-col', render: (b) => (b.open_faults > 0
        ? ui.badge(String(b.open_faults), 'bad') : '0') },
      { key: 'fill', label: t('fleet.col.fill'), render: (b) => (b.fill_max_percent == null ? '—'
        : ui.meter(b.fill_max_percent, { label: t('fleet.fillOf', { box: b.id }) })) },
      { key: 'climate', label: t('fleet.col.climate'), render: (b) => climate(b, t) },
    ];

    let seq = 0;
    let shown = '';
    async function load() {
      const mine = ++seq;
      const data = await api.get('/internal/v1/boxes', {
        location_id: filters.location_id, state: filters.state, fault: filters.fault,
        q: filters.q, page: filters.page, page_size: kPageSize,
      });
      if (mine !== seq) return;
      status.textContent = t('core.updated', { time: new Date().toLocaleTimeString() });
      // Redraw only when something changed (focus and scroll stay between polls).
      const signature = JSON.stringify(data);
      if (signature === shown) return;
      shown = signature;
      ui.mount(summary,
        el('div', { class: 'card' }, el('span', { class: 'num' }, String(data.fleet.online)), t('fleet.summary.online')),
        el('div', { class: 'card' }, el('span', { class: 'num' }, String(data.fleet.offline)), t('fleet.summary.offline')),
        el('div', { class: 'card' }, el('span', { class: 'num' }, String(data.fleet.with_faults)), t('fleet.summary.faults')),
        el('div', { class: 'card' }, el('span', { class: 'num' }, String(data.fleet.maintenance)), t('fleet.summary.maintenance')));
      ui.mount(locationArea, ui.table({
        caption: t('fleet.locations.caption'), rows: data.locations ?? [], empty: t('fleet.locations.empty'),
        columns: [
          { key: 'name', label: t('fleet.locations.name'), render: (l) => el('a', {
            href: `#/fleet?location_id=${l.id}`, 'aria-current': String(l.id) === String(filters.location_id) ? 'true' : null,
          }, l.name) },
          { key: 'address', label: t('fleet.locations.address'), render: (l) => l.address },
          { key: 'boxes', label: t('fleet.locations.boxes'), class: 'num-col', render: (l) => String(l.boxes) },
          { key: 'online', label: t('fleet.locations.online'), class: 'num-col', render: (l) => String(l.online) },
          { key: 'faults', label: t('fleet.locations.faults'), class: 'num-col', render: (l) => (l.with_faults > 0
            ? ui.badge(String(l.with_faults), 'bad') : '0') },
        ] }));
      // Keep keyboard focus where it was when the rows are redrawn.
      const focused = document.activeElement && listArea.contains(document.activeElement)
        ? document.activeElement.getAttribute('href') ?? document.activeElement.textContent : null;
      ui.mount(listArea,
        ui.table({ caption: t('fleet.tableCaption', { total: data.total }), columns, rows: data.items,
          empty: t('fleet.empty'), rowAttrs: (b) => ({ 'data-box': b.id }) }),
        ui.pager({ page: data.page, pageSize: data.page_size, total: data.total,
          onPage: (p) => { filters.page = p; apply(); } }));
      if (focused) {
        const again = [...listArea.querySelectorAll('a, button')].find((n) =>
          (n.getAttribute('href') ?? n.textContent) === focused);
        again?.focus();
      }
    }

    async function apply() {
      shown = '';
      filters.q = form.elements.q.value.trim();
      filters.location_id = form.elements.location_id.value;
      filters.state = form.elements.state.value;
      filters.fault = form.elements.fault.value;
      ctx.replaceQuery({ ...filters, page: filters.page > 1 ? filters.page : '' });
      try {
        await load();
      } catch (e) {
        ui.mount(listArea, ui.errorBox(e));
      }
    }

    root.append(ui.pageTitle(t('fleet.title')), el('p', { class: 'muted' }, t('fleet.intro')),
      summary, el('h2', null, t('fleet.locations.title')), locationArea,
      el('h2', null, t('fleet.boxesTitle')), form, status, listArea);
    await load();
    ctx.live.every(kPollMs, load);
  },
};
