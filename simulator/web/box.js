// The reclothes-sim box page's script (served as /box.js; box.html has no inline script, so the
// page's Content-Security-Policy can be script-src 'self').
"use strict";
const $ = (id) => document.getElementById(id);
let built = 0;
let lastPresentAt = 0;
let frameVersion = 0;

function showError(text) {
  const b = $("error-banner");
  b.textContent = text;
  b.style.display = "block";
  clearTimeout(showError.timer);
  showError.timer = setTimeout(() => { b.style.display = "none"; }, 5000);
}

async function post(path, body, method) {
  const res = await fetch(path, {
    method: method || "POST",
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = {};
  try { data = await res.json(); } catch (e) { /* an empty answer */ }
  if (!res.ok) {
    showError((data.error && data.error.message) || ("HTTP " + res.status));
    throw new Error("request failed");
  }
  refresh();
  return data;
}

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    // A style attribute is refused by the page's Content-Security-Policy; the CSSOM is not.
    if (k === "style") e.style.cssText = v;
    else e.setAttribute(k, v);
  }
  if (text !== undefined) e.textContent = text;
  return e;
}

function buildDoors(compartments) {
  const doors = $("doors");
  doors.innerHTML = "";
  const n = compartments.length;
  doors.style.setProperty("--cols", String(n <= 4 ? n : n <= 12 ? 4 : n <= 24 ? 6 : 8));
  for (const c of compartments) {
    const id = c.id;
    const t = (s) => "compartment-" + id + (s ? "-" + s : "");
    const d = el("div", { class: "door", id: t(), "data-testid": t() });
    d.append(el("div", { class: "num" }, String(id)));
    d.append(el("div", { class: "size", "data-testid": t("size") }, c.size));
    d.append(el("div", { class: "state", id: t("state"), "data-testid": t("state") }, ""));
    const badges = el("div", { class: "badges" });
    badges.append(el("span", { class: "badge", id: t("lock"), "data-testid": t("lock") }, ""));
    badges.append(el("span", { class: "badge", id: t("door"), "data-testid": t("door") }, ""));
    badges.append(el("span", { class: "badge jam", id: t("jam"), "data-testid": t("jam"), style: "display:none" }, "JAMMED LATCH"));
    d.append(badges);
    const fill = el("div", { class: "fill", title: "fill level", "data-testid": t("fill") });
    fill.append(el("div", { id: t("fill-bar") }));
    d.append(fill);
    d.append(el("div", { class: "meta", id: t("fill-text"), style: "font-size:11px" }, ""));
    const controls = el("div", { class: "controls" });
    const open = el("button", { "data-testid": t("open-btn") }, "Open");
    open.onclick = () => post("/api/compartments/" + id + "/door", { open: true }).catch(() => {});
    const close = el("button", { "data-testid": t("close-btn") }, "Close");
    close.onclick = () => post("/api/compartments/" + id + "/door", { open: false }).catch(() => {});
    const fillInput = el("input", { type: "number", min: "0", max: "100", id: t("fill-input"), "data-testid": t("fill-input"), title: "fill %" });
    const fillSet = el("button", { "data-testid": t("fill-set-btn") }, "Fill %");
    fillSet.onclick = () => post("/api/compartments/" + id + "/fill", { percent: Number(fillInput.value) }).catch(() => {});
    const jam = el("button", { "data-testid": t("jam-btn"), id: t("jam-btn") }, "Jam");
    jam.onclick = () => post("/api/compartments/" + id + "/jam", { on: jam.dataset.on !== "1" }).catch(() => {});
    controls.append(open, close, fillInput, fillSet, jam);
    d.append(controls);
    doors.append(d);
  }
  built = n;
}

function renderDoors(s) {
  if (built !== s.compartments.length) buildDoors(s.compartments);
  for (const c of s.compartments) {
    const p = "compartment-" + c.id;
    const d = $(p);
    d.classList.toggle("is-open", c.door_open);
    d.classList.toggle("is-off", !s.powered);
    d.classList.remove("size-S", "size-M", "size-L", "size-XL");
    d.classList.add("size-" + c.size);
    const st = $(p + "-state");
    st.textContent = c.state.replace(/_/g, " ");
    st.className = "state " + c.state;
    st.dataset.state = c.state;
    const lock = $(p + "-lock");
    lock.textContent = c.unlocked ? "UNLOCKED" : "LOCKED";
    lock.className = "badge " + (c.unlocked ? "unlocked" : "locked");
    lock.dataset.unlocked = c.unlocked ? "1" : "0";
    const door = $(p + "-door");
    door.textContent = c.door_open ? "DOOR OPEN" : "DOOR CLOSED";
    door.className = "badge " + (c.door_open ? "open" : "");
    door.dataset.open = c.door_open ? "1" : "0";
    $(p + "-jam").style.display = c.jammed ? "" : "none";
    const jamBtn = $(p + "-jam-btn");
    jamBtn.dataset.on = c.jammed ? "1" : "0";
    jamBtn.textContent = c.jammed ? "Unjam" : "Jam";
    const fill = c.fill_percent;
    $(p + "-fill-bar").style.width = (fill === null ? 0 : fill) + "%";
    $(p + "-fill-text").textContent = fill === null ? "no fill sensor" : "fill " + fill + " %";
    const input = $(p + "-fill-input");
    input.disabled = fill === null;
    if (document.activeElement !== input && fill !== null) input.placeholder = String(fill);
  }
}

