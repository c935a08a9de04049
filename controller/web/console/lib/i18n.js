// Every visible string of the console comes from i18n/<lang>/<area>.json through t('area.key'),
// so a translation is a copy of that folder. Keys are flat within an area ("boxes.title") or
// nested ({"boxes": {"title": ...}}); {name} placeholders are filled from vars.
const tables = new Map();
let language = 'en';

// The areas the console knows; an area whose file is missing (not yet written) is left empty.
export const kAreas = ['core', 'fleet', 'orders', 'courier', 'catalogue', 'people'];

export async function loadLanguage(lang = 'en') {
  language = lang;
  await Promise.all(kAreas.map(async (area) => {
    try {
      const res = await fetch(`i18n/${lang}/${area}.json`, { cache: 'no-cache' });
      tables.set(area, res.ok ? await res.json() : {});
    } catch {
      tables.set(area, {});
    }
  }));
  document.documentElement.lang = lang;
}

export function lang() { return language; }

function lookup(table, path) {
  if (table == null) return undefined;
  if (Object.prototype.hasOwnProperty.call(table, path)) return table[path];
  let node = table;
  for (const part of path.split('.')) {
    if (node == null || typeof node !== 'object') return undefined;
    node = node[part];
  }
  return typeof node === 'string' ? node : undefined;
}

// t('fleet.boxes.title', {count: 3}). A missing key shows itself (and is logged) so it is found.
export function t(key, vars) {
  const dot = key.indexOf('.');
  const area = dot < 0 ? 'core' : key.slice(0, dot);
  const text = lookup(tables.get(area), key.slice(dot + 1));
  if (text === undefined) {
    console.warn(`i18n: no text for ${key}`);
    return key;
  }
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

// Dates and numbers in the console's language.
export function formatTime(value) {
  if (value == null || value === '') return t('core.never');
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return d.toLocaleString(language, { dateStyle: 'medium', timeStyle: 'medium' });
}

export function formatAgo(value, now = Date.now()) {
  if (value == null || value === '') return t('core.never');
  const s = Math.round((now - new Date(value).getTime()) / 1000);
  const rtf = new Intl.RelativeTimeFormat(language, { numeric: 'auto' });
  if (Math.abs(s) < 60) return rtf.format(-s, 'second');
  if (Math.abs(s) < 3600) return rtf.format(-Math.round(s / 60), 'minute');
  if (Math.abs(s) < 86400) return rtf.format(-Math.round(s / 3600), 'hour');
  return rtf.format(-Math.round(s / 86400), 'day');
}

export function formatNumber(value, options) {
  return value == null ? '—' : new Intl.NumberFormat(language, options).format(value);
}
