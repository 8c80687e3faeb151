// Shared helpers of the kernels: float16 conversion, warp and block reductions,
// and the step record that makes decode launches independent of their arguments.
#pragma once
#include <cuda_fp16.h>
#include <stdint.h>

// Step holds what changes from one decode step to the next, read by the kernels from
// device memory so that a captured decode step can be replayed unchanged.
struct Step {
  int pos;    // position of the first row fed in this call
  int nhist;  // number of ids in the sampling history (prompt and output)
  float u;    // uniform draw in [0,1) for sampling
  int token;  // the sampled token, written by the sampler
};

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// block_sum reduces over the whole block; every thread gets the result. scratch
// holds at least 32 floats; the block size is a multiple of 32.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < nw ? scratch[lane] : 0.f;
  return warp_sum(v);
}

__device__ __forceinline__ float block_max(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < nw ? scratch[lane] : -INFINITY;
  return warp_max(v);
}
