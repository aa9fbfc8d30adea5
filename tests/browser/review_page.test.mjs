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
//   SCREENSHOT_BOXES    also save a screenshot of the box editor there (docs/review-boxes.png)
//   CAPTURE_SEED        the capture_seed tool (default: build/tests/capture_seed), which
//                       puts detection captures into the store for the box editor
// Exit: 0 pass, 1 fail, 77 skipped (no browser; a failure under
// EDGEVISION_REQUIRE_ALL=1).
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { skipOrFail } from "../support.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const binary = process.env.EDGEVISION_BINARY || path.join(root, "build/src/cli/edgevision");
const browserPath = process.env.CHROMIUM || "/usr/bin/chromium";
const captureSeed = process.env.CAPTURE_SEED || path.join(root, "build/tests/capture_seed");
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

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// How long any one wait for the page may take: generous, because a loaded CI
// machine can stall chromium for seconds; times EDGEVISION_TEST_TIME_SCALE,
// as the C++ tests' waits are (tests/test_support.h).
const timeScale = Math.max(1, Number(process.env.EDGEVISION_TEST_TIME_SCALE) || 1);
const WAIT_MS = 30000 * timeScale;

async function waitReady(base, server) {
  for (const deadline = Date.now() + 60000 * timeScale; Date.now() < deadline;) {
    if (server.exitCode !== null) throw new Error("edgevision exited with " + server.exitCode);
    try {
      const res = await fetch(base + "/health");
      if (res.status === 200) return;
    } catch (e) { /* not listening yet */ }
    await sleep(50);
  }
  throw new Error("edgevision did not become ready");
}

async function getJson(url, init) {
  const res = await fetch(url, init);
  assert.equal(res.status, 200, url);
  return res.json();
}

// Posts `files` to the prediction API, as a camera would, and waits until the
// store holds them all; returns [{id, tag, p}] (the top prediction) in order.
async function postCaptures(base, files) {
  const posted = [];
  for (const file of files) {
    const res = await fetch(base + "/image", { method: "POST", body: fs.readFileSync(file),
      headers: { "Content-Type": "application/octet-stream" } });
    assert.equal(res.status, 200, file);
    const doc = await res.json();
    const top = doc.predictions[0] || null;
    posted.push({ id: doc.id, tag: top ? top.tagName : null, p: top ? top.probability : 0 });
  }
  // Captures are stored by a queue behind the answer: wait for it to drain.
  const deadline = Date.now() + 60000 * timeScale;
  for (;;) {
    const h = await getJson(base + "/health");
    if (h.store.stored === posted.length && h.store.queued === 0) break;
    assert.ok(Date.now() < deadline, "the store took more than " + 60 * timeScale + " s: " + JSON.stringify(h.store));
    await sleep(25);
  }
  return posted;
}

// edgevision serving on loopback (a port of its own choosing, --port 0) with
// every prediction captured; its output goes to `log` (printed when the test
// fails). `server.base` resolves to its address once it logs "listening on".
function startServer(dataDir, env) {
  const server = spawn(binary, ["serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", dataDir,
    "--capture", "all"], { stdio: ["ignore", "pipe", "pipe"], env });
  let output = "";
  server.base = new Promise((resolve, reject) => {
    const onData = (d) => {
      log.push(String(d));
      output += String(d);
      const m = output.match(/listening on 127\.0\.0\.1:(\d+) /);
      if (m) resolve("http://127.0.0.1:" + m[1]);
    };
    server.stdout.on("data", onData);
    server.stderr.on("data", onData);
    server.on("exit", (code) => reject(new Error("edgevision exited with " + code + " before listening")));
  });
  return server;
}

// Closes the browser, stops the server and removes a scenario's folders.
async function cleanUp(server, context, ...dirs) {
  if (context) await context.close();
  server.kill("SIGTERM");
  await new Promise((r) => (server.exitCode !== null ? r() : server.on("exit", r)));
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
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
  const server = startServer(dataDir, process.env);
  let context = null;
  try {
    const base = await server.base;
    await waitReady(base, server);

    // Real images through the prediction API, as a camera would send them.
    const posted = await postCaptures(base, images);
    assert.equal((await getJson(base + "/captures")).total, posted.length, "every prediction is captured");

    context = await launchBrowser(profile);
    const page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
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
        { timeout: WAIT_MS }).catch(() => {});
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
      null, { timeout: WAIT_MS });

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
      null, { timeout: WAIT_MS });
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
    await cleanUp(server, context, dataDir, profile);
  }
}

