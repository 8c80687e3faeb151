// GPTQ linear layers read straight from the packed checkpoint layout
// (qweight [K*BITS/32, N] int32, qzeros [G, N*BITS/32] int32, scales [G, N] float16):
// a matrix-vector product for decoding, a tensor-core matrix product for prompts, and
// the one-time reordering of act-order rows by g_idx.
//
// Every 32 input rows of one column take BITS consecutive words of qweight forming one
// little-endian bit stream with value i at bit i*BITS (for 3 bits, values straddle
// words); qzeros packs 32 columns in BITS consecutive words the same way. The weight is
// scale * (q - (zero + zeroOffset)): zeroOffset is 1 for the v1 format, 0 for gptq_v2.
// cgroup[c] is the group of the rows 32c..32c+31 once they are sorted by group; perm[k]
// (null when rows were never permuted) is the original input index of sorted row k.
#include "unpack.cuh"

// value reads value i of a 32-value bit stream held in w[BITS].
template <int BITS>
__device__ __forceinline__ uint32_t value(const uint32_t* w, int i) {
  const int bit = i * BITS, wi = bit >> 5, sh = bit & 31;
  uint32_t v = w[wi] >> sh;
  if (sh + BITS > 32) v |= w[wi + 1] << (32 - sh);
  return v & ((1u << BITS) - 1u);
}

// zero_of reads the zero point of column n from one qzeros row.
template <int BITS>
__device__ __forceinline__ float zero_of(const uint32_t* __restrict__ zrow, int n, float offset) {
  const int bit = (n & 31) * BITS, wi = (n >> 5) * BITS + (bit >> 5), sh = bit & 31;
  uint32_t v = zrow[wi] >> sh;
  if (sh + BITS > 32) v |= zrow[wi + 1] << (32 - sh);
  return (float)(v & ((1u << BITS) - 1u)) + offset;
}

// Decode: y[n] += sum_k x[perm[k]] * W[k, n], for one row of x. Each thread owns four
// adjacent columns (16-byte loads); blockIdx.y splits K into ranges of chunksPerSplit
// 32-row chunks whose partial sums meet in y through atomicAdd, so y must hold zeros
// (or the residual this product adds to) before the launch.
template <int BITS>
__device__ void matvec(const uint32_t* __restrict__ qweight, const uint32_t* __restrict__ qzeros,
                       const __half* __restrict__ scales, const int* __restrict__ cgroup,
                       const int* __restrict__ perm, const float* __restrict__ x,
                       float* __restrict__ y, int K, int N, int chunksPerSplit, float zeroOffset) {
  extern __shared__ float xs[];  // chunksPerSplit*32 inputs, then chunksPerSplit sums
  const int c0 = blockIdx.y * chunksPerSplit;
  const int c1 = min(c0 + chunksPerSplit, K / 32);
  if (c0 >= c1) return;
  const int nk = (c1 - c0) * 32;
  float* xsum = xs + chunksPerSplit * 32;
  for (int i = threadIdx.x; i < nk; i += blockDim.x) {
    const int k = c0 * 32 + i;
    xs[i] = x[perm ? perm[k] : k];
  }
  __syncthreads();
  for (int c = threadIdx.x; c < c1 - c0; c += blockDim.x) {
    float s = 0.f;
#pragma unroll 8
    for (int i = 0; i < 32; i++) s += xs[c * 32 + i];
    xsum[c] = s;
  }
  __syncthreads();
  const int n = (blockIdx.x * blockDim.x + threadIdx.x) * 4;
  if (n >= N) return;
  const int zwords = N * BITS / 32;
  float acc[4] = {0.f, 0.f, 0.f, 0.f};
  for (int c = c0; c < c1; c++) {
    uint32_t w[4][BITS];
#pragma unroll
    for (int b = 0; b < BITS; b++) {
      const uint4 v = *reinterpret_cast<const uint4*>(qweight + (size_t)(c * BITS + b) * N + n);
      w[0][b] = v.x;
      w[1][b] = v.y;
      w[2][b] = v.z;
      w[3][b] = v.w;
    }
    const int g = cgroup[c];
    const float* xc = xs + (c - c0) * 32;
    const float xsc = xsum[c - c0];
    const uint32_t* zrow = qzeros + (size_t)g * zwords;
#pragma unroll
    for (int j = 0; j < 4; j++) {
      float dot = 0.f;
#pragma unroll
      for (int i = 0; i < 32; i++) dot = fmaf(xc[i], (float)value<BITS>(w[j], i), dot);
      const float s = __half2float(scales[(size_t)g * N + n + j]);
      acc[j] = fmaf(s, dot - zero_of<BITS>(zrow, n + j, zeroOffset) * xsc, acc[j]);
    }
  }
#pragma unroll
  for (int j = 0; j < 4; j++) atomicAdd(y + n + j, acc[j]);
}

#define MATVEC(B)                                                                            \
  extern "C" __global__ void __launch_bounds__(128) gptq_matvec_##B(                        \
      const uint32_t* qweight, const uint32_t* qzeros, const __half* scales,                 \
      const int* cgroup, const int* perm, const float* x, float* y, int K, int N,           \
      int chunksPerSplit, float zeroOffset) {                                                \
    matvec<B>(qweight, qzeros, scales, cgroup, perm, x, y, K, N, chunksPerSplit, zeroOffset); \
  }
MATVEC(2)
MATVEC(3)
MATVEC(4)
MATVEC(8)

// Fast decode for 3 and 4 bits, unpacking on the half-precision units: OR-ing a
// 3- or 4-bit field at bit p (p <= 7) of each 16-bit half into the exponent of 1024
// (0x6400) makes the float16 1024 + q*2^p with one LOP3, and one HFMA2 by 2^-p with
// -(1024*2^-p + zero) gives q - zero exactly, two values at a time; the dot product of
// a 32-row chunk runs in half2 arithmetic on float16 inputs, then float32 across chunks
// with the scale applied in float32. The inputs are staged in shared memory as half2
// pairs in the order the unpacking yields them. Each thread owns four adjacent columns
// and reads qweight 16 bytes at a time (a warp covers 512 contiguous bytes of a row).
// Memory latency is hidden by a ring of STAGES chunks in shared memory: the weights,
// scales and zeros of chunk c+STAGES are copied by cp.async once chunk c is computed,
// and nothing the loop waits on comes from global memory (the chunks' groups sit in
// shared memory too).
//
// One launch computes up to three products of the same input (q/k/v, gate/up): the
// column blocks of the weights follow one another along blockIdx.x. blockIdx.y splits K;
// each split stores its partial sums in part, and the last split of a column block to
// finish (counted in count, which it resets) adds them in split order and writes y:
// every output is written, nothing needs clearing first, and the result does not depend
// on the order blocks finish in. With res set (one weight only), rdst = res + y too:
// the residual add of the layer, fused.
#define COLS 512  // columns of a block: 128 threads of 4
#define MV_THREADS 128  // threads of a block (blockDim.x)

// chunk is what one thread reads for one 32-row chunk: BITS words of each of its four
// columns, their four scales and the zero words holding their four zeros.
template <int BITS>
struct chunk {
  uint4 w[BITS];
  uint2 sc;
  uint32_t zw[BITS == 3 ? 2 : 1];
};

// zeroBits returns the bits of the four zeros of columns n..n+3, BITS apiece from
// bit 0.
template <int BITS>
__device__ __forceinline__ uint32_t zeroBits(const chunk<BITS>& ch, int n) {
  if (BITS == 4) return ch.zw[0] >> ((n & 7) * 4);
  return __funnelshift_r(ch.zw[0], ch.zw[BITS == 3 ? 1 : 0], (3 * (n & 31)) & 31);
}

// unpack16 sets u to q - z for column j of chunk ch (zeros zbits), as the 16 pairs of
// rows pairOf gives, in that order.
template <int BITS>
__device__ __forceinline__ void unpack16(__half2 (&u)[16], const chunk<BITS>& ch, int j, uint32_t zbits,
                                         float zeroOffset) {
  const float z = (float)((zbits >> (BITS * j)) & ((1u << BITS) - 1u)) + zeroOffset;
  const __half2 zz = __float2half2_rn(z);
  if (BITS == 4) {
    // low nibble of a byte at bit 0 of each half, high nibble at bit 4
    const __half2 s0 = __float2half2_rn(1.f), s4 = __float2half2_rn(1.f / 16.f);
    const __half2 o0 = __hsub2(__float2half2_rn(-1024.f), zz), o4 = __hsub2(__float2half2_rn(-64.f), zz);
#pragma unroll
    for (int b = 0; b < 4; b++) {
      const uint32_t w = word(ch.w[b], j);
      u[4 * b] = unpack(lop<0x000f000f>(w), s0, o0);
      u[4 * b + 1] = unpack(lop<0x00f000f0>(w), s4, o4);
      u[4 * b + 2] = unpack(lop<0x000f000f>(w >> 8), s0, o0);
      u[4 * b + 3] = unpack(lop<0x00f000f0>(w >> 8), s4, o4);
    }
  } else {
    // Windows of the 96-bit stream a|b|c: value i at bit 3i. In each block of ten
    // rows r0.. (r0 = 1, 11, 21), the window from bit 3*r0-1 holds the pairs
    // (r0+k, r0+k+5), k = 0..2, at bits (1,16), (4,19), (7,22); the window from bit
    // 3*r0+8 holds k = 3, 4 at (1,16), (4,19). Rows 0 and 31 make the last pair.
    const uint32_t a = word(ch.w[0], j), b = word(ch.w[1], j), c = word(ch.w[2], j);
    const __half2 s10 = __halves2half2(__float2half(0.5f), __float2half(1.f));
    const __half2 s43 = __halves2half2(__float2half(1.f / 16), __float2half(1.f / 8));
    const __half2 s76 = __halves2half2(__float2half(1.f / 128), __float2half(1.f / 64));
    const __half2 o10 = __hsub2(__halves2half2(__float2half(-512.f), __float2half(-1024.f)), zz);
    const __half2 o43 = __hsub2(__halves2half2(__float2half(-64.f), __float2half(-128.f)), zz);
    const __half2 o76 = __hsub2(__halves2half2(__float2half(-8.f), __float2half(-16.f)), zz);
    const __half2 o00 = __hsub2(__float2half2_rn(-1024.f), zz);
    const uint32_t win[6] = {a >> 2, __funnelshift_r(a, b, 11), b, b >> 9, __funnelshift_r(b, c, 30), c >> 7};
#pragma unroll
    for (int t = 0; t < 3; t++) {
      const uint32_t w1 = win[2 * t], w2 = win[2 * t + 1];
      u[5 * t] = unpack(lop<0x0007000e>(w1), s10, o10);
      u[5 * t + 1] = unpack(lop<0x00380070>(w1), s43, o43);
      u[5 * t + 2] = unpack(lop<0x01c00380>(w1), s76, o76);
      u[5 * t + 3] = unpack(lop<0x0007000e>(w2), s10, o10);
      u[5 * t + 4] = unpack(lop<0x00380070>(w2), s43, o43);
    }
    const uint32_t last = (a & 7u) | lop<0x00070000>(c >> 13);
    u[15] = __hadd2(h2bits(last), o00);
  }
}

// scaleOf is the float32 scale of column j of the chunk.
template <int BITS>
__device__ __forceinline__ float scaleOf(const chunk<BITS>& ch, int j) {
  const __half2 sp = h2bits(j < 2 ? ch.sc.x : ch.sc.y);
  return (j & 1) ? __high2float(sp) : __low2float(sp);
}

// dot16 is the half2 dot product of the 16 pairs u with the inputs xv (in the same
// order), summed across the pair in float32.
__device__ __forceinline__ float dot16(const __half2 (&u)[16], const uint4 (&xv)[4]) {
  __half2 d = __float2half2_rn(0.f);
#pragma unroll
  for (int b = 0; b < 4; b++) {
    d = __hfma2(u[4 * b], h2bits(xv[b].x), d);
    d = __hfma2(u[4 * b + 1], h2bits(xv[b].y), d);
    d = __hfma2(u[4 * b + 2], h2bits(xv[b].z), d);
    d = __hfma2(u[4 * b + 3], h2bits(xv[b].w), d);
  }
  const float2 f = __half22float2(d);
  return f.x + f.y;
}

// dot adds chunk ch times the chunk's inputs xc (16 pairs, in unpacking order) to acc.
template <int BITS>
__device__ __forceinline__ void dot(float (&acc)[4], const chunk<BITS>& ch, const uint4* xc, int n,
                                    float zeroOffset) {
  uint4 xv[4];
#pragma unroll
  for (int b = 0; b < 4; b++) xv[b] = xc[b];
  const uint32_t zbits = zeroBits<BITS>(ch, n);
#pragma unroll
  for (int j = 0; j < 4; j++) {
    __half2 u[16];
    unpack16<BITS>(u, ch, j, zbits, zeroOffset);
    acc[j] = fmaf(scaleOf<BITS>(ch, j), dot16(u, xv), acc[j]);
  }
}

