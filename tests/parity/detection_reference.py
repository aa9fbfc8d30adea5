#!/usr/bin/python3
"""Runs the object-detection code Custom Vision ships, for real, on raw model outputs.

Imported by make_detection_golden.py. Debian's Python only (/usr/bin/python3
with python3-numpy, python3-pil, python3-flask, python3-opencv).

The reference code (third-party, never copied into this repository) is read
from $EDGEVISION_OD_REFERENCE_DIR, else <repo>/../shared/cv-exports/od-reference
(see its SOURCE.md). What runs, unmodified:

  compact (YOLO) family, fed a raw grid tensor:
    docker-yolo-2022   app.py (Flask test client, POST /image) -> predict.py
                       -> object_detection.py (the 2022 Dockerfile container)
    onnx-yolo-2024     onnxruntime_predict.ONNXRuntimeObjectDetection.predict_image
                       -> object_detection.py (fed CHW, as ONNX Runtime returns it)
    tflite-yolo-2023   predict.TFLiteObjectDetection.predict_image
                       -> object_detection.py (fed a raw grid, or with
                       tflite_predict_image an engine run on the input it built)
  S1 (SSD) family, fed detected_boxes / detected_scores / detected_classes
  (fixed ones, or computed by an engine from the input predict.py built):
    docker-s1-pb-2023      app.py (Flask) -> predict.py (TensorFlow model.pb)
    docker-s1-tflite-2024  app.py (Flask) -> predict.py (tflite-runtime model.tflite)

Only the inference runtimes are replaced (tensorflow, tflite_runtime,
onnxruntime, onnx, and mscviplib, the native preprocessing library of the
2022 container): each stub returns the raw tensors given to it, whatever
image it is fed. Two shims, both outside the reference's post-processing:
numpy 1.24 no longer has `np.float` (the 2022 predict.py uses it; the
container pinned an older numpy), so it is aliased to `float`; and the
model/labels files are written to a temporary working directory.
"""

import contextlib
import importlib
import io
import json
import os
import sys
import tempfile
import types

import numpy as np
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SKIP = 77


def reference_dir():
    env = os.environ.get("EDGEVISION_OD_REFERENCE_DIR")
    if env:
        return env
    return os.path.join(REPO, "..", "shared", "cv-exports", "od-reference")


def available():
    return os.path.isfile(os.path.join(reference_dir(), "docker-yolo-2022", "app", "object_detection.py"))


class Feed:
    """What the stubbed runtimes return: set before each prediction."""
    grid_hwc = None  # YOLO raw output, (H, W, C) float32
    ssd = None       # (boxes [N,4] float32, scores [N] float32, classes [N] int64)
    # When set, the S1 stubs compute Feed.ssd from the input the reference
    # built: ssd_engine(nhwc [1, H, W, 3] float32) -> (boxes, scores, classes).
    ssd_engine = None
    ssd_inputs = []  # every input the S1 stubs were given


# --- runtime stubs -----------------------------------------------------------------------------

class _Ctx:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _fake_tensorflow():
    class TensorShape:
        def __init__(self, dims):
            self.dims = dims

        def as_list(self):
            return list(self.dims)

    class Tensor:
        def __init__(self, name):
            self.name = name
            self.shape = TensorShape([None, 320, 320, 3])

    class Graph(_Ctx):
        def as_default(self):
            return self

        def get_tensor_by_name(self, name):
            return Tensor(name)

    class Session(_Ctx):
        def __init__(self, graph=None, **kwargs):
            self.graph = graph or Graph()

        def run(self, fetches, feed_dict):
            if isinstance(fetches, list):  # S1: ['detected_boxes:0', 'detected_scores:0', 'detected_classes:0']
                if Feed.ssd_engine is not None:
                    Feed.ssd_inputs.append(feed_dict["image_tensor:0"])
                    Feed.ssd = Feed.ssd_engine(feed_dict["image_tensor:0"])
                by_name = dict(zip(["detected_boxes:0", "detected_scores:0", "detected_classes:0"], Feed.ssd))
                return [by_name[t.name] for t in fetches]
            assert fetches.name == "model_outputs:0", fetches.name
            return Feed.grid_hwc[np.newaxis, ...]

    class GraphDef:
        def ParseFromString(self, data):
            pass

    class Interpreter:  # tf.lite.Interpreter, compact family: one input, one output
        def __init__(self, model_path=None, **kwargs):
            pass

        def allocate_tensors(self):
            pass

        def get_input_details(self):
            return [{"index": 0}]

        def get_output_details(self):
            return [{"index": 1}]

        def resize_tensor_input(self, index, shape):
            pass

        def set_tensor(self, index, value):
            pass

        def invoke(self):
            pass

        def get_tensor(self, index):
            return Feed.grid_hwc[np.newaxis, ...]

    tf = types.ModuleType("tensorflow")
    v1 = types.SimpleNamespace(GraphDef=GraphDef, Session=Session, Graph=Graph,
                               placeholder=lambda *a, **k: None)
    tf.compat = types.SimpleNamespace(v1=v1)
    tf.Graph = Graph
    tf.float32 = np.float32
    tf.import_graph_def = lambda *args, **kwargs: None
    tf.lite = types.SimpleNamespace(Interpreter=Interpreter)
    return tf


