// Dequantization shared by the GPTQ kernels of gptq.cu and hopper.cu: a packed
// field turned into float16 by LOP3 and HFMA2, the order the pairs of a 32-row chunk
// come in, and the prompt kernels' stage layout and tile dequantization (mm_item,
// mm_part), which gptq_mm (mma.sync) and gptq_ws (wgmma) share.
#pragma once
#include "common.cuh"

__device__ __forceinline__ __half2 h2bits(uint32_t v) { return *reinterpret_cast<__half2*>(&v); }

// lop returns (w & MASK) | 0x64006400 in one LOP3.
template <uint32_t MASK>
__device__ __forceinline__ uint32_t lop(uint32_t w) {
  uint32_t r;
  asm("lop3.b32 %0, %1, %2, %3, 0xEA;" : "=r"(r) : "r"(w), "n"(MASK), "n"(0x64006400));
  return r;
}

__device__ __forceinline__ uint32_t word(const uint4& v, int j) {
  return j == 0 ? v.x : j == 1 ? v.y : j == 2 ? v.z : v.w;
}

// pairOf gives the rows (lo, hi) within a 32-row chunk whose inputs make up the i-th
// half2 of the chunk in the order dot unpacks the weights.
template <int BITS>
__device__ __forceinline__ int2 pairOf(int i) {
  if (BITS == 4) {  // per 8-row word: (0,4) (1,5) (2,6) (3,7)
    const int lo = (i >> 2) * 8 + (i & 3);
    return make_int2(lo, lo + 4);
  }
  if (i == 15) return make_int2(0, 31);
  const int lo = 1 + 10 * (i / 5) + i % 5;  // blocks of ten rows from 1, 11 and 21
  return make_int2(lo, lo + 5);
}

// gxPair is the sorted rows (lo, hi) whose inputs make up half2 p of gather_xN's
// (and gather_xlN's) output: pair p%16 of chunk p/16 in the order the weights are dequantized.
template <int BITS>
struct gxPair {
  __device__ __forceinline__ int2 operator()(int p) const {
    const int2 r = pairOf<BITS>(p & 15);
    const int k = (p >> 4) * 32;
    return make_int2(k + r.x, k + r.y);
  }
};

// unpack returns q - z for the two fields of the float16 pair h (1024 + q*2^p in each
// half): h * (2^-plo, 2^-phi) + off, where off = -(1024*2^-p + z) per half.
__device__ __forceinline__ __half2 unpack(uint32_t h, __half2 scale, __half2 off) {
  return __hfma2(h2bits(h), scale, off);
}

// raw3 is pair i of a 3-bit chunk (words a, b, c; see gptq.cu's dot) as LOP3 leaves it, the
// float16 pair 1024 + q*2^p per half (p of each half: shift3), i a constant once
// unrolled.
__device__ __forceinline__ uint32_t raw3(int i, uint32_t a, uint32_t b, uint32_t c) {
  if (i == 15) return (a & 7u) | lop<0x00070000>(c >> 13);
  const int t = i / 5, k = i % 5;
  uint32_t w;
  if (k < 3) {
    w = t == 0 ? a >> 2 : t == 1 ? b : __funnelshift_r(b, c, 30);
  } else {
    w = t == 0 ? __funnelshift_r(a, b, 11) : t == 1 ? b >> 9 : c >> 7;
  }
  if (k == 0 || k == 3) return lop<0x0007000e>(w);
  if (k == 1 || k == 4) return lop<0x00380070>(w);
  return lop<0x01c00380>(w);
}

// shift3 is the bit p of the low and high value of raw3's pair i.
__device__ __forceinline__ int2 shift3(int i) {
  if (i == 15) return make_int2(0, 0);
  const int k = i % 5;
  return k == 0 || k == 3 ? make_int2(1, 0) : k == 1 || k == 4 ? make_int2(4, 3) : make_int2(7, 6);
}

// pair3 is q - z for pair i of a 3-bit chunk: raw3's pair times 2^-p less 1024*2^-p + z.
__device__ __forceinline__ __half2 pair3(int i, uint32_t a, uint32_t b, uint32_t c, __half2 zz) {
  const int2 p = shift3(i);
  const float lo = 1.f / (1 << p.x), hi = 1.f / (1 << p.y);
  return unpack(raw3(i, a, b, c), __floats2half2_rn(lo, hi), __hsub2(__floats2half2_rn(-1024.f * lo, -1024.f * hi), zz));
}

__device__ __forceinline__ uint32_t h2u(__half2 h) { return *reinterpret_cast<uint32_t*>(&h); }

