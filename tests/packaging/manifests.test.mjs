// Validates the deployment manifests with real validators, and proves each
// check can fail by breaking a copy of the manifest:
// - deploy/iotedge/deployment.template.json: ajv against our IoT Edge
//   deployment schema (schemas/iotedge-deployment.schema.json, derived from
//   Azure/iotedge doc/deployment-schema-1.0.json), its createOptions strings
//   against the Docker createOptions subset we use, the classifier's twin
//   against edgevision's desired-properties schema, routes against modules;
// - deploy/kubernetes/*.yaml: every document through kubernetes-models (the
//   Kubernetes OpenAPI schemas compiled to ajv validators), plus the edge
//   specifics (node selector, probes, limits, port 80, /data);
// - with EDGEVISION_BINARY set: every EDGEVISION_* variable the manifests set
//   is one `edgevision serve` reads (its --print-config names the variable).
// Run: node --test manifests.test.mjs   (tests/packaging/run_manifest_checks.sh)
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Ajv from "ajv";
import { parseAllDocuments } from "yaml";
import { skipUnlessRequired } from "../support.mjs";
import * as core from "kubernetes-models/v1";
import * as apps from "kubernetes-models/apps/v1";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "..", "..");
const readJson = (p) => JSON.parse(readFileSync(p, "utf8"));

const ajv = new Ajv({ allErrors: true, strict: true });
const validateDeployment = ajv.compile(readJson(path.join(here, "schemas/iotedge-deployment.schema.json")));
const validateCreateOptions = ajv.compile(readJson(path.join(here, "schemas/docker-create-options.schema.json")));
const validateTwin = ajv.compile(readJson(path.join(here, "schemas/edgevision-twin.schema.json")));

// The placeholders the walkthrough fills with envsubst (docs/deploy.md).
const SAMPLE = {
  ACR_NAME: "assemblylineqa",
  ACR_ADDRESS: "assemblylineqa.azurecr.io",
  ACR_USERNAME: "assemblylineqa",
  ACR_PASSWORD: "not-a-real-password",
  EDGEVISION_IMAGE: "assemblylineqa.azurecr.io/edgevision:0.1.0",
};

function renderTemplate() {
  const text = readFileSync(path.join(repo, "deploy/iotedge/deployment.template.json"), "utf8");
  const used = new Set([...text.matchAll(/\$\{([A-Z_]+)\}/g)].map((m) => m[1]));
  for (const name of used) assert.ok(name in SAMPLE, `unknown placeholder \${${name}} in the template`);
  const rendered = text.replace(/\$\{([A-Z_]+)\}/g, (_, name) => SAMPLE[name]);
  return JSON.parse(rendered);
}

function errorsOf(validate, doc) {
  return validate(doc) ? [] : validate.errors.map((e) => `${e.instancePath} ${e.message}`);
}

