// The Node twin of tests/test_support.h, for the browser, manifest and SDK tests.
//
// EDGEVISION_REQUIRE_ALL=1 (CI sets it through .ci/run): a component a test
// needs must be there; its absence fails the test instead of skipping it.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const requireAll = process.env.EDGEVISION_REQUIRE_ALL === "1";

// A component the test needs is missing: exit 77 (CTest's "skipped"), or 1
// under EDGEVISION_REQUIRE_ALL=1.
export function skipOrFail(reason) {
  if (requireAll) {
    console.log("FAIL: a required component is missing (EDGEVISION_REQUIRE_ALL=1): " + reason);
    process.exit(1);
  }
  console.log("SKIP: " + reason);
  process.exit(77);
}

// For node:test's { skip }: the reason when the test may be skipped, false
// (run it, and let it fail) under EDGEVISION_REQUIRE_ALL=1.
export function skipUnlessRequired(reason) {
  return requireAll ? false : reason;
}

// `edgevision serve --host 127.0.0.1 --port 0 ARGS...` (the binary at
// `binary`); resolves with {server, base, log()} once /health answers 200
// (the server answers 503 until the model is ready).
export async function startServe(binary, args) {
  const server = spawn(binary, ["serve", "--host", "127.0.0.1", "--port", "0", ...args],
    { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  const port = await new Promise((resolve, reject) => {
    server.stderr.on("data", (d) => {
      log += String(d);
      const m = /listening on 127\.0\.0\.1:(\d+) /.exec(log);
      if (m) resolve(Number(m[1]));
    });
    server.on("exit", (code) => reject(new Error("edgevision exited (" + code + "):\n" + log)));
  });
  const base = "http://127.0.0.1:" + port;
  for (;;) {
    const res = await fetch(base + "/health").catch(() => null);
    if (res && res.status === 200) break;
    if (server.exitCode !== null) throw new Error("edgevision exited:\n" + log);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { server, base, log: () => log };
}

// tests/test_support.h MakeSyntheticDetectorExport, in JavaScript: the
// synthetic compact detector (tests/data/synthetic/yolo_compact_fruit.onnx)
// as an ONNX export folder in a new temporary directory; returns its path.
export function makeDetectorExport() {
  const data = path.join(path.dirname(fileURLToPath(import.meta.url)), "data");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "evsdk-detector-"));
  fs.copyFileSync(path.join(data, "synthetic", "yolo_compact_fruit.onnx"), path.join(dir, "model.onnx"));
  for (const f of ["cvexport.manifest", "metadata_properties.json"]) {
    fs.copyFileSync(path.join(data, "detection", "exports", "onnx-yolo-2024", f), path.join(dir, f));
  }
  fs.writeFileSync(path.join(dir, "labels.txt"), "apple\nbanana\n");
  return dir;
}
