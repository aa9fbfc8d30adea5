// The review page in a real headless browser (Debian's Chromium driven by
// playwright-core): the real edgevision binary serves the demo model with
// --capture all, real images are posted, then the page is loaded, filtered,
// and captures are relabelled with the keyboard; the labels are checked
// through the API.
//
// Environment:
//   EDGEVISION_BINARY   the edgevision binary (default: build/src/cli/edgevision)
//   CHROMIUM            the browser (default: /usr/bin/chromium)
//   SCREENSHOT          also save a screenshot of the page there (docs/review-page.png)
// Exit: 0 pass, 1 fail, 77 skipped (no browser; a failure under
// EDGEVISION_REQUIRE_ALL=1).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { skipOrFail } from "../support.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const binary = process.env.EDGEVISION_BINARY || path.join(root, "build/src/cli/edgevision");
const browserPath = process.env.CHROMIUM || "/usr/bin/chromium";
const images = [
  "iotedge-applebanana-tf/images/apple1.jpg",
  "iotedge-applebanana-tf/images/banana1.jpg",
  "iotedge-applebanana-tf/images/apple2.jpg",
  "iotedge-applebanana-tf/images/backpod.jpg",
  "winml-food-onnx/images/Donuts/3518454.jpg",
  "iotedge-applebanana-tf/images/banana2.jpg",
  "winml-food-onnx/images/Fries/3765135.jpg",
  "winml-food-onnx/images/Cheesecake/2750278.jpg",
].map((p) => path.join(root, "tests/data/cv-exports", p));

const log = [];  // the server's output, printed when the test fails

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitReady(base, server) {
  for (let i = 0; i < 600; i++) {
    if (server.exitCode !== null) throw new Error("edgevision exited with " + server.exitCode);
    try {
      const res = await fetch(base + "/health");
      if (res.status === 200) return;
    } catch (e) { /* not listening yet */ }
    await sleep(50);
  }
  throw new Error("edgevision did not become ready");
}

async function getJson(url) {
  const res = await fetch(url);
  assert.equal(res.status, 200, url);
  return res.json();
}

// edgevision serving on loopback with every prediction captured; its output
// goes to `log` (printed when the test fails).
function startServer(port, dataDir, env) {
  const server = spawn(binary, ["serve", "--host", "127.0.0.1", "--port", String(port), "--data-dir", dataDir,
    "--capture", "all"], { stdio: ["ignore", "pipe", "pipe"], env });
  server.stdout.on("data", (d) => log.push(String(d)));
  server.stderr.on("data", (d) => log.push(String(d)));
  return server;
}

