// Shared by the orders and courier pages (not a page itself): their stylesheet, loaded once
// beside the shell's styles.css (a <link>, which the CSP's style-src 'self' allows; no inline
// style anywhere).
export function useStyles() {
  const href = 'styles/orders.css';
  if (document.querySelector(`link[data-area="orders"]`)) return;
  const link = document.createElement('link');
  link.rel = 'stylesheet';
  link.href = href;
  link.dataset.area = 'orders';
  document.head.append(link);
}