#define MM_PITCH 72  // halves per shared row of a 64-row step: 64 plus 16 bytes of padding

// mmLayout is the byte layout of one stage of gptq_mm for TM rows and TN columns: the
// input [TM][MM_PITCH] halves, the packed words [2][BITS][TN], the scales [2][TN]
// halves and the zero words [2][ZW] of the step's two chunks; BH is one dequantized
// tile [TN][MM_PITCH] halves. Every part is a multiple of 16 bytes.
template <int BITS, int TM, int TN>
struct mmLayout {
  static constexpr int ZW = BITS == 4 ? TN / 8 : TN * 3 / 32;
  static constexpr int A = TM * MM_PITCH * 2;
  static constexpr int W = 2 * BITS * TN * 4;
  static constexpr int S = 2 * TN * 2;
  static constexpr int Z = 2 * ZW * 4;
  static constexpr int STAGE = A + W + S + Z;
  static constexpr int BH = TN * MM_PITCH * 2;
};

// mmItem is what one thread dequantizes of a step: one column's chunk (its packed
// words, scale and zero).
template <int BITS>
struct mmItem {
  uint32_t w[BITS];
  __half2 s2, zz;
};

// zero_at is column n's zero among zs, the packed zero words of its group from a
// column that is a multiple of 32 on (a checkpoint's qzeros row, or a stage's copy
// of it): a nibble of word n/8 at 4 bits; at 3 bits bits 3(n%32).. of the three
// words of every 32 columns, a field that may straddle two words.
template <int BITS>
__device__ __forceinline__ uint32_t zero_at(const uint32_t* zs, int n) {
  if (BITS == 4) return (zs[n >> 3] >> ((n & 7) * 4)) & 15u;
  const int bit = 3 * (n & 31), wi = (n >> 5) * 3 + (bit >> 5);
  return __funnelshift_r(zs[wi], (bit & 31) > 29 ? zs[wi + 1] : 0u, bit & 31) & 7u;
}

template <int BITS, int TN>
__device__ __forceinline__ void mm_item(mmItem<BITS>& it, const unsigned char* stage, int A, int h, int bn,
                                        float zeroOffset) {
  using L = mmLayout<BITS, 16, TN>;
  const uint32_t* ws = reinterpret_cast<const uint32_t*>(stage + A);
  const __half* ss = reinterpret_cast<const __half*>(stage + A + L::W);
  const uint32_t* zs = reinterpret_cast<const uint32_t*>(stage + A + L::W + L::S) + h * L::ZW;
#pragma unroll
  for (int b = 0; b < BITS; b++) it.w[b] = ws[(h * BITS + b) * TN + bn];
  it.s2 = __half2half2(ss[h * TN + bn]);
  it.zz = __float2half2_rn((float)zero_at<BITS>(zs, bn) + zeroOffset);
}

// mm_part writes part q (pairs 4q..4q+3: 8 values, 16 bytes) of item it to dst, q a
// constant once unrolled.
template <int BITS>
__device__ __forceinline__ void mm_part(__half* dst, const mmItem<BITS>& it, int q) {
  uint32_t v[4];
  if (BITS == 4) {
    const uint32_t w = it.w[q];
    const __half2 o0 = __hsub2(__float2half2_rn(-1024.f), it.zz), o4 = __hsub2(__float2half2_rn(-64.f), it.zz);
    const __half2 one = __float2half2_rn(1.f), sixteenth = __float2half2_rn(1.f / 16.f);
    v[0] = h2u(__hmul2(unpack(lop<0x000f000f>(w), one, o0), it.s2));
    v[1] = h2u(__hmul2(unpack(lop<0x00f000f0>(w), sixteenth, o4), it.s2));
    v[2] = h2u(__hmul2(unpack(lop<0x000f000f>(w >> 8), one, o0), it.s2));
    v[3] = h2u(__hmul2(unpack(lop<0x00f000f0>(w >> 8), sixteenth, o4), it.s2));
  } else {
#pragma unroll
    for (int e = 0; e < 4; e++) v[e] = h2u(__hmul2(pair3(4 * q + e, it.w[0], it.w[1], it.w[2], it.zz), it.s2));
  }
  *reinterpret_cast<uint4*>(dst) = make_uint4(v[0], v[1], v[2], v[3]);
}

