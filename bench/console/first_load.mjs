// B11's browser side (bench/b11_console.cpp runs it): the console's first load in Debian's
// headless Chromium, driven by playwright-core.
//   node first_load.mjs --url http://127.0.0.1:PORT/console/ --email E --password P
//                       --runs N --chromium /usr/bin/chromium --result FILE
// Signs in once through the console's own sign-in (the session cookie), then measures N cold
// loads (a new page, the browser cache off) of #/fleet until the fleet table shows a row, counting
// every byte Chromium received (headers and bodies). The baseline, N times too: a plain page of
// the same listener fetching the console's static files (those the first load fetched from
// /console/) as files, with nothing to run, and no API call.
import fs from "node:fs";
import { chromium } from "playwright-core";

function arg(name) {
  const i = process.argv.indexOf(name);
  if (i < 0 || i + 1 >= process.argv.length) throw new Error(`missing ${name}`);
  return process.argv[i + 1];
}
const url = arg("--url");
const email = arg("--email");
const password = arg("--password");
const runs = Number(arg("--runs"));
const result = arg("--result");
const base = new URL(url);

// The console's sign-in and its fleet table (h19/core's pages; docs/console.md).
const kFleetRow = "tr[data-box]";  // one row per box (pages/fleet.js rowAttrs)
async function signIn(page) {
  await page.goto(url);
  await page.getByLabel(/email/i).fill(email);
  await page.getByLabel(/password/i).fill(password);
  await page.getByRole("button", { name: /sign in/i }).click();
  await page.locator(kFleetRow).first().waitFor({ timeout: 30000 });
}

// Counts the bytes of every response the page receives (CDP: encodedDataLength is what came over
// the wire, headers included), split into the console's files and the rest (the API).
async function counted(context, page) {
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
  const urls = new Map();
  const tally = { bytes: 0, static_bytes: 0, api_bytes: 0, requests: 0, static_urls: new Set() };
  cdp.on("Network.responseReceived", (e) => urls.set(e.requestId, e.response.url));
  cdp.on("Network.loadingFinished", (e) => {
    const u = urls.get(e.requestId);
    tally.bytes += e.encodedDataLength;
    tally.requests += 1;
    if (u && new URL(u).pathname.startsWith("/console/")) {
      tally.static_bytes += e.encodedDataLength;
      tally.static_urls.add(new URL(u).pathname);
    } else {
      tally.api_bytes += e.encodedDataLength;
    }
  });
  return tally;
}

async function consoleLoad(context) {
  const page = await context.newPage();
  const tally = await counted(context, page);
  const t0 = performance.now();
  await page.goto(new URL("#/fleet", url).href);
  await page.locator(kFleetRow).first().waitFor({ timeout: 30000 });
  const ms = performance.now() - t0;
  const rows = await page.locator(kFleetRow).count();
  await page.waitForTimeout(200);  // late responses still count as bytes of the load
  await page.close();
  return { ms, rows, tally };
}

async function staticLoad(context, files) {
  const page = await context.newPage();
  const tally = await counted(context, page);
  const t0 = performance.now();
  // A plain page of the same listener (one of the console's own static files) that fetches the
  // others as they are, in parallel, reading every byte.
  await page.goto(new URL(files[0], base).href);
  await page.evaluate(async (rest) => {
    await Promise.all(rest.map(async (f) => (await fetch(f, { cache: "no-store" })).arrayBuffer()));
  }, files.slice(1));
  const ms = performance.now() - t0;
  await page.close();
  return { ms, tally };
}

const browser = await chromium.launch({
  executablePath: arg("--chromium"),
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let code = 0;
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const first = await context.newPage();
  await signIn(first);
  await first.close();
  const out = { console: { ms: [], bytes: 0, static_bytes: 0, api_bytes: 0, requests: 0 },
                baseline: { ms: [], bytes: 0 }, rows: 0 };
  let files = [];
  for (let i = 0; i < runs; i++) {
    const c = await consoleLoad(context);
    out.console.ms.push(c.ms);
    out.rows = c.rows;
    Object.assign(out.console, { bytes: c.tally.bytes, static_bytes: c.tally.static_bytes,
                                 api_bytes: c.tally.api_bytes, requests: c.tally.requests });
    files = [...c.tally.static_urls];
    console.log(`console load ${i + 1}: ${c.ms.toFixed(1)} ms to ${c.rows} fleet rows, ` +
                `${c.tally.bytes} bytes in ${c.tally.requests} responses`);
  }
  // index.html first: the baseline page is the console's own document with nothing it would load
  // by itself (scripts, styles, images): its fetches read every file once, as plain files.
  const isDoc = (f) => f.endsWith("/") || f.endsWith("index.html");
  files.sort((a, b) => Number(isDoc(b)) - Number(isDoc(a)));
  await context.route("**/*", (route) =>
    (["script", "stylesheet", "image", "font"].includes(route.request().resourceType()) ? route.abort() : route.continue()));
  for (let i = 0; i < runs; i++) {
    const s = await staticLoad(context, files);
    out.baseline.ms.push(s.ms);
    out.baseline.bytes = s.tally.bytes;
    console.log(`static load ${i + 1}: ${s.ms.toFixed(1)} ms, ${s.tally.bytes} bytes of ${files.length} files`);
  }
  fs.writeFileSync(result, JSON.stringify(out, null, 2));
} catch (e) {
  console.error(`first_load.mjs: ${e.stack || e}`);
  code = 1;
} finally {
  await browser.close();
}
process.exit(code);
