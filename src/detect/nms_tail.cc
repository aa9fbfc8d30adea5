#include "detect/nms_tail.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <deque>
#include <numeric>
#include <queue>
#include <set>
#include <utility>

#include "detect/combined_nms.h"
#include "core/half.h"

namespace edgevision::detect {

float TensorFlowIou(const float* a, const float* b) {
  const float ay0 = std::min(a[0], a[2]), ax0 = std::min(a[1], a[3]);
  const float ay1 = std::max(a[0], a[2]), ax1 = std::max(a[1], a[3]);
  const float by0 = std::min(b[0], b[2]), bx0 = std::min(b[1], b[3]);
  const float by1 = std::max(b[0], b[2]), bx1 = std::max(b[1], b[3]);
  const float area_a = (ay1 - ay0) * (ax1 - ax0);
  const float area_b = (by1 - by0) * (bx1 - bx0);
  if (area_a <= 0.0f || area_b <= 0.0f) return 0.0f;
  const float inter = std::max(std::min(ay1, by1) - std::max(ay0, by0), 0.0f) *
                      std::max(std::min(ax1, bx1) - std::max(ax0, bx0), 0.0f);
  return inter / (area_a + area_b - inter);
}

namespace {

using Shape = std::vector<int64_t>;
using Tensors = std::map<std::string, TailTensor>;

int64_t Product(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Shape Strides(const Shape& s) {
  Shape st(s.size(), 1);
  for (int k = static_cast<int>(s.size()) - 2; k >= 0; --k) st[k] = st[k + 1] * s[k + 1];
  return st;
}

std::string ShapeText(const Shape& s) {
  std::string t = "[";
  for (size_t k = 0; k < s.size(); ++k) t += (k ? "," : "") + std::to_string(s[k]);
  return t + "]";
}

// The evaluation of one node: its inputs resolved, its outputs to fill.
class NodeRun {
 public:
  NodeRun(const TailNode& node, std::vector<const TailTensor*> in) : node_(node), in_(std::move(in)) {}

  Result<std::vector<TailTensor>> Run();

 private:
  Status Fail(const std::string& why) const {
    return InvalidArgument("S1 tail node '" + node_.name + "' (" + node_.op + "): " + why);
  }
  bool Has(size_t i) const { return i < in_.size() && in_[i] != nullptr; }
  Result<const TailTensor*> X(size_t i) const {
    if (!Has(i)) return Fail("input " + std::to_string(i) + " is missing");
    return in_[i];
  }
  int64_t Int(const std::string& name, int64_t def) const {
    auto it = node_.ints.find(name);
    return it == node_.ints.end() || it->second.empty() ? def : it->second[0];
  }
  const std::vector<int64_t>* Ints(const std::string& name) const {
    auto it = node_.ints.find(name);
    return it == node_.ints.end() ? nullptr : &it->second;
  }
  Result<std::vector<int64_t>> IntList(size_t i) const {
    EV_ASSIGN_OR_RETURN(const TailTensor* t, X(i));
    if (!t->is_int) return Fail("input " + std::to_string(i) + " must be an integer tensor");
    return t->i;
  }
  Result<int64_t> Axis(int64_t axis, int64_t rank) const {
    if (axis < -rank || axis >= rank) return Fail("axis " + std::to_string(axis) + " out of range");
    return axis < 0 ? axis + rank : axis;
  }
  Status CheckSize(int64_t n) const {
    if (n < 0 || n > kMaxTailTensorElements) return Fail(std::to_string(n) + " elements exceed the tail's limit");
    return Status::Ok();
  }
  // Axes from input 1 (opset 13+) or the `axes` attribute.
  Result<std::vector<int64_t>> AxesArg() const {
    if (Has(1)) return IntList(1);
    const std::vector<int64_t>* a = Ints("axes");
    return a ? *a : std::vector<int64_t>{};
  }
  // A tensor of x's type holding x's elements at `index`, shaped `shape`.
  static TailTensor Pick(const TailTensor& x, const std::vector<int64_t>& index, Shape shape) {
    TailTensor out;
    out.is_int = x.is_int;
    out.shape = std::move(shape);
    if (x.is_int) {
      out.i.reserve(index.size());
      for (int64_t k : index) out.i.push_back(x.i[k]);
    } else {
      out.f.reserve(index.size());
      for (int64_t k : index) out.f.push_back(x.f[k]);
    }
    return out;
  }
  static TailTensor Reshaped(const TailTensor& x, Shape shape) {
    TailTensor out = x;
    out.shape = std::move(shape);
    return out;
  }

  Result<TailTensor> NonMaxSuppression() const;
  Result<std::vector<TailTensor>> TfliteNonMaxSuppression() const;
  Result<std::vector<TailTensor>> CombinedNonMaxSuppression() const;
  Result<TailTensor> Gather() const;
  Result<TailTensor> GatherND() const;
  Result<TailTensor> Squeeze() const;
  Result<TailTensor> Unsqueeze() const;
  Result<TailTensor> Reshape() const;
  Result<TailTensor> Concat() const;
  Result<TailTensor> Slice() const;
  Result<TailTensor> Transpose() const;
  Result<TailTensor> Cast() const;
  Result<std::vector<TailTensor>> TopK() const;

  const TailNode& node_;
  std::vector<const TailTensor*> in_;
};

// ONNX Runtime's SuppressByIOU (non_max_suppression_helper.h).
bool SuppressByIou(const float* a, const float* b, bool center_point, float iou_threshold) {
  float ax0, ax1, ay0, ay1, bx0, bx1, by0, by1;
  if (!center_point) {  // [y1, x1, y2, x2], corners in either order
    ax0 = std::min(a[1], a[3]), ax1 = std::max(a[1], a[3]);
    bx0 = std::min(b[1], b[3]), bx1 = std::max(b[1], b[3]);
    ay0 = std::min(a[0], a[2]), ay1 = std::max(a[0], a[2]);
    by0 = std::min(b[0], b[2]), by1 = std::max(b[0], b[2]);
  } else {  // [x_center, y_center, width, height]
    const float aw = a[2] / 2.0f, ah = a[3] / 2.0f, bw = b[2] / 2.0f, bh = b[3] / 2.0f;
    ax0 = a[0] - aw, ax1 = a[0] + aw, ay0 = a[1] - ah, ay1 = a[1] + ah;
    bx0 = b[0] - bw, bx1 = b[0] + bw, by0 = b[1] - bh, by1 = b[1] + bh;
  }
  const float ix0 = std::max(ax0, bx0), ix1 = std::min(ax1, bx1);
  if (ix1 <= ix0) return false;
  const float iy0 = std::max(ay0, by0), iy1 = std::min(ay1, by1);
  if (iy1 <= iy0) return false;
  const float inter = (ix1 - ix0) * (iy1 - iy0);
  if (inter <= 0.0f) return false;
  const float area_a = (ax1 - ax0) * (ay1 - ay0);
  const float area_b = (bx1 - bx0) * (by1 - by0);
  const float uni = area_a + area_b - inter;
  if (area_a <= 0.0f || area_b <= 0.0f || uni <= 0.0f) return false;
  return inter / uni > iou_threshold;
}

Result<TailTensor> NodeRun::NonMaxSuppression() const {
  EV_ASSIGN_OR_RETURN(const TailTensor* boxes, X(0));
  EV_ASSIGN_OR_RETURN(const TailTensor* scores, X(1));
  if (boxes->is_int || scores->is_int) return Fail("boxes and scores must be float");
  if (boxes->shape.size() != 3 || boxes->shape[2] != 4 || scores->shape.size() != 3 ||
      scores->shape[0] != boxes->shape[0] || scores->shape[2] != boxes->shape[1]) {
    return Fail("boxes " + ShapeText(boxes->shape) + " and scores " + ShapeText(scores->shape) +
                " are not [B, N, 4] and [B, C, N]");
  }
  int64_t max_per_class = 0;  // ONNX: absent means 0 (nothing selected)
  if (Has(2)) {
    EV_ASSIGN_OR_RETURN(std::vector<int64_t> m, IntList(2));
    if (!m.empty()) max_per_class = m[0];
  }
  float iou_threshold = 0.0f;
  bool has_score_threshold = false;
  float score_threshold = 0.0f;
  for (size_t k : {size_t{3}, size_t{4}}) {
    if (!Has(k)) continue;
    const TailTensor* t = in_[k];
    if (t->is_int || t->f.empty()) return Fail("input " + std::to_string(k) + " must be a float scalar");
    if (k == 3) iou_threshold = t->f[0];
    if (k == 4) has_score_threshold = true, score_threshold = t->f[0];
  }
  if (iou_threshold < 0.0f || iou_threshold > 1.0f) return Fail("iou_threshold must be within 0..1");
  const bool center_point = Int("center_point_box", 0) != 0;
  // TensorFlow's NonMaxSuppressionV2..V5 (hard NMS), as the TensorFlow
  // importers translate it: its IOU, suppressed when IOU >= iou_threshold.
  const bool tensorflow = Int(kTensorFlowNmsAttr, 0) != 0;
  if (tensorflow && center_point) return Fail("TensorFlow's NMS has no center_point_box");
  auto suppress = [&](const float* selected, const float* candidate) {
    return tensorflow ? TensorFlowIou(candidate, selected) >= iou_threshold
                      : SuppressByIou(selected, candidate, center_point, iou_threshold);
  };
  const int64_t batches = boxes->shape[0], n = boxes->shape[1], classes = scores->shape[1];
  TailTensor out;
  out.is_int = true;
  if (max_per_class <= 0 || n == 0) {
    out.shape = {0, 3};
    return out;
  }
  struct Candidate {
    float score;
    int64_t index;
  };
  for (int64_t b = 0; b < batches; ++b) {
    const float* box_data = boxes->f.data() + b * n * 4;
    for (int64_t c = 0; c < classes; ++c) {
      const float* s = scores->f.data() + (b * classes + c) * n;
      std::vector<Candidate> candidates;
      for (int64_t i = 0; i < n; ++i) {
        if (!has_score_threshold || s[i] > score_threshold) candidates.push_back({s[i], i});
      }
      // ONNX Runtime pops a max-heap of (score, then lower index first).
      std::stable_sort(candidates.begin(), candidates.end(), [](const Candidate& x, const Candidate& y) {
        return x.score > y.score || (x.score == y.score && x.index < y.index);
      });
      std::vector<int64_t> selected;
      for (const Candidate& cand : candidates) {
        if (static_cast<int64_t>(selected.size()) >= max_per_class) break;
        bool keep = true;
        for (int64_t j : selected) {
          if (suppress(box_data + j * 4, box_data + cand.index * 4)) {
            keep = false;
            break;
          }
        }
        if (keep) selected.push_back(cand.index);
      }
      for (int64_t j : selected) out.i.insert(out.i.end(), {b, c, j});
    }
  }
  out.shape = {static_cast<int64_t>(out.i.size() / 3), 3};
  return out;
}

// TFLite's NON_MAX_SUPPRESSION_V4/V5 float kernel (reference_ops::
// NonMaxSuppression, TensorFlow Lite 2.x), hard NMS only: the candidates go
// through the same std::priority_queue, so equal scores pop in the same
// order as in TFLite built against the same standard library.
Result<std::vector<TailTensor>> NodeRun::TfliteNonMaxSuppression() const {
  EV_ASSIGN_OR_RETURN(const TailTensor* boxes, X(0));
  EV_ASSIGN_OR_RETURN(const TailTensor* scores, X(1));
  if (boxes->is_int || scores->is_int) return Fail("boxes and scores must be float");
  if (boxes->shape.size() != 2 || boxes->shape[1] != 4 || scores->shape.size() != 1 ||
      scores->shape[0] != boxes->shape[0]) {
    return Fail("boxes " + ShapeText(boxes->shape) + " and scores " + ShapeText(scores->shape) +
                " are not [N, 4] and [N]");
  }
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> max_v, IntList(2));
  if (max_v.size() != 1 || max_v[0] < 0) return Fail("max_output_size must be a scalar >= 0");
  EV_RETURN_IF_ERROR(CheckSize(max_v[0]));
  float thresholds[2] = {0.0f, 0.0f};
  for (size_t k : {size_t{3}, size_t{4}, size_t{5}}) {
    if (k == 5 && !Has(5)) break;
    EV_ASSIGN_OR_RETURN(const TailTensor* t, X(k));
    if (t->is_int || t->f.size() != 1) return Fail("input " + std::to_string(k) + " must be a float scalar");
    if (k == 5 && t->f[0] != 0.0f) return Fail("soft NMS (soft_nms_sigma other than 0) is not supported");
    if (k < 5) thresholds[k - 3] = t->f[0];
  }
  const float iou_threshold = thresholds[0], score_threshold = thresholds[1];
  const int64_t max_output = max_v[0], n = boxes->shape[0];
  struct Candidate {
    int64_t index;
    float score;
    size_t suppress_begin;  // selections already compared with
    bool operator<(const Candidate& that) const { return score < that.score; }
  };
  std::priority_queue<Candidate, std::deque<Candidate>> queue;
  for (int64_t i = 0; i < n; ++i) {
    if (scores->f[i] > score_threshold) queue.push(Candidate{i, scores->f[i], 0});
  }
  // TFLite stops after min(candidates, max_output_size) selections;
  // TensorFlow (kTensorFlowNmsAttr) when max_output_size are selected or the
  // queue is empty. They differ only when a box without area is selected again.
  const size_t wanted = Int(kTensorFlowNmsAttr, 0) != 0
                            ? static_cast<size_t>(max_output)
                            : static_cast<size_t>(std::min(static_cast<int64_t>(queue.size()), max_output));
  std::vector<int64_t> selected;
  const float* b = boxes->f.data();
  // As the kernel: a selected candidate goes back into the queue (its score
  // is unchanged and above the threshold) and is dropped when it next pops,
  // its IOU with itself being 1 — unless its box has no area (IOU 0): then
  // it is selected again. Equal scores pop in the heap's order.
  while (selected.size() < wanted && !queue.empty()) {
    Candidate next = queue.top();
    queue.pop();
    bool suppressed = false;
    for (size_t j = selected.size(); j > next.suppress_begin && !suppressed; --j) {
      suppressed = TensorFlowIou(b + next.index * 4, b + selected[j - 1] * 4) >= iou_threshold;
    }
    next.suppress_begin = selected.size();
    if (suppressed) continue;
    selected.push_back(next.index);
    if (next.score > score_threshold) queue.push(next);
  }
  TailTensor indices, picked, count;
  indices.is_int = count.is_int = true;
  indices.shape = picked.shape = {max_output};
  indices.i.assign(static_cast<size_t>(max_output), 0);
  picked.f.assign(static_cast<size_t>(max_output), 0.0f);
  for (size_t k = 0; k < selected.size(); ++k) {
    indices.i[k] = selected[k];
    picked.f[k] = scores->f[selected[k]];
  }
  count.shape = {};
  count.i = {static_cast<int64_t>(selected.size())};
  std::vector<TailTensor> out;
  out.push_back(std::move(indices));
  out.push_back(std::move(picked));
  out.push_back(std::move(count));
  return out;
}

Result<TailTensor> NodeRun::Gather() const {
  EV_ASSIGN_OR_RETURN(const TailTensor* x, X(0));
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> idx, IntList(1));
  const Shape& s = x->shape;
  EV_ASSIGN_OR_RETURN(int64_t axis, Axis(Int("axis", 0), static_cast<int64_t>(s.size())));
  const int64_t outer = Product(Shape(s.begin(), s.begin() + axis));
  const int64_t inner = Product(Shape(s.begin() + axis + 1, s.end()));
  const int64_t dim = s[axis];
  Shape shape(s.begin(), s.begin() + axis);
  shape.insert(shape.end(), in_[1]->shape.begin(), in_[1]->shape.end());
  shape.insert(shape.end(), s.begin() + axis + 1, s.end());
  EV_RETURN_IF_ERROR(CheckSize(Product(shape)));
  std::vector<int64_t> index;
  index.reserve(static_cast<size_t>(Product(shape)));
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t k : idx) {
      if (k < -dim || k >= dim) return Fail("index " + std::to_string(k) + " out of range for " + ShapeText(s));
      const int64_t r = k < 0 ? k + dim : k;
      for (int64_t i = 0; i < inner; ++i) index.push_back((o * dim + r) * inner + i);
    }
  }
  return Pick(*x, index, std::move(shape));
}

