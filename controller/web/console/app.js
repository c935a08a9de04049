// The console's entry: loads the texts, finds the session, draws the navigation the signed-in
// staff member's permissions allow, and renders the page of the current hash route.
import { api, onUnauthenticated, resumeSession, signOut } from './lib/api.js';
import { loadLanguage, t } from './lib/i18n.js';
import * as ui from './lib/ui.js';
import { hashFor, navigate, parseHash, replaceQuery, resolve } from './lib/router.js';
import { createLive } from './lib/live.js';
import pages from './pages/index.js';

const state = { me: null, live: null, renderSeq: 0 };
const mainEl = () => document.getElementById('main');

function can(permission) {
  return Boolean(state.me?.permissions?.includes(permission));
}

function visiblePages() {
  return pages.filter((p) => p.nav && (!p.nav.permission || can(p.nav.permission)));
}

// Where a sign-in lands: the first page that names one of the staff member's roles as its
// landing (a courier's My tasks), else the first page in navigation order they may see.
function homeHash() {
  const visible = visiblePages();
  const roles = state.me?.roles ?? [];
  const first = visible.find((p) => p.nav.landingFor?.some((r) => roles.includes(r))) ?? visible[0];
  return first ? `#/${first.routes[0]}` : '#/home';
}

const kGroups = ['work', 'fleet', 'catalogue', 'people', 'admin'];

function drawNav() {
  const nav = document.getElementById('nav');
  const { path } = parseHash();
  if (!state.me) {
    nav.hidden = true;
    nav.replaceChildren();
    return;
  }
  nav.hidden = false;
  nav.setAttribute('aria-label', t('core.nav.label'));
  const groups = new Map();
  for (const page of visiblePages()) {
    const g = page.nav.group ?? 'work';
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push(page);
  }
  const order = [...groups.keys()].sort((a, b) => {
    const ia = kGroups.indexOf(a); const ib = kGroups.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib);
  });
  ui.mount(nav, order.map((g) => {
    const headId = ui.uid('nav-group');
    return ui.el('div', { class: 'nav-group' },
      ui.el('h2', { id: headId, class: 'nav-heading' }, t(`core.nav.groups.${g}`)),
      ui.el('ul', { 'aria-labelledby': headId }, groups.get(g).map((page) => {
        const target = page.routes[0];
        const current = path === target || path.startsWith(`${target.split('/')[0]}/`);
        return ui.el('li', null, ui.el('a', {
          href: `#/${target}`, 'aria-current': current ? 'page' : null,
        }, t(page.nav.label)));
      })));
  }));
}

function drawTopbar() {
  const who = document.getElementById('who');
  document.getElementById('brand').textContent = t('core.brand');
  if (!state.me) {
    who.replaceChildren();
    return;
  }
  ui.mount(who,
    ui.el('span', { class: 'who-name' }, state.me.display_name || state.me.email),
    ui.el('span', { class: 'who-roles muted' }, (state.me.roles ?? []).map((r) => t(`core.roles.${r}`)).join(', ')),
    ui.el('button', {
      type: 'button', class: 'link', id: 'signout',
      onclick: async () => {
        try { await signOut(); } catch (e) { console.warn(e); }
        state.me = null;
        navigate(hashFor('signin', { reason: 'signedout' }));
      },
    }, t('core.signout')));
}

async function loadMe() {
  state.me = await api.get('/internal/v1/staff/me');
}

async function render() {
  const seq = ++state.renderSeq;
  state.live?.stopAll();
  state.live = createLive();
  const { path, query } = parseHash();
  const main = mainEl();
  if (!state.me && path !== 'signin') {
    navigate(hashFor('signin', path ? { next: path } : {}));
    return;
  }
  if (state.me && (path === '' || path === 'signin')) {
    navigate(homeHash());
    return;
  }
  drawTopbar();
  drawNav();
  const found = resolve(pages, path);
  main.replaceChildren();
  const ctx = {
    api, t, can, me: state.me, navigate, ui, live: state.live, replaceQuery, pages,
    signedIn: async (next) => {
      await loadMe();
      navigate(next ? `#/${next}` : homeHash());
    },
  };
  if (!found) {
    main.append(ui.pageTitle(t('core.notFound.title')), ui.el('p', null, t('core.notFound.text')),
      ui.el('p', null, ui.el('a', { href: homeHash() }, t('core.forbidden.home'))));
    document.title = `${t('core.notFound.title')} · ${t('core.brand')}`;
    return;
  }
  const { page, params } = found;
  if (page.nav?.permission && !can(page.nav.permission)) {
    main.append(ui.pageTitle(t('core.forbidden.title')), ui.el('p', null, t('core.forbidden.text')),
      ui.el('p', null, ui.el('a', { href: homeHash() }, t('core.forbidden.home'))));
    return;
  }
  // Each render draws into its own container: a slow page that finishes after the next
  // navigation draws into a detached node, never over the new page.
  const root = ui.el('div', { class: 'page', 'data-page': page.id });
  main.append(root);
  try {
    await page.render(root, { ...params, query }, ctx);
  } catch (e) {
    if (seq !== state.renderSeq) return;
    console.error(e);
    root.append(ui.errorBox(e));
  }
  if (seq !== state.renderSeq) return;
  const h1 = main.querySelector('h1');
  document.title = `${h1 ? h1.textContent : t('core.brand')} · ${t('core.brand')}`;
  if (h1 && document.activeElement === document.body) h1.focus({ preventScroll: true });
}

async function boot() {
  await loadLanguage('en');
  const skip = document.getElementById('skip-link');
  skip.textContent = t('core.skip');
  skip.addEventListener('click', (e) => { e.preventDefault(); mainEl().focus(); });
  onUnauthenticated(() => {
    state.me = null;
    state.live?.stopAll();
    navigate(hashFor('signin', { reason: 'expired' }));
  });
  try {
    if (await resumeSession()) await loadMe();
  } catch (e) {
    mainEl().append(ui.errorBox(e));
  }
  window.addEventListener('hashchange', () => {
    if (!window.location.hash.startsWith('#/') && window.location.hash !== '') return;
    render();
  });
  await render();
  document.body.dataset.ready = 'true';
}

boot();
