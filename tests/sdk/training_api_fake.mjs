// A local Custom Vision Training API v3.3 for tests: the handful of routes
// `edgevision export --upload` uses, written from the published definitions
// (Azure/azure-rest-api-specs, CustomVision/Training/stable/v3.3/Training.json)
// and held to them strictly: the `Training-Key` header, the paths and their
// UUIDs, the query parameters, the JSON bodies (unknown fields are a 400), the
// batch limits (64 images, 20 tags per image, 6 MB per image, JPEG/PNG/BMP/GIF).
// training_sdk.test.mjs drives it with the official SDK
// (@azure/cognitiveservices-customvision-training), so what it accepts is
// what the SDK sends.
//
//   GET  /customvision/v3.3/training/projects/{projectId}         Project
//   GET  /customvision/v3.3/training/domains/{domainId}           Domain
//   GET  /customvision/v3.3/training/projects/{projectId}/tags    Tag[]
//   POST /customvision/v3.3/training/projects/{projectId}/tags?name=&description=&type=   Tag
//   POST /customvision/v3.3/training/projects/{projectId}/images/files   ImageFileCreateBatch
//        -> 200 (all OK) or 207 ImageCreateSummary; an image already in the
//           project (same bytes) is "OKDuplicate"
//
// Faults for tests: `faults` is a queue of {route, status, retryAfter, body},
// {route, hang: true} or {route, cut: true}, each consumed by the next
// request whose path ends with `route`. `hang` and `cut` let the request
// take effect (the project keeps the batch's images); then `hang` never
// answers and `cut` drops the connection.
import crypto from "node:crypto";
import http from "node:http";

export const BASE_PATH = "/customvision/v3.3/training";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_IMAGES = 64, MAX_TAGS_PER_IMAGE = 20, MAX_REGIONS = 200, MAX_IMAGE_BYTES = 6 * 1024 * 1024;

export const DOMAINS = {
  // General (compact) and General (compact) object detection, as GetDomains lists them.
  classification: { id: "0732100f-1a38-4e49-a514-c9b44c697ab5", name: "General (compact)", type: "Classification", exportable: true, enabled: true },
  detection: { id: "a27d5ca5-bb19-49d8-a70a-fec086c47f5b", name: "General (compact)", type: "ObjectDetection", exportable: true, enabled: true },
};

class HttpError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

function sniffFormat(b) {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "jpeg";
  if (b.length >= 8 && b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return "png";
  if (b.length >= 2 && b[0] === 0x42 && b[1] === 0x4d) return "bmp";
  if (b.length >= 6 && (b.subarray(0, 6).toString() === "GIF87a" || b.subarray(0, 6).toString() === "GIF89a")) return "gif";
  return null;
}

function onlyKeys(obj, allowed, what) {
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) throw new HttpError(400, "BadRequest", `${what} is not an object`);
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) throw new HttpError(400, "BadRequest", `${what} has an unknown field '${k}'`);
  }
}

function strictBase64(s) {
  if (typeof s !== "string" || s.length === 0 || s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) {
    throw new HttpError(400, "BadRequest", "contents is not base64");
  }
  return Buffer.from(s, "base64");
}