Result<TailTensor> NodeRun::GatherND() const {
  EV_ASSIGN_OR_RETURN(const TailTensor* x, X(0));
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> idx, IntList(1));
  if (Int("batch_dims", 0) != 0) return Fail("batch_dims other than 0 is not supported");
  const Shape& s = x->shape;
  const Shape& is = in_[1]->shape;
  if (is.empty()) return Fail("indices must have a rank of at least 1");
  const int64_t k = is.back();
  if (k < 1 || k > static_cast<int64_t>(s.size())) return Fail("indices' last dimension is out of range");
  Shape shape(is.begin(), is.end() - 1);
  shape.insert(shape.end(), s.begin() + k, s.end());
  EV_RETURN_IF_ERROR(CheckSize(Product(shape)));
  const Shape st = Strides(s);
  const int64_t inner = Product(Shape(s.begin() + k, s.end()));
  std::vector<int64_t> index;
  for (size_t row = 0; row + k <= idx.size(); row += k) {
    int64_t base = 0;
    for (int64_t a = 0; a < k; ++a) {
      int64_t v = idx[row + a];
      if (v < -s[a] || v >= s[a]) return Fail("index " + std::to_string(v) + " out of range for " + ShapeText(s));
      if (v < 0) v += s[a];
      base += v * st[a];
    }
    for (int64_t i = 0; i < inner; ++i) index.push_back(base + i);
  }
  return Pick(*x, index, std::move(shape));
}