// Debian's chromium, headless, with a fresh profile and no background traffic.
function launchBrowser(profile) {
  return chromium.launchPersistentContext(profile, {
    executablePath: browserPath,
    headless: true,
    viewport: { width: 1280, height: 860 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

async function main() {
  if (!fs.existsSync(browserPath)) skipOrFail("no browser at " + browserPath + " (apt-get install chromium)");
  if (!fs.existsSync(binary)) throw new Error("no edgevision binary at " + binary + " (build it first)");

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "evreview-data-"));
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "evreview-profile-"));
  const port = await freePort();
  const base = "http://127.0.0.1:" + port;
  const server = startServer(port, dataDir, process.env);
  let context = null;
  try {
    await waitReady(base, server);

    // Real images through the prediction API, as a camera would send them.
    const posted = [];
    for (const file of images) {
      const res = await fetch(base + "/image", { method: "POST", body: fs.readFileSync(file),
        headers: { "Content-Type": "application/octet-stream" } });
      assert.equal(res.status, 200, file);
      const doc = await res.json();
      const top = doc.predictions[0] || null;
      posted.push({ id: doc.id, tag: top ? top.tagName : null, p: top ? top.probability : 0 });
    }
    for (let i = 0; i < 200; i++) {
      const h = await getJson(base + "/health");
      if (h.store.stored === posted.length && h.store.queued === 0) break;
      await sleep(25);
    }
    assert.equal((await getJson(base + "/captures")).total, posted.length, "every prediction is captured");

    context = await launchBrowser(profile);
    const page = context.pages()[0] || await context.newPage();
    const foreign = [];
    const errors = [];
    page.on("request", (r) => { if (!r.url().startsWith(base + "/")) foreign.push(r.url()); });
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    page.on("response", (r) => { if (r.status() >= 400) errors.push(r.status() + " " + r.url()); });

    const cards = page.locator("#grid .card");
    const status = page.locator("#status");
    const expectCards = async (n, what) => {
      await page.waitForFunction((k) => document.querySelectorAll("#grid .card").length === k, n,
        { timeout: 10000 }).catch(() => {});
      assert.equal(await cards.count(), n, what);
    };

    // Load: everything is still to review, newest first; counts per tag.
    await page.goto(base + "/review");
    await expectCards(posted.length, "all captures are listed");
    assert.equal(await cards.first().getAttribute("data-id"), posted[posted.length - 1].id, "newest first");
    await page.waitForSelector("#tags .tag");
    const legend = await page.locator("#tags .tag").allTextContents();
    assert.match(legend[0], /^1Apple/, "key 1 is the model's first tag");
    assert.match(legend[1], /^2Banana/, "key 2 is the model's second tag");
    const predicted = (t) => posted.filter((x) => x.tag === t).length;
    assert.match(legend[0], new RegExp("[^0-9]" + predicted("Apple") + " predicted"));
    assert.match(legend[1], new RegExp("[^0-9]" + predicted("Banana") + " predicted"));
    assert.match(await page.locator("#summary").textContent(), new RegExp("^" + posted.length + " captures"));
    // Every thumbnail is the stored image, scaled by the browser.
    await page.waitForFunction(() => [...document.querySelectorAll("#grid img")].every((i) => i.complete && i.naturalWidth > 0),
      null, { timeout: 10000 });

    // Filter: predicted tag.
    await page.selectOption("#f-tag", "Banana");
    await expectCards(predicted("Banana"), "tag filter");
    for (const t of await page.locator("#grid .card .tagname").allTextContents()) assert.equal(t, "Banana");
    await page.selectOption("#f-tag", "");

    // Filter: uncertain only (top probability below 0.8).
    await page.check("#f-uncertain");
    const uncertain = posted.filter((x) => x.p < 0.8).reverse();  // newest first, as the page lists them
    assert.ok(uncertain.length >= 3, "the test images include uncertain ones");
    await expectCards(uncertain.length, "uncertain filter");
    const ids = await cards.evaluateAll((els) => els.map((e) => e.dataset.id));
    assert.deepEqual(ids, uncertain.map((x) => x.id));

    // Relabel with the keyboard: 2 = Banana on the first; Enter accepts the
    // prediction of the next; → then 1 then Backspace leaves the third clear.
    await page.locator("#grid").focus();
    await page.keyboard.press("Home");
    await page.keyboard.press("2");
    await page.waitForFunction(() => document.querySelector("#status").textContent === "Labelled Banana.");
    await page.waitForFunction((id) => document.querySelector("#grid .card.selected").dataset.id === id, ids[1]);
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.querySelectorAll("#grid .card.reviewed").length === 2);
    await page.keyboard.press("ArrowRight");  // Enter already advanced to the third; move on to the fourth
    await page.keyboard.press("ArrowLeft");   // and back to the third
    await page.keyboard.press("1");
    await page.waitForFunction(() => document.querySelectorAll("#grid .card.reviewed").length === 3);
    await page.keyboard.press("ArrowLeft");
    await page.keyboard.press("Backspace");
    await page.waitForFunction(() => document.querySelector("#status").textContent === "Label cleared.");
    assert.ok(!((await status.getAttribute("class")) || "").includes("error"), "no error shown");

    // The labels persisted: ask the API, not the page.
    const label = async (id) => (await getJson(base + "/captures/" + id)).label;
    assert.equal(await label(ids[0]), "Banana");
    assert.equal(await label(ids[1]), uncertain[1].tag, "Enter confirms the predicted tag");
    assert.equal(await label(ids[2]), null, "Backspace cleared the label set with 1");
    const stats = await getJson(base + "/captures/stats");
    assert.equal(stats.reviewed, 2);

    // Filter: reviewed; the counts on the page follow.
    await page.uncheck("#f-uncertain");
    await page.selectOption("#f-reviewed", "true");
    await expectCards(2, "reviewed filter");
    await page.waitForFunction(() => /2 reviewed/.test(document.querySelector("#summary").textContent));
    const labels = await page.locator("#grid .card .label").allTextContents();
    assert.deepEqual(labels.sort(), ["✓ " + uncertain[1].tag, "✓ Banana"].sort());

    // After a reload the labels are still there (server state, not page state).
    await page.reload();
    await page.selectOption("#f-reviewed", "true");
    await expectCards(2, "reviewed after reload");

    // The whole grid, for the docs.
    await page.selectOption("#f-reviewed", "");
    await expectCards(posted.length, "all");
    await page.waitForFunction(() => [...document.querySelectorAll("#grid img")].every((i) => i.complete && i.naturalWidth > 0),
      null, { timeout: 10000 });
    await page.locator("#grid").focus();
    await page.keyboard.press("Home");
    await page.keyboard.press("ArrowRight");
    if (process.env.SCREENSHOT) {
      await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
      console.log("screenshot: " + process.env.SCREENSHOT);
    }

    assert.deepEqual(foreign, [], "the page loads nothing from anywhere else");
    assert.deepEqual(errors, [], "no script errors");
    console.log("PASS: review page (" + posted.length + " captures, filters, keyboard relabelling)");
  } finally {
    if (context) await context.close();
    server.kill("SIGTERM");
    await new Promise((r) => (server.exitCode !== null ? r() : server.on("exit", r)));
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

// With an admin key configured, the page asks for the key once, sends it as
// the Prediction-Key header, and shows images fetched with it (blob: URLs).
async function keyScenario() {
  const key = "review-admin-key-0123456789abcdef";
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "evreview-key-data-"));
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "evreview-key-profile-"));
  const port = await freePort();
  const base = "http://127.0.0.1:" + port;
  const server = startServer(port, dataDir, { ...process.env, EDGEVISION_ADMIN_KEY: key });
  let context = null;
  try {
    await waitReady(base, server);
    const ids = [];
    for (const file of images.slice(0, 3)) {
      const res = await fetch(base + "/image", { method: "POST", body: fs.readFileSync(file) });
      assert.equal(res.status, 200, file);
      ids.push((await res.json()).id);
    }
    const authed = { headers: { "Prediction-Key": key } };
    assert.equal((await fetch(base + "/captures")).status, 401, "the capture API needs the key");
    for (let i = 0; i < 200; i++) {
      const list = await (await fetch(base + "/captures", authed)).json();
      if (list.total === ids.length) break;
      await sleep(25);
    }

    context = await launchBrowser(profile);
    const page = context.pages()[0] || await context.newPage();
    const foreign = [];
    const errors = [];
    page.on("request", (r) => {
      const u = r.url();
      if (!u.startsWith(base + "/") && !u.startsWith("blob:" + base + "/")) foreign.push(u);
    });
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("response", (r) => { if (r.status() >= 400 && r.status() !== 401) errors.push(r.status() + " " + r.url()); });

    await page.goto(base + "/review");
    await page.waitForSelector("#login:not([hidden])", { timeout: 10000 });
    assert.equal(await page.locator("#grid .card").count(), 0, "nothing is shown without the key");
    // A wrong key is refused and the page asks again.
    await page.fill("#login-key", "not-the-key-0123456789");
    await page.press("#login-key", "Enter");
    await page.waitForFunction(() => /not accepted/.test(document.querySelector("#login-error").textContent),
      null, { timeout: 10000 });
    await page.fill("#login-key", key);
    await page.press("#login-key", "Enter");
    await page.waitForFunction((n) => document.querySelectorAll("#grid .card").length === n, ids.length,
      { timeout: 10000 });
    assert.ok(await page.locator("#login").isHidden(), "the key form goes away");
    // Thumbnails come through the key-authenticated fetch.
    await page.waitForFunction(() => [...document.querySelectorAll("#grid img")].every(
      (i) => i.complete && i.naturalWidth > 0 && i.src.startsWith("blob:")), null, { timeout: 10000 });
    // Labelling works with the key; checked through the API.
    await page.locator("#grid").focus();
    await page.keyboard.press("Home");
    await page.keyboard.press("2");
    await page.waitForFunction(() => document.querySelector("#status").textContent === "Labelled Banana.");
    const first = await page.locator("#grid .card").first().getAttribute("data-id");
    const labelled = await (await fetch(base + "/captures/" + first, authed)).json();
    assert.equal(labelled.label, "Banana");
    // A reload keeps the key for the session: no second prompt. The default
    // filter is "To review", so the capture just labelled is no longer shown.
    await page.reload();
    await page.waitForFunction((n) => document.querySelectorAll("#grid .card").length === n, ids.length - 1,
      { timeout: 10000 });
    assert.equal(await page.locator(`#grid .card[data-id="${first}"]`).count(), 0);
    assert.ok(await page.locator("#login").isHidden());
    assert.deepEqual(foreign, [], "the page loads nothing from anywhere else");
    assert.deepEqual(errors, [], "no script errors");
    console.log("PASS: review page with a key (login, blob thumbnails, labelling)");
  } finally {
    if (context) await context.close();
    server.kill("SIGTERM");
    await new Promise((r) => (server.exitCode !== null ? r() : server.on("exit", r)));
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().then(() => (process.exitCode ? undefined : keyScenario())).catch((e) => {
  console.error("FAIL: " + (e && e.stack ? e.stack : e));
  console.error("---- edgevision log ----\n" + log.join(""));
  process.exitCode = 1;
});