export async function startTrainingApi({ key, projects }) {
  const state = {
    key,
    projects: new Map(),  // id -> {id, name, domain, tags: Map id->tag, images: Map sha256->image, received}
    requests: [],         // {method, path, status, images?}
    faults: [],
    onRequest: null,      // (entry) => void, after the route ran (before a hang)
  };
  for (const p of projects) {
    // received: sha256 -> how many times an image with these bytes arrived
    state.projects.set(p.id, { id: p.id, name: p.name, domain: DOMAINS[p.kind], tags: new Map(), images: new Map(), received: new Map() });
  }

  const project = (id) => {
    if (!UUID.test(id)) throw new HttpError(400, "BadRequest", "projectId is not a UUID");
    const p = state.projects.get(id.toLowerCase());
    if (!p) throw new HttpError(404, "BadRequestProjectUnknown", "Project not found");  // the spec does not map codes to statuses
    return p;
  };
  const tagJson = (t) => ({ id: t.id, name: t.name, description: t.description, type: t.type, imageCount: t.imageCount });

  function createImages(p, body) {
    onlyKeys(body, ["images", "tagIds", "metadata"], "ImageFileCreateBatch");
    if (!Array.isArray(body.images) || body.images.length === 0) throw new HttpError(400, "BadRequestImageBatch", "images is empty");
    if (body.images.length > MAX_IMAGES) throw new HttpError(400, "BadRequestImageBatch", `more than ${MAX_IMAGES} images`);
    const batchTags = body.tagIds ?? [];
    if (!Array.isArray(batchTags) || batchTags.length > MAX_TAGS_PER_IMAGE) throw new HttpError(400, "BadRequestTagLimitExceed", "tagIds");
    const results = [];
    for (const e of body.images) {
      onlyKeys(e, ["name", "contents", "tagIds", "regions"], "ImageFileCreateEntry");
      if (e.name !== undefined && typeof e.name !== "string") throw new HttpError(400, "BadRequest", "name is not a string");
      const bytes = strictBase64(e.contents);
      const tagIds = [...batchTags, ...(e.tagIds ?? [])];
      const regions = e.regions ?? [];
      if (!Array.isArray(tagIds) || !Array.isArray(regions)) throw new HttpError(400, "BadRequest", "tagIds/regions are not lists");
      const sha = crypto.createHash("sha256").update(bytes).digest("hex");
      p.received.set(sha, (p.received.get(sha) ?? 0) + 1);
      let status = "OK";
      for (const t of tagIds) {
        if (typeof t !== "string" || !UUID.test(t)) throw new HttpError(400, "BadRequest", "a tagId is not a UUID");
        if (!p.tags.has(t)) status = "ErrorInvalidTag";
      }
      for (const r of regions) {
        onlyKeys(r, ["tagId", "left", "top", "width", "height"], "Region");
        for (const k of ["left", "top", "width", "height"]) {
          if (typeof r[k] !== "number" || !(r[k] >= 0 && r[k] <= 1)) throw new HttpError(400, "BadRequest", `region ${k} is not in 0..1`);
        }
        if (typeof r.tagId !== "string" || !UUID.test(r.tagId)) throw new HttpError(400, "BadRequest", "a region tagId is not a UUID");
        if (!p.tags.has(r.tagId)) status = "ErrorInvalidTag";
        if (r.left + r.width > 1 + 1e-9 || r.top + r.height > 1 + 1e-9 || r.width <= 0 || r.height <= 0) status = "ErrorRegionLimitExceed";
      }
      if (regions.length > 0 && p.domain.type !== "ObjectDetection") throw new HttpError(400, "BadRequestNotObjectDetectionProject", "regions on a classification project");
      if (tagIds.length > MAX_TAGS_PER_IMAGE) status = "ErrorTagLimitExceed";
      if (regions.length > MAX_REGIONS) status = "ErrorRegionLimitExceed";
      if (bytes.length > MAX_IMAGE_BYTES) status = "ErrorImageSize";
      else if (!sniffFormat(bytes)) status = "ErrorImageFormat";
      const existing = p.images.get(sha);
      if (status === "OK" && existing) {
        results.push({ sourceUrl: e.name, status: "OKDuplicate", image: { id: existing.id, created: existing.created } });
        continue;
      }
      if (status !== "OK") { results.push({ sourceUrl: e.name, status }); continue; }
      const image = { id: crypto.randomUUID(), created: new Date().toISOString(), name: e.name, sha256: sha, tagIds, regions };
      p.images.set(sha, image);
      for (const t of new Set([...tagIds, ...regions.map((r) => r.tagId)])) p.tags.get(t).imageCount += 1;
      results.push({
        sourceUrl: e.name, status: "OK",
        image: { id: image.id, created: image.created, tags: tagIds.map((tagId) => ({ tagId, tagName: p.tags.get(tagId).name, created: image.created })),
          regions: regions.map((r) => ({ regionId: crypto.randomUUID(), tagName: p.tags.get(r.tagId).name, created: image.created, ...r })) },
      });
    }
    const ok = results.every((r) => r.status === "OK");
    return { status: ok ? 200 : 207, body: { isBatchSuccessful: ok, images: results } };
  }

  function route(req, url, body) {
    const key = req.headers["training-key"];
    if (key !== state.key) {
      // What Azure's gateway answers for a wrong or missing key.
      throw Object.assign(new HttpError(401, "401", "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."), { gateway: true });
    }
    if (!url.pathname.startsWith(BASE_PATH + "/")) throw new HttpError(404, "NotFound", "no such route");
    const parts = url.pathname.slice(BASE_PATH.length + 1).split("/");
    const query = [...url.searchParams.keys()];
    const noQuery = () => { if (query.length) throw new HttpError(400, "BadRequest", `unknown query parameter '${query[0]}'`); };
    const noBody = () => { if (body.length) throw new HttpError(400, "BadRequest", "this operation takes no body"); };
    if (req.method === "GET" && parts.length === 2 && parts[0] === "domains") {
      noQuery(); noBody();
      const d = Object.values(DOMAINS).find((x) => x.id === parts[1].toLowerCase());
      if (!d) throw new HttpError(404, "BadRequestDomainNotFound", "Domain not found");
      return { status: 200, body: d };
    }
    if (parts[0] !== "projects" || parts.length < 2) throw new HttpError(404, "NotFound", "no such route");
    const p = project(parts[1]);
    if (req.method === "GET" && parts.length === 2) {
      noQuery(); noBody();
      return { status: 200, body: { id: p.id, name: p.name, description: "", settings: { domainId: p.domain.id, classificationType: p.domain.type === "Classification" ? "Multiclass" : null, targetExportPlatforms: ["DockerFile"] }, created: "2026-01-01T00:00:00Z", lastModified: "2026-01-01T00:00:00Z", status: "Succeeded" } };
    }
    if (parts.length === 3 && parts[2] === "tags") {
      if (req.method === "GET") {
        for (const k of query) if (k !== "iterationId") throw new HttpError(400, "BadRequest", `unknown query parameter '${k}'`);
        noBody();
        return { status: 200, body: [...p.tags.values()].map(tagJson) };
      }
      if (req.method === "POST") {
        for (const k of query) if (!["name", "description", "type"].includes(k)) throw new HttpError(400, "BadRequest", `unknown query parameter '${k}'`);
        noBody();
        const name = url.searchParams.get("name");
        if (!name || !name.trim()) throw new HttpError(400, "BadRequestTagName", "name is required");
        const type = url.searchParams.get("type") ?? "Regular";
        if (!["Regular", "Negative", "GeneralProduct"].includes(type)) throw new HttpError(400, "BadRequestTagType", "bad type");
        for (const t of p.tags.values()) {
          if (t.name.toLowerCase() === name.toLowerCase()) throw new HttpError(400, "BadRequestTagNameNotUnique", "Name not unique");
        }
        const tag = { id: crypto.randomUUID(), name, description: url.searchParams.get("description"), type, imageCount: 0 };
        p.tags.set(tag.id, tag);
        return { status: 200, body: tagJson(tag) };
      }
    }
    if (req.method === "POST" && parts.length === 4 && parts[2] === "images" && parts[3] === "files") {
      noQuery();
      const ct = (req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
      if (ct !== "application/json") throw new HttpError(415, "UnsupportedMediaType", `content type '${ct}'`);
      let batch;
      try { batch = JSON.parse(body.toString("utf8")); } catch { throw new HttpError(400, "BadRequest", "body is not JSON"); }
      return createImages(p, batch);
    }
    throw new HttpError(404, "NotFound", "no such route");
  }

  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url, "http://fake");
      const body = Buffer.concat(chunks);
      const entry = { method: req.method, path: url.pathname, query: url.search, status: 0, at: Date.now() };
      state.requests.push(entry);
      const fi = state.faults.findIndex((f) => url.pathname.endsWith(f.route));
      const fault = fi >= 0 ? state.faults.splice(fi, 1)[0] : null;
      if (fault && !fault.hang && !fault.cut) {
        entry.status = fault.status;
        const headers = { "Content-Type": "application/json" };
        if (fault.retryAfter !== undefined) headers["Retry-After"] = String(fault.retryAfter);
        res.writeHead(fault.status, headers);
        res.end(JSON.stringify(fault.body ?? { code: "ErrorUnknown", message: "injected" }));
        state.onRequest?.(entry);
        return;
      }
      let out;
      try {
        out = route(req, url, body);
      } catch (e) {
        if (!(e instanceof HttpError)) throw e;
        out = { status: e.status, body: e.gateway ? { error: { code: e.code, message: e.message } } : { code: e.code, message: e.message } };
      }
      entry.status = out.status;
      if (out.body && out.body.images) entry.images = out.body.images.map((i) => i.status);
      if (fault && fault.hang) {  // the batch is taken; the answer never comes
        entry.hung = true;
        state.onRequest?.(entry);
        return;
      }
      if (fault && fault.cut) {  // the batch is taken; the connection drops
        entry.cut = true;
        req.socket.destroy();
        state.onRequest?.(entry);
        return;
      }
      res.writeHead(out.status, { "Content-Type": "application/json; charset=utf-8" });
      res.end(JSON.stringify(out.body));
      state.onRequest?.(entry);
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const endpoint = "http://127.0.0.1:" + server.address().port;
  return {
    endpoint,
    state,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  };
}
