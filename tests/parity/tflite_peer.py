#!/usr/bin/python3
"""Google's TFLite C runtime as an independent engine, through ctypes.

The runtime is libtensorflowlite_c.so 2.9 as prebuilt in the npm package
tfjs-tflite-node@0.0.2 (cc_deps/linux_amd64 or linux_arm64). Install it
with `npm install --ignore-scripts` in tests/parity/tflite (package.json and
package-lock.json are committed; nothing is built). Set
EDGEVISION_TFLITE_C to use another copy of the library.

Usage (Debian's /usr/bin/python3 with python3-numpy):
    tflite_peer.py MODEL.tflite TENSOR.npy [--threads 1]
prints the output vector as JSON. As a module: `TfliteInterpreter(path)`
then `.run(tensor)` (HxWx3 or 1xHxWx3 float32) -> 1-D float32 array; or
`TfliteInterpreter(path, any_output=True)` then `.run_named(tensor)` ->
{output name: array of its type and shape} (float32, int32 or int64
outputs, any number, shapes as the runtime resized them: S1 detectors).

Exit code 77 when the library is absent (CTest's "skipped").
"""

import argparse
import ctypes
import json
import os
import platform
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SKIP = 77
# TfLiteType values from tensorflow/lite/c/c_api_types.h.
K_TFLITE_FLOAT32 = 1
K_TFLITE_INT32 = 2
K_TFLITE_INT64 = 4
NUMPY_TYPES = {K_TFLITE_FLOAT32: np.float32, K_TFLITE_INT32: np.int32, K_TFLITE_INT64: np.int64}


def library_path():
    env = os.environ.get("EDGEVISION_TFLITE_C")
    if env:
        return env
    arch = {"x86_64": "linux_amd64", "aarch64": "linux_arm64"}.get(platform.machine(), "")
    return os.path.join(HERE, "tflite", "node_modules", "tfjs-tflite-node", "cc_deps", arch,
                        "libtensorflowlite_c.so")