Result<TailTensor> NodeRun::Squeeze() const {
  EV_ASSIGN_OR_RETURN(const TailTensor* x, X(0));
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> axes, AxesArg());
  const int64_t rank = static_cast<int64_t>(x->shape.size());
  std::set<int64_t> drop;
  for (int64_t a : axes) {
    EV_ASSIGN_OR_RETURN(int64_t n, Axis(a, rank));
    if (x->shape[n] != 1) return Fail("axis " + std::to_string(a) + " of " + ShapeText(x->shape) + " is not 1");
    drop.insert(n);
  }
  Shape shape;
  for (int64_t k = 0; k < rank; ++k) {
    if (axes.empty() ? x->shape[k] != 1 : !drop.count(k)) shape.push_back(x->shape[k]);
  }
  return Reshaped(*x, std::move(shape));
}

Result<TailTensor> NodeRun::Unsqueeze() const {
  EV_ASSIGN_OR_RETURN(const TailTensor* x, X(0));
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> axes, AxesArg());
  const int64_t rank = static_cast<int64_t>(x->shape.size() + axes.size());
  std::set<int64_t> add;
  for (int64_t a : axes) {
    EV_ASSIGN_OR_RETURN(int64_t n, Axis(a, rank));
    if (!add.insert(n).second) return Fail("axis " + std::to_string(a) + " repeated");
  }
  Shape shape;
  size_t src = 0;
  for (int64_t k = 0; k < rank; ++k) shape.push_back(add.count(k) ? 1 : x->shape[src++]);
  return Reshaped(*x, std::move(shape));
}

