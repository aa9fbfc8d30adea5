// `edgevision export --upload` end to end: the real binary captures and a
// person's reviews go in through `edgevision serve` (the demo classifier
// and the synthetic detector), then the real binary uploads them to
// training_api_fake.mjs, the local Training API v3.3 that
// training_sdk.test.mjs holds to the official SDK. Checks: tags created only
// where missing, batches of at most 64, each image with its tag or its
// regions, only reviewed captures sent, the state recorded (a re-run sends
// nothing), 429 with Retry-After, a 5xx and a cut connection then success,
// kill -9 mid-upload then a re-run with no image created twice, a wrong key
// refused with a clear error, and the key in no output.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import test from "node:test";
import { fileURLToPath } from "node:url";

import { makeDetectorExport, startServe } from "../support.mjs";
import { BASE_PATH, DOMAINS, startTrainingApi } from "./training_api_fake.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..");
const data = path.join(root, "tests", "data");
const binary = process.env.EDGEVISION_BINARY || path.join(root, "build", "src", "cli", "edgevision");
const fruit = (name) => fs.readFileSync(path.join(data, "cv-exports", "iotedge-applebanana-tf", "images", name));

const KEY = "5f1e0c2b9a8d47e6b3c21d0f9e8a7b6c";
const P = {  // one project per scenario, so each starts empty
  happy: "11111111-2222-4333-8444-555555555555",
  retry: "21111111-2222-4333-8444-555555555555",
  kill: "31111111-2222-4333-8444-555555555555",
  detector: "41111111-2222-4333-8444-555555555555",
};

// A different but valid JPEG each time: a COM segment after SOI.
function variant(jpeg, i) {
  const text = Buffer.from("edgevision test image " + i);
  const com = Buffer.concat([Buffer.from([0xff, 0xfe, 0, text.length + 2]), text]);
  return Buffer.concat([jpeg.subarray(0, 2), com, jpeg.subarray(2)]);
}

async function post(base, image) {
  const res = await fetch(base + "/image", { method: "POST", body: image, headers: { "Content-Type": "application/octet-stream" } });
  assert.equal(res.status, 200);
  return (await res.json()).id;
}

// Captures are stored after the answer (the recorder's queue): wait until
// the store has this one.
async function stored(base, id) {
  for (;;) {
    const res = await fetch(`${base}/captures/${id}`);
    if (res.status === 200) return;
    assert.equal(res.status, 404, await res.text());
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function put(base, id, what, body) {
  await stored(base, id);
  const res = await fetch(`${base}/captures/${id}/${what}`, { method: "PUT", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });
  assert.equal(res.status, 200, await res.text());
}

// Runs `edgevision export --upload ...`; resolves {code, signal, out, err}.
// `onSpawn(child)` may kill it.
function upload(dataDir, endpoint, project, keyFile, extra = [], onSpawn = () => {}) {
  const args = ["export", "--upload", "--data-dir", dataDir, "--endpoint", endpoint, "--project", project,
    "--training-key-file", keyFile, ...extra];
  const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "", err = "";
  child.stdout.on("data", (d) => { out += d; });
  child.stderr.on("data", (d) => { err += d; });
  onSpawn(child);
  return new Promise((resolve) => child.on("close", (code, signal) => resolve({ code, signal, out, err })));
}

const batches = (api, project) => api.state.requests.filter((r) => r.path.endsWith(`/projects/${project}/images/files`));

const work = fs.mkdtempSync(path.join(os.tmpdir(), "evupload-"));
const keyFile = path.join(work, "training.key");
fs.writeFileSync(keyFile, KEY + "\n");
const api = await startTrainingApi({
  key: KEY,
  projects: [
    { id: P.happy, name: "line-3", kind: "classification" },
    { id: P.retry, name: "line-3-retry", kind: "classification" },
    { id: P.kill, name: "line-3-kill", kind: "classification" },
    { id: P.detector, name: "line-3-boxes", kind: "detection" },
  ],
});

// SIGTERM, and wait for the exit (the store closes before its folder goes).
function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => { child.on("exit", resolve); child.kill("SIGTERM"); });
}

let serve = null;
test.after(async () => {
  if (serve) await stop(serve.server);
  await api.close();
  fs.rmSync(work, { recursive: true, force: true });
});