class TfliteInterpreter:
    """One model, one interpreter, float32 input and (unless any_output) one float32 output."""

    def __init__(self, model_path, threads=1, any_output=False):
        lib = ctypes.CDLL(library_path())
        vp = ctypes.c_void_p
        lib.TfLiteModelCreateFromFile.restype = vp
        lib.TfLiteModelCreateFromFile.argtypes = [ctypes.c_char_p]
        lib.TfLiteInterpreterOptionsCreate.restype = vp
        lib.TfLiteInterpreterOptionsSetNumThreads.argtypes = [vp, ctypes.c_int32]
        lib.TfLiteInterpreterCreate.restype = vp
        lib.TfLiteInterpreterCreate.argtypes = [vp, vp]
        lib.TfLiteInterpreterAllocateTensors.argtypes = [vp]
        lib.TfLiteInterpreterGetInputTensor.restype = vp
        lib.TfLiteInterpreterGetInputTensor.argtypes = [vp, ctypes.c_int32]
        lib.TfLiteInterpreterGetOutputTensor.restype = vp
        lib.TfLiteInterpreterGetOutputTensor.argtypes = [vp, ctypes.c_int32]
        lib.TfLiteInterpreterInvoke.argtypes = [vp]
        lib.TfLiteTensorType.argtypes = [vp]
        lib.TfLiteTensorByteSize.restype = ctypes.c_size_t
        lib.TfLiteTensorByteSize.argtypes = [vp]
        lib.TfLiteTensorCopyFromBuffer.argtypes = [vp, vp, ctypes.c_size_t]
        lib.TfLiteTensorCopyToBuffer.argtypes = [vp, vp, ctypes.c_size_t]
        lib.TfLiteInterpreterGetOutputTensorCount.restype = ctypes.c_int32
        lib.TfLiteInterpreterGetOutputTensorCount.argtypes = [vp]
        lib.TfLiteTensorName.restype = ctypes.c_char_p
        lib.TfLiteTensorName.argtypes = [vp]
        lib.TfLiteTensorNumDims.restype = ctypes.c_int32
        lib.TfLiteTensorNumDims.argtypes = [vp]
        lib.TfLiteTensorDim.restype = ctypes.c_int32
        lib.TfLiteTensorDim.argtypes = [vp, ctypes.c_int32]
        lib.TfLiteInterpreterDelete.argtypes = [vp]
        lib.TfLiteInterpreterOptionsDelete.argtypes = [vp]
        lib.TfLiteModelDelete.argtypes = [vp]
        self._lib = lib
        self._model = lib.TfLiteModelCreateFromFile(model_path.encode())
        if not self._model:
            raise RuntimeError("TfLiteModelCreateFromFile failed on " + model_path)
        self._options = lib.TfLiteInterpreterOptionsCreate()
        lib.TfLiteInterpreterOptionsSetNumThreads(self._options, threads)
        self._interp = lib.TfLiteInterpreterCreate(self._model, self._options)
        if not self._interp:
            raise RuntimeError("TfLiteInterpreterCreate failed")
        if lib.TfLiteInterpreterAllocateTensors(self._interp) != 0:
            raise RuntimeError("TfLiteInterpreterAllocateTensors failed")
        self._in = lib.TfLiteInterpreterGetInputTensor(self._interp, 0)
        self._out = lib.TfLiteInterpreterGetOutputTensor(self._interp, 0)
        for t in (self._in,) if any_output else (self._in, self._out):
            if lib.TfLiteTensorType(t) != K_TFLITE_FLOAT32:
                raise RuntimeError("only float32 input and output are supported")

    def resize_input(self, shape):
        """Resizes the input to `shape` and re-allocates (TfLiteInterpreterResizeInputTensor)."""
        lib = self._lib
        lib.TfLiteInterpreterResizeInputTensor.argtypes = [ctypes.c_void_p, ctypes.c_int32,
                                                          ctypes.POINTER(ctypes.c_int), ctypes.c_int32]
        dims = (ctypes.c_int * len(shape))(*shape)
        if lib.TfLiteInterpreterResizeInputTensor(self._interp, 0, dims, len(shape)) != 0:
            raise RuntimeError("TfLiteInterpreterResizeInputTensor failed")
        if lib.TfLiteInterpreterAllocateTensors(self._interp) != 0:
            raise RuntimeError("TfLiteInterpreterAllocateTensors failed")
        self._in = lib.TfLiteInterpreterGetInputTensor(self._interp, 0)
        self._out = lib.TfLiteInterpreterGetOutputTensor(self._interp, 0)

    def input_shape(self):
        return [self._lib.TfLiteTensorDim(self._in, d) for d in range(self._lib.TfLiteTensorNumDims(self._in))]

    def run_named(self, tensor):
        """Runs the model; returns {output name: numpy array} in the subgraph's output order."""
        lib = self._lib
        self._invoke(tensor)
        outputs = {}
        for k in range(lib.TfLiteInterpreterGetOutputTensorCount(self._interp)):
            t = lib.TfLiteInterpreterGetOutputTensor(self._interp, k)
            dtype = NUMPY_TYPES.get(lib.TfLiteTensorType(t))
            if dtype is None:
                raise RuntimeError("output %d has TfLiteType %d" % (k, lib.TfLiteTensorType(t)))
            shape = [lib.TfLiteTensorDim(t, d) for d in range(lib.TfLiteTensorNumDims(t))]
            out = np.zeros(shape, dtype)
            if out.nbytes != lib.TfLiteTensorByteSize(t):
                raise RuntimeError("output %d: %d bytes for shape %s" % (k, lib.TfLiteTensorByteSize(t), shape))
            if out.nbytes and lib.TfLiteTensorCopyToBuffer(t, out.ctypes.data, out.nbytes) != 0:
                raise RuntimeError("TfLiteTensorCopyToBuffer failed")
            outputs[lib.TfLiteTensorName(t).decode()] = out
        return outputs

    def _invoke(self, tensor):
        lib = self._lib
        x = np.ascontiguousarray(tensor, dtype=np.float32)
        if x.nbytes != lib.TfLiteTensorByteSize(self._in):
            raise ValueError("tensor has %d bytes, the model takes %d" %
                             (x.nbytes, lib.TfLiteTensorByteSize(self._in)))
        if lib.TfLiteTensorCopyFromBuffer(self._in, x.ctypes.data, x.nbytes) != 0:
            raise RuntimeError("TfLiteTensorCopyFromBuffer failed")
        if lib.TfLiteInterpreterInvoke(self._interp) != 0:
            raise RuntimeError("TfLiteInterpreterInvoke failed")

    def run(self, tensor):
        lib = self._lib
        self._invoke(tensor)
        out = np.zeros(lib.TfLiteTensorByteSize(self._out) // 4, np.float32)
        if lib.TfLiteTensorCopyToBuffer(self._out, out.ctypes.data, out.nbytes) != 0:
            raise RuntimeError("TfLiteTensorCopyToBuffer failed")
        return out

    def __del__(self):
        lib = getattr(self, "_lib", None)
        if lib is None:
            return
        if getattr(self, "_interp", None):
            lib.TfLiteInterpreterDelete(self._interp)
        if getattr(self, "_options", None):
            lib.TfLiteInterpreterOptionsDelete(self._options)
        if getattr(self, "_model", None):
            lib.TfLiteModelDelete(self._model)


def available():
    return os.path.isfile(library_path())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("tensor")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if not available():
        print("TFLite C runtime not found at %s: skipping" % library_path(), file=sys.stderr)
        return SKIP
    out = TfliteInterpreter(args.model, args.threads).run(np.load(args.tensor))
    print(json.dumps([float(v) for v in out]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