Result<TailTensor> NodeRun::Reshape() const {
  EV_ASSIGN_OR_RETURN(const TailTensor* x, X(0));
  Shape target;
  if (node_.op == "Flatten") {
    const int64_t rank = static_cast<int64_t>(x->shape.size());
    int64_t axis = Int("axis", 1);
    if (axis < -rank || axis > rank) return Fail("axis out of range");
    if (axis < 0) axis += rank;
    target = {Product(Shape(x->shape.begin(), x->shape.begin() + axis)),
              Product(Shape(x->shape.begin() + axis, x->shape.end()))};
    return Reshaped(*x, std::move(target));
  }
  EV_ASSIGN_OR_RETURN(target, IntList(1));
  const bool allowzero = Int("allowzero", 0) != 0;
  int infer = -1;
  int64_t known = 1;
  for (size_t k = 0; k < target.size(); ++k) {
    if (target[k] == 0 && !allowzero) {
      if (k >= x->shape.size()) return Fail("0 in the target shape has no input dimension");
      target[k] = x->shape[k];
    }
    if (target[k] == -1) {
      if (infer >= 0) return Fail("more than one -1 in the target shape");
      infer = static_cast<int>(k);
    } else if (target[k] < 0) {
      return Fail("negative dimension in the target shape");
    } else {
      known *= target[k];
    }
  }
  const int64_t n = x->size();
  if (infer >= 0) {
    if (known == 0 || n % known != 0) return Fail("cannot reshape " + ShapeText(x->shape) + " to " + ShapeText(target));
    target[infer] = n / known;
  }
  if (Product(target) != n) return Fail("cannot reshape " + ShapeText(x->shape) + " to " + ShapeText(target));
  return Reshaped(*x, std::move(target));
}