// dotRows is dot for rows rows (at most R) of inputs: row r's 16 pairs of the chunk
// at xc + r*stride (uint4 units, in shared memory). Each column is unpacked once for
// all rows.
template <int BITS, int R>
__device__ __forceinline__ void dotRows(float (&acc)[R][4], const chunk<BITS>& ch, const uint4* xc, int stride,
                                        int rows, int n, float zeroOffset) {
  const uint32_t zbits = zeroBits<BITS>(ch, n);
  __half2 u[4][16];
#pragma unroll
  for (int j = 0; j < 4; j++) unpack16<BITS>(u[j], ch, j, zbits, zeroOffset);
#pragma unroll
  for (int r = 0; r < R; r++) {
    if (r < rows) {
      uint4 xv[4];
#pragma unroll
      for (int b = 0; b < 4; b++) xv[b] = xc[r * stride + b];
#pragma unroll
      for (int j = 0; j < 4; j++) acc[r][j] = fmaf(scaleOf<BITS>(ch, j), dot16(u[j], xv), acc[r][j]);
    }
  }
}

// lin is one weight of a launch.
struct lin {
  const uint32_t* qweight;
  const uint32_t* qzeros;
  const __half* scales;
  const int* cgroup;
  const int* perm;
  float* y;
  int N;
};

// stage is one 32-row chunk of a block's weights in shared memory, each thread's own
// share at its index: BITS words of its four columns, their scales and zero words.
// Each thread reads back only what it copied itself, so the copies need no barrier,
// only the thread's own cp.async.wait_group.
template <int BITS>
struct stage {
  uint4 w[BITS][MV_THREADS];
  uint2 sc[MV_THREADS];
  uint32_t zw[BITS == 3 ? 2 : 1][MV_THREADS];
};

// issue starts the asynchronous copies of chunk c (group g) of columns n..n+3 into st.
template <int BITS>
__device__ __forceinline__ void issue(stage<BITS>& st, const uint32_t* __restrict__ qweight,
                                      const uint32_t* __restrict__ qzeros, const __half* __restrict__ scales,
                                      int g, int c, int N, int n) {
  const int t = threadIdx.x;
#pragma unroll
  for (int b = 0; b < BITS; b++) cp_async_cg16(&st.w[b][t], qweight + (size_t)(c * BITS + b) * N + n);
  cp_async_ca<8>(&st.sc[t], scales + (size_t)g * N + n, 8);
  if (BITS == 4) {
    cp_async_ca<4>(&st.zw[0][t], qzeros + (size_t)g * (N / 8) + n / 8, 4);
  } else {  // the four zeros are 12 bits at bit 3*(n%32) of a 96-bit stream
    const int bit = 3 * (n & 31);
    const uint32_t* z = qzeros + (size_t)g * (N / 32 * 3) + (n >> 5) * 3 + (bit >> 5);
    cp_async_ca<4>(&st.zw[0][t], z, 4);
    // the second word only when the field crosses into it (else zeros, nothing read)
    cp_async_ca<4>(&st.zw[BITS == 3 ? 1 : 0][t], (bit & 31) > 20 ? z + 1 : z, (bit & 31) > 20 ? 4 : 0);
  }
}

// lastSplit ends a decode product whose K range is split over the gridDim.y blocks of
// a column block, once each block has stored its sums in part: the last block to
// finish (counted in count, which it resets for the next launch) goes on to add them
// up (true); the others are done (false).
__device__ __forceinline__ bool lastSplit(int* __restrict__ count, int& isLast) {
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) {
    const int prev = atomicAdd(count + blockIdx.x, 1);
    isLast = prev == gridDim.y - 1;
    if (isLast) count[blockIdx.x] = 0;  // ready for the next launch
  }
  __syncthreads();
  if (!isLast) return false;
  __threadfence();
  return true;
}

// splitSum adds up, in range order, the four sums of every range s of K at at(s).
template <typename At>
__device__ __forceinline__ float4 splitSum(At at) {
  float4 sum = make_float4(0.f, 0.f, 0.f, 0.f);
  for (int s = 0; s < gridDim.y; s++) {
    const float4 p = __ldcg(reinterpret_cast<const float4*>(at(s)));
    sum.x += p.x;
    sum.y += p.y;
    sum.z += p.z;
    sum.w += p.w;
  }
  return sum;
}

// finishRow stores a one-row product's sums of columns n..n+3 (sum, where this
// thread writes them): with one range of K into y (and rdst = res + y); with
// several into part, the last range of the column block to finish adding every
// range's and storing them. Threads that do not write still meet lastSplit's
// barriers.
__device__ __forceinline__ void finishRow(float4 sum, bool writes, int n, float* __restrict__ y, int col0, int partN,
                                          const float* __restrict__ res, float* __restrict__ rdst,
                                          float* __restrict__ part, int* __restrict__ count, int& isLast) {
  if (gridDim.y > 1) {
    if (writes) __stcg(reinterpret_cast<float4*>(part + (size_t)blockIdx.y * partN + col0 + n), sum);
    if (!lastSplit(count, isLast) || !writes) return;
    sum = splitSum([&](int s) { return part + (size_t)s * partN + col0 + n; });
  }
  if (!writes) return;
  *reinterpret_cast<float4*>(y + n) = sum;
  if (res) {
    const float4 r = *reinterpret_cast<const float4*>(res + n);
    *reinterpret_cast<float4*>(rdst + n) = make_float4(r.x + sum.x, r.y + sum.y, r.z + sum.z, r.w + sum.w);
  }
}

// earlyWait ends the part of a one-row decode product that may overlap the kernel
// ahead of it: launched early (engine/backend/cuda's oneRowEarly), a block has its
// first copies going (nothing writes weights, scales or groups) while that kernel
// finishes, and waits for it here before it reads anything else; it also lets the
// next kernel launch (launchDependents). Launched as usual, both instructions are
// no-ops.
__device__ __forceinline__ void earlyWait() {
  launchDependents();
#if __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

template <int BITS, int STAGES>
__device__ void matvec_fast(const lin& L, int bx, int col0, int partN, const float* __restrict__ x,
                            const float* __restrict__ res, float* __restrict__ rdst, float* __restrict__ part,
                            int* __restrict__ count, int K, int chunksPerSplit, float zeroOffset) {
  // Per chunk, 16 input pairs as half2 in unpacking order; then the chunks' groups.
  extern __shared__ __align__(16) float smem[];
  __shared__ stage<BITS> ring[STAGES];
  __shared__ int isLast;
  __half2* xh = reinterpret_cast<__half2*>(smem);
  int* gs = reinterpret_cast<int*>(smem) + chunksPerSplit * 16;
  const int N = L.N;
  const int c0 = blockIdx.y * chunksPerSplit;
  const int c1 = min(c0 + chunksPerSplit, K / 32);
  const int n = (bx * blockDim.x + threadIdx.x) * 4;
  const bool active = n < N;
  // One commit group per stage, empty ones included, so that chunk c0+i is always
  // group i and waiting for all but the newest STAGES-1 groups finds it complete.
#pragma unroll
  for (int u = 0; u < STAGES; u++) {
    if (active && c0 + u < c1)
      issue<BITS>(ring[u], L.qweight, L.qzeros, L.scales, __ldg(L.cgroup + c0 + u), c0 + u, N, n);
    cp_async_commit();
  }
  earlyWait();
  const int nk = max(c1 - c0, 0) * 32;
  for (int i = threadIdx.x; i < nk / 2; i += blockDim.x) {
    const int2 p = pairOf<BITS>(i & 15);
    const int k = c0 * 32 + (i >> 4) * 32;
    const int klo = k + p.x, khi = k + p.y;
    xh[i] = __floats2half2_rn(x[L.perm ? L.perm[klo] : klo], x[L.perm ? L.perm[khi] : khi]);
  }
  for (int i = threadIdx.x; i < c1 - c0; i += blockDim.x) gs[i] = L.cgroup[c0 + i];
  __syncthreads();
  float acc[4] = {0.f, 0.f, 0.f, 0.f};
  if (active) {
    const uint4* xc = reinterpret_cast<const uint4*>(smem);
    const int t = threadIdx.x;
    int s = 0;
    for (int c = c0; c < c1; c++) {
      cp_async_wait<STAGES - 1>();
      chunk<BITS> cur;
#pragma unroll
      for (int b = 0; b < BITS; b++) cur.w[b] = ring[s].w[b][t];
      cur.sc = ring[s].sc[t];
#pragma unroll
      for (int z = 0; z < (BITS == 3 ? 2 : 1); z++) cur.zw[z] = ring[s].zw[z][t];
      dot<BITS>(acc, cur, xc + (c - c0) * 4, n, zeroOffset);
      // The stage is refilled only after dot has used what was read from it.
      const int next = c + STAGES;
      if (next < c1) issue<BITS>(ring[s], L.qweight, L.qzeros, L.scales, gs[next - c0], next, N, n);
      cp_async_commit();
      s = s + 1 == STAGES ? 0 : s + 1;
    }
  }
  finishRow(make_float4(acc[0], acc[1], acc[2], acc[3]), active, n, L.y, col0, partN, res, rdst, part, count, isLast);
}

// matvec_rows is matvec_fast for a decode batch: rows m0..m0+R-1 of M (m0 = R times
// the block's row group) of Xh, the input gathered to float16 in unpacking order by
// gather_x (through the weights' common perm), Y[M, N] = X W. Each chunk of weights is
// copied and unpacked once for all the block's rows; the row groups of a column block
// are adjacent along blockIdx.x, so they run together and all but the first read the
// weights from L2. The rows' inputs of each chunk travel in the ring beside the
// weights (copied by the first 4R threads, so each chunk waits for a barrier), and a
// stage is refilled once every thread is past it. The splits of K meet as in
// matvec_fast, part holding M rows of partN columns per split.
template <int BITS, int R>
struct rstage {
  stage<BITS> w;
  uint4 x[R][4];
};

template <int BITS, int STAGES, int R>
__device__ void matvec_rows(const lin& L, int bx, int col0, int partN, const __half* __restrict__ xh, int M,
                            int m0, const float* __restrict__ res, float* __restrict__ rdst,
                            float* __restrict__ part, int* __restrict__ count, int K, int chunksPerSplit,
                            float zeroOffset) {
  extern __shared__ __align__(16) float smem[];
  __shared__ rstage<BITS, R> ring[STAGES];
  __shared__ int isLast;
  int* gs = reinterpret_cast<int*>(smem);
  const int N = L.N;
  const int c0 = blockIdx.y * chunksPerSplit;
  const int c1 = min(c0 + chunksPerSplit, K / 32);
  const int n = (bx * blockDim.x + threadIdx.x) * 4;
  const bool active = n < N;
  const int rows = min(R, M - m0);
  const int t = threadIdx.x, xr = t >> 2, xp = t & 3;
  const bool copiesX = xr < rows;
  const __half* xsrc = xh + (size_t)(m0 + xr) * K + xp * 8;
  // chunk c of weights (if active) and inputs into stage st, as one commit group
  auto fill = [&](rstage<BITS, R>& st, int g, int c) {
    if (active) issue<BITS>(st.w, L.qweight, L.qzeros, L.scales, g, c, N, n);
    if (copiesX) cp_async_cg16(&st.x[xr][xp], xsrc + (size_t)c * 32);
    cp_async_commit();
  };
#pragma unroll
  for (int u = 0; u < STAGES; u++) {
    if (c0 + u < c1) {
      fill(ring[u], __ldg(L.cgroup + c0 + u), c0 + u);
    } else {
      cp_async_commit();
    }
  }
  for (int i = threadIdx.x; i < c1 - c0; i += blockDim.x) gs[i] = L.cgroup[c0 + i];
  float acc[R][4];
#pragma unroll
  for (int r = 0; r < R; r++)
#pragma unroll
    for (int j = 0; j < 4; j++) acc[r][j] = 0.f;
  int s = 0;
  for (int c = c0; c < c1; c++) {
    // Chunk c's group is the (c-c0)-th: the prologue's STAGES, then one per pass after
    // the first.
    cp_async_wait<STAGES - 2>();
    __syncthreads();  // chunk c is in for every thread; every thread is done with chunk c-1
    const int prev = s == 0 ? STAGES - 1 : s - 1, next = c - 1 + STAGES;
    if (c > c0) {
      if (next < c1) {
        fill(ring[prev], gs[next - c0], next);
      } else {
        cp_async_commit();
      }
    }
    if (active) {
      chunk<BITS> cur;
#pragma unroll
      for (int b = 0; b < BITS; b++) cur.w[b] = ring[s].w.w[b][t];
      cur.sc = ring[s].w.sc[t];
#pragma unroll
      for (int z = 0; z < (BITS == 3 ? 2 : 1); z++) cur.zw[z] = ring[s].w.zw[z][t];
      dotRows<BITS, R>(acc, cur, &ring[s].x[0][0], 4, rows, n, zeroOffset);
    }
    s = s + 1 == STAGES ? 0 : s + 1;
  }
  if (gridDim.y > 1) {
    if (active)
#pragma unroll
      for (int r = 0; r < R; r++)
        if (r < rows)
          __stcg(reinterpret_cast<float4*>(part + ((size_t)blockIdx.y * M + m0 + r) * partN + col0 + n),
                 make_float4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]));
    if (!lastSplit(count, isLast)) return;
    if (!active) return;
#pragma unroll
    for (int r = 0; r < R; r++) {
      if (r >= rows) continue;
      const float4 sum = splitSum([&](int sp) { return part + ((size_t)sp * M + m0 + r) * partN + col0 + n; });
      acc[r][0] = sum.x, acc[r][1] = sum.y, acc[r][2] = sum.z, acc[r][3] = sum.w;
    }
  }
  if (!active) return;
