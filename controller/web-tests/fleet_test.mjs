// The console's foundation and Fleet area in Chromium (docs/console.md):
//   the manager signs in through the form (an HttpOnly cookie: no token the page's script could
//   read, nothing in localStorage), sees the fleet table with the seeded boxes, filters it (on
//   the server; the filter is in the address), opens a box page with its compartment grid, sees
//   a maintenance change made elsewhere (the API) arrive without a reload, opens a door through
//   the confirm dialog (which refuses an empty reason), decommissions an offline box, looks at
//   the fleet on a phone, signs out, and the old session cookie is refused by the server.
// axe-core runs on every page; screenshots go to the build tree (docs/img/console/ copies them).
import assert from "node:assert/strict";
import { eventually, kPhone, run } from "./lib/console.mjs";

run(import.meta.url, async (h) => {
  const page = await h.newPage();
  // Not signed in: the console sends us to the sign-in page.
  await page.goto(h.url("#/fleet"));
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  await h.visit(page, "signin");

  // A wrong password is refused with a message, and the page stays.
  await page.getByLabel("Email").fill(h.env.accounts.manager.email);
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").filter({ hasText: "wrong" }).waitFor();

  await h.signIn(page, "manager");
  // The session is an HttpOnly, SameSite=Strict cookie; the page's script sees none of it.
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === "reclothes_staff");
  assert.ok(session, `no session cookie: ${JSON.stringify(cookies)}`);
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, "Strict");
  assert.equal(await page.evaluate(() => document.cookie), "");
  assert.equal(await page.evaluate(() => localStorage.length + sessionStorage.length), 0);

  // The fleet: every seeded box, with its state.
  await page.goto(h.url("#/fleet"));
  await page.getByRole("heading", { name: "Fleet", level: 1 }).waitFor();
  const table = page.locator("#fleet-list table");
  for (const box of h.env.boxes) await table.getByRole("link", { name: box.id }).waitFor();
  const online = h.env.boxes.filter((b) => b.online);
  const offline = h.env.boxes.filter((b) => !b.online);
  assert.ok(online.length >= 2 && offline.length >= 1, "the harness seeds online and offline boxes");
  for (const box of online) {
    await eventually(async () => /online/.test(await table.locator(`tr[data-box="${box.id}"]`).innerText()),
      `${box.id} shown online`);
  }
  await h.visit(page, "fleet");

  // Filter by state on the server: only the offline box is left, and the address says so.
  await page.getByLabel("State").selectOption("offline");
  await eventually(async () => (await table.locator("tbody tr").count()) === offline.length &&
    (await table.locator(`tr[data-box="${offline[0].id}"]`).count()) === 1, "the offline filter applied");
  assert.match(page.url(), /state=offline/);
  await h.visit(page, "fleet-filtered");
  // A reload keeps the filter (it is in the hash) and the session (the cookie).
  await page.reload();
  await page.getByRole("heading", { name: "Fleet", level: 1 }).waitFor();
  assert.equal(await page.getByLabel("State").inputValue(), "offline");
  await page.getByLabel("State").selectOption("");
  await table.getByRole("link", { name: online[0].id }).waitFor();

  // The box page: compartments as a grid. The second running box (box-web-2): its door is left
  // open below, and the orders flow uses the first.
  const box = online[1];
  await table.getByRole("link", { name: box.id }).click();
  await page.getByRole("heading", { name: `Box ${box.id}` }).waitFor();
  const cells = page.locator("ul.grid > li.cell");
  await eventually(async () => (await cells.count()) === box.compartments, "the compartment grid");
  await page.getByRole("heading", { name: "Recent events" }).waitFor();
  await h.visit(page, "box");

  // A change made elsewhere (another manager, through the API) appears without a reload.
  await page.evaluate(() => { window.__noReload = true; });
  const token = await h.bearer("manager");
  const on = await h.api("POST", `/internal/v1/boxes/${box.id}/maintenance`, { token, body: { on: true } });
  assert.equal(on.status, 200, JSON.stringify(on.body));
  await eventually(async () => /maintenance/.test(await page.locator("#box-state").innerText()),
    "the maintenance change shown without a reload", 10000);
  assert.equal(await page.evaluate(() => window.__noReload), true, "the page was not reloaded");
  await page.getByRole("button", { name: "End maintenance" }).waitFor();
  await h.screenshot(page, "box-maintenance");

  // ... and back off through the console's own button (confirm dialog).
  await page.getByRole("button", { name: "End maintenance" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Confirm" }).click();
  await page.getByRole("button", { name: "Start maintenance" }).waitFor();

  // Remote open: the dialog refuses an empty reason, then sends the command with it.
  await page.getByRole("button", { name: "Open door 1" }).click();
  const dialog = page.getByRole("dialog");
  await dialog.getByRole("heading", { name: `Open door 1 of ${box.id}?` }).waitFor();
  await dialog.getByRole("button", { name: "Open the door" }).click();
  await dialog.getByText("Write a reason").waitFor();
  await dialog.getByLabel("Reason").fill("customer locked out, on the phone with support");
  await h.visit(page, "box-open-dialog");
  await dialog.getByRole("button", { name: "Open the door" }).click();
  await page.getByText("Open command for door 1 sent.").waitFor();
  await page.getByRole("cell", { name: "customer locked out, on the phone with support" }).waitFor();
  // The box executes it: the result arrives by itself.
  await eventually(async () => /done/.test(await page.locator("table").last().innerText()),
    "the box's command result shown", 20000);
  await h.screenshot(page, "box-opened");

  // Decommission the offline box (confirmed).
  await page.goto(h.url(`#/boxes/${offline[0].id}`));
  await page.getByRole("heading", { name: `Box ${offline[0].id}` }).waitFor();
  await page.getByRole("button", { name: "Decommission" }).click();
  await h.visit(page, "box-decommission-dialog");
  await page.getByRole("dialog").getByRole("button", { name: "Decommission" }).click();
  await eventually(async () => /decommissioned/.test(await page.locator("#box-state").innerText()),
    "the box shown decommissioned");

  // The fleet on a phone (390 x 844), same session.
  const phone = await page.context().newPage();
  await phone.setViewportSize(kPhone);
  await phone.goto(h.url("#/fleet"));
  await phone.getByRole("heading", { name: "Fleet", level: 1 }).waitFor();
  await phone.locator("#fleet-list table").getByRole("link", { name: online[0].id }).waitFor();
  await h.visit(phone, "fleet-phone");
  await phone.close();

  // Sign out: the server ends the session, so the old cookie is refused even if kept.
  await h.signOut(page);
  await h.screenshot(page, "signed-out");
  const after = await fetch(`${h.env.internal_url}/internal/v1/staff/me`,
    { headers: { Cookie: `reclothes_staff=${session.value}` } });
  assert.equal(after.status, 401, "the signed-out session's cookie is refused");
  assert.equal((await page.context().cookies()).filter((c) => c.name === "reclothes_staff").length, 0,
    "the browser's cookie is cleared");
  await page.goto(h.url("#/fleet"));
  await page.getByRole("heading", { name: "Sign in" }).waitFor();

  // Navigation follows the permissions: the checker (no fleet.read) has no Fleet link, and the
  // page itself says it is not allowed (the API would answer 403 anyway).
  const checker = await h.newPage();
  await h.signIn(checker, "checker");
  assert.equal(await checker.getByRole("navigation").getByRole("link", { name: "Fleet" }).count(), 0);
  await checker.goto(h.url("#/fleet"));
  await checker.getByRole("heading", { name: "Not allowed", level: 1 }).waitFor();
  const forced = await checker.evaluate(async () => (await fetch("/internal/v1/boxes")).status);
  assert.equal(forced, 403, "the API refuses the checker's fleet read");
  await h.visit(checker, "not-allowed");
});
