// ONNX Runtime (npm onnxruntime-node) as a stand-in runtime for the shipped
// reference code: runs one model on one float32 input and prints its outputs.
//
//   node tests/parity/ort_run.js MODEL.onnx INPUT.f32 D0,D1,D2,D3 [float16]
//
// INPUT.f32: the input tensor, raw little-endian float32, row-major in the
// given dims (with `float16`: raw IEEE half bits, fed as a float16 tensor).
// Prints one JSON object: {output name: {type, dims, data}} with float data
// as numbers (exact float32 values widened to double), float16 data as the
// half's 16-bit pattern (an integer) and int64 data as decimal strings. Used
// by tests/data/synthetic/make_s1_onnx.py and make_float16_detectors.py;
// onnxruntime-node is found through NODE_PATH (bench/node's node_modules).
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [model, inputPath, dimsText, inputType] = process.argv.slice(2);
  const dims = dimsText.split(',').map(Number);
  const buf = fs.readFileSync(inputPath);
  const half = inputType === 'float16';
  const data = half ? new Uint16Array(buf.buffer, buf.byteOffset, buf.length / 2)
                    : new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: 1, interOpNumThreads: 1, executionProviders: ['cpu'],
  });
  const feeds = {[session.inputNames[0]]: half ? new ort.Tensor('float16', Uint16Array.from(data), dims)
                                           : new ort.Tensor('float32', Float32Array.from(data), dims)};
  const results = await session.run(feeds);
  const out = {};
  for (const name of session.outputNames) {
    const t = results[name];
    const values = Array.from(t.data, (v) => (typeof v === 'bigint' ? v.toString() : v));
    out[name] = {type: t.type, dims: t.dims.map(Number), data: values};
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
