// See tflite_detection_tail.h.
#include "model/tflite_detection_tail.h"

#include <algorithm>
#include <map>
#include <set>

#include "model/detection_tail_common.h"

namespace edgevision::model::tflite_tail {
namespace {

using B = tfl::BuiltinOperator;

constexpr const char* kDetectionPostProcess = "TFLite_Detection_PostProcess";

bool IsNms(int32_t code) {
  return code == static_cast<int32_t>(B::NON_MAX_SUPPRESSION_V4) ||
         code == static_cast<int32_t>(B::NON_MAX_SUPPRESSION_V5);
}

// Ops only the tail runs (integer or index work the engine has no op for).
bool IsTailOnly(int32_t code) {
  return IsNms(code) || code == static_cast<int32_t>(B::GATHER) ||
         code == static_cast<int32_t>(B::GATHER_ND) || code == static_cast<int32_t>(B::TOPK_V2) ||
         code == static_cast<int32_t>(B::SHAPE) || code == static_cast<int32_t>(B::CAST);
}

// Shape-only ops the tail also runs, moved there when only the tail reads them.
bool IsMovable(int32_t code) {
  return code == static_cast<int32_t>(B::RESHAPE) || code == static_cast<int32_t>(B::SQUEEZE) ||
         code == static_cast<int32_t>(B::EXPAND_DIMS) ||
         code == static_cast<int32_t>(B::CONCATENATION) || code == static_cast<int32_t>(B::SLICE) ||
         code == static_cast<int32_t>(B::TRANSPOSE);
}

std::string OpName(int32_t code) {
  const char* name = tfl::EnumNameBuiltinOperator(static_cast<tfl::BuiltinOperator>(code));
  return name && *name ? name : "BUILTIN_" + std::to_string(code);
}

bool HasPayload(const tfl::Model& model, const tfl::SubGraph& sg, int32_t index) {
  if (index < 0 || static_cast<flatbuffers::uoffset_t>(index) >= sg.tensors()->size()) return false;
  const uint32_t b = sg.tensors()->Get(static_cast<flatbuffers::uoffset_t>(index))->buffer();
  if (b == 0 || !model.buffers() || b >= model.buffers()->size()) return false;
  const tfl::Buffer* buf = model.buffers()->Get(b);
  return buf->offset() > 1 || (buf->data() && buf->data()->size() > 0);
}

std::vector<int32_t> Ints(const flatbuffers::Vector<int32_t>* v) {
  return v ? std::vector<int32_t>(v->begin(), v->end()) : std::vector<int32_t>{};
}

}  // namespace

int32_t BuiltinCode(const tfl::OperatorCode& code) {
  return std::max<int32_t>(code.deprecated_builtin_code(), static_cast<int32_t>(code.builtin_code()));
}

TensorNames::TensorNames(const tfl::SubGraph& sg) : sg_(sg), shared_(sg.tensors()->size(), false) {
  std::map<std::string, int> count;
  for (const tfl::Tensor* t : *sg.tensors()) ++count[t->name() ? t->name()->str() : ""];
  for (flatbuffers::uoffset_t i = 0; i < sg.tensors()->size(); ++i) {
    const tfl::Tensor* t = sg.tensors()->Get(i);
    shared_[i] = count[t->name() ? t->name()->str() : ""] > 1;
  }
}

std::string TensorNames::operator()(int32_t index) const {
  const tfl::Tensor* t = sg_.tensors()->Get(static_cast<flatbuffers::uoffset_t>(index));
  const std::string name = t->name() ? t->name()->str() : "";
  return shared_[static_cast<size_t>(index)] ? name + "#" + std::to_string(index) : name;
}

Result<std::optional<Split>> FindTail(const tfl::Model& model, const tfl::SubGraph& sg,
                                      const std::string& label) {
  const auto* ops = sg.operators();
  const auto* codes = model.operator_codes();
  if (!ops || !codes || !sg.tensors() || !sg.inputs() || !sg.outputs()) return std::optional<Split>();
  const size_t n_ops = ops->size(), n_tensors = sg.tensors()->size();
  std::vector<int32_t> code(n_ops, -1);
  bool nms = false;
  for (size_t k = 0; k < n_ops; ++k) {
    const uint32_t oc = ops->Get(static_cast<flatbuffers::uoffset_t>(k))->opcode_index();
    if (oc >= codes->size()) continue;  // the importer reports it
    const tfl::OperatorCode* c = codes->Get(oc);
    code[k] = BuiltinCode(*c);
    if (code[k] == static_cast<int32_t>(B::CUSTOM) && c->custom_code() &&
        c->custom_code()->str() == kDetectionPostProcess) {
      return Unsupported(
          label + ": operator #" + std::to_string(k) + " (CUSTOM:" + kDetectionPostProcess +
          ") is the TF Object Detection API's SSD post-processing; its outputs ([1,N,4] boxes, "
          "float classes, named after the op) are not what the Custom Vision S1 container reads (detected_boxes / detected_scores / "
          "detected_classes without a batch dimension). edgevision serves S1 TFLite graphs whose NMS "
          "is NON_MAX_SUPPRESSION_V4/V5");
    }
    nms = nms || IsNms(code[k]);
  }
  if (!nms) return std::optional<Split>();

  // Which operator produces each tensor; who reads it.
  std::vector<int> producer(n_tensors, -1);
  std::vector<std::vector<int>> readers(n_tensors);
  for (size_t k = 0; k < n_ops; ++k) {
    const tfl::Operator* op = ops->Get(static_cast<flatbuffers::uoffset_t>(k));
    for (int32_t t : Ints(op->outputs())) {
      if (t >= 0 && static_cast<size_t>(t) < n_tensors) producer[t] = static_cast<int>(k);
    }
    for (int32_t t : Ints(op->inputs())) {
      if (t >= 0 && static_cast<size_t>(t) < n_tensors) readers[t].push_back(static_cast<int>(k));
    }
  }
  std::set<int32_t> outputs;
  for (int32_t t : Ints(sg.outputs())) outputs.insert(t);

  Split split;
  split.tail.assign(n_ops, false);
  for (size_t k = 0; k < n_ops; ++k) {
    bool t = IsTailOnly(code[k]);
    for (int32_t in : Ints(ops->Get(static_cast<flatbuffers::uoffset_t>(k))->inputs())) {
      if (in >= 0 && static_cast<size_t>(in) < n_tensors && producer[in] >= 0) t = t || split.tail[producer[in]];
    }
    split.tail[k] = t;
  }
  // Shape-only operators whose every output only the tail reads (consumers
  // come later, so one backwards pass settles chains).
  for (size_t k = n_ops; k-- > 0;) {
    if (split.tail[k] || !IsMovable(code[k])) continue;
    bool only_tail = true, read = false;
    for (int32_t out : Ints(ops->Get(static_cast<flatbuffers::uoffset_t>(k))->outputs())) {
      if (out < 0 || static_cast<size_t>(out) >= n_tensors) continue;
      read = read || !readers[out].empty() || outputs.count(out);
      for (int r : readers[out]) only_tail = only_tail && split.tail[r];
    }
    split.tail[k] = only_tail && read;
  }
  for (int32_t out : outputs) {
    if (out < 0 || static_cast<size_t>(out) >= n_tensors || producer[out] < 0 || !split.tail[producer[out]]) {
      const tfl::Tensor* t = out >= 0 && static_cast<size_t>(out) < n_tensors
                                 ? sg.tensors()->Get(static_cast<flatbuffers::uoffset_t>(out))
                                 : nullptr;
      return Unsupported(label + ": output '" + (t && t->name() ? t->name()->str() : std::to_string(out)) +
                         "' does not come through NON_MAX_SUPPRESSION; an S1 graph's outputs all do");
    }
  }
  std::set<int32_t> seen;
  const std::set<int32_t> inputs(sg.inputs()->begin(), sg.inputs()->end());
  for (size_t k = 0; k < n_ops; ++k) {
    if (!split.tail[k]) continue;
    for (int32_t in : Ints(ops->Get(static_cast<flatbuffers::uoffset_t>(k))->inputs())) {
      if (in < 0 || static_cast<size_t>(in) >= n_tensors || HasPayload(model, sg, in)) continue;
      if (producer[in] >= 0 && split.tail[producer[in]]) continue;
      if (producer[in] < 0 && inputs.count(in)) {
        return Unsupported(label + ": operator #" + std::to_string(k) + " (" + OpName(code[k]) +
                           ") after NON_MAX_SUPPRESSION reads the image input");
      }
      if (seen.insert(in).second) split.boundary.push_back(in);
    }
  }
  if (split.boundary.empty())
    return Unsupported(label + ": NON_MAX_SUPPRESSION reads nothing the network computes");
  return std::optional<Split>(std::move(split));
}

Status TranslateTail(const tfl::Model& model, const tfl::SubGraph& sg, const Split& split,
                     const ConstReader& read_const, const std::string& label, detect::TailGraph* tail) {
  const TensorNames name(sg);
  const auto* ops = sg.operators();
  for (flatbuffers::uoffset_t k = 0; k < ops->size(); ++k) {
    if (!split.tail[k]) continue;
    const tfl::Operator& op = *ops->Get(k);
    const std::vector<int32_t> ins = Ints(op.inputs()), outs = Ints(op.outputs());
    const int32_t n_tensors = static_cast<int32_t>(sg.tensors()->size());
    if (op.opcode_index() >= model.operator_codes()->size() ||
        std::any_of(ins.begin(), ins.end(), [&](int32_t t) { return t >= n_tensors; }) ||
        std::any_of(outs.begin(), outs.end(), [&](int32_t t) { return t < 0 || t >= n_tensors; })) {
      return Corrupt(label + ": operator #" + std::to_string(k) + " names an opcode or tensor out of range");
    }
    const int32_t code = BuiltinCode(*model.operator_codes()->Get(op.opcode_index()));
    const std::string where = label + ": operator #" + std::to_string(k) + " '" +
                              (outs.empty() ? std::string() : name(outs[0])) + "' (" + OpName(code) + ")";
    auto unsupported = [&](const std::string& why) { return Unsupported(where + ": " + why); };
    // The tail's name for input i; a constant becomes a tail constant.
    auto input = [&](size_t i) -> Result<std::string> {
      if (i >= ins.size() || ins[i] < 0) return Corrupt(where + ": input " + std::to_string(i) + " is missing");
      const std::string key = name(ins[i]);
      if (HasPayload(model, sg, ins[i]) && !tail->constants.count(key)) {
        EV_ASSIGN_OR_RETURN(ConstTensor c, read_const(static_cast<int>(k), ins[i]));
        AddTailConstant(tail, key, std::move(c));
      }
      return key;
    };
    auto constant = [&](const std::string& what, std::vector<int64_t> values) {
      return AddTailIntConstant(tail, "op" + std::to_string(k) + "/" + what, std::move(values));
    };
    auto emit = [&](const std::string& tail_op, std::vector<std::string> in,
                    std::map<std::string, std::vector<int64_t>> attrs = {}) {
      detect::TailNode t;
      t.op = tail_op;
      t.name = where;
      t.inputs = std::move(in);
      for (int32_t o : outs) t.outputs.push_back(o < 0 ? std::string() : name(o));
      t.ints = std::move(attrs);
      tail->nodes.push_back(std::move(t));
    };
    auto inputs_upto = [&](size_t n) -> Result<std::vector<std::string>> {
      std::vector<std::string> v;
      for (size_t i = 0; i < n; ++i) {
        EV_ASSIGN_OR_RETURN(std::string s, input(i));
        v.push_back(std::move(s));
      }
      return v;
    };

    switch (static_cast<B>(code)) {
      case B::NON_MAX_SUPPRESSION_V4:
      case B::NON_MAX_SUPPRESSION_V5: {
        const bool v5 = code == static_cast<int32_t>(B::NON_MAX_SUPPRESSION_V5);
        if (ins.size() != (v5 ? 6u : 5u) || outs.size() != (v5 ? 3u : 2u))
          return Corrupt(where + ": wrong number of inputs or outputs");
        if (v5) {
          EV_ASSIGN_OR_RETURN(ConstTensor sigma, read_const(static_cast<int>(k), ins[5]));
          if (!sigma.is_float || sigma.f.size() != 1 || sigma.f[0] != 0.0f)
            return unsupported("soft NMS (soft_nms_sigma other than a constant 0) is not supported");
        }
        EV_ASSIGN_OR_RETURN(std::vector<std::string> in, inputs_upto(v5 ? 6 : 5));
        emit(detect::kTfliteNmsOp, in);
        // The tail's op always has three outputs: indices, scores, count.
        if (!v5) tail->nodes.back().outputs = {name(outs[0]), "", name(outs[1])};
        break;
      }
      case B::GATHER: {
        const tfl::GatherOptions* o = op.builtin_options_as_GatherOptions();
        if (o && o->batch_dims() != 0) return unsupported("batch_dims other than 0 is not supported");
        EV_ASSIGN_OR_RETURN(std::vector<std::string> in, inputs_upto(2));
        emit("Gather", in, {{"axis", {o ? o->axis() : 0}}});
        break;
      }
      case B::GATHER_ND: {
        EV_ASSIGN_OR_RETURN(std::vector<std::string> in, inputs_upto(2));
        emit("GatherND", in);
        break;
      }
      case B::TOPK_V2: {
        EV_ASSIGN_OR_RETURN(std::vector<std::string> in, inputs_upto(2));
        // TFLite's TopContainer: sorted, ties by lower index (the tail's TopK).
        emit("TopK", in, {{"axis", {-1}}, {"largest", {1}}, {"sorted", {1}}});
        break;
      }
      case B::SHAPE: {
        EV_ASSIGN_OR_RETURN(std::vector<std::string> in, inputs_upto(1));
        emit("Shape", in);
        break;
      }
      case B::CAST: {
        if (outs.size() != 1 || outs[0] < 0) return Corrupt(where + ": needs one output");
        int64_t to = 0;
        switch (sg.tensors()->Get(static_cast<flatbuffers::uoffset_t>(outs[0]))->type()) {
          case tfl::TensorType::FLOAT32: to = kTailCastFloat; break;
          case tfl::TensorType::INT32:
          case tfl::TensorType::INT64: to = kTailCastInt64; break;
          case tfl::TensorType::BOOL: to = kTailCastBool; break;
          default: return unsupported("a cast to this type is not supported");
        }
        EV_ASSIGN_OR_RETURN(std::vector<std::string> in, inputs_upto(1));
        emit("Cast", in, {{"to", {to}}});
        break;
      }
      case B::RESHAPE: {
        std::vector<std::string> in;
        EV_ASSIGN_OR_RETURN(std::string x, input(0));
        in.push_back(x);
        if (ins.size() > 1 && ins[1] >= 0) {
          EV_ASSIGN_OR_RETURN(std::string shape, input(1));
          in.push_back(shape);
        } else if (const tfl::ReshapeOptions* o = op.builtin_options_as_ReshapeOptions(); o && o->new_shape()) {
          in.push_back(constant("new_shape", std::vector<int64_t>(o->new_shape()->begin(), o->new_shape()->end())));
        } else {
          return Corrupt(where + ": no target shape");
        }
        emit("Reshape", in, {{"allowzero", {1}}});  // TFLite's 0 is a 0-length axis
        break;
      }
      case B::SQUEEZE: {
        EV_ASSIGN_OR_RETURN(std::string x, input(0));
        const tfl::SqueezeOptions* o = op.builtin_options_as_SqueezeOptions();
        if (o && o->squeeze_dims() && o->squeeze_dims()->size() > 0) {
          emit("Squeeze", {x, constant("axes", std::vector<int64_t>(o->squeeze_dims()->begin(),
                                                                    o->squeeze_dims()->end()))});
        } else {
          emit("Squeeze", {x});
        }
        break;
      }
      case B::EXPAND_DIMS: {
        EV_ASSIGN_OR_RETURN(std::vector<std::string> in, inputs_upto(2));
        emit("Unsqueeze", in);
        break;
      }
      case B::CONCATENATION: {
        const tfl::ConcatenationOptions* o = op.builtin_options_as_ConcatenationOptions();
        if (!o) return Corrupt(where + ": ConcatenationOptions missing");
        if (o->fused_activation_function() != tfl::ActivationFunctionType::NONE)
          return unsupported("a fused activation after NON_MAX_SUPPRESSION is not supported");
        EV_ASSIGN_OR_RETURN(std::vector<std::string> in, inputs_upto(ins.size()));
        emit("Concat", in, {{"axis", {o->axis()}}});
        break;
      }
      case B::SLICE: {
        EV_ASSIGN_OR_RETURN(std::vector<std::string> in, inputs_upto(3));
        emit("Slice", in, {{detect::kTfliteSliceSizeAttr, {1}}});
        break;
      }
      case B::TRANSPOSE: {
        EV_ASSIGN_OR_RETURN(ConstTensor perm, read_const(static_cast<int>(k), ins.size() > 1 ? ins[1] : -1));
        if (perm.is_float) return Corrupt(where + ": the permutation must be integers");
        EV_ASSIGN_OR_RETURN(std::vector<std::string> in, inputs_upto(1));
        emit("Transpose", in, {{"perm", perm.i}});
        break;
      }
      default: {
        const tfl::OperatorCode* c = model.operator_codes()->Get(op.opcode_index());
        const std::string op_name = code == static_cast<int32_t>(B::CUSTOM)
                                        ? "CUSTOM:" + (c->custom_code() ? c->custom_code()->str() : "?")
                                        : OpName(code);
        return Unsupported(label + ": operator #" + std::to_string(k) + " (" + op_name +
                           ") after NON_MAX_SUPPRESSION is not supported by edgevision's S1 tail");
      }
    }
  }
  const TensorNames out_name(sg);
  for (int32_t o : *sg.outputs()) tail->outputs.push_back(out_name(o));
  Status ok = detect::CheckTail(*tail);
  if (!ok.ok()) return ok.WithContext(label);
  return Status::Ok();
}

}  // namespace edgevision::model::tflite_tail