#pragma unroll
  for (int r = 0; r < R; r++) {
    if (r >= rows) continue;
    const size_t at = (size_t)(m0 + r) * N + n;
    const float4 sum = make_float4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]);
    *reinterpret_cast<float4*>(L.y + at) = sum;
    if (res) {
      const float4 q = *reinterpret_cast<const float4*>(res + at);
      *reinterpret_cast<float4*>(rdst + at) = make_float4(q.x + sum.x, q.y + sum.y, q.z + sum.z, q.w + sum.w);
    }
  }
}

#define LIN(i) const uint32_t *qweight##i, const uint32_t *qzeros##i, const __half *scales##i, \
               const int *cgroup##i, const int *perm##i, float *y##i, int N##i
#define PICK(f) (w == 0 ? f##0 : w == 1 ? f##1 : f##2)
// The column blocks of weight i are [b_i, b_i + ceil(N_i/COLS)) along blockIdx.x;
// part holds N0+N1+N2 columns per split.
#define MATVEC_FAST(B, D, MINB, NAME)                                                           \
  extern "C" __global__ void __launch_bounds__(128, MINB) NAME(                                \
      LIN(0), LIN(1), LIN(2), const float* x, const float* res, float* rdst, float* part,       \
      int* count, int K, int chunksPerSplit, float zeroOffset) {                                \
    const int cb0 = (N0 + COLS - 1) / COLS, cb1 = (N1 + COLS - 1) / COLS;                       \
    const int bx0 = blockIdx.x;                                                                 \
    const int w = bx0 < cb0 ? 0 : bx0 < cb0 + cb1 ? 1 : 2;                                     \
    const int bx = bx0 - (w > 0 ? cb0 : 0) - (w > 1 ? cb1 : 0);                                \
    const int col0 = (w > 0 ? N0 : 0) + (w > 1 ? N1 : 0);                                      \
    const lin L = {PICK(qweight), PICK(qzeros), PICK(scales), PICK(cgroup), PICK(perm), PICK(y), PICK(N)}; \
    matvec_fast<B, D>(L, bx, col0, N0 + N1 + N2, x, res, rdst, part, count, K, chunksPerSplit, zeroOffset); \
  }
// gptq_mv4 keeps four chunks in flight per thread in a shared-memory ring (cp.async):
// 38 KB of static shared memory per block, five blocks per multiprocessor
// (engine/backend/cuda's mvPerSM). One-row 3-bit products take gptq_mvq3 below.
// The launch's weights, as MATVEC_FAST, with G = ceil(M/R) row groups per column
// block along blockIdx.x (group fastest).
#define MATVEC_ROWS(B, R, MINB, NAME)                                                           \
  extern "C" __global__ void __launch_bounds__(128, MINB) NAME(                                \
      LIN(0), LIN(1), LIN(2), const __half* xh, int M, const float* res, float* rdst,           \
      float* part, int* count, int K, int chunksPerSplit, float zeroOffset) {                   \
    const int G = (M + R - 1) / R;                                                              \
    const int cb0 = (N0 + COLS - 1) / COLS, cb1 = (N1 + COLS - 1) / COLS;                       \
    const int bx0 = blockIdx.x / G;                                                             \
    const int w = bx0 < cb0 ? 0 : bx0 < cb0 + cb1 ? 1 : 2;                                     \
    const int bx = bx0 - (w > 0 ? cb0 : 0) - (w > 1 ? cb1 : 0);                                \
    const int col0 = (w > 0 ? N0 : 0) + (w > 1 ? N1 : 0);                                      \
    const lin L = {PICK(qweight), PICK(qzeros), PICK(scales), PICK(cgroup), PICK(perm), PICK(y), PICK(N)}; \
    matvec_rows<B, 4, R>(L, bx, col0, N0 + N1 + N2, xh, M, (blockIdx.x % G) * R, res, rdst, part, count, K, \
                         chunksPerSplit, zeroOffset);                                           \
  }
MATVEC_FAST(4, 4, 5, gptq_mv4)
// Decode batches: 4 rows a block (four blocks per multiprocessor), 16 rows a block
// (three; engine/backend/cuda's mvRowsPerSM); 1 KB of inputs per stage at 16 rows.
MATVEC_ROWS(3, 4, 4, gptq_mv3_r4)
MATVEC_ROWS(4, 4, 4, gptq_mv4_r4)
MATVEC_ROWS(3, 16, 3, gptq_mv3_r16)
MATVEC_ROWS(4, 16, 3, gptq_mv4_r16)

// One-row 3-bit decode on the tensor cores (gptq_mvq3): the weights are unpacked with
// one LOP3 per pair of values and multiplied with mma.sync.m16n8k16, so the half2 dot
// product and the per-value offset of matvec_fast disappear (for 3 bits they took more
// instructions per byte than the card could issue at its read rate). OR-ing a
// field q at bit p of each half into the exponent 25-p makes the float16 2^(10-p) + q
// exactly; the product with the float16 inputs then carries sum 2^(10-p_k) x_k, a sum
// of each chunk's inputs (bias) that does not depend on the column, subtracted in
// float32 after each chunk. The zero enters through the chunk's input sum (xs), the
// scale once per group:
//   y[n] = sum over groups of s[g,n] * (sum_k q x_k - (z[g,n] + zeroOffset) * xs).
//
// A warp owns 64 columns (a block 256). The block's range of K is cut in four quarters
// of Q chunks (32 rows each); lane (g, c) = (lane/4, lane%4) takes chunk q of quarter
// c at step q, so the four chunks of a step (a quad) are q, Q+q, 2Q+q and 3Q+q. The
// warp copies each quad into its own stage of a two-deep ring by cp.async, each lane 16
// bytes of two word rows (lanes 16-31 those of the last two chunks), so one copy
// instruction reads two runs of 256 contiguous bytes. Lane (g, c) then reads its chunk
// for columns 4g..4g+3 and 32+4g..32+4g+3 from the stage (rows padded against bank
// conflicts) and unpacks it as the A operand of four m16n8k16 tiles (rows g and g+8 of
// a tile: two columns) over eight 16-row steps. The B operand (the inputs, float16 in
// unpacking order, staged for the block's K range up front with each chunk's bias and
// xs) is nonzero in tile column n only for the lanes of chunk n/2, so D[row][2c] is
// column row's sum over lane c's chunk alone and each lane reads its own chunk's sums
// from the tile: the group may change from one chunk to the next, and each lane
// applies the scales and zeros of its own chunks once their group ends (copied with
// that quad: with groups of 128 rows, every fourth step, a lane's chunks running
// through its quarter), holding a partial sum per column; the four lanes of a column
// group add theirs at the end. The splits of K meet as in matvec_fast; the first two
// quads' copies may overlap the kernel ahead (earlyWait). Measured on an
// H200 (BENCHMARKS.md, "One-row decode products on the tensor cores"): 7-12% faster
// decode steps than matvec_fast for 3 bits; its 4-bit build made them 4-6% slower
// than gptq_mv4 and went (kept in history), and rings of three to five quads in
// dynamic shared memory (7c5f85a) were no faster ("deeper rings, early launches").
#define MVQ_COLS 256  // columns of a block: four warps of 64

// mvqBase is the float16 2^(10-p) that unpacking pair i of a chunk adds to each half.
__device__ __forceinline__ float2 mvqBase(int i) {
  if (i == 15) return make_float2(1024.f, 1024.f);
  const int k = i % 5;
  return k == 0 || k == 3 ? make_float2(512.f, 1024.f) : k == 2 ? make_float2(8.f, 16.f) : make_float2(64.f, 128.f);
}

// lopr returns (w & mask) | base in one LOP3.
__device__ __forceinline__ uint32_t lopr(uint32_t w, uint32_t mask, uint32_t base) {
  uint32_t r;
  asm("lop3.b32 %0, %1, %2, %3, 0xEA;" : "=r"(r) : "r"(w), "r"(mask), "r"(base));
  return r;
}

// mvqPair is pair i (in pairOf order) of column j of ch as 2^(10-p) + q in each half;
// i must be known at compile time (unrolled loops), which folds the windows of
// unpack16 into a few shifts shared by the pairs of a column.
__device__ __forceinline__ uint32_t mvqPair(const chunk<3>& ch, int j, int i) {
  const uint32_t a = word(ch.w[0], j), b = word(ch.w[1], j), c = word(ch.w[2], j);
  if (i == 15) return (a & 7u) | lopr(c >> 13, 0x00070000u, 0x64006400u);
  const int t = i / 5, k = i % 5;
  const uint32_t w1 = t == 0 ? a >> 2 : t == 1 ? b : __funnelshift_r(b, c, 30);
  const uint32_t w2 = t == 0 ? __funnelshift_r(a, b, 11) : t == 1 ? b >> 9 : c >> 7;
  const uint32_t v = k < 3 ? w1 : w2;
  return k % 3 == 0 ? lopr(v, 0x0007000eu, 0x64006000u)
         : k % 3 == 1 ? lopr(v, 0x00380070u, 0x58005400u)
                      : lopr(v, 0x01c00380u, 0x4c004800u);
}

// qstage is one quad of a warp's 64 columns: its 12 word rows of 16 uint4 (row r,
// word r%3 of the quad's chunk r/3, at qrow(r)), and per lane the scales and zero
// words of its two column groups.
struct qstage {
  uint4 w[216];
  uint2 sc[2][32];
  uint32_t zw[2][2][32];
};

// qrow is where word row r of a quad starts in qstage.w: each row is padded by two
// uint4, so that the eight lanes of an LDS.128 phase (chunks 0-3, column groups g and
// g+1) hit eight different bank groups.
__device__ __forceinline__ int qrow(int r) { return r * 18; }