Result<TailTensor> NodeRun::Concat() const {
  EV_ASSIGN_OR_RETURN(const TailTensor* first, X(0));
  const int64_t rank = static_cast<int64_t>(first->shape.size());
  EV_ASSIGN_OR_RETURN(int64_t axis, Axis(Int("axis", 0), rank));
  Shape shape = first->shape;
  shape[axis] = 0;
  for (size_t k = 0; k < in_.size(); ++k) {
    EV_ASSIGN_OR_RETURN(const TailTensor* t, X(k));
    bool same = t->is_int == first->is_int && static_cast<int64_t>(t->shape.size()) == rank;
    for (int64_t a = 0; same && a < rank; ++a) same = a == axis || t->shape[a] == first->shape[a];
    if (!same) return Fail("inputs " + ShapeText(first->shape) + " and " + ShapeText(t->shape) + " do not concatenate");
    shape[axis] += t->shape[axis];
  }
  EV_RETURN_IF_ERROR(CheckSize(Product(shape)));
  const int64_t outer = Product(Shape(shape.begin(), shape.begin() + axis));
  TailTensor out;
  out.is_int = first->is_int;
  out.shape = shape;
  for (int64_t o = 0; o < outer; ++o) {
    for (const TailTensor* t : in_) {
      const int64_t chunk = Product(Shape(t->shape.begin() + axis, t->shape.end()));
      if (out.is_int) {
        out.i.insert(out.i.end(), t->i.begin() + o * chunk, t->i.begin() + (o + 1) * chunk);
      } else {
        out.f.insert(out.f.end(), t->f.begin() + o * chunk, t->f.begin() + (o + 1) * chunk);
      }
    }
  }
  return out;
}