def _fake_tflite_runtime():
    names = ["detected_boxes", "detected_scores", "detected_classes"]

    class Interpreter:
        def __init__(self, model_path=None, **kwargs):
            pass

        def allocate_tensors(self):
            pass

        def get_input_details(self):
            return [{"index": 0, "shape": np.array([1, 320, 320, 3], np.int32)}]

        def get_output_details(self):  # deliberately not in the order predict.py asks for them
            return [{"name": names[i], "index": 10 + i} for i in (2, 0, 1)]

        def set_tensor(self, index, value):
            assert value.shape == (1, 320, 320, 3), value.shape
            self.value = value

        def invoke(self):
            if Feed.ssd_engine is not None:
                Feed.ssd_inputs.append(self.value)
                Feed.ssd = Feed.ssd_engine(self.value)

        def get_tensor(self, index):
            return Feed.ssd[index - 10]

    pkg = types.ModuleType("tflite_runtime")
    mod = types.ModuleType("tflite_runtime.interpreter")
    mod.Interpreter = Interpreter
    pkg.interpreter = mod
    return {"tflite_runtime": pkg, "tflite_runtime.interpreter": mod}


def _fake_onnx_modules(run=None, input_type="tensor(float)"):
    """onnxruntime and onnx stand-ins. InferenceSession.run returns `run(nchw_input)`, by default
    Feed.grid_hwc as ONNX Runtime would return it ([1, C, H, W], model_outputs0). The session's
    input has `input_type` ("tensor(float16)" for a float16 model)."""
    def default_run(nchw_input):
        return np.ascontiguousarray(Feed.grid_hwc.transpose((2, 0, 1)))[np.newaxis, ...]

    class InferenceSession:
        def __init__(self, path, *args, **kwargs):
            pass

        def get_inputs(self):
            return [types.SimpleNamespace(name="data", type=input_type)]

        def run(self, output_names, feed):
            assert list(feed) == ["data"]
            return [(run or default_run)(feed["data"])]

    ort = types.ModuleType("onnxruntime")
    ort.InferenceSession = InferenceSession

    def load(path):
        dims = [types.SimpleNamespace(dim_param="") for _ in range(4)]
        shape = types.SimpleNamespace(dim=dims)
        inp = types.SimpleNamespace(type=types.SimpleNamespace(tensor_type=types.SimpleNamespace(shape=shape)))
        return types.SimpleNamespace(graph=types.SimpleNamespace(input=[inp]))

    onnx = types.ModuleType("onnx")
    onnx.load = load
    onnx.save = lambda model, path: None
    return {"onnxruntime": ort, "onnx": onnx}


def _fake_mscviplib():
    m = types.ModuleType("mscviplib")
    m.GetImageMetadata = lambda image: None
    m.ResizeAndCropMethod = types.SimpleNamespace(FixedPixelCountNoCropAlign32px=1)
    m.InterpolationType = types.SimpleNamespace(Bilinear=1)
    m.ColorSpace = types.SimpleNamespace(RGB=1)
    # CHW float image; its content is irrelevant: the stubbed model ignores it.
    m.PreprocessForInferenceAsTensor = lambda *args: np.zeros((3, 32, 32), np.float32)
    return m


# --- loading the reference modules -------------------------------------------------------------

_SHADOWED = ["app", "predict", "object_detection", "onnxruntime_predict"]


def _fresh_import(folder, name, stubs):
    """Imports `name` from `folder`, with `stubs` in sys.modules and no stale sibling modules."""
    for m in _SHADOWED:
        sys.modules.pop(m, None)
    sys.modules.update(stubs)
    sys.path.insert(0, folder)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return importlib.import_module(name)
    finally:
        sys.path.remove(folder)