// Every check the IoT Edge manifest must pass; returns the problems found.
function checkIotEdge(manifest) {
  const problems = errorsOf(validateDeployment, manifest).map((e) => `deployment schema: ${e}`);
  if (problems.length) return problems;
  const content = manifest.modulesContent;
  const agent = content.$edgeAgent["properties.desired"];
  const modules = { ...agent.systemModules, ...agent.modules };
  for (const [name, module] of Object.entries(modules)) {
    const chunks = Object.keys(module.settings).filter((k) => k.startsWith("createOptions")).sort();
    const text = chunks.map((k) => module.settings[k]).join("");
    // edgeAgent stores createOptions in 512-character twin values.
    for (const k of chunks) {
      if (module.settings[k].length > 512) problems.push(`${name}: ${k} is longer than 512 characters`);
    }
    let options;
    try {
      options = JSON.parse(text || "{}");
    } catch (e) {
      problems.push(`${name}: createOptions is not JSON: ${e.message}`);
      continue;
    }
    problems.push(...errorsOf(validateCreateOptions, options).map((e) => `${name} createOptions: ${e}`));
  }
  if (problems.length) return problems;
  const classifier = agent.modules.classifier;
  if (!classifier) return ["no classifier module"];
  const create = JSON.parse(classifier.settings.createOptions);
  const host = create.HostConfig ?? {};
  if (host.PortBindings?.["80/tcp"]?.[0]?.HostPort !== "80") problems.push("classifier: port 80 is not published on 80");
  if (!(host.Binds ?? []).some((b) => b.split(":")[1] === "/data")) problems.push("classifier: no host folder on /data");
  if (host.Sysctls?.["net.ipv4.ip_unprivileged_port_start"] !== "80")
    problems.push("classifier: port 80 needs net.ipv4.ip_unprivileged_port_start=80 (the image runs as uid 10001)");
  if (classifier.env?.EDGEVISION_DATA_DIR?.value !== "/data") problems.push("classifier: EDGEVISION_DATA_DIR is not /data");
  if (classifier.env?.EDGEVISION_PORT?.value !== "80") problems.push("classifier: EDGEVISION_PORT is not 80");
  // Routes: from a module that exists, and the classifier's output reaches $upstream.
  const routes = Object.values(content.$edgeHub["properties.desired"].routes).map((r) => (typeof r === "string" ? r : r.route));
  for (const route of routes) {
    const m = route.match(/^FROM\s+\/messages\/modules\/([^/\s]+)\//i);
    if (m && !(m[1] in agent.modules)) problems.push(`route from unknown module ${m[1]}: ${route}`);
  }
  if (!routes.some((r) => /^FROM \/messages\/modules\/classifier\/outputs\/(classification|\*) INTO \$upstream$/.test(r)))
    problems.push("no route sends the classifier's output `classification` to $upstream");
  // Module twins: only for modules that exist; the classifier's is edgevision's.
  for (const [name, value] of Object.entries(content)) {
    if (name.startsWith("$")) continue;
    if (!(name in agent.modules)) problems.push(`twin for unknown module ${name}`);
  }
  const twin = content.classifier?.["properties.desired"];
  if (!twin) problems.push("no desired properties for the classifier");
  else problems.push(...errorsOf(validateTwin, twin).map((e) => `classifier twin: ${e}`));
  return problems;
}

const KINDS = {
  "v1/Namespace": core.Namespace,
  "v1/ConfigMap": core.ConfigMap,
  "v1/Service": core.Service,
  "v1/Secret": core.Secret,
  "apps/v1/DaemonSet": apps.DaemonSet,
  "apps/v1/Deployment": apps.Deployment,
};

function kubernetesFiles() {
  const dir = path.join(repo, "deploy/kubernetes");
  return readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).map((f) => path.join(dir, f));
}

function loadDocs(file) {
  const docs = parseAllDocuments(readFileSync(file, "utf8"));
  for (const d of docs) if (d.errors.length) throw new Error(`${file}: ${d.errors[0].message}`);
  return docs.map((d) => d.toJS()).filter((d) => d !== null);
}

