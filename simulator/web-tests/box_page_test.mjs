// Browser test of the reclothes-sim box page, in Debian's headless Chromium driven by
// playwright-core. Run by CTest through run_browser_test.sh:
//   node box_page_test.mjs --sim PATH/reclothes-sim --chromium /usr/bin/chromium --out DIR
//
// It starts `reclothes-sim box` on a free port with a fresh key pair and configuration, then, only
// through the page's controls:
//   1. presents a valid courier token -> compartment 2 shows UNLOCKED, then OPEN (auto-open on);
//   2. presents a forged token (signed by a key the box does not trust) -> the indicator shows the
//      rejection and compartment 3 stays locked and closed;
//   3. shows the box's printed code (reclothes:box:<id>), and presented to the camera it is
//      refused as the box's own code;
// and saves screenshots into DIR for a person to look at.
import { spawn, execFileSync } from "node:child_process";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { chromium } from "playwright-core";

function arg(name) {
  const i = process.argv.indexOf(name);
  if (i < 0 || i + 1 >= process.argv.length) throw new Error(`missing ${name}`);
  return process.argv[i + 1];
}
const sim = arg("--sim");
const chromiumPath = arg("--chromium");
const out = arg("--out");

const work = fs.mkdtempSync(path.join(os.tmpdir(), "reclothes-browser-test-"));
let simProcess = null;
let context = null;

function run(...args) {
  return execFileSync(sim, args, { encoding: "utf8" }).trim();
}