@contextlib.contextmanager
def _workdir(labels):
    """A temporary cwd with labels.txt and empty model files, as the containers expect."""
    old = os.getcwd()
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "labels.txt"), "w") as f:
            f.write("\n".join(labels) + "\n")
        for name in ("model.pb", "model.tflite", "model.onnx"):
            open(os.path.join(d, name), "wb").close()
        os.chdir(d)
        try:
            yield d
        finally:
            os.chdir(old)


def _png(width, height):
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (90, 120, 150)).save(buf, format="PNG")
    return buf.getvalue()


def _flask_post(app_module, image_bytes):
    client = app_module.app.test_client()
    with contextlib.redirect_stdout(io.StringIO()):
        resp = client.post("/image", data=image_bytes, content_type="application/octet-stream")
    assert resp.status_code == 200, (resp.status_code, resp.data[:200])
    return resp.data.decode("utf-8")


def _unrounded(module):
    """Makes `round` in `module` an identity (the reference then returns its unrounded values)."""
    module.round = lambda value, ndigits=None: value


def _restore_round(module):
    if "round" in vars(module):
        del module.round


# --- the compact (YOLO) family -----------------------------------------------------------------

# How each compact reference's numpy sums the softmax (detect::SumOrder): the
# HWC arrays of TensorFlow/TFLite reduce over a contiguous axis (pairwise
# summation); onnxruntime_predict.py's transposed CHW view adds left to right.
SUM_ORDER = {
    "docker-yolo-2022/app/app.py": "pairwise",
    "tflite-yolo-2023/predict.py": "pairwise",
    "onnx-yolo-2024/onnxruntime_predict.py": "sequential",
}

def _configure(model, params):
    """Sets the reference's own knobs on an ObjectDetection instance (None: the shipped defaults)."""
    if params:
        model.prob_threshold = params["probability_threshold"]
        model.max_detections = params["max_detections"]
        model.IOU_THRESHOLD = params["iou_threshold"]
        model.ANCHORS = np.array(params["anchors"])
    return model


def yolo_references(grid_hwc, labels, image_size, params=None):
    """Runs every compact-family reference on one raw grid tensor.

    `params` (optional) overrides what ObjectDetection reads from itself:
    prob_threshold, max_detections, IOU_THRESHOLD and ANCHORS.

    Returns (results, unrounded, container_body):
      results: {reference name: predictions list (the JSON's 'predictions')}
      unrounded: tflite-yolo-2023's predictions with Python's round() disabled
      container_body: the 2022 Docker container's HTTP response body (Flask)
    The ONNX reference sums the softmax in another order than the HWC ones
    (see SUM_ORDER), so its probabilities may differ from theirs in the last
    float32 bit.
    """
    ref = reference_dir()
    Feed.grid_hwc = np.ascontiguousarray(grid_hwc, dtype=np.float32)
    image = Image.new("RGB", image_size, (90, 120, 150))
    results = {}
    np.float = float  # numpy >= 1.24 removed the alias the 2022 predict.py uses
    tf = _fake_tensorflow()

    with _workdir(labels):
        folder = os.path.join(ref, "docker-yolo-2022", "app")
        app = _fresh_import(folder, "app", {"tensorflow": tf, "mscviplib": _fake_mscviplib()})
        with contextlib.redirect_stdout(io.StringIO()):
            sys.modules["predict"].initialize()
        _configure(sys.modules["predict"].od_model, params)
        body = _flask_post(app, _png(*image_size))
        results["docker-yolo-2022/app/app.py"] = json.loads(body)["predictions"]

        folder = os.path.join(ref, "onnx-yolo-2024")
        ort = _fresh_import(folder, "onnxruntime_predict", _fake_onnx_modules())
        model = _configure(ort.ONNXRuntimeObjectDetection("model.onnx", labels), params)
        results["onnx-yolo-2024/onnxruntime_predict.py"] = model.predict_image(image)

        folder = os.path.join(ref, "tflite-yolo-2023")
        pred = _fresh_import(folder, "predict", {"tensorflow": tf})
        model = _configure(pred.TFLiteObjectDetection("model.tflite", labels), params)
        results["tflite-yolo-2023/predict.py"] = model.predict_image(image)
        od_module = sys.modules["object_detection"]
        _unrounded(od_module)
        unrounded = model.predict_image(image)
        _restore_round(od_module)

    return results, unrounded, body


# --- the S1 (SSD) family -----------------------------------------------------------------------

