// The console's one way to the internal API. The session is the HttpOnly cookie the server set
// at sign-in (the page never sees it); the CSRF token is kept here, in memory only (never in
// localStorage or sessionStorage), re-read from GET /internal/v1/sessions/current after a
// reload, and sent in X-CSRF-Token on every request that is not a GET.
let csrfToken = null;
let unauthenticatedHandler = null;

export class ApiError extends Error {
  constructor(status, code, message, details = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details ?? {};
  }
}

function buildUrl(path, query) {
  const url = new URL(path, window.location.origin);
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v === undefined || v === null || v === '') continue;
    url.searchParams.set(k, String(v));
  }
  return url;
}

async function request(method, path, { query, body } = {}) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (method !== 'GET' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let res;
  try {
    res = await fetch(buildUrl(path, query), init);
  } catch (e) {
    throw new ApiError(0, 'network', e.message || 'network error');
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!res.ok) {
    const e = data?.error ?? {};
    const err = new ApiError(res.status, e.code ?? `http_${res.status}`,
      e.message ?? res.statusText, e.details);
    if (res.status === 401 && csrfToken && unauthenticatedHandler) {
      csrfToken = null;
      unauthenticatedHandler(err);
    }
    throw err;
  }
  return data;
}

export const api = {
  get: (path, query) => request('GET', path, { query }),
  post: (path, body) => request('POST', path, { body: body ?? {} }),
  put: (path, body) => request('PUT', path, { body: body ?? {} }),
  patch: (path, body) => request('PATCH', path, { body: body ?? {} }),
  del: (path) => request('DELETE', path),
  // For <img src> of cookie-authenticated GETs (label.png).
  url: (path, query) => buildUrl(path, query).pathname + buildUrl(path, query).search,
};

// Signs in with the console's cookie session; resolves to the sign-in answer.
export async function signIn(email, password) {
  const answer = await request('POST', '/internal/v1/sessions',
    { body: { email, password, cookie: true } });
  csrfToken = answer.csrf_token;
  return answer;
}

// After a reload: is the cookie's session alive? Re-reads the CSRF token if so.
export async function resumeSession() {
  try {
    const s = await request('GET', '/internal/v1/sessions/current');
    if (s.via !== 'cookie') return false;
    csrfToken = s.csrf_token;
    return true;
  } catch (e) {
    if (e.status === 401) return false;
    throw e;
  }
}

// Ends the session on the server (and the cookie with it).
export async function signOut() {
  try {
    await request('DELETE', '/internal/v1/sessions/current');
  } finally {
    csrfToken = null;
  }
}

// Called once when a request finds the session gone (expired, revoked, signed out elsewhere).
export function onUnauthenticated(fn) { unauthenticatedHandler = fn; }
