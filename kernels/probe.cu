// The tensor-core rate probe agent bench computes the prefill's compute floor with:
// tc_probe runs iters rounds of PROBE_CHAINS independent mma.sync.m16n8k16 (float16
// inputs, float32 accumulation, the instruction the prompt GEMMs use) in every warp,
// from registers only, so nothing but the tensor cores limits it; the host launches
// enough warps to fill every SM. Each warp then writes its accumulators, so the host
// can check every product against its own:
//
//   out[(w*PROBE_CHAINS + c)*128 + r*8 + n] = iters * sum_k A_w[r][k] * B_c[k][n]
//
// with w the warp's global index, A_w[r][k] = (r+k+w)%4 == 0 ? ((r+w)%2 ? 1 : -1) : 0
// (16x16, four nonzeros a row) and B_c[k][n] = (k+2n+c)%3 - 1 (16x8). Every sum is an
// integer of magnitude at most 4*iters, exact in float32 up to iters = 2^22.
#include "common.cuh"

#define PROBE_CHAINS 4

__device__ __forceinline__ float probe_a(int r, int k, int w) {
  return (r + k + w) % 4 == 0 ? ((r + w) % 2 ? 1.f : -1.f) : 0.f;
}

__device__ __forceinline__ float probe_b(int k, int n, int c) { return (float)((k + 2 * n + c) % 3 - 1); }

extern "C" __global__ void __launch_bounds__(256) tc_probe(float* __restrict__ out, int iters) {
  const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int w = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;
  // The fragments of the PTX ISA's m16n8k16 layouts: lane (g, t) holds A's rows g and
  // g+8 at columns 2t, 2t+1, 2t+8, 2t+9, B's column g at rows 2t, 2t+1, 2t+8, 2t+9.
  uint32_t a[4];
  a[0] = pack_half2(probe_a(g, 2 * t, w), probe_a(g, 2 * t + 1, w));
  a[1] = pack_half2(probe_a(g + 8, 2 * t, w), probe_a(g + 8, 2 * t + 1, w));
  a[2] = pack_half2(probe_a(g, 2 * t + 8, w), probe_a(g, 2 * t + 9, w));
  a[3] = pack_half2(probe_a(g + 8, 2 * t + 8, w), probe_a(g + 8, 2 * t + 9, w));
  uint32_t b[PROBE_CHAINS][2];
  float acc[PROBE_CHAINS][4];
#pragma unroll
  for (int c = 0; c < PROBE_CHAINS; c++) {
    b[c][0] = pack_half2(probe_b(2 * t, g, c), probe_b(2 * t + 1, g, c));
    b[c][1] = pack_half2(probe_b(2 * t + 8, g, c), probe_b(2 * t + 9, g, c));
    acc[c][0] = acc[c][1] = acc[c][2] = acc[c][3] = 0.f;
  }
  for (int i = 0; i < iters; i++) {
#pragma unroll
    for (int c = 0; c < PROBE_CHAINS; c++) mma16816(acc[c], a, b[c]);
  }
  // Lane (g, t) holds D's rows g and g+8 at columns 2t and 2t+1.
#pragma unroll
  for (int c = 0; c < PROBE_CHAINS; c++) {
    float* d = out + (size_t)(w * PROBE_CHAINS + c) * 128;
    d[g * 8 + 2 * t] = acc[c][0];
    d[g * 8 + 2 * t + 1] = acc[c][1];
    d[(g + 8) * 8 + 2 * t] = acc[c][2];
    d[(g + 8) * 8 + 2 * t + 1] = acc[c][3];
  }
}

// read_probe reads the n 16-byte words at p once, the way a decode product of as many
// bytes would at best: each thread loads READ_UNROLL words a round (all in flight
// before the first is used; 128 bytes a thread) and folds them by XOR, and writes sink
// only for a fold that random data all but never gives, so that no load is dropped.
// The host picks the blocks of 256 threads, and so the bytes in flight a
// multiprocessor (32 KB a block).
#define READ_UNROLL 8

extern "C" __global__ void __launch_bounds__(256, 4) read_probe(const uint4* __restrict__ p, long long n,
                                                             uint4* __restrict__ sink) {
  const long long stride = (long long)gridDim.x * blockDim.x;
  long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  uint4 acc = make_uint4(0, 0, 0, 0);
  for (; i + (READ_UNROLL - 1) * stride < n; i += READ_UNROLL * stride) {
    uint4 v[READ_UNROLL];
#pragma unroll
    for (int u = 0; u < READ_UNROLL; u++) v[u] = __ldcs(p + i + u * stride);
#pragma unroll
    for (int u = 0; u < READ_UNROLL; u++) acc.x ^= v[u].x, acc.y ^= v[u].y, acc.z ^= v[u].z, acc.w ^= v[u].w;
  }
  for (; i < n; i += stride) {
    const uint4 v = __ldcs(p + i);
    acc.x ^= v.x, acc.y ^= v.y, acc.z ^= v.z, acc.w ^= v.w;
  }
  if ((acc.x & acc.y & acc.z & acc.w) == 0xffffffffu) *sink = acc;
}
