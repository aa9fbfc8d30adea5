// ONNX Runtime (onnxruntime-node) engine timer: the peer of `edgevision bench`.
//
//   node ort_bench.js --model FILE.onnx [--threads N] [--runs N] [--warmup N] [--profile PREFIX]
//
// --profile PREFIX: ORT's own per-node profile (enableProfiling) of the
// warm-up and timed runs, written to PREFIX_<date>.json when the process
// ends (to set next to `edgevision bench --per-op`).
//
// Same protocol as `edgevision bench`: batch 1, a fixed seeded pseudo-random
// input, warm-up runs first, then `runs` timed calls of session.run(); prints
// one JSON line with median_ms / p90_ms / min_ms / max_ms / mean_ms.
// Session options: intraOpNumThreads = N, interOpNumThreads = 1, sequential
// execution, all graph optimisations (ORT's default level for a fair peer).
'use strict';
const ort = require('onnxruntime-node');

function arg(name, def) {
  const i = process.argv.indexOf('--' + name);
  return i > 0 ? process.argv[i + 1] : def;
}

function percentile(v, p) {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.round(p * (s.length - 1)))];
}

async function main() {
  const model = arg('model');
  const threads = Number(arg('threads', 1));
  const runs = Number(arg('runs', 200));
  const warmup = Number(arg('warmup', 20));
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    executionProviders: ['cpu'],
    ...(arg('profile') ? { enableProfiling: true, profileFilePrefix: arg('profile') } : {}),
  });
  const inputName = session.inputNames[0];
  const meta = session.inputMetadata ? session.inputMetadata[0] : null;
  let dims = meta && meta.shape ? meta.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1)) : null;
  if (!dims) dims = [1, 3, Number(arg('size', 224)), Number(arg('size', 224))];
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let seed = 1234;  // xorshift32: the same tensor every run
  for (let i = 0; i < n; ++i) {
    seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0;
    data[i] = (seed / 4294967296) * Number(arg('range', 1));
  }
  const feeds = { [inputName]: new ort.Tensor('float32', data, dims) };
  for (let i = 0; i < warmup; ++i) await session.run(feeds);
  const ms = [];
  for (let i = 0; i < runs; ++i) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  // ORT writes the profile when profiling ends, not when the process exits.
  if (arg('profile') && session.endProfiling) await session.endProfiling();
  const mean = ms.reduce((a, b) => a + b, 0) / ms.length;
  console.log(JSON.stringify({
    engine: 'onnxruntime-node', version: ort.env.versions ? ort.env.versions.node || null : null,
    model, threads, runs, warmup, input: dims,
    median_ms: percentile(ms, 0.5), p90_ms: percentile(ms, 0.9),
    min_ms: Math.min(...ms), max_ms: Math.max(...ms), mean_ms: mean,
  }));
}

main().catch((e) => { console.error('ort_bench: ' + (e && e.message ? e.message : e)); process.exit(1); });