__device__ void matvec_q(const lin& L, int bx, int col0, int partN, const float* __restrict__ x,
                         const float* __restrict__ res, float* __restrict__ rdst, float* __restrict__ part,
                         int* __restrict__ count, int K, int chunksPerSplit, float zeroOffset) {
  constexpr int BITS = 3, ZW = 2;
  // Per chunk of the range (rounded up to quads), 16 input pairs; then the chunks'
  // (bias, xs); then their groups (-1 past the range).
  extern __shared__ __align__(16) float smem[];
  __shared__ qstage ring[2][MV_THREADS / 32];
  __shared__ uint4 xzero[4];  // the B operand of the lanes that hold none
  __shared__ int isLast;
  const int N = L.N, t = threadIdx.x, lane = t & 31, wp = t >> 5, g = lane >> 2, cq = lane & 3;
  const int c0 = blockIdx.y * chunksPerSplit;
  const int c1 = min(c0 + chunksPerSplit, K / 32);
  const int nc = max(c1 - c0, 0), quads = (nc + 3) / 4;  // quads: Q, the steps
  if (t < 4) xzero[t] = make_uint4(0, 0, 0, 0);
  const uint4* xq = reinterpret_cast<const uint4*>(smem);
  float2* sums = reinterpret_cast<float2*>(smem + quads * 64);
  int* gs = reinterpret_cast<int*>(smem + quads * 72);
  const int wcol = bx * MVQ_COLS + wp * 64;
  const bool warpActive = wcol < N;
  const int ccol = wcol + 4 * (lane & 15);  // the columns this lane copies
  const bool copies = ccol < N;
  const int n[2] = {wcol + 4 * g, wcol + 32 + 4 * g};  // the lane's column groups
  const bool act[2] = {n[0] < N, n[1] < N};
  // issue starts the copies of quad q into st, as one commit group: the weights (the
  // lane's 16 bytes of rows j + 2*BITS*h of the quad, h = lane/16, j < 2*BITS: chunks
  // 2h and 2h+1), and the lane's scales and zeros of group gq when it ends there (the
  // lane's next chunk is of group gn, -1 past its quarter).
  const int h = lane >> 4;
  const uint32_t* wsrc = L.qweight + (size_t)(c0 + 2 * h * quads) * BITS * N + ccol;
  const size_t cstep = (size_t)quads * BITS * N;  // a quarter of the range
  const int wdst = (lane & 15) + 108 * h;  // qrow(r + 2*BITS) - qrow(r)
  auto issue = [&](qstage& st, int q, int gq, int gn) {
    const uint32_t* src = wsrc + (size_t)q * BITS * N;
    if (copies && 3 * quads + q < nc) {  // all four chunks in the range
#pragma unroll
      for (int j = 0; j < 2 * BITS; j++)
        cp_async_cg16(&st.w[qrow(j) + wdst], src + (j / BITS) * cstep + (j % BITS) * (size_t)N);
    } else if (copies) {
#pragma unroll
      for (int j = 0; j < 2 * BITS; j++)
        if ((j / BITS + 2 * h) * quads + q < nc)
          cp_async_cg16(&st.w[qrow(j) + wdst], src + (j / BITS) * cstep + (j % BITS) * (size_t)N);
    }
    if (gq >= 0 && gq != gn) {
#pragma unroll
      for (int i = 0; i < 2; i++) {
        if (!act[i]) continue;
        cp_async_ca<8>(&st.sc[i][lane], L.scales + (size_t)gq * N + n[i], 8);
        // the four zeros are 12 bits at bit 3*(n%32) of a 96-bit stream
        const int bit = 3 * (n[i] & 31);
        const uint32_t* z = L.qzeros + (size_t)gq * (N / 32 * 3) + (n[i] >> 5) * 3 + (bit >> 5);
        cp_async_ca<4>(&st.zw[i][0][lane], z, 4);
        cp_async_ca<4>(&st.zw[i][1][lane], (bit & 31) > 20 ? z + 1 : z, (bit & 31) > 20 ? 4 : 0);
      }
    }
    cp_async_commit();
  };
  // One commit group per stage, empty ones included (matvec_fast).
  if (warpActive) {
#pragma unroll
    for (int u = 0; u < 2; u++) {
      if (u < quads) {
        const int ch = cq * quads + u;  // the lane's chunk, in the range
        issue(ring[u][wp], u, ch < nc ? __ldg(L.cgroup + c0 + ch) : -1,
              u + 1 < quads && ch + 1 < nc ? __ldg(L.cgroup + c0 + ch + 1) : -1);
      } else {
        cp_async_commit();
      }
    }
  }
  earlyWait();
  for (int i = t; i < quads * 64; i += MV_THREADS) {
    const int ch = c0 + (i >> 4);
    __half2 v = __float2half2_rn(0.f);
    if (ch < c1) {
      const int2 p = pairOf<BITS>(i & 15);
      const int klo = ch * 32 + p.x, khi = ch * 32 + p.y;
      v = __floats2half2_rn(x[L.perm ? L.perm[klo] : klo], x[L.perm ? L.perm[khi] : khi]);
    }
    reinterpret_cast<__half2*>(smem)[i] = v;
  }
  for (int i = t; i < quads * 4; i += MV_THREADS) gs[i] = i < nc ? L.cgroup[c0 + i] : -1;
  __syncthreads();
  for (int i = t; i < quads * 4; i += MV_THREADS) {
    const __half2* xc = reinterpret_cast<const __half2*>(smem) + i * 16;
    float bias = 0.f, xs = 0.f;
#pragma unroll
    for (int p = 0; p < 16; p++) {
      const float2 f = __half22float2(xc[p]), base = mvqBase(p);
      bias = fmaf(f.x, base.x, fmaf(f.y, base.y, bias));
      xs += f.x + f.y;
    }
    sums[i] = make_float2(bias, xs);
  }
  __syncthreads();
  float y[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
  if (warpActive) {
    float acc[2][2][4];
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
      for (int mt = 0; mt < 2; mt++)
#pragma unroll
        for (int r = 0; r < 4; r++) acc[i][mt][r] = 0.f;
    float X = 0.f;
    for (int q = 0; q < quads; q++) {
      qstage& st = ring[q & 1][wp];
      cp_async_wait<1>();
      __syncwarp();  // quad q is in the stage for every lane
      chunk<BITS> cur[2];
#pragma unroll
      for (int i = 0; i < 2; i++) {
#pragma unroll
        for (int b = 0; b < BITS; b++) cur[i].w[b] = st.w[qrow(cq * BITS + b) + g + 8 * i];
        cur[i].sc = st.sc[i][lane];
#pragma unroll
        for (int z = 0; z < ZW; z++) cur[i].zw[z] = st.zw[i][z][lane];
      }
      const int ch = cq * quads + q;  // the lane's chunk, in the range
      const int gq = gs[ch], gn = q + 1 < quads ? gs[ch + 1] : -1;
      // B: this lane's chunk's pairs in the tile column g only when g/2 == c
      const uint2* xsrc = reinterpret_cast<const uint2*>((g >> 1) == cq ? xq + ch * 4 : xzero);
      const float2 sm = sums[ch];
      __syncwarp();  // every lane has read the stage: refill it with quad q+2
      if (q + 2 < quads) {
        issue(st, q + 2, gs[ch + 2], q + 3 < quads ? gs[ch + 3] : -1);
      } else {
        cp_async_commit();
      }
      __syncwarp();
      // 16-row steps outermost: the four tiles' mma chains interleave.
#pragma unroll
      for (int s = 0; s < 8; s++) {
        const uint2 v = xsrc[s];  // pairs 2s and 2s+1 (the inputs are not refilled)
        const uint32_t bb[2] = {v.x, v.y};
#pragma unroll
        for (int i = 0; i < 2; i++)
#pragma unroll
          for (int mt = 0; mt < 2; mt++) {
            const uint32_t a[4] = {mvqPair(cur[i], 2 * mt, 2 * s), mvqPair(cur[i], 2 * mt + 1, 2 * s),
                                   mvqPair(cur[i], 2 * mt, 2 * s + 1), mvqPair(cur[i], 2 * mt + 1, 2 * s + 1)};
            mma16816(acc[i][mt], a, bb);
          }
      }
      if (gq >= 0) {
#pragma unroll
        for (int i = 0; i < 2; i++)
#pragma unroll
          for (int mt = 0; mt < 2; mt++) acc[i][mt][0] -= sm.x, acc[i][mt][2] -= sm.x;
        X += sm.y;
        // The group ends here: apply its scales and zeros to the lane's sums.
        if (gq != gn) {
#pragma unroll
          for (int i = 0; i < 2; i++) {
            const uint32_t zbits = zeroBits<BITS>(cur[i], n[i]);
#pragma unroll
            for (int j = 0; j < 4; j++) {
              const float z = (float)((zbits >> (BITS * j)) & ((1u << BITS) - 1u)) + zeroOffset;
              y[i][j] = fmaf(scaleOf<BITS>(cur[i], j), acc[i][j >> 1][(j & 1) * 2] - z * X, y[i][j]);
            }
#pragma unroll
            for (int mt = 0; mt < 2; mt++)
#pragma unroll
              for (int r = 0; r < 4; r++) acc[i][mt][r] = 0.f;
          }
          X = 0.f;
        }
      }
    }
  }
  // The four lanes of a column group hold the sums of their own chunks; lane c < 2
  // writes group c.
#pragma unroll
  for (int i = 0; i < 2; i++)
#pragma unroll
    for (int j = 0; j < 4; j++) {
      y[i][j] += __shfl_xor_sync(0xffffffffu, y[i][j], 1);
      y[i][j] += __shfl_xor_sync(0xffffffffu, y[i][j], 2);
    }
  const int nw = cq & 1 ? n[1] : n[0];
  const bool writes = warpActive && cq < 2 && nw < N;
  const bool hi = cq & 1;
  const float4 sum = make_float4(hi ? y[1][0] : y[0][0], hi ? y[1][1] : y[0][1], hi ? y[1][2] : y[0][2], hi ? y[1][3] : y[0][3]);
  finishRow(sum, writes, nw, L.y, col0, partN, res, rdst, part, count, isLast);
}

// The launch's weights as MATVEC_FAST, in column blocks of MVQ_COLS; four blocks a
// multiprocessor (36 KB of static shared memory; engine/backend/cuda's mvqPerSM).
extern "C" __global__ void __launch_bounds__(128, 4)
    gptq_mvq3(LIN(0), LIN(1), LIN(2), const float* x, const float* res, float* rdst, float* part, int* count, int K,
              int chunksPerSplit, float zeroOffset) {
  const int cb0 = (N0 + MVQ_COLS - 1) / MVQ_COLS, cb1 = (N1 + MVQ_COLS - 1) / MVQ_COLS;
  const int bx0 = blockIdx.x;
  const int w = bx0 < cb0 ? 0 : bx0 < cb0 + cb1 ? 1 : 2;
  const int bx = bx0 - (w > 0 ? cb0 : 0) - (w > 1 ? cb1 : 0);
  const int col0 = (w > 0 ? N0 : 0) + (w > 1 ? N1 : 0);
  const lin L = {PICK(qweight), PICK(qzeros), PICK(scales), PICK(cgroup), PICK(perm), PICK(y), PICK(N)};
  matvec_q(L, bx, col0, N0 + N1 + N2, x, res, rdst, part, count, K, chunksPerSplit, zeroOffset);
}

// Generic prompt processing (2 and 8 bits, the float16 lm_head, and 3 and 4 bits when
// the engine's fastGemm is off; gptq_mm below is the fast path for 3 and 4 bits):
// Y[M, N] = X[M, K] W[K, N] on tensor cores. A block computes a 64x128 tile with four
// warps of 32x64; each 32-row chunk of K is gathered (X through perm) and dequantized
// to float16 in shared memory, then multiplied with mma.sync.m16n8k16 (float16 inputs,
// float32 accumulation). Activations are float32. BITS 16 reads a dense float16 W
// stored [N, K] (the lm_head) instead of packed weights.
#define BM 64
#define BN 128
#define PITCH 40  // halves per shared row: 32 plus padding against bank conflicts

template <int BITS>
__device__ void gemm(const uint32_t* __restrict__ qweight, const uint32_t* __restrict__ qzeros,
                     const __half* __restrict__ scales, const int* __restrict__ cgroup,
                     const int* __restrict__ perm, const float* __restrict__ X,
                     float* __restrict__ Y, int M, int K, int N, float zeroOffset) {
  __shared__ __align__(16) __half As[BM * PITCH];
  __shared__ __align__(16) __half Bs[BN * PITCH];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp >> 1, wn = warp & 1, gq = lane >> 2, tq = lane & 3;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  float acc[2][8][4];
#pragma unroll
  for (int i = 0; i < 2; i++)
#pragma unroll
    for (int j = 0; j < 8; j++)
#pragma unroll
      for (int r = 0; r < 4; r++) acc[i][j][r] = 0.f;

  for (int c = 0; c < K / 32; c++) {
    {  // A: 64 rows x 32 columns, 16 per thread
      const int row = tid >> 1, col = (tid & 1) * 16, m = m0 + row;
#pragma unroll
      for (int j = 0; j < 16; j++) {
        const int k = c * 32 + col + j;
        As[row * PITCH + col + j] = __float2half(m < M ? X[(size_t)m * K + (perm ? perm[k] : k)] : 0.f);
      }
    }
    {  // B: column n0+tid, 32 rows of K
      const int n = n0 + tid;
      __half* dst = Bs + tid * PITCH;
      if (n >= N) {
#pragma unroll
        for (int i = 0; i < 32; i++) dst[i] = __float2half(0.f);
      } else if (BITS == 16) {
        const uint4* src = reinterpret_cast<const uint4*>(
            reinterpret_cast<const __half*>(qweight) + (size_t)n * K + c * 32);
#pragma unroll
        for (int i = 0; i < 4; i++) reinterpret_cast<uint4*>(dst)[i] = src[i];
      } else {
        constexpr int B = BITS == 16 ? 1 : BITS;
        uint32_t w[B];
#pragma unroll
        for (int b = 0; b < B; b++) w[b] = qweight[(size_t)(c * B + b) * N + n];
        const int g = cgroup[c];
        const float s = __half2float(scales[(size_t)g * N + n]);
        const float z = zero_of<B>(qzeros + (size_t)g * (N * B / 32), n, zeroOffset);
#pragma unroll
        for (int i = 0; i < 32; i += 2) {
          const float w0 = s * ((float)value<B>(w, i) - z), w1 = s * ((float)value<B>(w, i + 1) - z);
          *reinterpret_cast<__half2*>(dst + i) = __floats2half2_rn(w0, w1);
        }
      }
    }
    __syncthreads();
#pragma unroll
    for (int ks = 0; ks < 32; ks += 16) {
      uint32_t a[2][4], b[8][2];
#pragma unroll
      for (int mi = 0; mi < 2; mi++) {
        const __half* base = As + (wm * 32 + mi * 16 + gq) * PITCH + ks + 2 * tq;
        a[mi][0] = *reinterpret_cast<const uint32_t*>(base);
        a[mi][1] = *reinterpret_cast<const uint32_t*>(base + 8 * PITCH);
        a[mi][2] = *reinterpret_cast<const uint32_t*>(base + 8);
        a[mi][3] = *reinterpret_cast<const uint32_t*>(base + 8 * PITCH + 8);
      }
#pragma unroll
      for (int ni = 0; ni < 8; ni++) {
        const __half* base = Bs + (wn * 64 + ni * 8 + gq) * PITCH + ks + 2 * tq;
        b[ni][0] = *reinterpret_cast<const uint32_t*>(base);
        b[ni][1] = *reinterpret_cast<const uint32_t*>(base + 8);
      }
#pragma unroll
      for (int mi = 0; mi < 2; mi++)
#pragma unroll
        for (int ni = 0; ni < 8; ni++) mma16816(acc[mi][ni], a[mi], b[ni]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int mi = 0; mi < 2; mi++)
#pragma unroll
    for (int ni = 0; ni < 8; ni++)
#pragma unroll
      for (int r = 0; r < 4; r++) {
        const int m = m0 + wm * 32 + mi * 16 + gq + (r >= 2 ? 8 : 0);
        const int n = n0 + wn * 64 + ni * 8 + 2 * tq + (r & 1);
        if (m < M && n < N) Y[(size_t)m * N + n] = acc[mi][ni][r];
      }
}

#define GEMM(B)                                                                              \
  extern "C" __global__ void __launch_bounds__(128) gptq_gemm_##B(                          \
      const uint32_t* qweight, const uint32_t* qzeros, const __half* scales,                 \
      const int* cgroup, const int* perm, const float* X, float* Y, int M, int K, int N,     \
      float zeroOffset) {                                                                    \
    gemm<B>(qweight, qzeros, scales, cgroup, perm, X, Y, M, K, N, zeroOffset);               \
  }
GEMM(2)
GEMM(3)
GEMM(4)
GEMM(8)

// Prompt processing for 3 and 4 bits, the seed model's quantizations. Two kernels:
//
// gather_x (once per product; gather_xp through a permutation, unpack.cuh's
// gather_staged) writes X as float16 in the order the weights are dequantized: sorted
// row k of chunk c is input perm[32c+k] (act-order), and within each chunk the 32 rows
// come as the 16 pairs pairOf<BITS>(0..15) (gxPair). The product then reads
// contiguous 16-byte runs of it, whatever the groups and act-order.
//
// gptq_mm: Y[M, N] = Xh[M, K] W[K, N] in tiles of TM×TN of Y per block, warps of
// 64×64 (TM/64 × TN/64 of them), K walked 64 rows (two 32-row chunks) a step through a
// ring of STAGES stages in dynamic shared memory filled by cp.async: each stage holds the
// step's input [TM][64] and the packed weight words, scales and zero words of its TN
// columns, straight from the checkpoint layout, STAGES-1 steps ahead of the tensor cores.
// Each weight tile is dequantized once per block, from shared memory into one of two
// float16 tiles [TN][64] (one LOP3 and one HFMA2 per two values as in the decode
// kernels, then one HMUL2 by the scale; each column's chunk has one group), and used
// by all TM rows: while the warps multiply step j (ldmatrix, mma.sync.m16n8k16,
// float32 accumulation), each thread dequantizes its share of step j+1, a quarter
// after each 16-row k-step, into the other tile. One barrier per step. Rows are padded
// to 72 halves so that ldmatrix and the 16-byte stores hit distinct banks. Since the
// dequantized pairs and the gathered X use the same order inside a chunk, no shuffles
// are needed. Rows past M, columns past N and chunks past the block's range are zeros.
// blockIdx.x runs over row tiles so that the blocks sharing a weight tile run together
// and read it from L2. blockIdx.z splits K into ranges of chunksPerSplit chunks; with
// two or more splits each adds its sums into Y, which must hold zeros (two addends to
// zero give the same sum in either order, so two splits stay deterministic). The
// chunks' groups are staged in shared memory after the stages and tiles
// (engine/backend/cuda's mmKernel.shared is the layout's size). Step j+1's share is
// dequantized even past the last step (into the tile no step reads then), so that a
// step is one basic block for the scheduler.

#define GATHER(B)                                                                                \
  extern "C" __global__ void gather_x##B(const float* X, const int* perm, __half* Xh, int K) {    \
    gather_pairs(X, perm, Xh, K, gxPair<B>());                                                    \
  }                                                                                              \
  extern "C" __global__ void __launch_bounds__(1024) gather_xp##B(const float* X, const int* perm, \
                                                                  __half* Xh, int K) {           \
    gather_staged(X, perm, Xh, K, gxPair<B>());                                                   \
  }