// Every check the Kubernetes manifests must pass; returns the problems found.
function checkKubernetes(docs) {
  const problems = [];
  for (const doc of docs) {
    const Model = KINDS[`${doc.apiVersion}/${doc.kind}`];
    if (!Model) {
      problems.push(`no validator for ${doc.apiVersion} ${doc.kind}`);
      continue;
    }
    try {
      new Model(doc).validate();
    } catch (e) {
      problems.push(`${doc.kind} ${doc.metadata?.name}: ${e.message}`);
    }
  }
  if (problems.length) return problems;
  const ds = docs.find((d) => d.kind === "DaemonSet");
  if (!ds) return ["no DaemonSet"];
  const pod = ds.spec.template.spec;
  if (!pod.nodeSelector || !("node-role.kubernetes.io/edge" in pod.nodeSelector))
    problems.push("DaemonSet: no nodeSelector node-role.kubernetes.io/edge (KubeEdge schedules nothing without it)");
  if (!(pod.tolerations ?? []).some((t) => t.key === "node-role.kubernetes.io/edge"))
    problems.push("DaemonSet: no toleration for node-role.kubernetes.io/edge");
  const container = pod.containers.find((c) => c.name === "edgevision");
  if (!container) return [...problems, "DaemonSet: no edgevision container"];
  if (container.livenessProbe?.httpGet?.path !== "/health/live") problems.push("liveness probe is not GET /health/live");
  if (container.readinessProbe?.httpGet?.path !== "/health") problems.push("readiness probe is not GET /health");
  for (const kind of ["requests", "limits"]) {
    for (const r of ["cpu", "memory"]) if (!container.resources?.[kind]?.[r]) problems.push(`no resources.${kind}.${r}`);
  }
  const port = (container.ports ?? []).find((p) => p.containerPort === 80);
  if (!port || port.hostPort !== 80) problems.push("container port 80 is not on the node's port 80");
  const sysctl = (pod.securityContext?.sysctls ?? []).find((s) => s.name === "net.ipv4.ip_unprivileged_port_start");
  if (!sysctl || Number(sysctl.value) > 80) problems.push("port 80 as uid 10001 needs net.ipv4.ip_unprivileged_port_start <= 80");
  const dataMount = (container.volumeMounts ?? []).find((m) => m.mountPath === "/data");
  const dataVolume = dataMount && pod.volumes.find((v) => v.name === dataMount.name);
  if (!dataVolume || !(dataVolume.hostPath || dataVolume.persistentVolumeClaim)) problems.push("no hostPath or PVC on /data");
  const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value]));
  if (env.EDGEVISION_DATA_DIR !== "/data") problems.push("EDGEVISION_DATA_DIR is not /data");
  return problems;
}

const clone = (x) => structuredClone(x);

test("IoT Edge deployment manifest validates", () => {
  assert.deepEqual(checkIotEdge(renderTemplate()), []);
});

test("IoT Edge checks reject broken manifests", () => {
  const good = renderTemplate();
  const agent = (m) => m.modulesContent.$edgeAgent["properties.desired"];
  const broken = {
    "no $edgeHub": (m) => delete m.modulesContent.$edgeHub,
    "bad restartPolicy": (m) => (agent(m).modules.classifier.restartPolicy = "sometimes"),
    "env value not a string": (m) => (agent(m).modules.classifier.env.EDGEVISION_PORT.value = 80),
    "route without INTO": (m) => (m.modulesContent.$edgeHub["properties.desired"].routes.classifierToCloud = "FROM /messages/* $upstream"),
    "route from another output": (m) =>
      (m.modulesContent.$edgeHub["properties.desired"].routes.classifierToCloud =
        "FROM /messages/modules/classifier/outputs/results INTO $upstream"),
    "createOptions not JSON": (m) => (agent(m).modules.classifier.settings.createOptions = "{HostConfig:"),
    "createOptions typo": (m) =>
      (agent(m).modules.classifier.settings.createOptions = JSON.stringify({ HostConfig: { PortBinding: {} } })),
    "bind not absolute": (m) =>
      (agent(m).modules.classifier.settings.createOptions = JSON.stringify({ HostConfig: { Binds: ["data:/data"] } })),
    "createOptions over 512 characters": (m) =>
      (agent(m).modules.classifier.settings.createOptions = JSON.stringify({
        HostConfig: { Binds: Array.from({ length: 40 }, (_, i) => `/var/lib/edgevision${i}:/data${i}`) },
      })),
    "twin probability out of range": (m) => (m.modulesContent.classifier["properties.desired"].upstream.minProbability = 1.5),
    "twin typo": (m) => (m.modulesContent.classifier["properties.desired"].upstream.minProb = 0.5),
    "twin tags not strings": (m) => (m.modulesContent.classifier["properties.desired"].upstream.tags = [1, 2]),
    "twin for a missing module": (m) => (m.modulesContent.camera = { "properties.desired": {} }),
  };
  for (const [name, breakIt] of Object.entries(broken)) {
    const m = clone(good);
    breakIt(m);
    assert.notDeepEqual(checkIotEdge(m), [], `"${name}" was accepted`);
  }
});