// With an admin key configured, the page asks for the key once, sends it as
// the Prediction-Key header, and shows images fetched with it (blob: URLs).
async function keyScenario() {
  const key = "review-admin-key-0123456789abcdef";
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "evreview-key-data-"));
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "evreview-key-profile-"));
  const server = startServer(dataDir, { ...process.env, EDGEVISION_ADMIN_KEY: key });
  let context = null;
  try {
    const base = await server.base;
    await waitReady(base, server);
    const ids = [];
    for (const file of images.slice(0, 3)) {
      const res = await fetch(base + "/image", { method: "POST", body: fs.readFileSync(file) });
      assert.equal(res.status, 200, file);
      ids.push((await res.json()).id);
    }
    const authed = { headers: { "Prediction-Key": key } };
    assert.equal((await fetch(base + "/captures")).status, 401, "the capture API needs the key");
    for (const deadline = Date.now() + WAIT_MS; ;) {
      const list = await (await fetch(base + "/captures", authed)).json();
      if (list.total === ids.length) break;
      assert.ok(Date.now() < deadline, "the capture list never showed " + ids.length + ": " + list.total);
      await sleep(25);
    }

    context = await launchBrowser(profile);
    const page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    const foreign = [];
    const errors = [];
    page.on("request", (r) => {
      const u = r.url();
      if (!u.startsWith(base + "/") && !u.startsWith("blob:" + base + "/")) foreign.push(u);
    });
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("response", (r) => { if (r.status() >= 400 && r.status() !== 401) errors.push(r.status() + " " + r.url()); });

    // A wrong key starts two requests (the counts and the first page); both
    // are refused. The refusal of the counts is held back until the right key
    // has been entered and its first page is on its way, and that page is held
    // until the stale refusal has reached the page: a 401 for a key the person
    // has already replaced must not bring the key form back (it did, in CI).
    const wrongKey = "not-the-key-0123456789";
    let rightKeySent;
    const rightKeySeen = new Promise((resolve) => { rightKeySent = resolve; });
    let staleDelivered;
    const staleDone = new Promise((resolve) => { staleDelivered = resolve; });
    const listOrCounts = (url) => url.pathname === "/captures" || url.pathname === "/captures/stats";
    await page.route(listOrCounts, async (route) => {
      const sent = route.request().headers()["prediction-key"];
      const pathname = new URL(route.request().url()).pathname;
      if (sent === wrongKey && pathname === "/captures/stats") {
        await rightKeySeen;
        await route.fulfill({ response: await route.fetch() });
        staleDelivered();
        return;
      }
      if (sent === key) {
        rightKeySent();
        if (pathname === "/captures") await staleDone;
      }
      await route.continue();
    });

    await page.goto(base + "/review");
    await page.waitForSelector("#login:not([hidden])", { timeout: WAIT_MS });
    assert.equal(await page.locator("#grid .card").count(), 0, "nothing is shown without the key");
    // A wrong key is refused and the page asks again.
    await page.fill("#login-key", wrongKey);
    await page.press("#login-key", "Enter");
    await page.waitForFunction(() => /not accepted/.test(document.querySelector("#login-error").textContent),
      null, { timeout: WAIT_MS });
    await page.fill("#login-key", key);
    await page.press("#login-key", "Enter");
    await page.waitForFunction((n) => document.querySelectorAll("#grid .card").length === n, ids.length,
      { timeout: WAIT_MS });
    await staleDone;
    assert.ok(await page.locator("#login").isHidden(), "the key form goes away (and a stale refusal does not bring it back)");
    await page.unroute(listOrCounts);
    // Thumbnails come through the key-authenticated fetch.
    await page.waitForFunction(() => [...document.querySelectorAll("#grid img")].every(
      (i) => i.complete && i.naturalWidth > 0 && i.src.startsWith("blob:")), null, { timeout: WAIT_MS });
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
      { timeout: WAIT_MS });
    assert.equal(await page.locator(`#grid .card[data-id="${first}"]`).count(), 0);
    assert.ok(await page.locator("#login").isHidden());
    assert.deepEqual(foreign, [], "the page loads nothing from anywhere else");
    assert.deepEqual(errors, [], "no script errors");
    console.log("PASS: review page with a key (login, blob thumbnails, labelling)");
  } finally {
    await cleanUp(server, context, dataDir, profile);
  }
}