// 70 classifier captures through the real server: 66 labelled, 4 not.
const classDir = path.join(work, "classifier");
serve = await startServe(binary, ["--data-dir", classDir, "--capture", "all"]);
const labelled = new Map();  // capture id -> {label, image}
const unreviewed = new Map();
{
  const apple = fruit("apple1.jpg"), banana = fruit("banana1.jpg");
  for (let i = 0; i < 70; ++i) {
    const image = variant(i % 2 ? banana : apple, i);
    const id = await post(serve.base, image);
    if (i < 66) {
      const label = i % 2 ? "Banana" : "Apple";
      await put(serve.base, id, "label", { label });
      labelled.set(id, { label, image });
    } else {
      unreviewed.set(id, { image });
    }
  }
}
const sha = (b) => crypto.createHash("sha256").update(b).digest("hex");


test("uploads the reviewed captures with their tags, in batches of at most 64, and records them", async () => {
  // "Banana" exists already (with other letter case): only "Apple" is created.
  const project = api.state.projects.get(P.happy);
  project.tags.set("9e0b7c5d-1111-4222-8333-944444444444", { id: "9e0b7c5d-1111-4222-8333-944444444444", name: "banana", description: null, type: "Regular", imageCount: 0 });

  // While the server keeps serving and capturing.
  const r = await upload(classDir, api.endpoint, P.happy, keyFile);
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /sent 66 captures in 2 batches: 66 created, 0 already in the project/);
  assert.match(r.out, /created tag: Apple\n/);
  assert.doesNotMatch(r.out, /created tag: Banana/);
  assert.deepEqual(batches(api, P.happy).map((b) => b.images.length), [64, 2]);

  // Each labelled image once, under its label; the unreviewed ones never.
  const byTag = new Map([...project.tags.values()].map((t) => [t.id, t.name]));
  assert.equal(project.images.size, 66);
  for (const { label, image } of labelled.values()) {
    const got = project.images.get(sha(image));
    assert.ok(got, "missing " + label);
    assert.deepEqual(got.tagIds.map((t) => byTag.get(t).toLowerCase()), [label.toLowerCase()]);
    assert.deepEqual(got.regions, []);
  }
  for (const { image } of unreviewed.values()) assert.equal(project.received.get(sha(image)), undefined);

  // The state is in the store: a re-run sends nothing.
  const before = api.state.requests.length;
  const again = await upload(classDir, api.endpoint, P.happy, keyFile);
  assert.equal(again.code, 0, again.out + again.err);
  assert.match(again.out, /sent 0 captures in 0 batches/);
  assert.match(again.out, /already uploaded by an earlier run: 66/);
  assert.equal(batches(api, P.happy).length, 2);
  assert.deepEqual(api.state.requests.slice(before).map((q) => q.method + " " + q.path.slice(BASE_PATH.length)),
    [`GET /projects/${P.happy}`, `GET /domains/${DOMAINS.classification.id}`, `GET /projects/${P.happy}/tags`]);
  for (const text of [r.out, r.err, again.out, again.err]) assert.ok(!text.includes(KEY), "the key appears in the output");
});

test("429 with Retry-After, a 5xx and a cut connection are retried until the upload succeeds", async () => {
  api.state.faults.push({ route: `/projects/${P.retry}/tags`, status: 503 });
  api.state.faults.push({ route: `/projects/${P.retry}/images/files`, status: 429, retryAfter: 1, body: { code: "TooManyRequests", message: "rate limit" } });
  // Two cuts: libcurl itself re-sends once on a reused connection that died, so
  // the second reaches edgevision's own retry.
  api.state.faults.push({ route: `/projects/${P.retry}/images/files`, cut: true });
  api.state.faults.push({ route: `/projects/${P.retry}/images/files`, cut: true });
  const r = await upload(classDir, api.endpoint, P.retry, keyFile, ["--batch-size", "33"]);
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.err, /HTTP 503.*retrying in 1000 ms \(attempt 2 of 6\)/);
  assert.match(r.err, /HTTP 429 TooManyRequests: rate limit; retrying in 1000 ms/);
  assert.match(r.err, /training API unreachable.*retrying in/);
  const sent = batches(api, P.retry);
  // 429 (nothing taken), two cuts (taken, no answer), the same batch again
  // (already there), the second batch.
  assert.deepEqual(sent.map((b) => b.status), [429, 200, 207, 207, 200]);
  assert.ok(sent[1].at - sent[0].at >= 1000, "Retry-After: 1 was not honoured (" + (sent[1].at - sent[0].at) + " ms)");
  assert.deepEqual(sent[3].images, Array(33).fill("OKDuplicate"));
  assert.match(r.out, /sent 66 captures in 2 batches: 33 created, 33 already in the project/);
  assert.equal(api.state.projects.get(P.retry).images.size, 66);
});