def ssd_references(boxes, scores, classes, labels, image_size):
    """Runs both S1 containers on one set of detected_* outputs. Returns as yolo_references."""
    ref = reference_dir()
    Feed.ssd = (np.asarray(boxes, np.float32), np.asarray(scores, np.float32), np.asarray(classes, np.int64))
    results = {}
    bodies = {}
    unrounded = None
    with _workdir(labels):
        for name, folder, stubs in [
            ("docker-s1-pb-2023/CCShieldV01/app/app.py", os.path.join(ref, "docker-s1-pb-2023", "CCShieldV01", "app"),
             {"tensorflow": _fake_tensorflow()}),
            ("docker-s1-tflite-2024/app/app.py", os.path.join(ref, "docker-s1-tflite-2024", "app"),
             _fake_tflite_runtime()),
        ]:
            app = _fresh_import(folder, "app", stubs)
            with contextlib.redirect_stdout(io.StringIO()):
                sys.modules["predict"].initialize()
            bodies[name] = _flask_post(app, _png(*image_size))
            results[name] = json.loads(bodies[name])["predictions"]
            if unrounded is None:
                _unrounded(sys.modules["predict"])
                with contextlib.redirect_stdout(io.StringIO()):
                    unrounded = sys.modules["predict"].predict_image(Image.new("RGB", image_size))["predictions"]
                _restore_round(sys.modules["predict"])
    return results, unrounded, bodies["docker-s1-tflite-2024/app/app.py"]


def ssd_photo_references(photo_bytes, labels, engine):
    """Both S1 containers answering POST /image with `photo_bytes` (Flask test client), their runtime
    replaced by `engine(nhwc [1, 320, 320, 3] float32) -> (boxes [N, 4], scores [N], classes [N])`,
    the outputs as TensorFlow and TFLite give them (no batch dimension).

    Returns (results {reference: predictions}, the 2024 container's body, the inputs each built)."""
    ref = reference_dir()
    results, bodies = {}, {}
    Feed.ssd_engine = engine
    Feed.ssd_inputs = []
    try:
        with _workdir(labels):
            for name, folder, stubs in [
                ("docker-s1-pb-2023/CCShieldV01/app/app.py",
                 os.path.join(ref, "docker-s1-pb-2023", "CCShieldV01", "app"), {"tensorflow": _fake_tensorflow()}),
                ("docker-s1-tflite-2024/app/app.py", os.path.join(ref, "docker-s1-tflite-2024", "app"),
                 _fake_tflite_runtime()),
            ]:
                app = _fresh_import(folder, "app", stubs)
                with contextlib.redirect_stdout(io.StringIO()):
                    sys.modules["predict"].initialize()
                bodies[name] = _flask_post(app, photo_bytes)
                results[name] = json.loads(bodies[name])["predictions"]
        inputs = list(Feed.ssd_inputs)
    finally:
        Feed.ssd_engine = None
        Feed.ssd_inputs = []
    return results, bodies["docker-s1-tflite-2024/app/app.py"], inputs


def ssd_photo_agreed(photo_bytes, labels, engine, name):
    """ssd_photo_references, requiring both containers to build the same input and give the same
    answer for the photo `name`. Returns (predictions, the 2024 container's body)."""
    results, body, inputs = ssd_photo_references(photo_bytes, labels, engine)
    answers = list(results.values())
    assert all(a == answers[0] for a in answers), "the two S1 containers disagree on " + name
    assert len(inputs) == 2 and np.array_equal(inputs[0], inputs[1]), "the containers built different inputs"
    return answers[0], body


def s1_golden_photo(name, photo_path, data_dir, raw, predictions, body):
    """One photo's entry in an S1 golden: `raw` = (boxes [N, 4], scores [N], classes [N]) as the
    runtime gave them (floats as hex), the container's predictions and its whole body."""
    boxes, scores, classes = raw
    return {"name": name, "photo": os.path.relpath(photo_path, data_dir),
            "raw": {"detected_boxes": [[float(v).hex() for v in row] for row in boxes],
                    "detected_scores": [float(v).hex() for v in scores],
                    "detected_classes": [int(v) for v in classes]},
            "predictions": predictions,
            "container_body": json.loads(body)}


