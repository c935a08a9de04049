// Orders and tasks, and the courier app, in Chromium on the real controller, broker, database and
// simulated boxes (console_browser_test.cpp starts them; docs/console.md, "Browser tests"):
//   1. a customer's donation is deposited at a simulated box (its token shown to the box camera):
//      the controller makes a collecting order;
//   2. a manager finds it in Orders and tasks and assigns it to the courier;
//   3. the courier, on a 390x844 phone, opens the task: the courier QR code is shown; a screenshot
//      of that <img> is given to the box's camera (POST /api/camera: the firmware's real decode
//      path), the box opens the door, and the door-by-door progress updates without a reload; the
//      courier reports a missing bag (a fault), closes the door, and the task is done; the label
//      print page is 50 mm wide;
//   4. the manager assigns the checking order to the checker, who grades the item;
//   5. the graded item is priced and bought; the packer completes the packing order.
// axe-core on every page; screenshots (manager and courier) into the build tree for docs/console.md.
import assert from "node:assert/strict";
import { eventually, kPhone, run } from "./lib/console.mjs";

// The simulated box's own HTTP API (reclothes-sim box --http).
async function sim(box, method, apiPath, body, contentType = "application/json") {
  const res = await fetch(new URL(apiPath, box.page_url), {
    method,
    headers: body === undefined ? {} : { "Content-Type": contentType },
    body: body === undefined ? undefined : contentType === "application/json" ? JSON.stringify(body) : body,
  });
  const text = await res.text();
  assert.ok(res.ok, `sim ${method} ${apiPath}: HTTP ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

async function publicApi(h, method, apiPath, { token, body } = {}) {
  const res = await fetch(`${h.env.public_url}${apiPath}`, {
    method,
    headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function compartmentState(box, n) {
  const s = await sim(box, "GET", "api/state");
  return s.compartments[n - 1];
}

// The newest internal order of a kind that satisfies pred, or null.
async function findOrder(h, token, kind, pred) {
  const r = await h.api("GET", `/internal/v1/orders?kind=${kind}&limit=50`, { token });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.items.find(pred) ?? null;
}

// Assigns through the order page's form (the manager's page must show the order).
async function assignInPage(page, roleLabel, staffName) {
  await page.getByLabel(`Staff member (${roleLabel})`).selectOption({ label: staffName });
  await page.getByTestId("assign-submit").click();
  await page.getByText(`Assigned to ${staffName}.`).waitFor();
}

run(import.meta.url, async (h) => {
  const manager = await h.bearer("manager");

  // ---- 1. a donation deposited at a box: a collecting order (threshold 1) ----------------------
  const login = await publicApi(h, "POST", "/v1/sessions",
    { body: { email: h.env.customer.email, password: h.env.customer.password } });
  assert.equal(login.status, 201, JSON.stringify(login.body));
  const customer = login.body.token;
  const location = h.env.locations[0];
  const donation = await publicApi(h, "POST", "/v1/donations", {
    token: customer,
    body: { location_id: location.id, items: [{ category: "knitwear", count: 1, condition_notes: "warm, no holes" }] },
  });
  assert.equal(donation.status, 201, JSON.stringify(donation.body));
  const box = h.env.boxes.find((b) => b.id === donation.body.box_id);
  assert.ok(box?.page_url, `the donation's box ${donation.body.box_id} is not a running simulated box`);
  const compartment = donation.body.compartment;
  // The box learns the reservation through its retained config; then the customer's code opens it.
  await eventually(async () => (await sim(box, "POST", "api/present", { token: donation.body.token.token })).camera_sees_code
      && (await compartmentState(box, compartment)).door_open,
  `the donation's door ${compartment} opening`, 20000);
  await sim(box, "POST", `api/compartments/${compartment}/door`, { open: false });
  const collecting = await eventually(() => findOrder(h, manager, "collecting",
    (o) => o.box_id === box.id && o.compartments.includes(compartment) && o.state === "open"),
  "the collecting order for the deposit", 20000);

  // ---- 2. the manager assigns it to the courier ---------------------------------------------------
  const desk = await h.newPage();
  await h.signIn(desk, "manager");
  await desk.goto(h.url("#/orders?kind=collecting"));
  await desk.getByTestId(`order-row-${collecting.id}`).waitFor();
  await h.visit(desk, "orders-list-manager");
  await desk.getByRole("link", { name: `Task ${collecting.id}`, exact: true }).click();
  await desk.getByRole("heading", { name: `Task ${collecting.id}: collecting` }).waitFor();
  await h.visit(desk, "orders-collecting-open");
  await assignInPage(desk, "courier", "courier");
  await h.screenshot(desk, "orders-collecting-assigned");

  // ---- 3. the courier's phone --------------------------------------------------------------------
  const phone = await h.newPage(kPhone);
  await h.signIn(phone, "courier");
  // A courier's sign-in lands on My tasks (nav.landingFor), not on the fleet.
  await phone.waitForURL(/#\/courier$/, { timeout: 15000 });
  const card = phone.getByTestId(`courier-task-${collecting.id}`);
  await card.waitFor();
  await h.visit(phone, "courier-tasks");
  await card.getByRole("link").click();
  const qr = phone.getByTestId("courier-qr");
  await qr.waitFor();
  await phone.waitForFunction(() => {
    const img = document.querySelector("[data-testid=courier-qr]");
    return img && img.complete && img.naturalWidth > 0;
  });
  const door = phone.getByTestId(`door-${compartment}`);
  assert.equal(await door.getAttribute("data-step"), "to_empty");
  await h.visit(phone, "courier-task");
  // Anything the page keeps across its own updates, and loses on a reload.
  await phone.evaluate(() => { window.reclothesNoReload = true; });

  // The QR code as the phone shows it, held to the box camera: the real decode path.
  const picture = await qr.screenshot();
  const seen = await sim(box, "POST", "api/camera", picture, "image/png");
  assert.ok(seen.camera_sees_code, `the box camera did not read the phone's QR code: ${JSON.stringify(seen)}`);
  await eventually(async () => (await compartmentState(box, compartment)).door_open, "the box opening the door", 15000);
  await eventually(async () => (await door.getAttribute("data-step")) === "door_open",
    "the courier page showing the open door", 20000);
  await h.screenshot(phone, "courier-task-door-open");

  // A missing bag, reported from the phone: a fault of the box for the on-call staff.
  await phone.getByLabel("What is wrong").selectOption("missing_bag");
  await phone.getByLabel("Compartment", { exact: true }).selectOption(String(compartment));
  await phone.getByLabel("What you see").fill("one bag torn, the other one is not here");
  await phone.getByTestId("problem-submit").click();
  await phone.getByText(/Reported \(fault \d+\)/).waitFor();
  const faults = await h.api("GET", "/internal/v1/faults?kind=courier_report", { token: manager });
  assert.equal(faults.status, 200, JSON.stringify(faults.body));
  const fault = faults.body.items.find((f) => f.box_id === box.id && f.compartment === compartment);
  assert.ok(fault, `no courier_report fault for ${box.id}/${compartment}: ${JSON.stringify(faults.body)}`);
  assert.match(fault.detail, /bag missing/);

  // The courier empties the compartment and closes the door: done, without a reload.
  await sim(box, "POST", `api/compartments/${compartment}/door`, { open: false });
  await eventually(async () => (await door.getAttribute("data-step")) === "emptied",
    "the courier page showing the compartment emptied", 20000);
  await phone.getByTestId("progress-summary").getByText("All done").waitFor();
  await phone.getByTestId("qr-none").waitFor();
  await eventually(async () => (await phone.getByTestId("problem-form").count()) === 0,
    "the problem form gone once the task is done");
  assert.equal(await phone.evaluate(() => window.reclothesNoReload), true, "the page reloaded");
  await h.visit(phone, "courier-task-done");

  // The tracking-code sticker: a print page for 50 mm labels.
  await phone.getByTestId("label-link").click();
  await phone.getByTestId("label-sheet").waitFor();
  await phone.waitForFunction(() => {
    const img = document.querySelector(".label-qr");
    return img && img.complete && img.naturalWidth > 0;
  });
  assert.ok((await phone.getByTestId("label-sheet").textContent()).includes(collecting.tracking_code));
  await h.visit(phone, "courier-label");
  const pdf = await phone.pdf({ preferCSSPageSize: true, printBackground: true });
  const box50 = /\/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]/.exec(pdf.toString("latin1"));
  assert.ok(box50, "the printed label has no page size");
  // 50 mm = 141.7 pt wide; one page.
  assert.ok(Math.abs(Number(box50[1]) - 141.7) < 1.5, `the label prints ${box50[1]} pt wide, not 50 mm`);
  assert.equal((pdf.toString("latin1").match(/\/Type\s*\/Page[^s]/g) ?? []).length, 1, "the label prints on more than one page");
  await phone.emulateMedia({ media: "print" });
  await h.screenshot(phone, "courier-label-print");
  await phone.emulateMedia({ media: "screen" });

  // ---- 4. checking: the manager assigns the checker, who grades the item ---------------------------
  const checking = await eventually(() => findOrder(h, manager, "checking",
    (o) => o.source?.kind === "donation" && o.source.id === donation.body.id),
  "the checking order of the collected donation", 20000);
  await desk.goto(h.url(`#/orders/${checking.id}`));
  await desk.getByRole("heading", { name: `Task ${checking.id}: checking` }).waitFor();
  await assignInPage(desk, "checker", "checker");

  const checker = await h.newPage();
  await h.signIn(checker, "checker");
  await checker.goto(h.url("#/orders"));
  await checker.getByTestId(`order-row-${checking.id}`).waitFor();
  await h.visit(checker, "orders-list-checker");
  await checker.getByRole("link", { name: `Task ${checking.id}`, exact: true }).click();
  const form = checker.getByTestId("grade-form-1");
  await form.waitFor();
  // A checker sees no manager's controls, and no courier app.
  assert.equal(await checker.getByTestId("order-cancel").count(), 0);
  assert.equal(await checker.getByRole("link", { name: "My tasks" }).count(), 0);
  assert.equal(await checker.getByTestId("assign-submit").count(), 0);
  await h.visit(checker, "orders-checking-grade");
  await form.getByLabel("Product title").fill("Wool sweater, dark green");
  await form.getByLabel("Size", { exact: true }).fill("M");
  await checker.getByTestId("grade-submit-1").click();
  await checker.getByTestId("item-row-1").getByText("publish").waitFor();
  await checker.locator(".page-head .badge", { hasText: "done" }).waitFor();
  await eventually(async () => (await h.api("GET", `/internal/v1/orders/${checking.id}`, { token: manager })).body.state === "done",
    "the checking order done after the last grade");
  await h.visit(checker, "orders-checking-done");

  // ---- 5. packing: the item priced and bought; the packer completes the packing order -------------
  const graded = (await h.api("GET", `/internal/v1/orders/${checking.id}`, { token: manager })).body;
  const productId = graded.items[0].product_id;
  assert.ok(productId, `the published item has no product: ${JSON.stringify(graded.items)}`);
  const priced = await h.api("PUT", `/internal/v1/products/${productId}/price`, { token: manager, body: { price_cents: 1800 } });
  assert.equal(priced.status, 200, JSON.stringify(priced.body));
  const cart = await publicApi(h, "POST", "/v1/cart/items", { token: customer, body: { product_id: productId } });
  assert.equal(cart.status, 201, JSON.stringify(cart.body));
  const bought = await publicApi(h, "POST", "/v1/orders", {
    token: customer,
    body: { pickup_location_id: location.id, payment: { card_number: "4242424242424242", exp_month: 12, exp_year: 2030, cvc: "123" } },
  });
  assert.ok([200, 201, 202].includes(bought.status), JSON.stringify(bought.body));
  const packing = await eventually(() => findOrder(h, manager, "packing",
    (o) => o.source?.kind === "buying" && o.source.id === bought.body.id),
  "the packing order of the paid buying order", 20000);
  const packerId = (await h.api("GET", "/internal/v1/staff", { token: manager })).body;
  const packerAccount = (Array.isArray(packerId) ? packerId : packerId.items)
    .find((s) => s.email === h.env.accounts.packer.email);
  const assigned = await h.api("POST", `/internal/v1/orders/${packing.id}/assign`, { token: manager, body: { staff_id: packerAccount.id } });
  assert.equal(assigned.status, 200, JSON.stringify(assigned.body));

  const packer = await h.newPage();
  await h.signIn(packer, "packer");
  await packer.goto(h.url(`#/orders/${packing.id}`));
  await packer.getByRole("heading", { name: `Task ${packing.id}: packing` }).waitFor();
  await h.visit(packer, "orders-packing");
  await packer.getByTestId("order-complete").click();
  await packer.getByRole("dialog").getByRole("button", { name: "Complete" }).click();
  await packer.getByText(`Task ${packing.id} completed`).waitFor();
  await eventually(async () => (await h.api("GET", `/internal/v1/orders/${packing.id}`, { token: manager })).body.state === "done",
    "the packing order done");
  await h.visit(packer, "orders-packing-done");

  // The customer's side as customer service sees it.
  await desk.goto(h.url(`#/orders/buying-${bought.body.id}`));
  await desk.getByRole("heading", { name: `Buying order ${bought.body.id}` }).waitFor();
  await h.visit(desk, "orders-buying-case");
});
