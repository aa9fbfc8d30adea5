// Float16 storage rounding for models exported as float16 (ONNX Float16):
// a tensor the model types float16 holds only half values, so a runtime that
// computes in float32 (ONNX Runtime's CPU provider does) rounds each value
// it stores into one. edgevision computes in float32 and rounds where ONNX
// Runtime stores float16: the model's input, the inputs of the data-movement
// ops it runs on float16 (the graph's kRoundHalf nodes), a float16 output as
// it leaves the engine (classifier scores, a detector's output, the S1
// tail's inputs) and where the S1 tail casts to float16.
#pragma once

#include <span>

namespace edgevision {

// `x` rounded to the nearest binary16 value (ties to even), returned as a
// float: |x| >= 65520 becomes infinity, NaN stays NaN, values below 2^-14
// round to multiples of 2^-24 (half subnormals).
float RoundToHalf(float x);

// RoundToHalf on every element, in place.
void RoundToHalf(std::span<float> values);

}  // namespace edgevision