GATHER(3)
GATHER(4)

template <int BITS, int WM, int WN, int STAGES>
__device__ void mm(const uint32_t* __restrict__ qweight, const uint32_t* __restrict__ qzeros,
                   const __half* __restrict__ scales, const int* __restrict__ cgroup,
                   const __half* __restrict__ Xh, float* __restrict__ Y, int M, int K, int N,
                   int chunksPerSplit, float zeroOffset) {
  constexpr int TM = 64 * WM, TN = 64 * WN, T = 32 * WM * WN;
  constexpr int IT = 2 * TN / T;  // items (column chunks) a thread dequantizes per step
  using L = mmLayout<BITS, TM, TN>;
  static_assert(STAGES >= 3 && IT * T == 2 * TN, "gptq_mm shape");
  extern __shared__ __align__(16) float smemf[];
  unsigned char* smem = reinterpret_cast<unsigned char*>(smemf);
  __half* bh = reinterpret_cast<__half*>(smem + STAGES * L::STAGE);
  int* gs = reinterpret_cast<int*>(smem + STAGES * L::STAGE + 2 * L::BH);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp / WN, wn = warp % WN;
  const int m0 = blockIdx.x * TM, n0 = blockIdx.y * TN;
  const int c0 = blockIdx.z * chunksPerSplit, c1 = min(c0 + chunksPerSplit, K / 32);
  const int nst = (max(c1 - c0, 0) + 1) / 2;
  for (int i = tid; i < c1 - c0; i += T) gs[i] = cgroup[c0 + i];
  __syncthreads();
  // fill starts the copies of step j (chunks c0+2j, c0+2j+1) into stage st.
  auto fill = [&](int st, int j) {
    unsigned char* base = smem + st * L::STAGE;
    __half* as = reinterpret_cast<__half*>(base);
    uint32_t* ws = reinterpret_cast<uint32_t*>(base + L::A);
    __half* ss = reinterpret_cast<__half*>(base + L::A + L::W);
    uint32_t* zs = reinterpret_cast<uint32_t*>(base + L::A + L::W + L::S);
    const int cs = c0 + 2 * j;
#pragma unroll
    for (int r = 0; r < TM * 8 / T; r++) {
      const int idx = tid + r * T, row = idx >> 3, p = idx & 7, m = m0 + row;
      const bool ok = m < M && cs + (p >> 2) < c1;
      cp_async16(&as[row * MM_PITCH + p * 8], ok ? Xh + (size_t)m * K + (size_t)cs * 32 + p * 8 : Xh, ok);
    }
    constexpr int WP = 2 * BITS * TN / 4;  // 16-byte pieces of packed words
#pragma unroll
    for (int r = 0; r < (WP + T - 1) / T; r++) {
      const int idx = tid + r * T;
      if (idx < WP) {
        const int row = idx / (TN / 4), p = idx % (TN / 4), c = cs + row / BITS, n = n0 + 4 * p;
        const bool ok = c < c1 && n < N;
        cp_async16(&ws[row * TN + 4 * p], ok ? qweight + (size_t)(c * BITS + row % BITS) * N + n : qweight, ok);
      }
    }
    if (tid < 2 * TN / 8) {
      const int h = tid / (TN / 8), p = tid % (TN / 8), c = cs + h, n = n0 + 8 * p;
      const bool ok = c < c1 && n < N;
      cp_async16(&ss[h * TN + 8 * p], ok ? scales + (size_t)gs[c - c0] * N + n : scales, ok);
    }
    for (int idx = tid; idx < 2 * L::ZW; idx += T) {
      const int h = idx / L::ZW, j2 = idx % L::ZW, c = cs + h;
      const bool ok = c < c1 && n0 + (BITS == 4 ? 8 * j2 : 32 * (j2 / 3)) < N;
      const uint32_t* src = qzeros;
      if (ok)
        src = qzeros + (BITS == 4 ? (size_t)gs[c - c0] * (N / 8) + n0 / 8 : (size_t)gs[c - c0] * (N / 32 * 3) + n0 / 32 * 3) + j2;
      cp_async_ca<4>(&zs[h * L::ZW + j2], src, ok ? 4 : 0);
    }
  };
  // The thread's items: column bn of chunk h of a step.
  int ih[IT], ibn[IT];
#pragma unroll
  for (int i = 0; i < IT; i++) ih[i] = (tid + i * T) / TN, ibn[i] = (tid + i * T) % TN;
  float acc[4][8][4];
#pragma unroll
  for (int i = 0; i < 4; i++)
#pragma unroll
    for (int j = 0; j < 8; j++)
#pragma unroll
      for (int r = 0; r < 4; r++) acc[i][j][r] = 0.f;

#pragma unroll
  for (int s = 0; s < STAGES - 1; s++) {
    if (s < nst) fill(s, s);
    cp_async_commit();
  }
  cp_async_wait<STAGES - 2>();
  __syncthreads();
  if (nst > 0) {
#pragma unroll
    for (int i = 0; i < IT; i++) {
      mmItem<BITS> it;
      mm_item<BITS, TN>(it, smem, L::A, ih[i], ibn[i], zeroOffset);
#pragma unroll
      for (int q = 0; q < 4; q++) mm_part<BITS>(bh + ibn[i] * MM_PITCH + 32 * ih[i] + 8 * q, it, q);
    }
  }
  for (int j = 0; j < nst; j++) {
    // Step j+1 is commit group j+1 of the STAGES-1+j committed so far.
    cp_async_wait<STAGES - 3>();
    __syncthreads();  // step j+1 is in for every thread; every thread is done with step j-1
    if (j + STAGES - 1 < nst) fill((j + STAGES - 1) % STAGES, j + STAGES - 1);
    cp_async_commit();
    mmItem<BITS> its[IT];
#pragma unroll
    for (int i = 0; i < IT; i++) mm_item<BITS, TN>(its[i], smem + ((j + 1) % STAGES) * L::STAGE, L::A, ih[i], ibn[i], zeroOffset);
    const __half* as = reinterpret_cast<const __half*>(smem + (j % STAGES) * L::STAGE);
    const __half* bt = bh + (j & 1) * (TN * MM_PITCH);
    __half* bn = bh + ((j + 1) & 1) * (TN * MM_PITCH);
#pragma unroll
    for (int ks = 0; ks < 4; ks++) {
      uint32_t a[4][4], b[8][2];
#pragma unroll
      for (int mi = 0; mi < 4; mi++)
        ldsm4(a[mi], &as[(wm * 64 + mi * 16 + (lane & 15)) * MM_PITCH + ks * 16 + (lane >> 4) * 8]);
#pragma unroll
      for (int nj = 0; nj < 4; nj++) {
        uint32_t r[4];
        ldsm4(r, &bt[(wn * 64 + nj * 16 + (lane & 7) + (lane >> 4) * 8) * MM_PITCH + ks * 16 + ((lane >> 3) & 1) * 8]);
        b[2 * nj][0] = r[0];
        b[2 * nj][1] = r[1];
        b[2 * nj + 1][0] = r[2];
        b[2 * nj + 1][1] = r[3];
      }
#pragma unroll
      for (int i = 0; i < IT; i++) mm_part<BITS>(bn + ibn[i] * MM_PITCH + 32 * ih[i] + 8 * ks, its[i], ks);
#pragma unroll
      for (int mi = 0; mi < 4; mi++)
#pragma unroll
        for (int ni = 0; ni < 8; ni++) mma16816(acc[mi][ni], a[mi], b[ni]);
    }
  }
  mm_store(acc, Y, M, N, m0 + wm * 64, 16, n0 + wn * 64, 0);
}

// gptq_mm3/gptq_mm4: 128×256 tiles (eight warps, two by four), four stages, one block
// per multiprocessor (188 KB of shared memory for 4 bits); engine/backend/cuda's mmBuild
// (TestMMOccupancy). On the H200 (BENCHMARKS.md, "CUDA speed work, round 5") this was
// the fastest of 256×128 and 128×256 tiles with three and four stages, 128×128 with
// three stages at two blocks per multiprocessor, and each k-step's fragments loaded
// before the previous one's products; all within 10%.
#define MM(B)                                                                                    \
  extern "C" __global__ void __launch_bounds__(256, 1) gptq_mm##B(                              \
      const uint32_t* qweight, const uint32_t* qzeros, const __half* scales, const int* cgroup,  \
      const __half* Xh, float* Y, int M, int K, int N, int chunksPerSplit, float zeroOffset) {   \
    mm<B, 2, 4, 4>(qweight, qzeros, scales, cgroup, Xh, Y, M, K, N, chunksPerSplit, zeroOffset);  \
  }
MM(3)
MM(4)