Result<TailTensor> NodeRun::Slice() const {
  EV_ASSIGN_OR_RETURN(const TailTensor* x, X(0));
  const int64_t rank = static_cast<int64_t>(x->shape.size());
  std::vector<int64_t> starts, ends, axes, steps;
  if (Int(kTfliteSliceSizeAttr, 0) != 0) {  // TFLite: begin, size (-1: to the end)
    EV_ASSIGN_OR_RETURN(starts, IntList(1));
    EV_ASSIGN_OR_RETURN(std::vector<int64_t> size, IntList(2));
    if (static_cast<int64_t>(starts.size()) != rank || size.size() != starts.size())
      return Fail("begin and size must hold one value per axis");
    for (int64_t a = 0; a < rank; ++a) {
      const int64_t dim = x->shape[a], s = starts[a], len = size[a] == -1 ? dim - s : size[a];
      if (s < 0 || s > dim || len < 0 || len > dim - s) {
        return Fail("begin " + std::to_string(s) + " size " + std::to_string(size[a]) + " do not fit axis " +
                    std::to_string(a) + " of " + ShapeText(x->shape));
      }
      ends.push_back(s + len);
    }
  } else if (Ints("starts")) {  // opset < 10
    starts = *Ints("starts");
    ends = Ints("ends") ? *Ints("ends") : std::vector<int64_t>{};
    if (Ints("axes")) axes = *Ints("axes");
  } else {
    EV_ASSIGN_OR_RETURN(starts, IntList(1));
    EV_ASSIGN_OR_RETURN(ends, IntList(2));
    if (Has(3)) {
      EV_ASSIGN_OR_RETURN(axes, IntList(3));
    }
    if (Has(4)) {
      EV_ASSIGN_OR_RETURN(steps, IntList(4));
    }
  }
  if (axes.empty()) {
    axes.resize(starts.size());
    std::iota(axes.begin(), axes.end(), 0);
  }
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size()) {
    return Fail("starts, ends, axes and steps differ in length");
  }
  std::vector<int64_t> begin(rank, 0), step(rank, 1);
  Shape shape = x->shape;
  for (size_t k = 0; k < starts.size(); ++k) {
    EV_ASSIGN_OR_RETURN(int64_t a, Axis(axes[k], rank));
    const int64_t dim = x->shape[a], st = steps[k];
    if (st == 0) return Fail("step 0");
    int64_t s = starts[k] < 0 ? starts[k] + dim : starts[k];
    int64_t e = ends[k] < 0 ? ends[k] + dim : ends[k];
    if (st > 0) {
      s = std::clamp<int64_t>(s, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      shape[a] = e > s ? (e - s + st - 1) / st : 0;
    } else {
      s = std::clamp<int64_t>(s, 0, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
      shape[a] = s > e ? (s - e - st - 1) / -st : 0;
    }
    begin[a] = s;
    step[a] = st;
  }
  const int64_t n = Product(shape);
  EV_RETURN_IF_ERROR(CheckSize(n));
  const Shape src_st = Strides(x->shape), dst_st = Strides(shape);
  std::vector<int64_t> index(static_cast<size_t>(n));
  for (int64_t o = 0; o < n; ++o) {
    int64_t rem = o, src = 0;
    for (int64_t a = 0; a < rank; ++a) {
      const int64_t c = rem / dst_st[a];
      rem %= dst_st[a];
      src += (begin[a] + c * step[a]) * src_st[a];
    }
    index[o] = src;
  }
  return Pick(*x, index, std::move(shape));
}

Result<TailTensor> NodeRun::Transpose() const {
  EV_ASSIGN_OR_RETURN(const TailTensor* x, X(0));
  const int64_t rank = static_cast<int64_t>(x->shape.size());
  std::vector<int64_t> perm(rank);
  if (Ints("perm")) {
    perm = *Ints("perm");
  } else {
    for (int64_t k = 0; k < rank; ++k) perm[k] = rank - 1 - k;
  }
  std::vector<int64_t> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  bool valid = static_cast<int64_t>(sorted.size()) == rank;
  for (int64_t k = 0; valid && k < rank; ++k) valid = sorted[k] == k;
  if (!valid) return Fail("perm is not a permutation");
  Shape shape(rank);
  for (int64_t k = 0; k < rank; ++k) shape[k] = x->shape[perm[k]];
  const Shape src_st = Strides(x->shape), dst_st = Strides(shape);
  const int64_t n = Product(shape);
  std::vector<int64_t> index(static_cast<size_t>(n));
  for (int64_t o = 0; o < n; ++o) {
    int64_t rem = o, src = 0;
    for (int64_t a = 0; a < rank; ++a) {
      src += rem / dst_st[a] * src_st[perm[a]];
      rem %= dst_st[a];
    }
    index[o] = src;
  }
  return Pick(*x, index, std::move(shape));
}

Result<TailTensor> NodeRun::Cast() const {
  EV_ASSIGN_OR_RETURN(const TailTensor* x, X(0));
  const int64_t to = Int("to", 0);
  // onnx::TensorProto::DataType: FLOAT 1, FLOAT16 10, DOUBLE 11, BFLOAT16 16;
  // the integer types and BOOL (9) are int64 here.
  const bool to_float = to == 1 || to == 10 || to == 11 || to == 16;
  const bool to_bool = to == 9;
  if (to == 0 || to == 8) return Fail("cast to type " + std::to_string(to) + " is not supported");
  TailTensor out;
  out.is_int = !to_float;
  out.shape = x->shape;
  if (to_float) {
    if (x->is_int) {
      for (int64_t v : x->i) out.f.push_back(static_cast<float>(v));
    } else {
      out.f = x->f;
    }
    if (to == 10) RoundToHalf(out.f);  // FLOAT16: stored as a half (core/half.h)
  } else if (x->is_int) {
    out.i = x->i;
    if (to_bool) for (int64_t& v : out.i) v = v != 0;
  } else {
    for (float v : x->f) {
      if (to_bool) {
        out.i.push_back(v != 0.0f);
      } else if (!std::isfinite(v) || std::fabs(v) >= 9.2e18f) {
        return Fail("cannot cast " + std::to_string(v) + " to an integer");
      } else {
        out.i.push_back(static_cast<int64_t>(v));  // truncation, as C casts (ONNX Runtime)
      }
    }
  }
  return out;
}

Result<std::vector<TailTensor>> NodeRun::TopK() const {
  EV_ASSIGN_OR_RETURN(const TailTensor* x, X(0));
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> kv, IntList(1));
  if (kv.size() != 1) return Fail("K must hold one value");
  const int64_t rank = static_cast<int64_t>(x->shape.size());
  EV_ASSIGN_OR_RETURN(int64_t axis, Axis(Int("axis", -1), rank));
  const bool largest = Int("largest", 1) != 0;
  const int64_t dim = x->shape[axis], k = kv[0];
  if (k < 0 || k > dim) return Fail("K " + std::to_string(k) + " exceeds the axis length " + std::to_string(dim));
  const int64_t outer = Product(Shape(x->shape.begin(), x->shape.begin() + axis));
  const int64_t inner = Product(Shape(x->shape.begin() + axis + 1, x->shape.end()));
  Shape shape = x->shape;
  shape[axis] = k;
  std::vector<int64_t> pick;
  TailTensor indices;
  indices.is_int = true;
  indices.shape = shape;
  indices.i.resize(static_cast<size_t>(Product(shape)));
  pick.resize(indices.i.size());
  auto value = [&](int64_t at) { return x->is_int ? static_cast<double>(x->i[at]) : static_cast<double>(x->f[at]); };
  std::vector<int64_t> order(dim);
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t in = 0; in < inner; ++in) {
      const int64_t base = o * dim * inner + in;
      std::iota(order.begin(), order.end(), 0);
      // Sorted output, ties by lower index (ONNX Runtime's TopK).
      std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
        const double va = value(base + a * inner), vb = value(base + b * inner);
        return largest ? va > vb : va < vb;
      });
      for (int64_t j = 0; j < k; ++j) {
        const int64_t dst = (o * k + j) * inner + in;
        indices.i[dst] = order[j];
        pick[dst] = base + order[j] * inner;
      }
    }
  }
  std::vector<TailTensor> out;
  out.push_back(Pick(*x, pick, shape));
  out.push_back(std::move(indices));
  return out;
}