function eventDetails(e) {
  const parts = [];
  for (const k of ["reason", "action", "order_ref", "token_id", "occupied", "fill_percent", "command_id", "detail"]) {
    if (e[k] !== undefined && e[k] !== null) parts.push(k + "=" + e[k]);
  }
  return parts.join("  ");
}

function renderEvents(events) {
  const body = $("events");
  body.innerHTML = "";
  const bad = new Set(["scan_rejected", "jammed", "forced", "ajar", "out_of_service", "tamper", "unlock_unknown"]);
  const good = new Set(["unlocked", "access_completed"]);
  for (const e of [...events].reverse()) {
    const tr = el("tr", { "data-testid": "event-row", "data-kind": e.kind, class: bad.has(e.kind) ? "bad" : good.has(e.kind) ? "good" : "" });
    tr.append(el("td", { class: "mono" }, String(e.seq)));
    tr.append(el("td", { class: "mono" }, new Date(e.at_ms).toLocaleTimeString()));
    tr.append(el("td", { class: "kind" }, e.kind));
    tr.append(el("td", {}, e.compartment === undefined ? "" : String(e.compartment)));
    tr.append(el("td", { class: "details" }, eventDetails(e)));
    body.append(tr);
  }
}

function renderTokens(s) {
  const list = $("pending-tokens");
  const key = JSON.stringify(s.pending_tokens.map((t) => t.id));
  if (list.dataset.key !== key) {
    list.dataset.key = key;
    list.innerHTML = "";
    s.pending_tokens.forEach((t, i) => {
      const li = el("li", { "data-testid": "pending-token-" + i });
      const sum = t.summary;
      const title = t.label || (sum ? sum.action : "token");
      li.append(el("div", {}, title));
      const meta = sum
        ? sum.action + " at " + sum.box_id + ", compartments " + sum.compartments.join(",") +
          ", expires " + new Date(sum.expires * 1000).toLocaleTimeString() + ", key " + sum.key_id + " (" + t.source + ")"
        : "unreadable: " + (t.problem || "?");
      li.append(el("div", { class: "meta" }, meta));
      const row = el("div", { class: "row" });
      const present = el("button", { class: "primary", "data-testid": "pending-token-" + i + "-present" }, "Present");
      present.onclick = () => { $("token-input").value = t.token; presentToken(); };
      const use = el("button", { "data-testid": "pending-token-" + i + "-use" }, "Edit");
      use.onclick = () => { $("token-input").value = t.token; };
      row.append(present, use);
      if (t.source !== "controller") {
        const remove = el("button", { "data-testid": "pending-token-" + i + "-remove" }, "Remove");
        remove.onclick = () => post("/api/tokens/" + t.id, undefined, "DELETE").catch(() => {});
        row.append(remove);
      }
      li.append(row);
      list.append(li);
    });
    if (!s.pending_tokens.length) list.append(el("li", { class: "meta" }, "No tokens yet: paste one above and keep it in the list."));
  }
  $("token-source-error").textContent = s.token_source_error || "";
  $("mint").hidden = !s.can_mint;
}