// Decode batches on tensor cores: gptq_tcN_mR (N = 3 or 4 bits; R = 16, 32 or 64, the
// most rows), Y[M, N] = Xh[M, K] W[K, N] for the M <= R rows of a decode batch, Xh the
// input gathered to float16 by gather_xN (sorted by group through perm, each chunk's
// 32 rows as the 16 pairs pairOf<BITS>). The packed weights go from device memory
// straight to registers, are dequantized there into the B operands of
// mma.sync.m16n8k16 and are read once for all the rows; only the input travels
// through shared memory.
//
// The product sums over k, so the k order inside an mma is free as long as A and B
// agree. A warp owns 32 columns and walks K four chunks (128 rows) at a time, lane
// (g, t) = (lane/4, lane%4) taking all of chunk c+t of columns 4g..4g+3 (BITS 16-byte
// loads, one per word row: the warp reads BITS*4 runs of 128 contiguous bytes). The
// 16 pairs of a chunk feed 8 k-steps: in step s, lane (g, t) gives pair 2s as the
// mma's k = 2t, 2t+1 (b0) and pair 2s+1 as k = 2t+8, 2t+9 (b1), so the pairs come in
// exactly the order the LOP3 unpacking yields them and need no shuffles; the A
// fragments of step s are then pairs 2s and 2s+1 of chunk c+t of rows g and g+8,
// adjacent words in the gathered input. Each B tile j (j = 0..3) holds columns
// {4g+j}, so lane (g, t) accumulates columns 8t..8t+7 of rows g and g+8: two float4
// stores. A lane's chunk has one group: the scale and zero of its four columns are
// read with its weights, zero and scale applied in float16 (one HFMA2 and one HMUL2
// per pair after the LOP3), accumulation in float32.
//
// A block is W warps side by side (32W columns) sharing one K range (blockIdx.y,
// chunksPerSplit chunks, a multiple of 4) and up to 16MT rows (MT row tiles of 16).
// Its input is staged per four chunks in a ring of STAGES slots by cp.async (one
// barrier per four chunks), laid out [chunk][row][32 halves] with 16 bytes of padding
// per chunk so that a quarter warp's 16-byte reads hit distinct banks; rows past M are
// zeros. The weights of the next PF four-chunk blocks are in flight in registers
// while the current ones are multiplied (and with PD > 0 the PD after those are asked
// of L2 by prefetch). The splits meet as in matvec_fast (part, count:
// deterministic), several weights share one launch along blockIdx.x and res/rdst fuse
// the residual add, as gptq_mvN_rR.
// tcfetch is what one lane reads for its chunk: BITS words of each of its four
// columns, their scales and the zero words holding their zeros.
template <int BITS>
struct tcfetch {
  uint4 w[BITS];
  uint2 sc;
  uint32_t z0, z1;
};

// tc_load reads chunk c (group g) of columns n..n+3, or zeros when !valid (a zero
// scale makes the weights zero).
template <int BITS>
__device__ __forceinline__ void tc_load(tcfetch<BITS>& f, const lin& L, int g, int c, int n, bool valid) {
  const int N = L.N;
  if (!valid) {
#pragma unroll
    for (int b = 0; b < BITS; b++) f.w[b] = make_uint4(0, 0, 0, 0);
    f.sc = make_uint2(0, 0);
    f.z0 = f.z1 = 0;
    return;
  }
#pragma unroll
  for (int b = 0; b < BITS; b++) f.w[b] = __ldcs(reinterpret_cast<const uint4*>(L.qweight + (size_t)(c * BITS + b) * N + n));
  f.sc = __ldg(reinterpret_cast<const uint2*>(L.scales + (size_t)g * N + n));
  if (BITS == 4) {
    f.z0 = __ldg(L.qzeros + (size_t)g * (N / 8) + n / 8);
    f.z1 = 0;
  } else {  // the four zeros are 12 bits at bit 3*(n%32) of a 96-bit stream
    const int bit = 3 * (n & 31);
    const uint32_t* z = L.qzeros + (size_t)g * (N / 32 * 3) + (n >> 5) * 3 + (bit >> 5);
    f.z0 = __ldg(z);
    f.z1 = (bit & 31) > 20 ? __ldg(z + 1) : 0u;
  }
}


// tc_step multiplies one lane's four chunks' worth (f, its chunk of four columns) by
// the staged input xc (the lane's chunk slab of the stage) into acc.
template <int BITS, int MT>
__device__ __forceinline__ void tc_step(float (&acc)[MT][4][4], const tcfetch<BITS>& f, const __half* xc, int g,
                                        int n, float zeroOffset) {
  __half2 s2[4], zz[4];
  const __half2 slo = h2bits(f.sc.x), shi = h2bits(f.sc.y);
  s2[0] = __low2half2(slo);
  s2[1] = __high2half2(slo);
  s2[2] = __low2half2(shi);
  s2[3] = __high2half2(shi);
  const uint32_t zb = BITS == 4 ? f.z0 >> ((n & 7) * 4) : __funnelshift_r(f.z0, f.z1, (3 * (n & 31)) & 31);
#pragma unroll
  for (int j = 0; j < 4; j++) zz[j] = __float2half2_rn((float)((zb >> (BITS * j)) & ((1u << BITS) - 1u)) + zeroOffset);
#pragma unroll
  for (int q = 0; q < 4; q++) {
    // bq[j][k]: b0, b1 of tile j in step 2q+k (pairs 4q+2k, 4q+2k+1)
    uint32_t bq[4][2][2];
#pragma unroll
    for (int j = 0; j < 4; j++) {
      if (BITS == 4) {
        const uint32_t w = word(f.w[q], j), w8 = w >> 8;
        const __half2 o0 = __hsub2(__float2half2_rn(-1024.f), zz[j]), o4 = __hsub2(__float2half2_rn(-64.f), zz[j]);
        const __half2 one = __float2half2_rn(1.f), sixteenth = __float2half2_rn(1.f / 16.f);
        bq[j][0][0] = h2u(__hmul2(unpack(lop<0x000f000f>(w), one, o0), s2[j]));
        bq[j][0][1] = h2u(__hmul2(unpack(lop<0x00f000f0>(w), sixteenth, o4), s2[j]));
        bq[j][1][0] = h2u(__hmul2(unpack(lop<0x000f000f>(w8), one, o0), s2[j]));
        bq[j][1][1] = h2u(__hmul2(unpack(lop<0x00f000f0>(w8), sixteenth, o4), s2[j]));
      } else {
        const uint32_t a = word(f.w[0], j), b = word(f.w[BITS == 3 ? 1 : 0], j), c = word(f.w[BITS == 3 ? 2 : 0], j);
#pragma unroll
        for (int k = 0; k < 2; k++) {
          bq[j][k][0] = h2u(__hmul2(pair3(4 * q + 2 * k, a, b, c, zz[j]), s2[j]));
          bq[j][k][1] = h2u(__hmul2(pair3(4 * q + 2 * k + 1, a, b, c, zz[j]), s2[j]));
        }
      }
    }
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
      const uint4 a0 = *reinterpret_cast<const uint4*>(xc + (16 * mt + g) * 32 + q * 8);
      const uint4 a1 = *reinterpret_cast<const uint4*>(xc + (16 * mt + g + 8) * 32 + q * 8);
      const uint32_t alo[4] = {a0.x, a1.x, a0.y, a1.y}, ahi[4] = {a0.z, a1.z, a0.w, a1.w};
#pragma unroll
      for (int j = 0; j < 4; j++) {
        mma16816(acc[mt][j], alo, bq[j][0]);
        mma16816(acc[mt][j], ahi, bq[j][1]);
      }
    }
  }
}

// prefetch_l2 asks for the line holding p to be brought into L2 (no register waits
// for it).
__device__ __forceinline__ void prefetch_l2(const void* p) { asm volatile("prefetch.global.L2 [%0];\n" ::"l"(p)); }

// tc_finish stores a lane's sums acc (acc[mt][j][2h+e]: row 16mt+g+8h, column
// nc+4e+j) of its block's K range: with one range, into y (and rdst = res + y);
// with several, into part, and the last range of the column block to finish
// (lastSplit) adds every range's sums in range order (splitSum) and stores them.
template <int MT>
__device__ __forceinline__ void tc_finish(float (&acc)[MT][4][4], const lin& L, int nc, int g, int col0, int partN,
                                          int M, const float* __restrict__ res, float* __restrict__ rdst,
                                          float* __restrict__ part, int* __restrict__ count, int& isLast) {
  const int N = L.N;
  if (gridDim.y > 1) {
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
      for (int h = 0; h < 2; h++)
#pragma unroll
        for (int e = 0; e < 2; e++) {
          const int m = 16 * mt + g + 8 * h, col = nc + 4 * e;
          if (m < M && col < N)
            __stcg(reinterpret_cast<float4*>(part + ((size_t)blockIdx.y * M + m) * partN + col0 + col),
                   make_float4(acc[mt][0][2 * h + e], acc[mt][1][2 * h + e], acc[mt][2][2 * h + e], acc[mt][3][2 * h + e]));
        }
    if (!lastSplit(count, isLast)) return;
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
      for (int h = 0; h < 2; h++)
#pragma unroll
        for (int e = 0; e < 2; e++) {
          const int m = 16 * mt + g + 8 * h, col = nc + 4 * e;
          if (m >= M || col >= N) continue;
          const float4 sum = splitSum([&](int sp) { return part + ((size_t)sp * M + m) * partN + col0 + col; });
          acc[mt][0][2 * h + e] = sum.x, acc[mt][1][2 * h + e] = sum.y;
          acc[mt][2][2 * h + e] = sum.z, acc[mt][3][2 * h + e] = sum.w;
        }
  }
#pragma unroll
  for (int mt = 0; mt < MT; mt++)
#pragma unroll
    for (int h = 0; h < 2; h++)
#pragma unroll
      for (int e = 0; e < 2; e++) {
        const int m = 16 * mt + g + 8 * h, col = nc + 4 * e;
        if (m >= M || col >= N) continue;
        const size_t at = (size_t)m * N + col;
        const float4 sum = make_float4(acc[mt][0][2 * h + e], acc[mt][1][2 * h + e], acc[mt][2][2 * h + e], acc[mt][3][2 * h + e]);
        *reinterpret_cast<float4*>(L.y + at) = sum;
        if (res) {
          const float4 r = *reinterpret_cast<const float4*>(res + at);
          *reinterpret_cast<float4*>(rdst + at) = make_float4(r.x + sum.x, r.y + sum.y, r.z + sum.z, r.w + sum.w);
        }
      }
}

// tc multiplies a block's columns over its K range: the input staged per four chunks
// in a ring of STAGES slots, the weights fetched into registers PF four-chunk blocks
// ahead and, with PD > 0, prefetched into L2 PD blocks further ahead.
template <int BITS, int MT, int STAGES, int W, int PF, int PD, int CHUNKS>
__device__ void tc(const lin& L, int bx, int col0, int partN, const __half* __restrict__ xh, int M,
                   const float* __restrict__ res, float* __restrict__ rdst, float* __restrict__ part,
                   int* __restrict__ count, int K, int chunksPerSplit, float zeroOffset) {
  constexpr int MP = 16 * MT;        // rows of the A tiles
  constexpr int SLAB = MP * 32 + 8;  // halves per chunk of a stage
  constexpr int T = 32 * W;          // threads (and columns) of a block
  __shared__ __align__(16) __half xs[STAGES][4 * SLAB];
  __shared__ int gs[CHUNKS];
  __shared__ int isLast;
  const int N = L.N, tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;
  const int c0 = blockIdx.y * chunksPerSplit, c1 = min(c0 + chunksPerSplit, K / 32);
  const int nsc = max(c1 - c0 + 3, 0) / 4;
  const int nw = bx * T + warp * 32, n = nw + 4 * g;
  const bool nvalid = n < N;
  for (int i = tid; i < c1 - c0; i += blockDim.x) gs[i] = L.cgroup[c0 + i];
  // fillX copies the input of chunks c0+4i..c0+4i+3 into stage st.
  auto fillX = [&](int st, int i) {
    const int cs = c0 + 4 * i;
#pragma unroll
    for (int r = 0; r < 16 * MT * 16 / T; r++) {
      const int idx = tid + r * T;
      const int q = idx & 3, m = (idx >> 2) % MP, u = idx / (4 * MP);
      const bool ok = m < M && cs + u < c1;
      const __half* src = ok ? xh + (size_t)m * K + (size_t)(cs + u) * 32 + q * 8 : xh;
      cp_async16(&xs[st][u * SLAB + m * 32 + q * 8], src, ok);
    }
  };
#pragma unroll
  for (int u = 0; u < STAGES - 1; u++) {
    if (u < nsc) fillX(u, u);
    cp_async_commit();
  }
  float acc[MT][4][4];
#pragma unroll
  for (int mt = 0; mt < MT; mt++)
#pragma unroll
    for (int j = 0; j < 4; j++)
#pragma unroll
      for (int r = 0; r < 4; r++) acc[mt][j][r] = 0.f;
  // prefetch asks L2 for the weights of this lane's chunk of four-chunk block i.
  auto prefetch = [&](int i) {
    const int c = c0 + 4 * i + t;
    if (nvalid && c < c1)
#pragma unroll
      for (int b = 0; b < BITS; b++) prefetch_l2(L.qweight + (size_t)(c * BITS + b) * N + n);
  };
  if (PD > 0)
#pragma unroll
    for (int i = PF; i < PF + PD; i++) prefetch(i);
  // f[i mod PF] receives four-chunk block i while block i-PF is multiplied (the loop
  // is unrolled PF times so that f is indexed statically and stays in registers).
  tcfetch<BITS> f[PF];
#pragma unroll
  for (int p = 0; p < PF; p++) {
    const int c = c0 + 4 * p + t;
    const bool ok = nvalid && c < c1;
    tc_load<BITS>(f[p], L, ok ? __ldg(L.cgroup + c) : 0, c, n, ok);
  }
  int s = 0, sfill = STAGES - 1;
  for (int i0 = 0; i0 < nsc; i0 += PF) {
#pragma unroll
    for (int p = 0; p < PF; p++) {
      const int i = i0 + p;
      if (i >= nsc) break;  // the same for every thread of the block
      // Four-chunk block i is the i-th commit group: the prologue's STAGES-1, then
      // one per pass.
      cp_async_wait<STAGES - 2>();
      __syncthreads();  // block i's input is in for every thread; all are done with block i-1
      if (i + STAGES - 1 < nsc) fillX(sfill, i + STAGES - 1);
      cp_async_commit();
      sfill = sfill + 1 == STAGES ? 0 : sfill + 1;
      const tcfetch<BITS> cur = f[p];
      if (i + PF < nsc) {
        const int c = c0 + 4 * (i + PF) + t;
        const bool ok = nvalid && c < c1;
        tc_load<BITS>(f[p], L, ok ? gs[c - c0] : 0, c, n, ok);
      }
      if (PD > 0) prefetch(i + PF + PD);
      if (nw < N) tc_step<BITS, MT>(acc, cur, &xs[s][t * SLAB], g, n, zeroOffset);
      s = s + 1 == STAGES ? 0 : s + 1;
    }
  }
  // acc[mt][j][2h+e] is row 16mt+g+8h, column nc+4e+j.
  tc_finish<MT>(acc, L, nw + 8 * t, g, col0, partN, M, res, rdst, part, count, isLast);
}