test("kill -9 mid-upload, then a re-run: nothing is created twice and everything arrives", async () => {
  const project = api.state.projects.get(P.kill);
  let killed = null;
  const hung = new Promise((resolve) => { killed = resolve; });
  let child = null;
  api.state.onRequest = (entry) => {
    if (!entry.path.endsWith(`/projects/${P.kill}/images/files`)) return;
    if (batches(api, P.kill).length === 2 && !entry.hung) api.state.faults.push({ route: `/projects/${P.kill}/images/files`, hang: true });
    if (entry.hung) { child.kill("SIGKILL"); killed(); }
  };
  const first = await upload(classDir, api.endpoint, P.kill, keyFile, ["--batch-size", "8"], (c) => { child = c; });
  await hung;
  api.state.onRequest = null;
  assert.equal(first.signal, "SIGKILL");
  assert.equal(project.images.size, 24);  // the third batch was taken, its answer never came

  const second = await upload(classDir, api.endpoint, P.kill, keyFile, ["--batch-size", "8"]);
  assert.equal(second.code, 0, second.out + second.err);
  assert.match(second.out, /sent 50 captures in 7 batches: 42 created, 8 already in the project/);
  assert.match(second.out, /already uploaded by an earlier run: 16/);
  assert.equal(project.images.size, 66);
  // Each image arrived once, but for the batch in flight at the kill (twice).
  const counts = [...labelled.values()].map(({ image }) => project.received.get(sha(image)) ?? 0);
  assert.equal(counts.filter((n) => n === 1).length, 58);
  assert.equal(counts.filter((n) => n === 2).length, 8);
});

test("a wrong key is refused with a clear error and sends nothing", async () => {
  const wrong = path.join(work, "wrong.key");
  fs.writeFileSync(wrong, "not-the-key-0000");
  const before = api.state.requests.length;
  const r = await upload(classDir, api.endpoint, P.happy, wrong);
  assert.equal(r.code, 1);
  assert.match(r.err, /GET \/projects\/[0-9a-f-]+: HTTP 401.*the training key was refused/);
  assert.ok(!r.err.includes("not-the-key-0000") && !r.out.includes("not-the-key-0000"));
  assert.deepEqual(api.state.requests.slice(before).map((q) => q.status), [401]);

  const missing = await upload(classDir, api.endpoint, P.happy, path.join(work, "absent.key"));
  assert.equal(missing.code, 2);
  assert.match(missing.err, /--training-key-file/);
  const plain = await upload(classDir, "http://example.com", P.happy, keyFile);
  assert.equal(plain.code, 2);
  assert.match(plain.err, /plain http/);
});

test("detector captures go with the regions a person saved", async () => {
  const dataDir = path.join(work, "detector");
  const model = makeDetectorExport();
  const detector = await startServe(binary, ["--model", model, "--data-dir", dataDir, "--capture", "all"]);
  try {
    const a = await post(detector.base, variant(fruit("apple1.jpg"), 100));
    const b = await post(detector.base, variant(fruit("banana1.jpg"), 101));
    const empty = await post(detector.base, variant(fruit("apple2.jpg"), 102));
    await post(detector.base, variant(fruit("banana2.jpg"), 103));  // never reviewed
    const regionsA = [{ tagName: "apple", left: 0.25, top: 0.125, width: 0.5, height: 0.25 },
      { tagName: "banana", left: 0, top: 0.5, width: 0.375, height: 0.5 }];
    const regionsB = [{ tagName: "banana", left: 0.1, top: 0.2, width: 0.3, height: 0.4 }];
    await put(detector.base, a, "regions", { regions: regionsA });
    await put(detector.base, b, "regions", { regions: regionsB });
    await put(detector.base, empty, "regions", { regions: [] });

    const r = await upload(dataDir, api.endpoint, P.detector, keyFile);
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /sent 2 captures in 1 batches: 2 created/);
    assert.match(r.out, /regions sent: 3/);
    assert.match(r.out, /skipped 1 detection captures reviewed without regions/);
    const project = api.state.projects.get(P.detector);
    const names = new Map([...project.tags.values()].map((t) => [t.id, t.name]));
    const got = [...project.images.values()].map((i) => i.regions.map((x) => ({ tagName: names.get(x.tagId), left: x.left, top: x.top, width: x.width, height: x.height })));
    got.sort((x, y) => y.length - x.length);
    assert.deepEqual(got, [regionsA, regionsB]);
    assert.deepEqual([...project.images.values()].map((i) => i.tagIds), [[], []]);

    // The classifier store has no detection captures: a detector project gets none of them.
    const other = await upload(classDir, api.endpoint, P.detector, keyFile);
    assert.equal(other.code, 0, other.out + other.err);
    assert.match(other.out, /skipped 66 captures of the other project type/);
  } finally {
    await stop(detector.server);
    fs.rmSync(model, { recursive: true, force: true });
  }
});
