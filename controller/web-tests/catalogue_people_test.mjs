// The console's Catalogue and People areas in Chromium (docs/console.md), one scenario script of
// console_browser_tests (real PostgreSQL, Mosquitto, controller and simulated boxes; the demo's
// staff accounts; a customer):
//   1. a manager creates a product, sets its price twice and sees the price history chart (two
//      changes, drawn and as a table);
//   2. a checker opens the same product: no price control at all; a price call forced from the
//      checker's page (fetch with its session cookie and CSRF token) is refused 403 forbidden,
//      and the audit log has it (action product.price, outcome denied, the checker as actor, the
//      same request id), read through the API and shown on the manager's audit page;
//   3. the manager's People pages (customers masked, a customer, staff, a staff member, roles,
//      coupons with one issued, keys and tokens) and the super admin's (a customer unmasked with
//      export and erase, the signing keys).
// axe-core runs on every page (no serious or critical violation) and each is screenshotted; a
// page error or a CSP refusal fails the script (lib/console.mjs).
import assert from "node:assert/strict";
import { eventually, run } from "./lib/console.mjs";

run(import.meta.url, async (h) => {
  // Opens a console route and waits for its heading (the page rendered).
  h.go = async (page, hash) => {
    await page.goto(h.url(hash));
    await page.locator("main h1").first().waitFor();
  };
  const mp = await h.newPage();
  await h.signIn(mp, "manager");

  // 1. The manager: a product, two prices, the chart.
  await h.go(mp, "#/catalogue");
  await h.visit(mp, "catalogue_list");
  const create = mp.getByTestId("product-create");
  await create.getByLabel("Title").fill("Wool coat, navy");
  await create.getByLabel("Category").fill("coats");
  await create.getByLabel("Size").fill("M");
  await create.getByRole("button", { name: "Create product" }).click();
  await mp.waitForURL(/#\/catalogue\/\d+$/);
  const productId = Number(mp.url().match(/#\/catalogue\/(\d+)$/)[1]);
  await mp.getByTestId("price-history-empty").waitFor();
  const priceForm = mp.getByTestId("price-form");
  for (const price of ["24.00", "19.50"]) {
    await priceForm.getByLabel(/New price/).fill(price);
    await priceForm.getByRole("button", { name: "Set price" }).click();
    await mp.getByTestId("product-price").filter({ hasText: price }).waitFor();
  }
  const chart = mp.getByTestId("price-chart");
  await chart.waitFor();
  assert.equal(await chart.locator("circle").count(), 2, "one dot per price change");
  assert.equal(await chart.getAttribute("role"), "img");
  assert.match(await chart.locator("desc").textContent(), /2 price changes: 24\.00 from .*; 19\.50 from /);
  const historyRows = mp.getByTestId("price-history").locator("tbody tr");
  assert.equal(await historyRows.count(), 2, "the history table lists both changes");
  assert.match(await historyRows.first().textContent(), /24\.00.*19\.50/, "newest first: 24.00 -> 19.50");
  await mp.locator(".toast").first().waitFor({ state: "detached", timeout: 10000 });  // a clear screenshot
  await h.visit(mp, "catalogue_product_manager");
  console.log(`manager: product ${productId} priced 24.00 then 19.50; the chart shows both changes`);

  // 2. The checker: the product without price controls; a forced price call is refused.
  const cp = await h.newPage();
  await h.signIn(cp, "checker");
  await h.go(cp, `#/catalogue/${productId}`);
  await cp.getByTestId("product-title").waitFor();
  await cp.getByTestId("price-chart").waitFor();
  assert.equal(await cp.getByTestId("price-form").count(), 0, "no price form for a checker");
  assert.equal(await cp.getByRole("button", { name: "Set price" }).count(), 0, "no price button");
  assert.equal(await cp.getByLabel(/New price/).count(), 0, "no price field");
  await h.visit(cp, "catalogue_product_checker");
  const forced = await cp.evaluate(async (id) => {
    const session = await (await fetch("/internal/v1/sessions/current", { credentials: "same-origin" })).json();
    const me = await (await fetch("/internal/v1/staff/me", { credentials: "same-origin" })).json();
    const res = await fetch(`/internal/v1/products/${id}/price`, {
      method: "PUT",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": session.csrf_token },
      body: JSON.stringify({ price_cents: 1 }),
    });
    return { status: res.status, requestId: res.headers.get("X-Request-Id"), body: await res.json(),
             checkerId: me.id, hadCsrf: Boolean(session.csrf_token) };
  }, productId);
  assert.ok(forced.hadCsrf, "the checker's session has a CSRF token (the call is not refused for lacking it)");
  assert.equal(forced.status, 403, "the forced price call is refused");
  assert.equal(forced.body.error.code, "forbidden", "refused for the permission, not the CSRF token");
  console.log(`checker: no price controls; forced PUT price -> 403 ${forced.body.error.code} (request ${forced.requestId})`);

  // The refusal is in the audit log: through the API (as the manager) ...
  const audit = await mp.evaluate(async () => {
    const res = await fetch("/internal/v1/audit?action=product.price&outcome=denied&limit=20", { credentials: "same-origin" });
    return { status: res.status, body: await res.json() };
  });
  assert.equal(audit.status, 200);
  const row = audit.body.items.find((e) => e.request_id === forced.requestId);
  assert.ok(row, `an audit entry with request id ${forced.requestId}`);
  assert.equal(row.outcome, "denied");
  assert.equal(row.actor_kind, "staff");
  assert.equal(row.actor_id, forced.checkerId, "the checker is the actor");
  assert.equal(row.action, "product.price");
  // ... and on the manager's audit page, filtered to it.
  await h.go(mp, "#/audit");
  const filters = mp.getByTestId("audit-filters");
  await filters.getByLabel("Action").fill("product.price");
  await filters.getByLabel("Outcome").selectOption("denied");
  await filters.getByLabel("Actor no.").fill(String(forced.checkerId));
  await filters.getByRole("button", { name: "Apply filters" }).click();
  // The filtered page replaces the unfiltered one: only the checker's denied price calls remain.
  const outcomes = mp.getByTestId("audit-outcome");
  await eventually(async () => (await outcomes.count()) > 0 &&
                   (await outcomes.filter({ hasText: /^ok$/ }).count()) === 0, "the filtered audit page");
  assert.equal(await outcomes.count(), 1, "one denied price call by the checker");
  assert.equal((await outcomes.first().textContent()).trim(), "denied: forbidden");
  await h.visit(mp, "audit_denied_price");
  console.log(`audit: product.price denied for staff #${forced.checkerId}, request ${forced.requestId}`);

  // The product's price did not move.
  await h.go(mp, `#/catalogue/${productId}`);
  await mp.getByTestId("product-price").filter({ hasText: "19.50" }).waitFor();

  // 3. The People pages, as the manager.
  await h.go(mp, "#/customers");
  await mp.getByTestId("customers-masked-note").waitFor();
  const customerLink = mp.getByTestId("customer-link").first();
  await customerLink.waitFor();
  assert.notEqual((await customerLink.textContent()).trim(), h.env.customer.email, "masked in the list");
  await h.visit(mp, "people_customers");
  await customerLink.click();
  await mp.getByTestId("customer-facts").waitFor();
  assert.match(await mp.getByTestId("customer-email").textContent(), /\*/, "a manager sees the email masked");
  assert.equal(await mp.getByTestId("customer-erase").count(), 0, "no erase without customers.read_full");
  assert.equal(await mp.getByTestId("customer-export").count(), 0, "no export without customers.read_full");
  const customerHash = new URL(mp.url()).hash;
  await h.visit(mp, "people_customer_manager");

  await h.go(mp, "#/staff");
  await mp.getByTestId("staff-link").first().waitFor();
  await h.visit(mp, "people_staff");
  await mp.getByTestId("staff-link").filter({ hasText: h.env.accounts.checker.email }).click();
  await mp.getByTestId("staff-roles").filter({ hasText: "checker" }).waitFor();
  await h.visit(mp, "people_staff_member");
  await h.go(mp, "#/roles");
  await mp.getByRole("table").first().waitFor();
  await h.visit(mp, "people_roles");

  await h.go(mp, "#/coupons");
  const issue = mp.getByTestId("coupon-issue");
  await issue.getByLabel("Kind").selectOption("percent");
  await issue.getByLabel(/^Percent/).fill("15");
  await issue.getByLabel("Description").fill("Thank you for the coats");
  await issue.getByRole("button", { name: "Issue coupon" }).click();
  await mp.getByRole("cell", { name: "15% off" }).first().waitFor();
  await mp.locator(".toast").first().waitFor({ state: "detached", timeout: 10000 });
  await h.visit(mp, "people_coupons");

  await h.go(mp, "#/keys");
  await mp.getByTestId("token-revoke").waitFor();
  assert.equal(await mp.getByTestId("key-rotate").count(), 0, "signing keys only with keys.rotate");
  await h.visit(mp, "people_keys_manager");

  // The super admin: the customer in full, with export (a JSON download) and erase offered; the
  // signing keys.
  const ap = await h.newPage();
  await h.signIn(ap, "admin");
  await h.go(ap, customerHash);
  await ap.getByTestId("customer-email").filter({ hasText: h.env.customer.email }).waitFor();
  await ap.getByTestId("customer-erase").waitFor();
  const [download] = await Promise.all([ap.waitForEvent("download"), ap.getByTestId("customer-export").click()]);
  assert.match(download.suggestedFilename(), /^customer-\d+-export\.json$/);
  const exported = JSON.parse(await streamText(await download.createReadStream()));
  assert.equal(JSON.stringify(exported).includes(h.env.customer.email), true, "the export holds the customer's email");
  await ap.locator(".toast").first().waitFor({ state: "detached", timeout: 10000 });
  await h.visit(ap, "people_customer_admin");
  await h.go(ap, "#/keys");
  await ap.getByTestId("key-rotate").waitFor();
  await ap.getByRole("cell", { name: "active" }).first().waitFor();
  await h.visit(ap, "people_keys");

  // The super admin manages staff: a new account with a role, deactivated (confirmed) and
  // activated again; a custom role defined with two permissions.
  await h.go(ap, "#/staff");
  const staffForm = ap.getByTestId("staff-create");
  await staffForm.getByLabel("Email").fill("temp.packer@reclothes.test");
  await staffForm.getByLabel(/^Password/).fill("a-long-enough-password");
  await staffForm.getByLabel("packer", { exact: true }).check();
  await staffForm.getByRole("button", { name: "Create account" }).click();
  await ap.getByTestId("staff-roles").filter({ hasText: "packer" }).waitFor();
  await ap.getByTestId("staff-deactivate").click();
  await ap.getByRole("dialog").getByRole("button", { name: "Deactivate" }).click();
  await ap.getByTestId("staff-active").filter({ hasText: "no" }).waitFor();
  await ap.getByTestId("staff-activate").click();
  await ap.getByTestId("staff-active").filter({ hasText: "yes" }).waitFor();
  await h.go(ap, "#/roles");
  const role = ap.getByTestId("role-create");
  await role.getByLabel(/^Role/).fill("stock_keeper");
  await role.getByLabel("products.write", { exact: true }).check();
  await role.getByLabel("orders.read_assigned", { exact: true }).check();
  await role.getByRole("button", { name: "Create role" }).click();
  await ap.getByRole("row", { name: /stock_keeper/ }).filter({ hasText: "orders.read_assigned, products.write" }).waitFor();
  console.log("staff: account created with a role, deactivated and activated again; role stock_keeper defined");

  // The product withdrawn (confirmed) and put back, by the manager.
  await h.go(mp, `#/catalogue/${productId}`);
  await mp.getByTestId("product-withdraw").click();
  await mp.getByRole("dialog").getByRole("button", { name: "Withdraw from the shop" }).click();
  await mp.getByTestId("product-status").filter({ hasText: "withdrawn" }).waitFor();
  await mp.getByTestId("product-withdraw").click();
  await mp.getByRole("dialog").getByRole("button", { name: "Put back in the shop" }).click();
  await mp.getByTestId("product-status").filter({ hasText: "available" }).waitFor();
  console.log("catalogue: product withdrawn and put back");
  console.log("people pages: customers (masked and full, export), staff, roles, coupons (one issued), keys and tokens, audit");
});

async function streamText(stream) {
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  return Buffer.concat(chunks).toString("utf8");
}