// The column blocks of weight i are [b_i, b_i + ceil(N_i/(32W))) along blockIdx.x;
// part holds N0+N1+N2 columns of M rows per split.
#define TC(B, MT, STAGES, W, PF, PD, CHUNKS, MINB, NAME)                                            \
  extern "C" __global__ void __launch_bounds__(32 * W, MINB) NAME(                              \
      LIN(0), LIN(1), LIN(2), const __half* xh, int M, const float* res, float* rdst,           \
      float* part, int* count, int K, int chunksPerSplit, float zeroOffset) {                   \
    const int cb0 = (N0 + 32 * W - 1) / (32 * W), cb1 = (N1 + 32 * W - 1) / (32 * W);           \
    const int bx0 = blockIdx.x;                                                                 \
    const int w = bx0 < cb0 ? 0 : bx0 < cb0 + cb1 ? 1 : 2;                                     \
    const int bx = bx0 - (w > 0 ? cb0 : 0) - (w > 1 ? cb1 : 0);                                \
    const int col0 = (w > 0 ? N0 : 0) + (w > 1 ? N1 : 0);                                      \
    const lin L = {PICK(qweight), PICK(qzeros), PICK(scales), PICK(cgroup), PICK(perm), PICK(y), PICK(N)}; \
    tc<B, MT, STAGES, W, PF, PD, CHUNKS>(L, bx, col0, N0 + N1 + N2, xh, M, res, rdst, part, count, K, chunksPerSplit, \
                                     zeroOffset);                                                \
  }
