// The official Custom Vision Training SDK for JavaScript
// (@azure/cognitiveservices-customvision-training, pinned in
// package-lock.json) against training_api_fake.mjs, the local Training API
// that upload_e2e.test.mjs holds `edgevision export --upload` to. Every call
// edgevision makes is made here by the SDK (GetProject, GetDomain, GetTags,
// CreateTag, CreateImagesFromFiles with tags and with regions) and must be
// accepted, and the SDK must read the answers into its models: the fake
// speaks the contract the SDK was generated from. Its refusals (a wrong key,
// a tag name taken, 65 images) reach the SDK as RestErrors.
//
// The SDK (5.2.0) is generated for v3.4-preview; the operations used here
// have the same routes and models in v3.3, which is what edgevision and the
// fake speak, so the client's base path is set to v3.3.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { TrainingAPIClient } from "@azure/cognitiveservices-customvision-training";
import { ApiKeyCredentials } from "@azure/ms-rest-js";

import { BASE_PATH, DOMAINS, startTrainingApi } from "./training_api_fake.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const images = path.join(here, "..", "data", "cv-exports", "iotedge-applebanana-tf", "images");
const KEY = "0123456789abcdef0123456789abcdef";
const CLASSIFIER = "8d1d5e3c-3a0e-4c39-9c39-0b6f7d1c2a10";
const DETECTOR = "5b7a9a62-6c1e-4f0e-8a57-3f5e2b9d7c21";

function client(endpoint, key) {
  const c = new TrainingAPIClient(new ApiKeyCredentials({ inHeader: { "Training-Key": key } }), endpoint);
  c.baseUri = "{Endpoint}" + BASE_PATH;
  return c;
}

async function rejects(promise, statusCode, code) {
  try {
    await promise;
  } catch (e) {
    assert.equal(e.statusCode, statusCode, String(e));
    if (code) assert.equal(e.body?.code ?? e.code, code, JSON.stringify(e.body));
    return;
  }
  assert.fail("expected a RestError " + statusCode);
}

const api = await startTrainingApi({
  key: KEY,
  projects: [{ id: CLASSIFIER, name: "line-3", kind: "classification" }, { id: DETECTOR, name: "line-3-boxes", kind: "detection" }],
});
try {
  const sdk = client(api.endpoint, KEY);
  const apple = fs.readFileSync(path.join(images, "apple1.jpg"));
  const banana = fs.readFileSync(path.join(images, "banana1.jpg"));

  // GetProject, GetDomain: the project's type.
  const project = await sdk.getProject(CLASSIFIER);
  assert.equal(project.id, CLASSIFIER);
  assert.equal(project.name, "line-3");
  assert.equal(project.settings.domainId, DOMAINS.classification.id);
  const domain = await sdk.getDomain(project.settings.domainId);
  assert.equal(domain.type, "Classification");
  assert.equal((await sdk.getDomain((await sdk.getProject(DETECTOR)).settings.domainId)).type, "ObjectDetection");

  // CreateTag (name in the query), GetTags; a taken name is refused.
  assert.deepEqual(await sdk.getTags(CLASSIFIER), []);
  const tag = await sdk.createTag(CLASSIFIER, "Apple & Pear/ripe");
  assert.match(tag.id, /^[0-9a-f-]{36}$/);
  assert.equal(tag.name, "Apple & Pear/ripe");
  assert.equal(tag.type, "Regular");
  const tags = await sdk.getTags(CLASSIFIER);
  assert.deepEqual(tags.map((t) => [t.id, t.name]), [[tag.id, "Apple & Pear/ripe"]]);
  await rejects(sdk.createTag(CLASSIFIER, "apple & pear/RIPE"), 400, "BadRequestTagNameNotUnique");

  // CreateImagesFromFiles with per-image tags: OK, then OKDuplicate for the same bytes.
  const first = await sdk.createImagesFromFiles(CLASSIFIER, {
    images: [{ name: "a.jpg", contents: apple, tagIds: [tag.id] }, { name: "b.jpg", contents: banana, tagIds: [tag.id] }],
  });
  assert.equal(first.isBatchSuccessful, true);
  assert.deepEqual(first.images.map((i) => i.status), ["OK", "OK"]);
  assert.equal(first.images[0].sourceUrl, "a.jpg");
  assert.match(first.images[0].image.id, /^[0-9a-f-]{36}$/);
  assert.equal(first.images[0].image.tags[0].tagId, tag.id);
  const again = await sdk.createImagesFromFiles(CLASSIFIER, { images: [{ name: "a.jpg", contents: apple, tagIds: [tag.id] }] });
  assert.equal(again._response.status, 207);
  assert.equal(again.isBatchSuccessful, false);
  assert.equal(again.images[0].status, "OKDuplicate");
  assert.equal(again.images[0].image.id, first.images[0].image.id);

  // Regions on a detection project.
  const box = await sdk.createTag(DETECTOR, "apple");
  const detected = await sdk.createImagesFromFiles(DETECTOR, {
    images: [{ name: "d.jpg", contents: apple, regions: [{ tagId: box.id, left: 0.25, top: 0.125, width: 0.5, height: 0.25 }] }],
  });
  assert.deepEqual(detected.images.map((i) => i.status), ["OK"]);
  assert.equal(detected.images[0].image.regions[0].tagName, "apple");
  assert.equal(detected.images[0].image.regions[0].left, 0.25);

  // The limits and the key.
  const tooMany = Array.from({ length: 65 }, (_, i) => ({ name: i + ".jpg", contents: apple }));
  await rejects(sdk.createImagesFromFiles(CLASSIFIER, { images: tooMany }), 400, "BadRequestImageBatch");
  await rejects(client(api.endpoint, "wrong").getProject(CLASSIFIER), 401);
  await rejects(sdk.getProject("8d1d5e3c-0000-4c39-9c39-0b6f7d1c2a10"), 404);

  // Everything the SDK sent was accepted, except the refusals asked for above.
  const refused = api.state.requests.filter((r) => r.status >= 300);
  assert.deepEqual(refused.map((r) => r.status), [400, 400, 401, 404], JSON.stringify(api.state.requests));
  assert.ok(api.state.requests.every((r) => r.path.startsWith(BASE_PATH + "/")));
  console.log(`training SDK contract: ${api.state.requests.length} requests, all shapes accepted`);
} finally {
  await api.close();
}
