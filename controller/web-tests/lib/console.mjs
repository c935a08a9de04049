// Shared helpers of the console's browser scripts (one node process per script, started by
// console_browser_test.cpp with `--env FILE`: the addresses, the accounts and the seeded fleet as
// JSON). Each script: `const h = await Harness.start(import.meta.url)`, then pages, then
// `await h.finish()`; any thrown error fails the script (exit 1) with a screenshot of every open
// page.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const axeSource = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

function arg(name) {
  const i = process.argv.indexOf(name);
  if (i < 0 || i + 1 >= process.argv.length) throw new Error(`missing ${name}`);
  return process.argv[i + 1];
}

export const kPhone = { width: 390, height: 844 };
export const kDesktop = { width: 1280, height: 900 };

export class Harness {
  static async start(scriptUrl) {
    const env = JSON.parse(fs.readFileSync(arg("--env"), "utf8"));
    const name = path.basename(fileURLToPath(scriptUrl), ".mjs");
    const browser = await chromium.launch({
      executablePath: env.chromium,
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    });
    return new Harness(env, name, browser);
  }

  constructor(env, name, browser) {
    this.env = env;
    this.name = name;
    this.browser = browser;
    this.contexts = [];
    this.problems = [];  // CSP violations and page errors: each fails the script at the end
    this.axeChecked = [];
    fs.mkdirSync(env.out_dir, { recursive: true });
    for (const f of fs.readdirSync(env.out_dir)) {
      if (f.startsWith(`${name}-failure-`)) fs.rmSync(path.join(env.out_dir, f));
    }
  }

  // A new browser (its own cookies) at a viewport; every console error and CSP report is kept.
  async newPage(viewport = kDesktop) {
    const context = await this.browser.newContext({ viewport, locale: "en-GB", timezoneId: "Europe/Berlin" });
    this.contexts.push(context);
    const page = await context.newPage();
    page.on("console", (msg) => {
      const text = msg.text();
      if (msg.type() === "error" && !/the server responded with a status of 4\d\d/.test(text)) {
        this.problems.push(`console error on ${page.url()}: ${text}`);
      }
      if (/Content Security Policy/i.test(text)) this.problems.push(`CSP: ${text}`);
    });
    page.on("pageerror", (err) => this.problems.push(`page error on ${page.url()}: ${err.message}`));
    return page;
  }

  url(hash = "") { return `${this.env.console_url}${hash}`; }

  // Signs in through the form; waits for the first page after it.
  async signIn(page, who) {
    const account = this.env.accounts[who];
    assert.ok(account, `no seeded account ${who}`);
    await page.goto(this.url("#/signin"));
    await page.getByLabel("Email").fill(account.email);
    await page.getByLabel("Password").fill(account.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("button", { name: "Sign out" }).waitFor({ timeout: 15000 });
  }

  async signOut(page) {
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
  }

  // axe-core on the page as it is now: no serious or critical violation. axe is evaluated
  // through the DevTools protocol (not a <script> tag, which the console's CSP would refuse).
  async checkA11y(page, what) {
    await page.evaluate(axeSource);
    const result = await page.evaluate(async () =>
      // eslint-disable-next-line no-undef
      axe.run(document, { resultTypes: ["violations"] }));
    const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
    this.axeChecked.push(what);
    const text = bad.map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.slice(0, 3)
      .map((n) => n.target.join(" ")).join("; ")})`).join("\n  ");
    assert.equal(bad.length, 0, `axe-core on ${what}:\n  ${text}`);
    const minor = result.violations.length - bad.length;
    if (minor > 0) console.log(`axe-core on ${what}: ${minor} minor/moderate finding(s)`);
  }

  async screenshot(page, name) {
    const file = path.join(this.env.out_dir, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    console.log(`screenshot ${file}`);
    return file;
  }

  // Checks accessibility, then screenshots: what every visited page gets.
  async visit(page, name) {
    await this.checkA11y(page, name);
    await this.screenshot(page, name);
  }

  // The internal API with a bearer token, for set-up and for changes "from elsewhere".
  async api(method, apiPath, { token, body } = {}) {
    const res = await fetch(`${this.env.internal_url}${apiPath}`, {
      method,
      headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
  }

  async bearer(who) {
    const a = this.env.accounts[who];
    const r = await this.api("POST", "/internal/v1/sessions", { body: { email: a.email, password: a.password } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.token;
  }

  async finish() {
    for (const c of this.contexts) await c.close();
    await this.browser.close();
    assert.deepEqual(this.problems, [], `problems in the browser:\n${this.problems.join("\n")}`);
    console.log(`${this.name}: passed (axe-core on ${this.axeChecked.length} page(s): ${this.axeChecked.join(", ")})`);
  }

  async fail(err) {
    console.error(`${this.name}: FAILED: ${err.stack ?? err}`);
    let i = 0;
    for (const c of this.contexts) {
      for (const p of c.pages()) {
        i += 1;
        try { await this.screenshot(p, `${this.name}-failure-${i}`); } catch { /* closed */ }
      }
    }
    await this.browser.close().catch(() => {});
    process.exit(1);
  }
}

// Runs a script body with a harness; exits 1 on the first failure.
export async function run(scriptUrl, body) {
  const h = await Harness.start(scriptUrl);
  try {
    await body(h);
    await h.finish();
  } catch (err) {
    await h.fail(err);
  }
}

// Polls fn until it returns a truthy value (for changes the page picks up by itself).
export async function eventually(fn, what, timeoutMs = 15000) {
  const until = Date.now() + timeoutMs;
  let last;
  while (Date.now() < until) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms (last: ${last})`);
}