// gptq_tcN_mR_pPwW[dD]: W warps (32W columns) a block, P four-chunk blocks of weights
// in flight per lane in registers, and D more asked of L2 (prefetch).
// engine/backend/cuda's tcKernels lists them with the blocks per multiprocessor their
// __launch_bounds__ promise (eight warps: two up to 32 rows, at
// most 128 registers a thread, one at 64; four warps: four, 128 registers), which
// TestTCOccupancy checks. Only the fastest shape of each tile is built: on the H200
// (BENCHMARKS.md, "Tensor-core launch shapes") more blocks of weights in flight per
// lane (P 2, 3), L2 prefetch (D 2, 4) and four-warp blocks were all slower than
// P 1, W 8 once K is split for whole waves; so was a 16-row variant of four warps
// with the weights in a three-stage cp.async ring beside the input.
#define TCB(B)                                         \
  TC(B, 1, 3, 8, 1, 0, 1024, 2, gptq_tc##B##_m16_p1w8) \
  TC(B, 2, 3, 8, 1, 0, 1024, 2, gptq_tc##B##_m32_p1w8) \
  TC(B, 4, 2, 8, 1, 0, 1024, 1, gptq_tc##B##_m64_p1w8)
TCB(3)
TCB(4)

// Decode batches on tensor cores with the zero points and scales outside the
// products: gptq_tcN_m16_p1w4r, for up to 16 rows of weights whose every four-chunk
// block (128 sorted rows) has one group (no groups, groups of 128 or more, act-order
// included).
//
// LOP3 alone turns a field q at bit p of a packed word into the float16 1024 + q*2^p
// (the decode kernels' unpacking, before its HFMA2). If the input at that k is
// stored as x*2^-p (exact in float16), the product of the two is x*q + 1024*x*2^-p,
// so over a group's rows, per row m and column n,
//   sum_k x*(q - z) = S - P_m - z_n*Q_m,  S the mma's sum of those products,
// P_m = 1024*sum_k x*2^-p and Q_m = sum_k x (of the float16 values the mma reads),
// and the group's output is s_n times that. The B operands are LOP3's results as
// they are (one instruction per two weights instead of three: no HFMA2, no HMUL2),
// and a lane applies z and s to its 16 sums of a row tile once per group (per
// four-chunk block at groups of 128; without groups every fourth block: tcr_fold).
// Precision: S carries the 1024*x terms, about 2^7 times the signal, in float32 (17
// of its 24 bits are left for the signal, against float16's 11 in the B operands of
// gptq_tcN_mR), accumulated by the tensor cores over at most four blocks.
//
// gather_xtN writes the input for them: rows padded to tiles of 16 with zeros, x*2^-p
// in float16 in the decode kernels' pair order (pairOf, through perm), in the order
// the mma's A fragments are read, so that a warp's read of them is 512 contiguous
// bytes: per tile of 16 rows and four-chunk block (chunks padded with zeros to whole
// blocks), eight pieces v = 2q+h of 32 lanes' 16 bytes, lane (g, t)'s piece v being
// words 4v..4v+3 of row g of chunk t, where word 2j+e of a row is pair j of row
// g+8e (a lane's step q reads pieces 2q and 2q+1, pairs 4q..4q+3 of rows g and g+8,
// as {a0, a1, a2, a3} of its two mmas); and per four-chunk block and row its (Q, P)
// in sums[block*64 + row]. blockIdx.y is the row, 256 pairs (four four-chunk blocks)
// a block of 256 threads.
template <int BITS>
__device__ __forceinline__ int2 shiftOf(int i) {
  if (BITS == 4) return make_int2(4 * (i & 1), 4 * (i & 1));  // pairs of low, then high nibbles
  return shift3(i);
}

template <int BITS>
__device__ void gather_xt(const float* __restrict__ X, const int* __restrict__ perm, uint32_t* __restrict__ xt,
                          float2* __restrict__ sums, int K, int M) {
  __shared__ float2 red[8];
  const int m = blockIdx.y, p = blockIdx.x * 256 + threadIdx.x, chunks = K / 32, quads = (chunks + 3) / 4;
  float q = 0.f, s = 0.f;
  if (p < quads * 64) {
    const int j = p & 15, c = p >> 4;
    const int2 sh = shiftOf<BITS>(j);
    float lo = 0.f, hi = 0.f;
    if (m < M && c < chunks) {
      const int2 r = pairOf<BITS>(j);
      const int k = c * 32, klo = perm ? perm[k + r.x] : k + r.x, khi = perm ? perm[k + r.y] : k + r.y;
      lo = X[(size_t)m * K + klo] * (1.f / (1 << sh.x));
      hi = X[(size_t)m * K + khi] * (1.f / (1 << sh.y));
    }
    const __half2 h = __floats2half2_rn(lo, hi);
    const float2 f = __half22float2(h);
    q = f.x * (float)(1 << sh.x) + f.y * (float)(1 << sh.y);
    s = f.x + f.y;
    const int tile = m >> 4, g = m & 7, w = 2 * j + ((m >> 3) & 1);  // word w of row g of chunk c
    xt[(((size_t)(tile * quads + (c >> 2)) * 8 + (w >> 2)) * 32 + 4 * g + (c & 3)) * 4 + (w & 3)] = h2u(h);
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    q += __shfl_xor_sync(0xffffffffu, q, o);
    s += __shfl_xor_sync(0xffffffffu, s, o);
  }
  if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = make_float2(q, s);
  __syncthreads();
  const int quad = blockIdx.x * 4 + threadIdx.x;
  if (threadIdx.x < 4 && quad < quads) {
    const float2 a = red[2 * threadIdx.x], b = red[2 * threadIdx.x + 1];
    sums[(size_t)quad * 64 + m] = make_float2(a.x + b.x, 1024.f * (a.y + b.y));
  }
}

#define GATHER_XT(B)                                                                                        \
  extern "C" __global__ void __launch_bounds__(256) gather_xt##B(const float* X, const int* perm, uint32_t* xt, \
                                                                 float2* sums, int K, int M) {              \
    gather_xt<B>(X, perm, xt, sums, K, M);                                                                  \
  }
GATHER_XT(3)
GATHER_XT(4)

// tcrfetch is what one lane reads for a four-chunk block: BITS words of each of its
// four columns (chunk c+t, columns 4g..4g+3) and, when the block ends a fold (below),
// the scales and zero words of the eight columns nc..nc+7 whose sums it holds.
template <int BITS>
struct tcrfetch {
  uint4 w[BITS];
  uint4 sc;
  uint32_t z0, z1;
};

// tcr_fold reports whether the sums of four-chunk block i of a range of nsc are
// folded into the output after it: where a group ends (every chunk of a block has
// one group; gs holds the range's chunk groups) and every fourth block. The mma's
// float32 sums carry the inputs' 1024*x*2^-p terms, about 2^7 times the signal, and
// the tensor cores' accumulation rounds toward zero, so an unfolded range of K
// drifts with its length (2208 inputs unsplit, 3 bits without groups: 0.22%
// relative error, over TestTCConfigs' 0.2%); folding bounds each chain of sums to
// 32 k-steps.
__device__ __forceinline__ bool tcr_fold(const int* gs, int nsc, int i) {
  return i == nsc - 1 || (i & 3) == 3 || gs[4 * (i + 1)] != gs[4 * i];
}

// tcr_load reads four-chunk block i of the range [c0, c1) into f for lane (g, t) of
// a warp whose columns start at nw: chunk c0+4i+t of columns n = nw+4g..n+3 (a chunk
// past the range reads the range's last chunk instead, which the zeros of its input
// cancel) and, when fold, the scales and zeros of columns nc..nc+7 (the block's
// group's).
template <int BITS>
__device__ __forceinline__ void tcr_load(tcrfetch<BITS>& f, const lin& L, const int* gs, int c0, int c1, int i,
                                         int t, int n, int nc, bool fold) {
  const int N = L.N, c = min(c0 + 4 * i + t, c1 - 1);
#pragma unroll
  for (int b = 0; b < BITS; b++) f.w[b] = __ldcs(reinterpret_cast<const uint4*>(L.qweight + (size_t)(c * BITS + b) * N + n));
  if (fold) {
    const int grp = gs[4 * i];
    f.sc = __ldg(reinterpret_cast<const uint4*>(L.scales + (size_t)grp * N + nc));
    if (BITS == 4) {
      f.z0 = __ldg(L.qzeros + (size_t)grp * (N / 8) + nc / 8);
    } else {  // eight zeros, 24 bits at bit 3*(nc%32) of a 96-bit stream
      const int bit = 3 * (nc & 31);
      const uint32_t* z = L.qzeros + (size_t)grp * (N / 32 * 3) + (nc >> 5) * 3 + (bit >> 5);
      f.z0 = __ldg(z);
      f.z1 = (bit & 31) > 8 ? __ldg(z + 1) : 0u;
    }
  }
}

// tcr_b sets bq to the B operands of steps 2q and 2q+1 of a four-chunk block
// (weights cur): bq[j][k] is b0, b1 of tile j (columns 4g'+j) in step 2q+k.
template <int BITS>
__device__ __forceinline__ void tcr_b(uint32_t (&bq)[4][2][2], const tcrfetch<BITS>& cur, int q) {
#pragma unroll
  for (int j = 0; j < 4; j++) {
    if (BITS == 4) {
      const uint32_t w = word(cur.w[q], j), w8 = w >> 8;
      bq[j][0][0] = lop<0x000f000f>(w);
      bq[j][0][1] = lop<0x00f000f0>(w);
      bq[j][1][0] = lop<0x000f000f>(w8);
      bq[j][1][1] = lop<0x00f000f0>(w8);
    } else {
      const uint32_t a = word(cur.w[0], j), b = word(cur.w[BITS == 3 ? 1 : 0], j), c = word(cur.w[BITS == 3 ? 2 : 0], j);
#pragma unroll
      for (int k = 0; k < 2; k++) {
        bq[j][k][0] = raw3(4 * q + 2 * k, a, b, c);
        bq[j][k][1] = raw3(4 * q + 2 * k + 1, a, b, c);
      }
    }
  }
}

// tcr_end folds a lane's sums: out += s*(S - P - z*Q) for its sums S in acc (row
// g+8h, column nc+4e+j at acc[j][2h+e]) with (Q, P) of rows g+8h in pq[h] over the
// same blocks and their group's scales and zeros in cur, then clears acc and pq.
template <int BITS>
__device__ __forceinline__ void tcr_end(float (&acc)[4][4], float (&out)[4][4], float (&pq)[2][2],
                                        const tcrfetch<BITS>& cur, int nc, float zeroOffset) {
  // columns nc+4e+j: scale half 4e+j of sc, zero field 4e+j
  const uint32_t zb = BITS == 4 ? cur.z0 : __funnelshift_r(cur.z0, cur.z1, (3 * (nc & 31)) & 31);
  float sf[8], zf[8];
#pragma unroll
  for (int e = 0; e < 8; e++) {
    const __half2 h2 = h2bits(word(cur.sc, e >> 1));
    sf[e] = (e & 1) ? __high2float(h2) : __low2float(h2);
    zf[e] = (float)((zb >> (BITS * e)) & ((1u << BITS) - 1u)) + zeroOffset;
  }
#pragma unroll
  for (int h = 0; h < 2; h++) {
#pragma unroll
    for (int e = 0; e < 2; e++)
#pragma unroll
      for (int j = 0; j < 4; j++) {
        float& a = acc[j][2 * h + e];
        const int col = 4 * e + j;
        out[j][2 * h + e] = fmaf(sf[col], fmaf(-zf[col], pq[h][0], a - pq[h][1]), out[j][2 * h + e]);
        a = 0.f;
      }
    pq[h][0] = pq[h][1] = 0.f;
  }
}

// tcr multiplies a block's columns over its K range for up to 16 rows (one row tile),
// W warps of 32 columns (lane (g, t) reads chunk c+t of columns nw+4g..+3 and sums
// columns nw+8t..+7 of rows g and g+8), with no block barrier in its loop: each
// thread copies its own A pieces of a four-chunk block from gather_xtN's input by
// cp.async (through L1, so that the block's other warps, which read the same 4 KB,
// hit it; a warp's copy is 512 contiguous bytes) into a two-stage ring in shared
// memory one block ahead and reads back only those, and holds the weights of the
// next PF blocks in flight in registers. S accumulates in acc until a fold
// (tcr_fold), which adds s*(S - P - z*Q) to out. Warps run apart; they meet only at
// the start (the chunks' groups) and in tc_finish.
template <int BITS, int W, int PF, int CHUNKS>
__device__ void tcr(const lin& L, int bx, int col0, int partN, const uint32_t* __restrict__ xt,
                    const float2* __restrict__ sums, int M, const float* __restrict__ res, float* __restrict__ rdst,
                    float* __restrict__ part, int* __restrict__ count, int K, int chunksPerSplit, float zeroOffset) {
  constexpr int T = 32 * W, NB = PF + 1;
  __shared__ int gs[CHUNKS];
  __shared__ int isLast;
  __shared__ __align__(16) uint4 xr[2][8 * T];  // piece v of thread tid of a block at [stage][v*T + tid]
  const int N = L.N, tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;
  const int chunks = K / 32, c0 = blockIdx.y * chunksPerSplit, c1 = min(c0 + chunksPerSplit, chunks);
  const int nsc = max(c1 - c0 + 3, 0) / 4;
  const int nw = bx * T + warp * 32, n = nw + 4 * g, nc = nw + 8 * t;
  for (int i = tid; i < c1 - c0; i += T) gs[i] = L.cgroup[c0 + i];
  __syncthreads();  // gs
  float acc[4][4], out[1][4][4], pq[2][2];  // pq[h]: (Q, P) of row g+8h since the last fold
#pragma unroll
  for (int j = 0; j < 4; j++)
#pragma unroll
    for (int r = 0; r < 4; r++) acc[j][r] = out[0][j][r] = 0.f;
  pq[0][0] = pq[0][1] = pq[1][0] = pq[1][1] = 0.f;
  if (nw < N) {  // N is a multiple of 32: a warp's columns are all in or all out
    // block i's A pieces of this lane at xa + 256i + 32v, its rows' sums at xs + 64i (and + 8)
    const uint4* xa = reinterpret_cast<const uint4*>(xt) + (size_t)(c0 / 4) * 256 + lane;
    const float2* xs = sums + (size_t)(c0 / 4) * 64 + g;
    auto fillX = [&](int st, int i) {
#pragma unroll
      for (int v = 0; v < 8; v++) cp_async_ca<16>(&xr[st][v * T + tid], xa + (size_t)i * 256 + 32 * v, 16);
    };
    // f[i % NB] holds block i's weights; blocks i+1..i+PF are read while block i is
    // multiplied (the loop is unrolled NB times so that f is indexed statically).
    tcrfetch<BITS> f[NB];
#pragma unroll
    for (int p = 0; p < NB; p++) f[p].sc = make_uint4(0, 0, 0, 0), f[p].z0 = f[p].z1 = 0;
#pragma unroll
    for (int p = 0; p < PF; p++)
      if (p < nsc) tcr_load<BITS>(f[p], L, gs, c0, c1, p, t, n, nc, tcr_fold(gs, nsc, p));
    // Block i's A pieces are the thread's i-th commit group, in stage i % 2; block
    // i+1's go into the other stage, which block i-1 left, once block i's are in.
    if (nsc > 0) fillX(0, 0);
    cp_async_commit();
    for (int i0 = 0; i0 < nsc; i0 += NB) {
#pragma unroll
      for (int p = 0; p < NB; p++) {
        const int i = i0 + p;
        if (i >= nsc) break;
        if (i + PF < nsc) tcr_load<BITS>(f[(p + PF) % NB], L, gs, c0, c1, i + PF, t, n, nc, tcr_fold(gs, nsc, i + PF));
        cp_async_wait<0>();
        if (i + 1 < nsc) fillX((i + 1) & 1, i + 1);
        cp_async_commit();
        const uint4* a = &xr[i & 1][tid];
#pragma unroll
        for (int q = 0; q < 4; q++) {
          uint32_t bq[4][2][2];
          tcr_b<BITS>(bq, f[p], q);
          const uint4 lo = a[2 * q * T], hi = a[(2 * q + 1) * T];
          const uint32_t alo[4] = {lo.x, lo.y, lo.z, lo.w}, ahi[4] = {hi.x, hi.y, hi.z, hi.w};
#pragma unroll
          for (int j = 0; j < 4; j++) {
            mma16816(acc[j], alo, bq[j][0]);
            mma16816(acc[j], ahi, bq[j][1]);
          }
        }
        const float2 lo = __ldg(xs + 64 * i), hi = __ldg(xs + 64 * i + 8);
        pq[0][0] += lo.x, pq[0][1] += lo.y, pq[1][0] += hi.x, pq[1][1] += hi.y;
        if (tcr_fold(gs, nsc, i)) tcr_end<BITS>(acc, out[0], pq, f[p], nc, zeroOffset);
      }
    }
  }
  tc_finish<1>(out, L, nc, g, col0, partN, M, res, rdst, part, count, isLast);
}

#define TCR(B, W, PF, CHUNKS, MINB, NAME)                                                                   \
  extern "C" __global__ void __launch_bounds__(32 * W, MINB) NAME(                                          \
      LIN(0), LIN(1), LIN(2), const uint32_t* xt, const float2* sums, int M, const float* res, float* rdst, \
      float* part, int* count, int K, int chunksPerSplit, float zeroOffset) {                               \
    constexpr int bc = 32 * W; /* the columns of a block */                                                 \
    const int cb0 = (N0 + bc - 1) / bc, cb1 = (N1 + bc - 1) / bc;                                           \
    const int bx0 = blockIdx.x;                                                                             \
    const int w = bx0 < cb0 ? 0 : bx0 < cb0 + cb1 ? 1 : 2;                                                 \
    const int bx = bx0 - (w > 0 ? cb0 : 0) - (w > 1 ? cb1 : 0);                                            \
    const int col0 = (w > 0 ? N0 : 0) + (w > 1 ? N1 : 0);                                                  \
    const lin L = {PICK(qweight), PICK(qzeros), PICK(scales), PICK(cgroup), PICK(perm), PICK(y), PICK(N)}; \
    tcr<B, W, PF, CHUNKS>(L, bx, col0, N0 + N1 + N2, xt, sums, M, res, rdst, part, count, K, chunksPerSplit,  \
                          zeroOffset);                                                                      \
  }
// gptq_tcN_m16_p1w4r: the raw-operand build beside TCB's (engine/backend/cuda's
// tcKernels; TestTCOccupancy): four warps a block, four blocks a multiprocessor (118-
// 122 registers, 36 KB of static shared memory). Only the 16-row tile is built: on the
// H200 (BENCHMARKS.md, "Raw-operand decode batches") the 32-row one (MT 2: its two
// sets of sums spill at two blocks per multiprocessor) was slower than
// gptq_tcN_m32_p1w8, and the 64-row one faster for 4 bits without groups but slower
// for 3 bits in groups of 128. Of the barrier-free shapes measured ("Barrier-free
// raw decode batches": 2 to 8 warps a block, the input read from global memory or
// through this ring, the weights one or two blocks ahead in registers or through a
// per-thread ring, 32 or 64 columns a warp) this one was the fastest.
#define TCRB(B) TCR(B, 4, 1, 1024, 4, gptq_tc##B##_m16_p1w4r)
TCRB(3)
TCRB(4)

// Dense float16 W [N, K] (the lm_head): Y[M, N] = X[M, K] W^T.
extern "C" __global__ void __launch_bounds__(128)
    gemm_f16(const __half* W, const float* X, float* Y, int M, int K, int N) {
  gemm<16>(reinterpret_cast<const uint32_t*>(W), nullptr, nullptr, nullptr, nullptr, X, Y, M,
           K, N, 0.f);
}

// Dense float16 matrix-vector product for decoding: y[n] = sum_k W[n, k] x[k], one warp
// per row, 16-byte loads; K is a multiple of 8 and x is float32.
extern "C" __global__ void gemv_f16(const __half* __restrict__ W, const float* __restrict__ x,
                                    float* __restrict__ y, int K, int N) {
  const int lane = threadIdx.x & 31;
  const int n = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (n >= N) return;
  const uint4* row = reinterpret_cast<const uint4*>(W + (size_t)n * K);
  const float4* xv = reinterpret_cast<const float4*>(x);
  float s = 0.f;
  for (int i = lane; i < K / 8; i += 32) {
    const uint4 a = row[i];
    const float4 b0 = xv[2 * i], b1 = xv[2 * i + 1];
    const __half2* ah = reinterpret_cast<const __half2*>(&a);
    const float2 a0 = __half22float2(ah[0]), a1 = __half22float2(ah[1]);
    const float2 a2 = __half22float2(ah[2]), a3 = __half22float2(ah[3]);
    s = fmaf(a0.x, b0.x, fmaf(a0.y, b0.y, fmaf(a1.x, b0.z, fmaf(a1.y, b0.w, s))));
    s = fmaf(a2.x, b1.x, fmaf(a2.y, b1.y, fmaf(a3.x, b1.z, fmaf(a3.y, b1.w, s))));
  }
  s = warp_sum(s);
  if (lane == 0) y[n] = s;
}

// Act-order: dst receives the rows of src in the order perm (sorted by group), repacked
// in the same layout. One thread per (32-row chunk, column).
template <int BITS>
__device__ void reorder(const uint32_t* __restrict__ src, uint32_t* __restrict__ dst,
                        const int* __restrict__ perm, int N) {
  const int n = blockIdx.x * blockDim.x + threadIdx.x, c = blockIdx.y;
  if (n >= N) return;
  uint32_t out[BITS];
#pragma unroll
  for (int b = 0; b < BITS; b++) out[b] = 0;
#pragma unroll
  for (int i = 0; i < 32; i++) {
    const int r = perm[c * 32 + i];
    uint32_t w[2];
    const int bit = (r & 31) * BITS, row = (r >> 5) * BITS + (bit >> 5), sh = bit & 31;
    w[0] = src[(size_t)row * N + n];
    uint32_t v = w[0] >> sh;
    if (sh + BITS > 32) v |= src[(size_t)(row + 1) * N + n] << (32 - sh);
    v &= (1u << BITS) - 1u;
    const int ob = i * BITS, ow = ob >> 5, os = ob & 31;
    out[ow] |= v << os;
    if (os + BITS > 32) out[ow + 1] |= v >> (32 - os);
  }
#pragma unroll
  for (int b = 0; b < BITS; b++) dst[(size_t)(c * BITS + b) * N + n] = out[b];
}

#define REORDER(B)                                                                    \
  extern "C" __global__ void gptq_reorder_##B(const uint32_t* src, uint32_t* dst,     \
                                              const int* perm, int N) {               \
    reorder<B>(src, dst, perm, N);                                                    \
  }
REORDER(2)
REORDER(3)
REORDER(4)
REORDER(8)

// Synthetic weights for benchmarks, made on the device: fill_random sets n words to
// hashes of (seed, index); fill_scales sets n float16 scales in [0.001, 0.002).
__device__ __forceinline__ uint32_t mix(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

extern "C" __global__ void fill_random(uint32_t* p, unsigned long long n, uint32_t seed) {
  for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
       i += (unsigned long long)gridDim.x * blockDim.x)
    p[i] = mix((uint32_t)i * 0x9e3779b9u ^ mix(seed + (uint32_t)(i >> 32)));
}

extern "C" __global__ void fill_scales(__half* p, unsigned long long n, uint32_t seed) {
  for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
       i += (unsigned long long)gridDim.x * blockDim.x)
    p[i] = __float2half(0.001f + (mix((uint32_t)i ^ mix(seed)) >> 8) * (0.001f / 16777216.f));
}