async function startSim(configPath) {
  simProcess = spawn(sim, ["box", "--config", configPath, "--http", "127.0.0.1:0", "--no-sync",
                           "--auto-open-ms", "1500", "--log-level", "warn"],
                     { stdio: ["ignore", "pipe", "inherit"] });
  const lines = readline.createInterface({ input: simProcess.stdout });
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("reclothes-sim box did not print its URL")), 15000);
    simProcess.on("exit", (code) => reject(new Error(`reclothes-sim box exited with ${code}`)));
    lines.on("line", (line) => {
      const m = line.match(/ at (http:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
}

async function textOf(page, testid) {
  return (await page.getByTestId(testid).textContent()).trim();
}

// Waits until the element's text satisfies `ok` (the page re-renders every 300 ms).
async function waitForText(page, testid, ok, what, timeout = 10000) {
  const until = Date.now() + timeout;
  let last = "";
  while (Date.now() < until) {
    last = await textOf(page, testid);
    if (ok(last)) return last;
    await page.waitForTimeout(50);
  }
  throw new Error(`${testid}: expected ${what}, still "${last}" after ${timeout} ms`);
}

async function main() {
  // A key the box trusts, and a forger's key with the same key id.
  const key = path.join(work, "signing.pem");
  const pub = path.join(work, "signing.pub.pem");
  const forger = path.join(work, "forger.pem");
  run("keygen", "--key-id", "1", "--private", key, "--public", pub);
  run("keygen", "--key-id", "1", "--private", forger, "--public", path.join(work, "forger.pub.pem"));
  const config = {
    box_id: "box-0001",
    journal_path: path.join(work, "journal.db"),
    broker: { uri: "tcp://127.0.0.1:1" },
    trusted_keys: [{ key_id: 1, public_key_pem: fs.readFileSync(pub, "utf8") }],
    compartments: [1, 2, 3, 4, 5, 6].map((id) => ({ id, size: ["S", "M", "L", "XL"][(id - 1) % 4], fill_sensor: true })),
    hal: { backend: "sim" },
    camera: { width: 640, height: 480, fps: 10 },
  };
  const configPath = path.join(work, "box.json");
  fs.writeFileSync(configPath, JSON.stringify(config, null, 1));
  const valid = run("mint", "--key", key, "--box", "box-0001", "--action", "courier_load", "--compartments", "2");
  const forged = run("mint", "--key", forger, "--box", "box-0001", "--action", "courier_load", "--compartments", "3");

  const url = await startSim(configPath);
  console.log(`reclothes-sim box at ${url}`);

  context = await chromium.launchPersistentContext(path.join(work, "chromium-profile"), {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1400, height: 1100 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(10000);
  // The page runs under a strict Content-Security-Policy: anything it refuses (an inline script,
  // a style attribute, a resource from elsewhere) is a console error, and fails the test.
  const cspViolations = [];
  page.on("console", (m) => {
    if (m.type() === "error" && /Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  const response = await page.goto(url);
  const csp = response.headers()["content-security-policy"] || "";
  assert.match(csp, /default-src 'none'/, "the page is served with a Content-Security-Policy");
  assert.match(csp, /script-src 'self'(;|$)/, "scripts only from the page's own server");
  assert.doesNotMatch(csp, /unsafe-inline/, "no inline script or style is allowed");
  assert.equal(response.headers()["x-content-type-options"], "nosniff");
  await waitForText(page, "box-id", (t) => t === "box-0001", "box-0001");
  await waitForText(page, "compartment-2-state", (t) => t === "free", "free");
  assert.equal(await page.getByTestId("auto-open-toggle").isChecked(), true, "auto-open is on");
  assert.equal(await textOf(page, "power-status"), "POWER ON");

  // 1. A valid token: UNLOCKED, then the customer opens the door.
  await page.getByTestId("token-input").fill(valid);
  await page.getByTestId("degrade-rotation").fill("12");
  await page.getByTestId("degrade-noise").fill("10");
  await page.getByTestId("present-btn").click();
  await waitForText(page, "present-result", (t) => t === "camera sees the code", "camera sees the code");
  await waitForText(page, "compartment-2-lock", (t) => t === "UNLOCKED", "UNLOCKED");
  assert.equal(await textOf(page, "compartment-2-state"), "unlocked");
  assert.equal(await textOf(page, "compartment-2-door"), "DOOR CLOSED");
  await waitForText(page, "indicator-message", (t) => t === "Open door 2", "Open door 2");
  await waitForText(page, "compartment-2-state", (t) => t === "open", "open");
  assert.equal(await textOf(page, "compartment-2-door"), "DOOR OPEN");
  await page.screenshot({ path: path.join(out, "box_page_open.png"), fullPage: true });
  console.log("valid token: compartment 2 UNLOCKED, then OPEN");

  // 2. A forged token: rejected, compartment 3 stays locked and closed.
  await page.getByTestId("token-input").fill(forged);
  await page.getByTestId("degrade-rotation").fill("0");
  await page.getByTestId("degrade-noise").fill("0");
  await page.getByTestId("present-btn").click();
  await waitForText(page, "indicator-pattern", (t) => t === "rejected", "rejected");
  assert.equal(await textOf(page, "indicator-message"), "Code not valid");
  await page.locator('[data-testid="event-row"][data-kind="scan_rejected"]').first().waitFor();
  const row = await page.locator('[data-testid="event-row"][data-kind="scan_rejected"]').first().textContent();
  assert.match(row, /reason=bad_signature/);
  await page.waitForTimeout(2000);  // longer than the auto-open delay: nothing moves
  assert.equal(await textOf(page, "compartment-3-lock"), "LOCKED");
  assert.equal(await textOf(page, "compartment-3-state"), "free");
  assert.equal(await textOf(page, "compartment-3-door"), "DOOR CLOSED");
  assert.equal(await textOf(page, "pulse-count"), "1", "only the valid token pulsed a lock");
  await page.screenshot({ path: path.join(out, "box_page_rejected.png"), fullPage: true });
  console.log("forged token: rejected (Code not valid), compartment 3 stays LOCKED and closed");

  // 3. The box's printed code: shown on the page (an image that loaded, and its text); held to
  //    the box's own camera it is refused as the box's code and opens nothing.
  await waitForText(page, "box-code-text", (t) => t === "reclothes:box:box-0001", "the box code");
  const codeWidth = await page.getByTestId("box-code").evaluate((img) => img.complete ? img.naturalWidth : 0);
  assert.ok(codeWidth > 0, "the box code image loaded");
  await page.getByTestId("token-input").fill("reclothes:box:box-0001");
  await page.getByTestId("present-btn").click();
  await waitForText(page, "indicator-message", (t) => t === "Box code: use the app", "Box code: use the app");
  await page.locator('[data-testid="event-row"][data-kind="scan_rejected"]').filter({ hasText: "reason=box_code" }).first().waitFor();
  assert.equal(await textOf(page, "pulse-count"), "1", "the box code pulsed nothing");
  console.log("box code: shown on the page; at the camera refused as the box's own code");
  assert.deepEqual(cspViolations, [], "the page broke none of its Content-Security-Policy");
  console.log("Content-Security-Policy: sent, and nothing on the page was refused");
}

let exitCode = 0;
try {
  await main();
  console.log("box page browser test: PASS");
} catch (e) {
  console.error(`box page browser test: FAIL: ${e.stack || e}`);
  exitCode = 1;
} finally {
  if (context) await context.close().catch(() => {});
  if (simProcess && simProcess.exitCode === null) simProcess.kill("SIGTERM");
  fs.rmSync(work, { recursive: true, force: true });
}
process.exit(exitCode);
