// The official Custom Vision Prediction SDK for JavaScript
// (@azure/cognitiveservices-customvision-prediction, pinned in package-lock.json)
// against the real edgevision binary on a loopback port, with only the
// endpoint changed: classifyImage / classifyImageUrl on the demo classifier,
// detectImage / detectImageUrl on the synthetic compact detector
// (tests/data/synthetic/yolo_compact_fruit.onnx as an ONNX export folder),
// whose answers must be the export's own code's, and detectImage on the
// synthetic S1 detector (s1_fruit.onnx), whose answer must be the S1 containers'
// (tests/data/detection/golden). A classify call on a detector and a detect
// call on a classifier fail with the SDK's RestError, status 400.
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { PredictionAPIClient } from "@azure/cognitiveservices-customvision-prediction";
import { ApiKeyCredentials } from "@azure/ms-rest-js";

import { makeDetectorExport, startServe } from "../support.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..");
const data = path.join(root, "tests", "data");
const binary = process.env.EDGEVISION_BINARY || path.join(root, "build", "src", "cli", "edgevision");
const fruit = (name) => path.join(data, "cv-exports", "iotedge-applebanana-tf", "images", name);
const golden = (name) => JSON.parse(fs.readFileSync(path.join(data, "detection", "golden", name), "utf8"));

// tests/s1_export.h MakeSyntheticS1Export, in JavaScript.
function makeS1Export() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "evsdk-s1-"));
  fs.copyFileSync(path.join(data, "synthetic", "s1_fruit.onnx"), path.join(dir, "model.onnx"));
  fs.copyFileSync(path.join(data, "detection", "exports", "docker-s1-tflite-2024", "metadata_properties.json"),
    path.join(dir, "metadata_properties.json"));
  fs.writeFileSync(path.join(dir, "cvexport.manifest"), JSON.stringify({
    DomainType: "ObjectDetection", Platform: "ONNX", Flavor: null, ExporterVersion: "2.0",
    ModelFileName: "model.onnx", LabelFileName: "labels.txt", MetadataPropsFileName: "metadata_properties.json",
    SchemaVersion: "1.0" }));
  fs.writeFileSync(path.join(dir, "labels.txt"), "apple\nbanana\nfruit\n");
  return dir;
}

// `edgevision serve --port 0`; resolves once /health is 200.
function startServer(args) {
  return startServe(binary, ["--url-allow-loopback", ...args]);
}

// A loopback HTTP server for the /url calls.
async function serveFiles(files) {
  const srv = http.createServer((req, res) => {
    const file = files[req.url];
    if (!file) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { "Content-Type": "image/jpeg" });
    res.end(fs.readFileSync(file));
  });
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  return { srv, base: "http://127.0.0.1:" + srv.address().port };
}

// SIGKILL a started server and wait for its exit (nothing to keep: no store).
function stop(started) {
  const child = started && started.server;
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => { child.on("exit", resolve); child.kill("SIGKILL"); });
}

function client(base) {
  return new PredictionAPIClient(new ApiKeyCredentials({ inHeader: { "Prediction-Key": "any-key" } }), base);
}

// The SDK's predictions against the golden (container JSON): same tags and
// order; boxes and probabilities within 1e-4.
function expectSame(got, want, what) {
  assert.equal(got.length, want.length, what + ": count");
  got.forEach((p, i) => {
    const w = want[i];
    assert.equal(p.tagName, w.tagName, what + " #" + i);
    assert.equal(Number(p.tagId), w.tagId, what + " #" + i);
    assert.ok(Math.abs(p.probability - w.probability) <= 1e-4, what + " #" + i + " probability");
    for (const k of ["left", "top", "width", "height"]) {
      assert.ok(Math.abs(p.boundingBox[k] - w.boundingBox[k]) <= 1e-4, what + " #" + i + " " + k);
    }
  });
}

async function expectRestError400(promise, what) {
  await assert.rejects(promise, (e) => {
    assert.equal(e.statusCode, 400, what + ": " + e.message);
    assert.equal(e.code, "BadRequest", what);
    return true;
  }, what);
}

async function main() {
  if (!fs.existsSync(binary)) throw new Error("no edgevision binary at " + binary + " (build it first)");
  // Everything set up is undone in `finally`, also when setting up fails.
  const modelDir = makeDetectorExport();
  let files = null;
  let detector = null;
  let classifier = null;
  const project = "0a1b2c3d-0000-0000-0000-000000000000";
  try {
    files = await serveFiles({ "/apple1.jpg": fruit("apple1.jpg") });
    detector = await startServer(["--model", modelDir]);
    classifier = await startServer([]);

    // detectImage: the raw image body, the cloud's route.
    const det = client(detector.base);
    const scene = fs.readFileSync(path.join(data, "detection", "fruit_scene.png"));
    const r1 = await det.detectImage(project, "Iteration1", scene);
    assert.equal(r1.project, project);
    assert.equal(r1.iteration, "Iteration1");
    assert.ok(r1.created instanceof Date && !isNaN(r1.created), "created parses as a date");
    expectSame(r1.predictions, golden("fruit_scene.json").predictions, "detectImage");
    const noStore = await det.detectImageWithNoStore(project, "Iteration1", scene);
    expectSame(noStore.predictions, golden("fruit_scene.json").predictions, "detectImageWithNoStore");

    // detectImageUrl: an image of another size (the model runs at 480x576).
    const apple = golden("photos.json").photos.find((p) => p.name === "apple1");
    const r2 = await det.detectImageUrl(project, "Iteration1", { url: files.base + "/apple1.jpg" });
    expectSame(r2.predictions, apple.predictions, "detectImageUrl");

    // The wrong kind of call: a clear 400.
    await expectRestError400(det.classifyImage(project, "Iteration1", scene), "classifyImage on a detector");

    // The classifier: classifyImage and classifyImageUrl as the cloud answers them.
    const cls = client(classifier.base);
    const c1 = await cls.classifyImage(project, "Iteration1", fs.readFileSync(fruit("apple1.jpg")));
    assert.equal(c1.predictions[0].tagName, "Apple");
    assert.ok(c1.predictions[0].probability > 0.5);
    const c2 = await cls.classifyImageUrl(project, "Iteration1", { url: files.base + "/apple1.jpg" });
    assert.deepEqual(c2.predictions.map((p) => p.tagName), c1.predictions.map((p) => p.tagName));
    await expectRestError400(cls.detectImage(project, "Iteration1", fs.readFileSync(fruit("apple1.jpg"))),
      "detectImage on a classifier");
    // An S1 detector: detectImage answers the S1 containers' rows (tests/data/detection/golden/s1_fruit.json).
    const s1Dir = makeS1Export();
    let s1 = null;
    try {
      s1 = await startServer(["--model", s1Dir]);
      const r3 = await client(s1.base).detectImage(project, "Iteration1", scene);
      expectSame(r3.predictions, golden("s1_fruit.json").photos[0].predictions, "detectImage (S1)");
    } catch (e) {
      if (s1) console.log("---- S1 server log ----\n" + s1.log());
      throw e;
    } finally {
      await stop(s1);
      fs.rmSync(s1Dir, { recursive: true, force: true });
    }
    console.log("ok: classifyImage, classifyImageUrl, detectImage, detectImageWithNoStore, detectImageUrl, "
      + "detectImage on S1");
  } catch (e) {
    if (detector) console.log("---- detector server log ----\n" + detector.log());
    if (classifier) console.log("---- classifier server log ----\n" + classifier.log());
    throw e;
  } finally {
    await stop(detector);
    await stop(classifier);
    if (files) files.srv.close();
    fs.rmSync(modelDir, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
