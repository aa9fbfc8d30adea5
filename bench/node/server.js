// The Node.js peer server for bench/run.sh: the same work as `edgevision
// serve` and the exported container for POST /image — decode the JPEG,
// predict.py's preprocessing, ONNX Runtime inference, the container's JSON.
//
//   node server.js --model FILE.onnx --labels labels.txt --port P [--threads N]
//                  [--order bgr|rgb] [--size 227]
//
// Decoding: jpeg-js (pure JavaScript; a Node service without native image
// libraries would use it). Its IDCT is not libjpeg's ISLOW, so pixels may
// differ from PIL's by a few levels; EXIF orientation is not applied (the
// benchmark images carry none). Preprocessing is predict.py's, in float64 like
// numpy: centre square + bilinear resize to 256 (extract_and_resize), centre
// crop to the model size, BGR order, 0..255, then NCHW for ONNX Runtime.
// Images with a side >= 1600 are downscaled to 1600 bilinearly (not Pillow's
// resampler); the 1600x1200 benchmark image is already 1600 wide, which
// predict.py also leaves unchanged.
// One InferenceSession (intraOpNumThreads = --threads, inter-op 1,
// sequential); requests are served by Node's single event loop.
'use strict';
const http = require('http');
const fs = require('fs');
const crypto = require('crypto');
const jpeg = require('jpeg-js');
const ort = require('onnxruntime-node');

function arg(name, def) {
  const i = process.argv.indexOf('--' + name);
  return i > 0 ? process.argv[i + 1] : def;
}

const MAX_BODY = 4 * 1024 * 1024;  // the container's MAX_CONTENT_LENGTH

function tap(i, ratio, origin, size) {
  let d = (i + 0.5) * ratio - 0.5;
  let i0 = Math.trunc(d);
  d -= i0;
  i0 += origin;
  if (i0 < 0) return [0, 0, 0.0];
  if (i0 >= size - 1) return [size - 1, size - 1, 0.0];
  return [i0, i0 + 1, d];
}

function downscale(img, maxDim) {
  const { width: w, height: h, data } = img;
  if (w < maxDim && h < maxDim) return img;
  const nw = h > w ? Math.floor((maxDim * w) / h) : maxDim;
  const nh = h > w ? maxDim : Math.floor((maxDim * h) / w);
  if (nw === w && nh === h) return img;
  const out = Buffer.alloc(nw * nh * 4);
  for (let y = 0; y < nh; ++y) {
    const sy = Math.min(h - 1, Math.floor(((y + 0.5) * h) / nh));
    for (let x = 0; x < nw; ++x) {
      const sx = Math.min(w - 1, Math.floor(((x + 0.5) * w) / nw));
      data.copy(out, (y * nw + x) * 4, (sy * w + sx) * 4, (sy * w + sx) * 4 + 4);
    }
  }
  return { width: nw, height: nh, data: out };
}

// predict.py's extract_and_resize(img, (256, 256)) + crop_center(size) +
// RGB->BGR, written straight into an NCHW float tensor.
function preprocess(img, size, bgr) {
  const { width: w, height: h, data } = img;  // RGBA from jpeg-js
  const T = 256;
  const det = w * T - h * T;
  let ratio, xo = 0, yo = 0;
  if (det < 0) { ratio = w / T; yo = Math.trunc(0.5 * (h - ratio * T)); }
  else if (det > 0) { ratio = h / T; xo = Math.trunc(0.5 * (w - ratio * T)); }
  else { ratio = h / T; }
  const start = Math.max(0, T / 2 - Math.floor(size / 2));
  const out = new Float32Array(3 * size * size);
  const plane = size * size;
  const cols = [];
  for (let x = 0; x < size; ++x) cols.push(tap(start + x, ratio, xo, w));
  const order = bgr ? [2, 1, 0] : [0, 1, 2];
  for (let y = 0; y < size; ++y) {
    const [y0, y1, yd] = tap(start + y, ratio, yo, h);
    const r0 = y0 * w * 4, r1 = y1 * w * 4;
    for (let x = 0; x < size; ++x) {
      const [x0, x1, xd] = cols[x];
      for (let c = 0; c < 3; ++c) {
        const s = order[c];
        const bl = data[r0 + x0 * 4 + s], br = data[r0 + x1 * 4 + s];
        const tl = data[r1 + x0 * 4 + s], tr = data[r1 + x1 * 4 + s];
        const b = xd * br + (1 - xd) * bl;
        const t = xd * tr + (1 - xd) * tl;
        out[c * plane + y * size + x] = yd * t + (1 - yd) * b;
      }
    }
  }
  return out;
}

function round8(p) {  // numpy's float32 round to 8 decimals, widened
  return Math.fround(Math.round(Math.fround(p * 1e8)) / 1e8);
}

function created() {
  return new Date().toISOString().replace('Z', '').padEnd(26, '0');
}

async function main() {
  const size = Number(arg('size', 227));
  const bgr = arg('order', 'bgr') === 'bgr';
  const labels = fs.readFileSync(arg('labels'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l);
  const session = await ort.InferenceSession.create(arg('model'), {
    intraOpNumThreads: Number(arg('threads', 1)),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const inputName = session.inputNames[0];
  const outputName = session.outputNames[0];

  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/') {
      res.end('CustomVision.ai model host harness');
      return;
    }
    if (req.method !== 'POST' || req.url !== '/image') {
      res.writeHead(404).end();
      return;
    }
    const chunks = [];
    let length = 0;
    req.on('data', (c) => {
      length += c.length;
      if (length > MAX_BODY) { res.writeHead(413).end(); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', async () => {
      try {
        const body = Buffer.concat(chunks);
        const img = downscale(jpeg.decode(body, { useTArray: false, formatAsRGBA: true, maxMemoryUsageInMB: 512 }), 1600);
        const input = new ort.Tensor('float32', preprocess(img, size, bgr), [1, 3, size, size]);
        const out = await session.run({ [inputName]: input });
        const scores = out[outputName].data;
        const predictions = [];
        for (let i = 0; i < scores.length; ++i) {
          const p = round8(scores[i]);
          if (p > 1e-8) predictions.push({ boundingBox: null, probability: p, tagId: '', tagName: labels[i] });
        }
        predictions.sort((a, b) => b.probability - a.probability);
        const doc = JSON.stringify({ created: created(), id: crypto.randomUUID(), iteration: '', predictions, project: '' });
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(doc) });
        res.end(doc);
      } catch (e) {
        res.writeHead(500).end('Error processing image');
      }
    });
  });
  server.keepAliveTimeout = 60000;
  server.listen(Number(arg('port', 8081)), '127.0.0.1');
}

main().catch((e) => { console.error('server: ' + e.message); process.exit(1); });