// TensorFlow's CombinedNonMaxSuppression (detect/combined_nms.h): boxes,
// scores, max_output_size_per_class, max_total_size, iou_threshold,
// score_threshold; attributes pad_per_class and clip_boxes.
Result<std::vector<TailTensor>> NodeRun::CombinedNonMaxSuppression() const {
  EV_ASSIGN_OR_RETURN(const TailTensor* boxes, X(0));
  EV_ASSIGN_OR_RETURN(const TailTensor* scores, X(1));
  CombinedNmsParams p;
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> per_class, IntList(2));
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> total, IntList(3));
  if (per_class.size() != 1 || total.size() != 1) return Fail("max sizes must be integer scalars");
  p.max_output_size_per_class = per_class[0];
  p.max_total_size = total[0];
  for (size_t k : {size_t{4}, size_t{5}}) {
    EV_ASSIGN_OR_RETURN(const TailTensor* t, X(k));
    if (t->is_int || t->f.size() != 1) return Fail("input " + std::to_string(k) + " must be a float scalar");
    (k == 4 ? p.iou_threshold : p.score_threshold) = t->f[0];
  }
  p.pad_per_class = Int("pad_per_class", 0) != 0;
  p.clip_boxes = Int("clip_boxes", 1) != 0;
  Result<std::vector<TailTensor>> out = TensorFlowCombinedNms(*boxes, *scores, p);
  if (!out.ok()) return Fail(out.status().message());
  return out;
}

