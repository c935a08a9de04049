// The start page when a role has no page of its own yet (and a way back from anywhere): who is
// signed in, and the pages this role may open.
export default {
  id: 'home',
  routes: ['home'],
  nav: null,
  async render(root, params, ctx) {
    const { el } = ctx.ui;
    const { t, me } = ctx;
    const pages = ctx.pages.filter((p) => p.nav && (!p.nav.permission || ctx.can(p.nav.permission)));
    root.append(ctx.ui.pageTitle(t('core.home.title', { name: me.display_name || me.email })),
      pages.length === 0
        ? el('p', null, t('core.home.nothing'))
        : el('ul', { class: 'home-links' }, pages.map((p) =>
          el('li', null, el('a', { href: `#/${p.routes[0]}` }, t(p.nav.label))))));
  },
};
