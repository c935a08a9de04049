// Building blocks of the console's pages. Everything is built with DOM calls (never innerHTML),
// so text from the API can never become markup.
import { t } from './i18n.js';

let idCounter = 0;
export function uid(prefix = 'id') { idCounter += 1; return `${prefix}-${idCounter}`; }

// el('button', {class: 'primary', onclick: fn, 'aria-label': 'x', disabled: true}, 'text', node)
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      node.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      node.className = Array.isArray(value) ? value.filter(Boolean).join(' ') : value;
    } else if (key === 'dataset') {
      Object.assign(node.dataset, value);
    } else if (key === 'text') {
      node.textContent = value;
    } else if (key === 'value' && 'value' in node) {
      node.value = value;
    } else if (key === 'checked' || key === 'selected') {
      node[key] = Boolean(value);
    } else {
      node.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// Replaces a node's children.
export function mount(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

// A data table: columns [{key, label, render(row) -> Node|string, class}], rows [objects].
// The caption names the table for screen readers; a wrapper scrolls on narrow screens.
export function table({ caption, columns, rows, empty, rowAttrs, captionHidden = false }) {
  const head = el('tr', null, columns.map((c) => el('th', { scope: 'col', class: c.class }, c.label)));
  const body = rows.length === 0
    ? [el('tr', null, el('td', { colspan: columns.length, class: 'empty' }, empty ?? t('core.table.empty')))]
    : rows.map((row) => el('tr', rowAttrs ? rowAttrs(row) : null, columns.map((c, i) => {
      const value = c.render ? c.render(row) : row[c.key];
      const cell = value === undefined || value === null || value === '' ? '—' : value;
      return i === 0 && c.header !== false
        ? el('th', { scope: 'row', class: c.class }, cell)
        : el('td', { class: c.class }, cell);
    })));
  return el('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': caption },
    el('table', null,
      el('caption', { class: captionHidden ? 'visually-hidden' : null }, caption),
      el('thead', null, head),
      el('tbody', null, body)));
}

// Page controls for a server-paged list: onPage(page) with page counted from 1.
export function pager({ page, pageSize, total, onPage }) {
  const pages = Math.max(1, Math.ceil(total / pageSize));
  const from = total === 0 ? 0 : (page - 1) * pageSize + 1;
  const to = Math.min(total, page * pageSize);
  return el('nav', { class: 'pager', 'aria-label': t('core.pager.label') },
    el('button', { type: 'button', disabled: page <= 1, onclick: () => onPage(page - 1) },
      t('core.pager.previous')),
    el('span', { class: 'pager-status', 'aria-live': 'polite' },
      t('core.pager.status', { from, to, total, page, pages })),
    el('button', { type: 'button', disabled: page >= pages, onclick: () => onPage(page + 1) },
      t('core.pager.next')));
}

// A labelled form field: <input>, or <select> when options [{value, label}] are given, or a
// <textarea> for type 'textarea'.
export function field({ label, name, type = 'text', value, required, options, hint, attrs }) {
  const id = uid(`f-${name}`);
  const hintId = hint ? `${id}-hint` : null;
  let control;
  const common = { id, name, required, 'aria-describedby': hintId, ...(attrs ?? {}) };
  if (options) {
    control = el('select', common, options.map((o) =>
      el('option', { value: o.value, selected: String(o.value) === String(value ?? '') }, o.label)));
  } else if (type === 'textarea') {
    control = el('textarea', { ...common, rows: 3 });
    if (value != null) control.value = value;
  } else {
    control = el('input', { ...common, type, value: value ?? undefined });
  }
  return el('div', { class: 'field' },
    el('label', { for: id }, label, required ? el('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null),
    control,
    hint ? el('p', { class: 'hint', id: hintId }, hint) : null);
}

// An accessible modal dialog asking to confirm; resolves {ok, reason}. With reasonRequired the
// confirm button refuses an empty reason.
export function confirm({ title, message, reasonLabel, reasonRequired = false, confirmLabel, danger = false }) {
  return new Promise((resolve) => {
    const titleId = uid('dlg-title');
    const reason = reasonLabel
      ? field({ label: reasonLabel, name: 'reason', type: 'textarea', required: reasonRequired })
      : null;
    const errorLine = el('p', { class: 'field-error', role: 'alert' });
    const dialog = el('dialog', { class: 'dialog', 'aria-labelledby': titleId });
    let done = false;
    const finish = (ok) => {
      if (done) return;
      const text = reason ? reason.querySelector('textarea').value.trim() : '';
      if (ok && reasonRequired && !text) {
        errorLine.textContent = t('core.confirm.reasonRequired');
        reason.querySelector('textarea').focus();
        return;
      }
      done = true;
      dialog.close();
      dialog.remove();
      resolve({ ok, reason: text });
    };
    // novalidate: the dialog says itself what is missing (a native bubble is easy to miss).
    const form = el('form', { method: 'dialog', novalidate: true, onsubmit: (e) => { e.preventDefault(); finish(true); } },
      el('h2', { id: titleId }, title),
      message ? el('p', null, message) : null,
      reason, errorLine,
      el('div', { class: 'actions' },
        el('button', { type: 'button', onclick: () => finish(false) }, t('core.confirm.cancel')),
        el('button', { type: 'submit', class: danger ? 'danger' : 'primary' },
          confirmLabel ?? t('core.confirm.ok'))));
    reason?.querySelector('textarea').addEventListener('input', () => { errorLine.textContent = ''; });
    dialog.append(form);
    dialog.addEventListener('cancel', (e) => { e.preventDefault(); finish(false); });
    document.body.append(dialog);
    dialog.showModal();
    (reason ? reason.querySelector('textarea') : form.querySelector('button[type=submit]')).focus();
  });
}

// A short message in the corner (role=status: read out by screen readers).
export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  if (!box) return;
  const item = el('div', { class: ['toast', `toast-${kind}`] }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === 'error' ? 8000 : 4000);
}

// An API error for people: what went wrong and what to do, with the code for support.
export function errorBox(error) {
  const status = error?.status ?? 0;
  let advice = '';
  if (status === 0) advice = t('core.error.network');
  else if (status === 401) advice = t('core.error.unauthenticated');
  else if (status === 403) advice = t('core.error.forbidden');
  else if (status === 404) advice = t('core.error.notFound');
  else if (status === 429) advice = t('core.error.rateLimited');
  else if (status >= 500) advice = t('core.error.server');
  return el('div', { class: 'error-box', role: 'alert' },
    el('p', null, el('strong', null, error?.message ?? String(error))),
    advice ? el('p', null, advice) : null,
    error?.code ? el('p', { class: 'muted' }, t('core.error.code', { code: error.code, status })) : null);
}

// A coloured state label with its text (never colour alone).
export function badge(text, kind = 'neutral') {
  return el('span', { class: ['badge', `badge-${kind}`] }, text);
}

// A page heading that takes focus after navigation (for screen readers and keyboards).
export function pageTitle(text, ...extra) {
  return el('div', { class: 'page-head' }, el('h1', { tabindex: -1 }, text), ...extra);
}

// A meter with its number beside it (fill levels, ...).
export function meter(value, { max = 100, label, low = 50, high = 85 } = {}) {
  if (value == null) return '—';
  return el('span', { class: 'meter-wrap' },
    el('meter', { min: 0, max, low, high, optimum: 0, value, 'aria-label': label }),
    el('span', { class: 'meter-value' }, `${value}%`));
}