function render(s) {
  $("box-id").textContent = s.box_id;
  $("box-code-text").textContent = s.box_code || "-";
  $("firmware").textContent = "firmware " + s.firmware_version + (s.config_revision ? ", config rev " + s.config_revision : "");
  const power = $("power-status");
  power.textContent = s.powered ? "POWER ON" : "POWER OFF";
  power.className = "pill " + (s.powered ? "on" : "off");
  power.dataset.powered = s.powered ? "1" : "0";
  const net = $("network-status");
  let netText, netClass;
  if (!s.network.sync_enabled) { netText = "NO SYNC (offline box)"; netClass = "warn"; }
  else if (!s.network.link_up) { netText = "NETWORK PULLED"; netClass = "off"; }
  else if (s.network.connected) { netText = "CONNECTED"; netClass = "on"; }
  else { netText = "OFFLINE (reconnecting)"; netClass = "warn"; }
  net.textContent = netText;
  net.className = "pill " + netClass;
  net.dataset.connected = s.network.connected ? "1" : "0";
  $("sync-detail").textContent = s.network.sync_enabled
    ? s.network.broker + ", connects " + s.network.stats.connects + ", events sent " + s.network.stats.events_sent
    : "no broker in use";
  $("firmware-error").textContent = s.firmware_error ? "firmware stopped: " + s.firmware_error : (s.powered ? "" : "power is off");

  const ind = s.indicator;
  const led = $("led");
  led.className = "led " + (s.powered && ind ? ind.pattern : "");
  $("indicator-pattern").textContent = s.powered ? (ind ? ind.pattern : "-") : "no power";
  $("indicator-message").textContent = s.powered && ind ? ind.message : "";
  $("indicator").dataset.pattern = s.powered && ind ? ind.pattern : "off";

  renderDoors(s);
  renderEvents(s.events);
  renderTokens(s);

  $("journal-backlog").textContent = s.journal.backlog;
  $("journal-last-seq").textContent = s.journal.last_seq;
  $("journal-acked").textContent = s.journal.acked_upto;
  $("pulse-count").textContent = s.pulses;
  $("environment").textContent = s.environment.temperature_c.toFixed(1) + " \u00b0C, " + s.environment.humidity_percent.toFixed(0) + " % rH";
  $("tamper-status").textContent = s.tampered ? "OPEN (tampered)" : "closed";
  $("maintenance").textContent = s.maintenance ? "on" : "off";
  const tamper = $("tamper-toggle");
  if (document.activeElement !== tamper) tamper.checked = s.tampered;
  const auto = $("auto-open-toggle");
  if (document.activeElement !== auto) auto.checked = s.auto_open.enabled;
  const delay = $("auto-open-delay");
  if (document.activeElement !== delay) delay.value = s.auto_open.delay_ms;
  $("command-results").textContent = s.command_results.map((r) => r.command_id + ": " + r.code).join("  |  ");

  const lp = s.last_present;
  if (lp && lp.at_ms !== lastPresentAt) {
    lastPresentAt = lp.at_ms;
    frameVersion++;
    $("camera-frame").src = "/api/frame.png?v=" + frameVersion;
    const r = $("present-result");
    r.textContent = lp.camera_sees_code ? "camera sees the code" : "no code seen by the camera";
    r.className = "result " + (lp.camera_sees_code ? "good" : "bad");
    r.dataset.seen = lp.camera_sees_code ? "1" : "0";
  }
}

async function refresh() {
  try {
    const res = await fetch("/api/state", { cache: "no-store" });
    if (res.ok) render(await res.json());
  } catch (e) { /* the simulator is restarting; try again on the next tick */ }
}

function presentToken() {
  const token = $("token-input").value.trim();
  if (!token) { showError("paste a token first"); return; }
  post("/api/present", {
    token,
    module_px: Number($("degrade-module").value),
    scale: Number($("degrade-scale").value),
    rotation_deg: Number($("degrade-rotation").value),
    blur: Number($("degrade-blur").value),
    noise: Number($("degrade-noise").value),
    seed: Math.floor(Math.random() * 1e6) + 1,
  }).catch(() => {});
}

$("present-btn").onclick = presentToken;
$("save-token-btn").onclick = () => {
  const token = $("token-input").value.trim();
  if (token) post("/api/tokens", { token }).catch(() => {});
};
$("mint-btn").onclick = () => post("/api/mint", { action: $("mint-action").value, compartments: $("mint-compartments").value }).catch(() => {});
$("pull-network-btn").onclick = () => post("/api/network", { up: false }).catch(() => {});
$("restore-network-btn").onclick = () => post("/api/network", { up: true }).catch(() => {});
$("pull-power-btn").onclick = () => post("/api/power", { on: false }).catch(() => {});
$("restore-power-btn").onclick = () => post("/api/power", { on: true }).catch(() => {});
$("environment-set-btn").onclick = () => post("/api/environment", { temperature_c: Number($("temperature-input").value), humidity_percent: Number($("humidity-input").value) }).catch(() => {});
$("tamper-toggle").onchange = (e) => post("/api/tamper", { on: e.target.checked }).catch(() => {});
$("auto-open-toggle").onchange = (e) => post("/api/auto-open", { enabled: e.target.checked, delay_ms: Number($("auto-open-delay").value) }).catch(() => {});
$("auto-open-delay").onchange = () => post("/api/auto-open", { enabled: $("auto-open-toggle").checked, delay_ms: Number($("auto-open-delay").value) }).catch(() => {});
const command = (op, extra) => post("/api/commands", Object.assign({ op }, extra || {})).catch(() => {});
$("reserve-btn").onclick = () => command("reserve", { compartment: Number($("cmd-compartment").value), action: $("cmd-action").value, order_ref: Number($("cmd-order").value) });
$("release-btn").onclick = () => command("release", { compartment: Number($("cmd-compartment").value) });
$("remote-open-btn").onclick = () => command("open", { compartment: Number($("cmd-compartment").value) });
$("maintenance-on-btn").onclick = () => command("maintenance_on");
$("maintenance-off-btn").onclick = () => command("maintenance_off");

refresh();
setInterval(refresh, 300);
