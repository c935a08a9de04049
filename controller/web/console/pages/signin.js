// Sign-in: the console's session is an HttpOnly cookie (lib/api.js signIn).
import { signIn } from '../lib/api.js';

export default {
  id: 'signin',
  routes: ['signin'],
  nav: null,
  public: true,
  async render(root, params, ctx) {
    const { el, field, errorBox } = ctx.ui;
    const { t } = ctx;
    const errors = el('div', { class: 'form-errors' });
    const email = field({ label: t('core.signin.email'), name: 'email', type: 'email', required: true,
      attrs: { autocomplete: 'username' } });
    const password = field({ label: t('core.signin.password'), name: 'password', type: 'password',
      required: true, attrs: { autocomplete: 'current-password' } });
    const button = el('button', { type: 'submit', class: 'primary' }, t('core.signin.submit'));
    const form = el('form', {
      class: 'signin-form',
      novalidate: false,
      onsubmit: async (e) => {
        e.preventDefault();
        errors.replaceChildren();
        button.disabled = true;
        try {
          await signIn(form.elements.email.value.trim(), form.elements.password.value);
          await ctx.signedIn(params.query?.next);
        } catch (err) {
          const message = err.status === 401 ? t('core.signin.wrong')
            : err.status === 429 ? t('core.signin.throttled', { seconds: err.details?.retry_after_s ?? '?' })
              : null;
          errors.append(message ? el('p', { class: 'error-box', role: 'alert' }, message) : errorBox(err));
          button.disabled = false;
          form.elements.password.focus();
        }
      },
    }, email, password, errors, button);
    const notice = params.query?.reason === 'expired'
      ? el('p', { class: 'notice', role: 'status' }, t('core.signin.expired'))
      : params.query?.reason === 'signedout'
        ? el('p', { class: 'notice', role: 'status' }, t('core.signin.signedOut')) : null;
    root.append(el('section', { class: 'signin' },
      el('h1', { tabindex: -1 }, t('core.signin.title')),
      el('p', { class: 'muted' }, t('core.signin.intro')),
      notice, form));
    form.elements.email.focus();
  },
};