// Answers that arrive late or out of order. Each change the page makes is
// followed by a GET /captures/stats, and the browser uses several connections,
// so answers can cross; the grid can also change (filters) while a change is
// on its way. The page must end showing the server's newest state. Playwright
// holds chosen requests (page.route), so each race happens on every run
// instead of once in a while on a loaded machine. With a key, so that images
// come through fetch too (the zoom reuses one <img> for every capture).
async function lateAnswersScenario() {
  const key = "review-late-key-0123456789abcdef";
  const authed = { headers: { "Prediction-Key": key } };
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "evreview-late-data-"));
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "evreview-late-profile-"));
  const server = startServer(dataDir, { ...process.env, EDGEVISION_ADMIN_KEY: key });
  let context = null;
  try {
    const base = await server.base;
    await waitReady(base, server);
    const posted = await postCaptures(base, images.slice(0, 4));  // p[3] is the newest
    const [p0, p1] = posted.map((x) => x.id);  // apple1.jpg 234x266, banana1.jpg 301x194

    context = await launchBrowser(profile);
    const page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => {  // the refusals before the key is in are expected
      if (m.type() === "error" && !/status of 401/.test(m.text())) errors.push(m.text());
    });
    page.on("response", (r) => { if (r.status() >= 400 && r.status() !== 401) errors.push(r.status() + " " + r.url()); });
    // Records each request the page sends (when it calls fetch) and each
    // answer it has read, once the code awaiting it has run: Response.text()
    // resolves, the page's own continuations run as microtasks, and the
    // record is a task queued before them.
    await page.addInitScript(() => {
      window.requestsSent = [];
      const fetch = window.fetch;
      window.fetch = function (url, init) {
        window.requestsSent.push(new URL(url, location.href).pathname);
        return fetch.call(this, url, init);
      };
      window.answersRead = [];
      for (const method of ["text", "blob"]) {
        const original = Response.prototype[method];
        Response.prototype[method] = function () {
          const what = new URL(this.url).pathname;
          const read = original.call(this);
          read.then(() => setTimeout(() => window.answersRead.push(what), 0), () => {});
          return read;
        };
      }
    });
    const requestsSent = (what) => page.evaluate((w) => window.requestsSent.filter((x) => x === w).length, what);
    const answersRead = (what) => page.evaluate((w) => window.answersRead.filter((x) => x === w).length, what);
    const waitAnswersRead = (what, n) => page.waitForFunction(
      ([w, k]) => window.answersRead.filter((x) => x === w).length >= k, [what, n], { timeout: WAIT_MS });
    // Holds the next request to `pattern` until the returned release() is
    // called; `arrived` resolves when it is held. With `answered`, the server
    // has answered it already (only the answer is late); without, the server
    // has not seen it yet.
    const holdNext = async (pattern, answered) => {
      let release, arrived, handled;
      const gate = new Promise((r) => { release = r; });
      const held = new Promise((r) => { arrived = r; });
      const done = new Promise((r) => { handled = r; });
      let first = true;
      await page.route(pattern, async (route) => {
        if (!first) return route.continue();
        first = false;
        // An error here (the browser closing after a failed check) must not
        // end the process before cleanUp stops the server.
        try {
          const response = answered ? await route.fetch() : null;
          arrived();
          await gate;
          await (response ? route.fulfill({ response }) : route.continue());
        } catch (e) {
          arrived();
        } finally {
          handled();
        }
      });
      return {
        held,
        release: async () => {
          release();
          await done;
          await page.unroute(pattern);
        },
      };
    };
    const labelOf = (id) => page.locator(`#grid .card[data-id="${id}"] .label`).textContent();
    const summary = () => page.locator("#summary").textContent();

    await page.goto(base + "/review");
    await page.waitForSelector("#login:not([hidden])", { timeout: WAIT_MS });
    await page.fill("#login-key", key);
    await page.press("#login-key", "Enter");
    await page.waitForFunction(() => document.querySelectorAll("#grid .card").length === 4, null, { timeout: WAIT_MS });
    await page.waitForSelector("#tags .tag");
    await page.locator("#grid").focus();

    // 1. The counts after a first label arrive after the counts after a
    //    second one: the older counts must not replace the newer.
    const staleStats = await holdNext("**/captures/stats", true);
    await page.keyboard.press("Home");
    await page.keyboard.press("1");  // p3; the server counts 1 reviewed, held
    await staleStats.held;
    await page.keyboard.press("1");  // p2 (the selection moved on)
    await page.waitForFunction(() => /· 2 reviewed/.test(document.querySelector("#summary").textContent),
      null, { timeout: WAIT_MS });
    const statsRead = await answersRead("/captures/stats");
    await staleStats.release();
    await waitAnswersRead("/captures/stats", statsRead + 1);
    assert.match(await summary(), /· 2 reviewed/, "a late answer with older counts changed nothing");

    // 2. The filters change while a label is on its way: its answer lands on
    //    its own capture, wherever that is in the new grid. Oldest first, to
    //    review: p0, p1 (p1 moved from the third card to the second).
    assert.equal(await page.locator("#grid .card.selected").getAttribute("data-id"), p1);
    const lateLabel = await holdNext(`**/captures/${p1}/label`, false);
    await page.keyboard.press("2");  // p1 := Banana, not yet sent
    await lateLabel.held;
    await page.selectOption("#f-order", "oldest");
    await page.waitForFunction(() => document.querySelectorAll("#grid .card").length === 2, null, { timeout: WAIT_MS });
    assert.deepEqual(await page.locator("#grid .card").evaluateAll((els) => els.map((e) => e.dataset.id)), [p0, p1]);
    await lateLabel.release();
    await page.waitForFunction(() => document.querySelector("#status").textContent !== "", null, { timeout: WAIT_MS });
    assert.equal(await page.locator("#status").textContent(), "Labelled Banana.");
    assert.equal(await labelOf(p1), "✓ Banana", "the answer updated its own card");
    assert.equal(await labelOf(p0), "", "and no other");

    // 3. Two keys on one capture before the first is answered: the server and
    //    the page end with the second, whichever request would finish first.
    const firstKey = await holdNext(`**/captures/${p0}/label`, false);
    await page.keyboard.press("Home");
    await page.keyboard.press("1");          // p0 := Apple, held before the server
    await firstKey.held;
    await page.keyboard.press("ArrowLeft");  // back to p0
    await page.keyboard.press("2");          // p0 := Banana
    assert.equal(await requestsSent(`/captures/${p0}/label`), 1, "the second change waits for the first");
    await firstKey.release();
    await waitAnswersRead(`/captures/${p0}/label`, 2);
    assert.equal((await getJson(base + "/captures/" + p0, authed)).label, "Banana", "the last key wins on the server");
    assert.equal(await labelOf(p0), "✓ Banana", "and on the page");
    assert.equal((await getJson(base + "/captures/" + p1, authed)).label, "Banana");
    assert.deepEqual((await getJson(base + "/captures/stats", authed)).reviewed, 4);

    // 4. The zoom follows the selection: the image of the capture selected
    //    first arrives after the image of the one selected next.
    const zoom = page.locator("#zoom img");
    const lateImage = await holdNext(`**/captures/${p0}/image`, true);
    await page.keyboard.press("Home");   // p0
    await page.keyboard.press(" ");      // zoom: p0's image, held
    await lateImage.held;
    await page.keyboard.press("ArrowRight");  // p1: the zoom asks for its image
    await page.waitForFunction(() => { const i = document.querySelector("#zoom img");
      return i.src.startsWith("blob:") && i.complete && i.naturalWidth === 301; }, null, { timeout: WAIT_MS });
    const shown = await zoom.getAttribute("src");
    const imagesRead = await answersRead(`/captures/${p0}/image`);
    await lateImage.release();
    await waitAnswersRead(`/captures/${p0}/image`, imagesRead + 1);
    assert.equal(await zoom.getAttribute("src"), shown, "the zoom still shows the selected capture's image");
    assert.deepEqual(errors, [], "no script errors");
    console.log("PASS: review page with late answers (counts, a label across a filter change, two quick keys, the zoom)");
  } finally {
    await cleanUp(server, context, dataDir, profile);
  }
}