test("Kubernetes manifests validate", () => {
  const files = kubernetesFiles();
  assert.ok(files.length > 0, "no manifests in deploy/kubernetes");
  for (const file of files) assert.deepEqual(checkKubernetes(loadDocs(file)), [], file);
});

test("Kubernetes checks reject broken manifests", () => {
  const good = loadDocs(path.join(repo, "deploy/kubernetes/edgevision.yaml"));
  const pod = (docs) => docs.find((d) => d.kind === "DaemonSet").spec.template.spec;
  const broken = {
    "port not an integer": (d) => (pod(d).containers[0].ports[0].containerPort = "eighty"),
    "no containers": (d) => delete pod(d).containers,
    "bad protocol": (d) => (pod(d).containers[0].ports[0].protocol = "HTTP"),
    "selector missing": (d) => delete d.find((x) => x.kind === "DaemonSet").spec.selector,
    "no edge node selector": (d) => delete pod(d).nodeSelector,
    "no memory limit": (d) => delete pod(d).containers[0].resources.limits.memory,
    "liveness on the wrong path": (d) => (pod(d).containers[0].livenessProbe.httpGet.path = "/"),
    "no /data volume": (d) => (pod(d).containers[0].volumeMounts = []),
  };
  for (const [name, breakIt] of Object.entries(broken)) {
    const docs = clone(good);
    breakIt(docs);
    assert.notDeepEqual(checkKubernetes(docs), [], `"${name}" was accepted`);
  }
});

// The variables the manifests set must be ones edgevision reads: the real
// binary's --print-config names each one as the source of a setting.
test("every EDGEVISION_* variable in the manifests is read by edgevision serve", {
  skip: !process.env.EDGEVISION_BINARY && skipUnlessRequired("EDGEVISION_BINARY is not set"),
}, () => {
  assert.ok(process.env.EDGEVISION_BINARY, "EDGEVISION_BINARY is not set");
  const manifest = renderTemplate();
  const fromIotEdge = Object.entries(manifest.modulesContent.$edgeAgent["properties.desired"].modules.classifier.env).map(
    ([k, v]) => [k, v.value],
  );
  const ds = loadDocs(path.join(repo, "deploy/kubernetes/edgevision.yaml")).find((d) => d.kind === "DaemonSet");
  const container = ds.spec.template.spec.containers.find((c) => c.name === "edgevision");
  const fromKubernetes = container.env.filter((e) => e.name !== "EDGEVISION_CONFIG").map((e) => [e.name, e.value]);
  const configMap = loadDocs(path.join(repo, "deploy/kubernetes/edgevision.yaml")).find((d) => d.kind === "ConfigMap");
  const dir = mkdtempSync(path.join(tmpdir(), "edgevision-manifests-"));
  try {
    const conf = path.join(dir, "edgevision.conf");
    writeFileSync(conf, configMap.data["edgevision.conf"]);
    for (const [origin, vars, extra] of [
      ["IoT Edge", fromIotEdge, { EDGEVISION_CONFIG: "none" }],
      ["Kubernetes", fromKubernetes, { EDGEVISION_CONFIG: conf }],
    ]) {
      const env = { PATH: process.env.PATH, ...Object.fromEntries(vars), ...extra };
      const out = execFileSync(process.env.EDGEVISION_BINARY, ["serve", "--print-config"], { env, encoding: "utf8" });
      for (const [name] of vars) {
        assert.match(out, new RegExp(`# environment ${name}(,|$)`, "m"), `${origin}: ${name} is not read by edgevision serve`);
      }
      if (origin === "Kubernetes") {
        // The ConfigMap's file is read too (the same keys serve has).
        assert.match(out, /^capture = "uncertain:0.8"  # config file /m, out);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