Result<std::vector<TailTensor>> NodeRun::Run() {
  const std::string& op = node_.op;
  auto one = [](Result<TailTensor> r) -> Result<std::vector<TailTensor>> {
    if (!r.ok()) return r.status();
    std::vector<TailTensor> v;
    v.push_back(std::move(r).value());
    return v;
  };
  if (op == "NonMaxSuppression") return one(NonMaxSuppression());
  if (op == kTfliteNmsOp) return TfliteNonMaxSuppression();
  if (op == kTensorFlowCombinedNmsOp) return CombinedNonMaxSuppression();
  if (op == "Gather") return one(Gather());
  if (op == "GatherND") return one(GatherND());
  if (op == "Squeeze") return one(Squeeze());
  if (op == "Unsqueeze") return one(Unsqueeze());
  if (op == "Reshape" || op == "Flatten") return one(Reshape());
  if (op == "Concat") return one(Concat());
  if (op == "Slice") return one(Slice());
  if (op == "Transpose") return one(Transpose());
  if (op == "Cast") return one(Cast());
  if (op == "TopK") return TopK();
  if (op == "Identity") {
    EV_ASSIGN_OR_RETURN(const TailTensor* x, X(0));
    return one(*x);
  }
  if (op == "Shape") {
    EV_ASSIGN_OR_RETURN(const TailTensor* x, X(0));
    TailTensor s;
    s.is_int = true;
    s.i = x->shape;
    s.shape = {static_cast<int64_t>(s.i.size())};
    return one(std::move(s));
  }
  return Fail("op is not supported");
}

const std::set<std::string>& SupportedOps() {
  static const std::set<std::string> kOps = {"NonMaxSuppression", kTfliteNmsOp, kTensorFlowCombinedNmsOp, "Gather", "GatherND", "Squeeze",
                                             "Unsqueeze", "Reshape", "Flatten", "Concat", "Slice",
                                             "Transpose", "Cast", "TopK", "Identity", "Shape"};
  return kOps;
}

}  // namespace

size_t TailGraph::packed_size() const {
  size_t n = 0;
  for (const TailInput& in : inputs) n = std::max(n, in.offset + static_cast<size_t>(Product(in.shape)));
  return n;
}

Status CheckTail(const TailGraph& tail) {
  std::set<std::string> known;
  for (const TailInput& in : tail.inputs) known.insert(in.name);
  for (const auto& [name, c] : tail.constants) known.insert(name);
  for (const TailNode& node : tail.nodes) {
    if (!SupportedOps().count(node.op)) {
      return Unsupported("node '" + node.name + "' (" + node.op +
                         ") after NonMaxSuppression: edgevision's S1 tail does not run this op");
    }
    if (node.op == "Shape" && (node.ints.count("start") || node.ints.count("end"))) {
      return Unsupported("node '" + node.name + "' (Shape): start/end are not supported");
    }
    for (const std::string& in : node.inputs) {
      if (!in.empty() && !known.count(in)) {
        return Unsupported("node '" + node.name + "' (" + node.op + "): input '" + in + "' is never produced");
      }
    }
    for (const std::string& out : node.outputs) known.insert(out);
  }
  for (const std::string& out : tail.outputs) {
    if (!known.count(out)) return Unsupported("output '" + out + "' is never produced");
  }
  return Status::Ok();
}

Result<std::map<std::string, TailTensor>> RunTail(const TailGraph& tail, std::span<const float> packed) {
  if (packed.size() != tail.packed_size()) {
    return InvalidArgument("S1 tail: the network gave " + std::to_string(packed.size()) + " floats, expected " +
                           std::to_string(tail.packed_size()));
  }
  Tensors values;
  for (const TailInput& in : tail.inputs) {
    TailTensor t;
    t.shape = in.shape;
    t.f.assign(packed.begin() + static_cast<std::ptrdiff_t>(in.offset),
               packed.begin() + static_cast<std::ptrdiff_t>(in.offset + Product(in.shape)));
    if (in.float16) RoundToHalf(t.f);
    values[in.name] = std::move(t);
  }
  auto find = [&](const std::string& name) -> const TailTensor* {
    if (name.empty()) return nullptr;
    auto it = values.find(name);
    if (it != values.end()) return &it->second;
    auto c = tail.constants.find(name);
    return c == tail.constants.end() ? nullptr : &c->second;
  };
  for (const TailNode& node : tail.nodes) {
    std::vector<const TailTensor*> in;
    for (const std::string& name : node.inputs) {
      const TailTensor* t = find(name);
      if (!name.empty() && t == nullptr) return Internal("S1 tail: '" + name + "' is never produced");
      in.push_back(t);
    }
    NodeRun run(node, std::move(in));
    EV_ASSIGN_OR_RETURN(std::vector<TailTensor> outs, run.Run());
    for (size_t k = 0; k < outs.size() && k < node.outputs.size(); ++k) {
      if (!node.outputs[k].empty()) values[node.outputs[k]] = std::move(outs[k]);
    }
  }
  std::map<std::string, TailTensor> result;
  for (const std::string& name : tail.outputs) {
    const TailTensor* t = find(name);
    if (t == nullptr) return Internal("S1 tail: output '" + name + "' is never produced");
    result[name] = *t;
  }
  return result;
}

}  // namespace edgevision::detect