// Issue 13: detection captures. The store is seeded through the real
// CaptureStore (capture_seed), then the real server serves it; in the box
// editor a person moves, resizes, adds, deletes and retags boxes with the
// mouse and saves; the store (asked through the API, and after a reload)
// holds exactly the edited regions. Bad regions are refused with a 4xx JSON
// error and change nothing.
async function detectionScenario() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "evreview-det-data-"));
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "evreview-det-profile-"));
  // backpod.jpg (1376x1500): three boxes, A to move, B to resize and retag,
  // C to delete. banana1.jpg: one box crossing the left border.
  const seeded = execFileSync(captureSeed, [dataDir,
    path.join(root, "tests/data/cv-exports/iotedge-applebanana-tf/images/banana1.jpg"),
    "crack:0.55:-0.1,0.2,0.4,0.5",
    path.join(root, "tests/data/cv-exports/iotedge-applebanana-tf/images/backpod.jpg"),
    "screw:0.9:0.1,0.1,0.2,0.2;crack:0.8:0.5,0.5,0.2,0.3;screw:0.3:0.7,0.1,0.2,0.15",
  ]).toString().trim().split("\n");
  assert.equal(seeded.length, 2);
  const [bananaId, id] = seeded;
  const server = startServer(dataDir, process.env);
  let context = null;
  try {
    const base = await server.base;
    await waitReady(base, server);
    const before = await getJson(base + "/captures/" + id);
    assert.equal(before.kind, "detection");
    assert.equal(before.detections.length, 3);
    assert.equal(before.regions, null);

    context = await launchBrowser(profile);
    const page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    page.on("response", (r) => { if (r.status() >= 400) errors.push(r.status() + " " + r.url()); });

    await page.goto(base + "/review");
    await page.waitForFunction(() => document.querySelectorAll("#grid .card").length === 2, null, { timeout: WAIT_MS });
    // The cards draw the predicted boxes over the thumbnails.
    const card = page.locator(`#grid .card[data-id="${id}"]`);
    assert.equal(await card.locator(".overlay .box").count(), 3, "three predicted boxes on the card");
    assert.equal(await page.locator(`#grid .card[data-id="${bananaId}"] .overlay .box`).count(), 1);

    // Open the editor with the keyboard: select the card, press E.
    await card.click();
    await page.keyboard.press("e");
    await page.waitForSelector("#editor:not([hidden])");
    await page.waitForFunction(() => { const i = document.querySelector("#ed-img"); return i.complete && i.naturalWidth > 0; });
    const boxes = page.locator("#ed-boxes .box");
    assert.equal(await boxes.count(), 3, "the editor starts from the predicted boxes");
    const img = await page.locator("#ed-img").boundingBox();
    assert.ok(img.width > 300 && img.height > 300, "the image is shown large: " + JSON.stringify(img));
    const px = (x, y) => ({ x: img.x + x * img.width, y: img.y + y * img.height });
    const drag = async (from, to) => {
      await page.mouse.move(from.x, from.y);
      await page.mouse.down();
      // Several steps, as a hand moves.
      await page.mouse.move((from.x + to.x) / 2, (from.y + to.y) / 2, { steps: 4 });
      await page.mouse.move(to.x, to.y, { steps: 4 });
      await page.mouse.up();
    };

    // Move A (0.1,0.1 0.2x0.2) by +0.2, +0.3: grab it by its middle.
    await drag(px(0.2, 0.2), px(0.4, 0.5));
    // Resize B (0.5,0.5 0.2x0.3) by its corner handle, to end at 0.85, 0.95.
    const handle = await boxes.nth(1).locator(".handle").boundingBox();
    await drag({ x: handle.x + handle.width / 2, y: handle.y + handle.height / 2 }, px(0.85, 0.95));
    // Retag B (selected by the resize) to screw.
    await page.selectOption("#ed-tag", "screw");
    // Delete C: click it, press Delete.
    await boxes.nth(2).click({ position: { x: 5, y: 5 } });
    await page.keyboard.press("Delete");
    assert.equal(await boxes.count(), 2, "C deleted");
    // Add D: choose the tag, drag on an empty part of the image.
    await page.locator("#ed-stage").click({ position: { x: img.width * 0.05, y: img.height * 0.9 } });  // deselect
    await page.selectOption("#ed-tag", "crack");
    await drag(px(0.05, 0.75), px(0.3, 0.95));
    assert.equal(await boxes.count(), 3, "D added");
    if (process.env.SCREENSHOT_BOXES) {
      await page.screenshot({ path: process.env.SCREENSHOT_BOXES });
      console.log("screenshot: " + process.env.SCREENSHOT_BOXES);
    }
    await page.click("#ed-save");
    await page.waitForSelector("#editor", { state: "hidden" });
    await page.waitForFunction(() => document.querySelector("#status").textContent === "Saved 3 boxes.");

    // The store has the edited regions: ask the API, not the page.
    const tol = 2.5 / Math.min(img.width, img.height);  // a pixel or two of mouse rounding
    const near = (got, want, what) => {
      assert.equal(got.tagName, want.tagName, what + " tag");
      for (const k of ["left", "top", "width", "height"]) {
        assert.ok(Math.abs(got[k] - want[k]) <= tol, `${what}.${k}: ${got[k]} vs ${want[k]}`);
      }
    };
    const checkStored = async () => {
      const after = await getJson(base + "/captures/" + id);
      assert.ok(after.reviewed, "reviewed");
      assert.equal(after.detections.length, 3, "the prediction is kept as it was");
      assert.equal(after.regions.length, 3);
      near(after.regions[0], { tagName: "screw", left: 0.3, top: 0.4, width: 0.2, height: 0.2 }, "A moved");
      near(after.regions[1], { tagName: "screw", left: 0.5, top: 0.5, width: 0.35, height: 0.45 }, "B resized, retagged");
      near(after.regions[2], { tagName: "crack", left: 0.05, top: 0.75, width: 0.25, height: 0.2 }, "D added");
      return after;
    };
    const stored = await checkStored();
    // The card now shows the reviewed boxes.
    await page.waitForFunction((cid) => document.querySelectorAll(`#grid .card[data-id="${cid}"] .overlay .box.reviewed`).length === 3, id);

    // Bad regions through the API: 4xx JSON, nothing changed.
    const put = (body) => fetch(base + "/captures/" + id + "/regions", { method: "PUT",
      headers: { "Content-Type": "application/json" }, body });
    for (const [body, what] of [
      [JSON.stringify({ regions: [{ tagName: "screw", left: 0.9, top: 0.1, width: 0.2, height: 0.1 }] }), "out of range"],
      [JSON.stringify({ regions: [{ tagName: "bolt", left: 0.1, top: 0.1, width: 0.2, height: 0.1 }] }), "unknown tag"],
      [JSON.stringify({ regions: [{ tagName: "screw", left: "0.1", top: 0.1, width: 0.2, height: 0.1 }] }), "not a number"],
      ["{\"regions\": [", "malformed JSON"],
      [JSON.stringify({ label: "screw" }), "no regions member"],
    ]) {
      const res = await put(body);
      assert.equal(res.status, 400, what);
      const doc = await res.json();
      assert.equal(doc.code, "BadRequest", what);
      assert.ok(doc.message.length > 0, what);
    }
    const labelOnDetection = await fetch(base + "/captures/" + id + "/label", { method: "PUT",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ label: "screw" }) });
    assert.equal(labelOnDetection.status, 400, "a detection capture takes regions, not a label");
    assert.deepEqual((await getJson(base + "/captures/" + id)).regions, stored.regions, "the store is untouched");

    // After a reload the editor opens on the saved regions.
    await page.reload();
    await page.selectOption("#f-reviewed", "true");
    await page.waitForFunction(() => document.querySelectorAll("#grid .card").length === 1, null, { timeout: WAIT_MS });
    await page.locator("#grid .card .edit-boxes").click();
    await page.waitForSelector("#editor:not([hidden])");
    assert.equal(await boxes.count(), 3);
    assert.equal(await page.locator("#ed-title").textContent(), "Boxes (reviewed)");
    assert.deepEqual(await boxes.locator(".box-tag").allTextContents(), ["screw", "screw", "crack"]);
    await page.keyboard.press("Escape");
    await page.waitForSelector("#editor", { state: "hidden" });
    await checkStored();  // Escape cancels: nothing saved
    const stats = await getJson(base + "/captures/stats");
    assert.equal(stats.reviewed, 1);
    assert.equal(stats.tags.find((t) => t.tag === "screw").regions, 2);
    assert.deepEqual(errors, [], "no script errors");
    console.log("PASS: review page box editor (move, resize, retag, delete, add, save, reload)");
  } finally {
    await cleanUp(server, context, dataDir, profile);
  }
}

main().then(() => (process.exitCode ? undefined : keyScenario()))
  .then(() => (process.exitCode ? undefined : lateAnswersScenario()))
  .then(() => (process.exitCode ? undefined : detectionScenario())).catch((e) => {
  console.error("FAIL: " + (e && e.stack ? e.stack : e));
  console.error("---- edgevision log ----\n" + log.join(""));
  process.exitCode = 1;
});