// mm_store writes a warp's 4×8 float32 fragments of mma.sync's C layout (acc[i][j][r]:
// row r0 + i*rs + lane/4 + 8(r/2), column c0 + i*cs + 8j + 2(lane%4) + r%2) into Y
// [M, N], adding them when blockIdx.z splits K (Y holds zeros or the other split's
// sums) and skipping rows past M and columns past N.
__device__ __forceinline__ void mm_store(const float (&acc)[4][8][4], float* __restrict__ Y, int M, int N, int r0,
                                         int rs, int c0, int cs) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int mi = 0; mi < 4; mi++)
#pragma unroll
    for (int ni = 0; ni < 8; ni++) {
      const int col = c0 + mi * cs + ni * 8 + 2 * (lane & 3);
      if (col >= N) continue;
#pragma unroll
      for (int hf = 0; hf < 2; hf++) {
        const int m = r0 + mi * rs + (lane >> 2) + 8 * hf;
        if (m >= M) continue;
        float* y = Y + (size_t)m * N + col;
        if (gridDim.z > 1) {
          atomicAdd(y, acc[mi][ni][2 * hf]);
          atomicAdd(y + 1, acc[mi][ni][2 * hf + 1]);
        } else {
          *reinterpret_cast<float2*>(y) = make_float2(acc[mi][ni][2 * hf], acc[mi][ni][2 * hf + 1]);
        }
      }
    }
}

// rowAt places half2 p of a gathered row r at r*K/2 + p: the row-major input of
// gptq_mm, gptq_ws and gptq_wr, K/2 pairs a row.
struct rowAt {
  static constexpr bool padded = false;
  __device__ __forceinline__ __half2* operator()(__half* Xh, int r, int p, int K) const {
    return reinterpret_cast<__half2*>(Xh + (size_t)r * K) + p;
  }
  __device__ __forceinline__ int pairs(int K) const { return K / 2; }
};

// gather_pairs writes row blockIdx.y of X [rows][K] (float32) into Xh as float16 pairs
// for the prompt products: half2 p holds the inputs of sorted rows map(p) = (lo, hi),
// taken through perm where the rows were sorted by group (act-order; perm null
// otherwise), at at(Xh, row, p, K); pairs past K/2 up to at.pairs(K) (a layout's
// padding) are zeros. The blocks of a row stride over p.
template <class Map, class At = rowAt>
__device__ __forceinline__ void gather_pairs(const float* __restrict__ X, const int* __restrict__ perm,
                                             __half* __restrict__ Xh, int K, Map map, At at = At()) {
  const float* x = X + (size_t)blockIdx.y * K;
  for (int p = blockIdx.x * blockDim.x + threadIdx.x; p < at.pairs(K); p += gridDim.x * blockDim.x) {
    __half2 v = __float2half2_rn(0.f);
    if (!At::padded || p < K / 2) {
      const int2 r = map(p);
      const int klo = perm ? perm[r.x] : r.x, khi = perm ? perm[r.y] : r.y;
      v = __floats2half2_rn(x[klo], x[khi]);
    }
    *at(Xh, blockIdx.y, p, K) = v;
  }
}

// gather_staged is gather_pairs through perm (not null) with one block a row (grid
// (1, rows)): the block reads its row once, in order, into shared memory as float16
// (K halves of dynamic shared memory), then takes the permuted pairs from there.
// gather_pairs through perm reads a 32-byte sector for each 4-byte input, in every
// block of the row, so at 512 rows of 65B its gathers made act-order prompts 7%
// slower than grouped ones without it. Rounding each input to float16 before pairing
// them gives the same pairs.
template <class Map, class At = rowAt>
__device__ __forceinline__ void gather_staged(const float* __restrict__ X, const int* __restrict__ perm,
                                              __half* __restrict__ Xh, int K, Map map, At at = At()) {
  extern __shared__ __align__(16) __half gatherRow[];
  const float4* x = reinterpret_cast<const float4*>(X + (size_t)blockIdx.y * K);
  __half2* row2 = reinterpret_cast<__half2*>(gatherRow);
  for (int k = threadIdx.x; k < K / 4; k += blockDim.x) {
    const float4 v = x[k];
    row2[2 * k] = __floats2half2_rn(v.x, v.y);
    row2[2 * k + 1] = __floats2half2_rn(v.z, v.w);
  }
  __syncthreads();
  for (int p = threadIdx.x; p < at.pairs(K); p += blockDim.x) {
    __half2 v = __float2half2_rn(0.f);
    if (!At::padded || p < K / 2) {
      const int2 r = map(p);
      v = __halves2half2(gatherRow[perm[r.x]], gatherRow[perm[r.y]]);
    }
    *at(Xh, blockIdx.y, p, K) = v;
  }
}
