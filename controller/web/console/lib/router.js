// Hash routing: '#/boxes/box-1?tab=events' -> the page whose routes has 'boxes/:id', with
// params {id: 'box-1'} and query {tab: 'events'}. The server serves one index.html.
export function parseHash(hash = window.location.hash) {
  const raw = hash.startsWith('#/') ? hash.slice(2) : '';
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  const query = Object.fromEntries(new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)));
  return { path: path.replace(/\/+$/, ''), query };
}

function matchRoute(pattern, path) {
  const want = pattern.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return null;
  const params = {};
  for (let i = 0; i < want.length; i += 1) {
    if (want[i].startsWith(':')) {
      if (!got[i]) return null;
      params[want[i].slice(1)] = decodeURIComponent(got[i]);
    } else if (want[i] !== got[i]) {
      return null;
    }
  }
  return params;
}

// The page and params for a path, or null.
export function resolve(pages, path) {
  for (const page of pages) {
    for (const pattern of page.routes) {
      const params = matchRoute(pattern, path);
      if (params) return { page, params };
    }
  }
  return null;
}

// '#/fleet?state=online' from a path and a query object (empty values left out).
export function hashFor(path, query = {}) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== '') qs.set(k, String(v));
  }
  const s = qs.toString();
  return `#/${path}${s ? `?${s}` : ''}`;
}

export function navigate(hash) {
  if (window.location.hash === hash) {
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  } else {
    window.location.hash = hash;
  }
}

// Changes the query of the current page in the address bar without rendering again (filters,
// paging): a reload or a shared link opens the same view.
export function replaceQuery(query) {
  const { path } = parseHash();
  window.history.replaceState(null, '', hashFor(path, query));
}