def _tflite_runtime_from(make_interpreter, seen):
    """tflite_runtime whose Interpreter is `make_interpreter()` (tflite_peer.TfliteInterpreter(...,
    any_output=True): Google's TFLite C runtime on the real model file): the model's own input
    shape, its outputs by their names and indices, each get_tensor the runtime's array."""
    class Interpreter:
        def __init__(self, model_path=None, **kwargs):
            self.engine = make_interpreter()
            self.outputs = {}

        def allocate_tensors(self):
            pass

        def get_input_details(self):
            return [{"index": 0, "shape": np.array(self.engine.input_shape(), np.int32)}]

        def get_output_details(self):
            names = list(self.engine.run_named(np.zeros(self.engine.input_shape(), np.float32)))
            self.names = names
            return [{"name": name, "index": 100 + k} for k, name in enumerate(names)]

        def set_tensor(self, index, value):
            assert index == 0
            self.value = value

        def invoke(self):
            seen["input"] = self.value
            self.outputs = self.engine.run_named(self.value)
            seen["raw"] = self.outputs

        def get_tensor(self, index):
            return self.outputs[self.names[index - 100]]

    pkg = types.ModuleType("tflite_runtime")
    mod = types.ModuleType("tflite_runtime.interpreter")
    mod.Interpreter = Interpreter
    pkg.interpreter = mod
    return {"tflite_runtime": pkg, "tflite_runtime.interpreter": mod}


def ssd_tflite_container(photo_bytes, labels, make_interpreter):
    """The 2024 Docker 2.2 S1 container (docker-s1-tflite-2024 app.py, POST /image) with its
    tflite_runtime run by `make_interpreter()` (see _tflite_runtime_from) on the model itself.

    Returns (predictions, the container's body, the runtime's raw outputs by name)."""
    folder = os.path.join(reference_dir(), "docker-s1-tflite-2024", "app")
    seen = {}
    with _workdir(labels):
        app = _fresh_import(folder, "app", _tflite_runtime_from(make_interpreter, seen))
        with contextlib.redirect_stdout(io.StringIO()):
            sys.modules["predict"].initialize()
        body = _flask_post(app, photo_bytes)
    return json.loads(body)["predictions"], body, seen["raw"]


def onnx_predict_image(image, labels, engine, input_type="tensor(float)"):
    """onnxruntime_predict.ONNXRuntimeObjectDetection(...).predict_image(image), with ONNX Runtime's
    session.run replaced by `engine(nchw_input) -> [1, C, H, W] output` (e.g. OpenCV DNN). With
    input_type "tensor(float16)" the code takes its float16 path (input cast to float16; the
    engine's output, float16 for such a model, is widened by the code itself).

    Returns (predictions, raw output the engine gave)."""
    ref = reference_dir()
    seen = {}

    def run(nchw_input):
        seen["raw"] = np.asarray(engine(nchw_input))
        return seen["raw"]

    stubs = _fake_onnx_modules(run, input_type)
    with _workdir(labels):
        ort = _fresh_import(os.path.join(ref, "onnx-yolo-2024"), "onnxruntime_predict", stubs)
        with contextlib.redirect_stdout(io.StringIO()):
            predictions = ort.ONNXRuntimeObjectDetection("model.onnx", labels).predict_image(image)
    return predictions, seen["raw"]


def tflite_predict_image(image, labels, engine):
    """tflite-yolo-2023's predict.TFLiteObjectDetection(...).predict_image(image) (the 2023 TFLite
    export's own code), with tf.lite.Interpreter replaced by `engine(nhwc_input) -> [1, H, W, C]`
    output (e.g. OpenCV DNN on the transposed tensor). The export's code resizes the interpreter's
    input to each image's own size, so the engine sees that size.

    Returns (predictions, the input the reference built)."""
    ref = reference_dir()
    seen = {}

    class Interpreter:
        def __init__(self, model_path=None, **kwargs):
            pass

        def allocate_tensors(self):
            pass

        def get_input_details(self):
            return [{"index": 0}]

        def get_output_details(self):
            return [{"index": 1}]

        def resize_tensor_input(self, index, shape):
            seen["resized"] = list(shape)

        def set_tensor(self, index, value):
            assert list(value.shape) == seen["resized"], (value.shape, seen)
            seen["input"] = value

        def invoke(self):
            seen["output"] = np.asarray(engine(seen["input"]), np.float32)

        def get_tensor(self, index):
            return seen["output"]

    tf = _fake_tensorflow()
    tf.lite = types.SimpleNamespace(Interpreter=Interpreter)
    with _workdir(labels):
        pred = _fresh_import(os.path.join(ref, "tflite-yolo-2023"), "predict", {"tensorflow": tf})
        with contextlib.redirect_stdout(io.StringIO()):
            predictions = pred.TFLiteObjectDetection("model.tflite", labels).predict_image(image)
    return predictions, seen["input"]
