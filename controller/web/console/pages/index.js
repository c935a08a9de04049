// The page registry: every page module of the console, in navigation order. Each area adds its
// own lines (docs/console.md, "Adding a page").
import signin from './signin.js';
import home from './home.js';
import fleet from './fleet.js';
import box from './box.js';
import orders from './orders.js';
import courier from './courier.js';
// Catalogue and People
import catalogue from './catalogue.js';
import customers from './customers.js';
import staff from './staff.js';
import coupons from './coupons.js';
import keys from './keys.js';
import audit from './audit.js';

export default [
  signin,
  home,
  fleet,
  box,
  orders,
  courier,
  catalogue,
  customers,
  staff,
  coupons,
  keys,
  audit,
];

