// The LLaMA layer pieces around the linear layers: embedding lookup, RMSNorm,
// rotate-half RoPE with the key-value cache store, causal attention over the float16 cache
// with grouped-query heads, the SiLU gate and residual adds. Activations are float32,
// rows of the current batch; row m is at position step->pos+m. The cache of a layer
// is [2][KVH][maxT][hd] float16: keys, then values. Under engine.PagedBackend.RunBatch
// the rows carry positions and sequences of their own and the cache is paged (see
// tableRow).
#include "common.cuh"

// h[m, :] = table[ids[m], :]; ids were checked by the host.
extern "C" __global__ void embed(const int* __restrict__ ids, const __half* __restrict__ table,
                                 float* __restrict__ h, int D) {
  const int m = blockIdx.x;
  const __half* row = table + (size_t)ids[m] * D;
  for (int d = threadIdx.x; d < D; d += blockDim.x) h[(size_t)m * D + d] = __half2float(row[d]);
}

// out[m, :] = h[m, :] / sqrt(mean(h[m, :]^2) + eps) * w, one block per row; out may be h.
// A row of at most 4 float4 per thread (D a multiple of 4) stays in registers between
// the sum and the scaling, all its loads in flight at once; a longer row is read twice.
#define RMS_VEC 4
extern "C" __global__ void rmsnorm(const float* h, const __half* __restrict__ w, float* out, int D,
                                   float eps) {
  launchDependents();  // the product after it (common.cuh)
  __shared__ float scratch[32];
  const float* row = h + (size_t)blockIdx.x * D;
  float* dst = out + (size_t)blockIdx.x * D;
  const int n4 = D / 4;
  if ((D & 3) == 0 && n4 <= RMS_VEC * (int)blockDim.x) {
    const float4* r4 = reinterpret_cast<const float4*>(row);
    float4 v[RMS_VEC];
    float s = 0.f;
#pragma unroll
    for (int j = 0; j < RMS_VEC; j++) {
      const int i = threadIdx.x + j * blockDim.x;
      v[j] = i < n4 ? r4[i] : make_float4(0.f, 0.f, 0.f, 0.f);
      s += v[j].x * v[j].x + v[j].y * v[j].y + v[j].z * v[j].z + v[j].w * v[j].w;
    }
    s = block_sum(s, scratch);  // its barriers order every read of h before any write of out
    const float r = rsqrtf(s / D + eps);
#pragma unroll
    for (int j = 0; j < RMS_VEC; j++) {
      const int i = threadIdx.x + j * blockDim.x;
      if (i >= n4) break;
      const uint2 wb = __ldg(reinterpret_cast<const uint2*>(w) + i);
      const float2 w0 = __half22float2(*reinterpret_cast<const __half2*>(&wb.x));
      const float2 w1 = __half22float2(*reinterpret_cast<const __half2*>(&wb.y));
      reinterpret_cast<float4*>(dst)[i] = make_float4(v[j].x * r * w0.x, v[j].y * r * w0.y, v[j].z * r * w1.x, v[j].w * r * w1.y);
    }
    return;
  }
  float s = 0.f;
  for (int d = threadIdx.x; d < D; d += blockDim.x) s += row[d] * row[d];
  s = block_sum(s, scratch);
  const float r = rsqrtf(s / D + eps);
  for (int d = threadIdx.x; d < D; d += blockDim.x) dst[d] = row[d] * r * __half2float(w[d]);
}

// Rotate-half RoPE of q and k and the store of k and v into the cache in one launch
// (what RoPE(q), RoPE(k) and the start of Attention would be as three): for row m at
// position p, thread (head, j) of grid ceil(H*hd/2 / blockDim) x M rotates the pair
// (j, j+hd/2) of q's head when ropeQ is set and, for head < KVH, of k's head when
// ropeK is set, in place, at frequency theta^(-2j/hd) computed as transformers does in
// float32; then it stores that pair of k and of v as float16 at cache[at(m, head) + j],
// values voff halves after keys. With KVH 0 it only rotates q (a RoPE alone). q and k
// must be distinct buffers; v may be k.
template <typename At>
__device__ __forceinline__ void rope_store(float* __restrict__ q, float* k, const float* v, __half* __restrict__ cache,
                                           int p, At at, size_t voff, int H, int KVH, int hd, float theta, int ropeQ,
                                           int ropeK) {
  const int m = blockIdx.y, half = hd / 2, i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= H * half) return;
  const int head = i / half, j = i % half;
  float sn = 0.f, cs = 1.f;
  if (ropeQ || ropeK) {
    const float inv = 1.f / powf(theta, (float)(2 * j) / (float)hd);
    sincosf((float)p * inv, &sn, &cs);
  }
  if (ropeQ) {
    float* r = q + (size_t)m * H * hd + head * hd;
    const float x1 = r[j], x2 = r[j + half];
    r[j] = x1 * cs - x2 * sn;
    r[j + half] = x2 * cs + x1 * sn;
  }
  if (head >= KVH) return;
  float* r = k + (size_t)m * KVH * hd + head * hd;
  float x1 = r[j], x2 = r[j + half];
  if (ropeK) {
    const float y1 = x1 * cs - x2 * sn, y2 = x2 * cs + x1 * sn;
    r[j] = x1 = y1;
    r[j + half] = x2 = y2;
  }
  const float* vr = v + (size_t)m * KVH * hd + head * hd;
  const float v1 = vr[j], v2 = vr[j + half];
  const size_t a = at(m, head);
  cache[a + j] = __float2half(x1);
  cache[a + j + half] = __float2half(x2);
  cache[voff + a + j] = __float2half(v1);
  cache[voff + a + j + half] = __float2half(v2);
}

// The one-sequence cache: row m at position step->pos+m, head h's keys at
// [h][maxT][hd].
struct ownAt {
  int pos, maxT, hd;
  __device__ __forceinline__ size_t operator()(int m, int h) const { return ((size_t)h * maxT + pos + m) * hd; }
};

extern "C" __global__ void rope_store_own(float* __restrict__ q, float* k, const float* v, __half* __restrict__ cache,
                                          const Step* __restrict__ step, int H, int KVH, int hd, int maxT,
                                          float theta, int ropeQ, int ropeK) {
  const int p = step->pos;
  rope_store(q, k, v, cache, p + blockIdx.y, ownAt{p, maxT, hd}, (size_t)KVH * maxT * hd, H, KVH, hd, theta, ropeQ,
             ropeK);
}

// Causal attention of one query row and head over nkeys keys, the keys split over
// gridDim.z blocks (flash-decoding): 128 threads. Split s takes an equal share of the
// keys, so the grid does not depend on the length and a captured step replays at any
// length. Key t of the head is K[row(t)*stride..], its value V[row(t)*stride..]
// (halves), row mapping the position to the cache's row: the position itself for the
// one-sequence cache, the slot its block table gives for the paged one. A key is read
// by L lanes (L = the power of two at least hd/8), lane i of them holding dims
// 8i..8i+7 as one 16-byte load; a warp's 32/L lane groups take different keys, four
// each per batch, keys and values of the batch loaded together before one
// running-softmax update; the groups and then the four warps merge. With one split the
// block writes out[m, h*hd..] directly; otherwise it writes its unnormalized sum,
// running maximum and denominator to part[(m*H+h)*S+s][hd+2], and the last of the S
// blocks of (m, h) to finish (count[m*H+h], which it resets to 0) merges them in split
// order into out. hd is a multiple of 8 and at most 256; out is [M, H*hd].
#define AWARPS 4
#define AKEYS 4
struct attendShared {
  float wmax[AWARPS], wsum[AWARPS], wacc[AWARPS][256];
  int last;
};

template <int L, typename Row>
__device__ __forceinline__ void attend(const float* __restrict__ q, const __half* __restrict__ K,
                                       const __half* __restrict__ V, size_t stride, Row row, int nkeys,
                                       float* __restrict__ out, float* __restrict__ part, int* __restrict__ count,
                                       int H, int hd, float scale, attendShared& sh) {
  constexpr int G = 32 / L, KPW = G * AKEYS;  // lane groups per warp, keys per warp and batch
  float *wmax = sh.wmax, *wsum = sh.wsum;
  float(*wacc)[256] = sh.wacc;
  int& last = sh.last;
  const int h = blockIdx.x, m = blockIdx.y, s = blockIdx.z, S = gridDim.z;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, sub = lane % L, grp = lane / L;
  const bool active = 8 * sub < hd;
  const int per = (nkeys + S - 1) / S;
  const int t0 = s * per, t1 = min(nkeys, t0 + per);
  float qr[8], acc[8];
  {
    const float* qp = q + (size_t)m * H * hd + h * hd + 8 * sub;
#pragma unroll
    for (int e = 0; e < 8; e++) {
      qr[e] = active ? qp[e] * scale : 0.f;
      acc[e] = 0.f;
    }
  }
  float mrun = -INFINITY, lrun = 0.f;
  for (int base = t0 + warp * KPW; base < t1; base += AWARPS * KPW) {
    uint4 kr[AKEYS], vr[AKEYS];
#pragma unroll
    for (int u = 0; u < AKEYS; u++) {
      const size_t at = (size_t)row(min(base + u * G + grp, t1 - 1)) * stride + 8 * sub;  // past the end: masked below
      kr[u] = active ? __ldg(reinterpret_cast<const uint4*>(K + at)) : make_uint4(0, 0, 0, 0);
      vr[u] = active ? __ldg(reinterpret_cast<const uint4*>(V + at)) : make_uint4(0, 0, 0, 0);
    }
    float sc[AKEYS], mx = mrun;
#pragma unroll
    for (int u = 0; u < AKEYS; u++) {
      const __half2* kh = reinterpret_cast<const __half2*>(&kr[u]);
      float d = 0.f;
#pragma unroll
      for (int e = 0; e < 4; e++) {
        const float2 kf = __half22float2(kh[e]);
        d = fmaf(qr[2 * e], kf.x, fmaf(qr[2 * e + 1], kf.y, d));
      }
#pragma unroll
      for (int o = L / 2; o > 0; o >>= 1) d += __shfl_xor_sync(0xffffffffu, d, o);
      sc[u] = base + u * G + grp < t1 ? d : -INFINITY;
      mx = fmaxf(mx, sc[u]);
    }
    if (mx != -INFINITY) {  // the group has a key in this batch or an earlier one
      const float corr = __expf(mrun - mx);  // 0 on the group's first keys
      lrun *= corr;
#pragma unroll
      for (int e = 0; e < 8; e++) acc[e] *= corr;
#pragma unroll
      for (int u = 0; u < AKEYS; u++) {
        const float p = __expf(sc[u] - mx);  // 0 for a masked key
        lrun += p;
        const __half2* vh = reinterpret_cast<const __half2*>(&vr[u]);
#pragma unroll
        for (int e = 0; e < 4; e++) {
          const float2 vf = __half22float2(vh[e]);
          acc[2 * e] = fmaf(p, vf.x, acc[2 * e]);
          acc[2 * e + 1] = fmaf(p, vf.y, acc[2 * e + 1]);
        }
      }
      mrun = mx;
    }
  }
  // Merge the warp's lane groups (lanes sub, sub+L, ...), then the warps.
#pragma unroll
  for (int o = L; o < 32; o <<= 1) {
    const float mo = __shfl_xor_sync(0xffffffffu, mrun, o), lo = __shfl_xor_sync(0xffffffffu, lrun, o);
    const float mn = fmaxf(mrun, mo);
    const float fa = mrun == -INFINITY ? 0.f : __expf(mrun - mn), fb = mo == -INFINITY ? 0.f : __expf(mo - mn);
#pragma unroll
    for (int e = 0; e < 8; e++) acc[e] = acc[e] * fa + __shfl_xor_sync(0xffffffffu, acc[e], o) * fb;
    lrun = lrun * fa + lo * fb;
    mrun = mn;
  }
  if (lane == 0) {
    wmax[warp] = mrun;
    wsum[warp] = lrun;
  }
  if (grp == 0 && active)
#pragma unroll
    for (int e = 0; e < 8; e++) wacc[warp][8 * sub + e] = acc[e];
  __syncthreads();
  float mall = -INFINITY;
#pragma unroll
  for (int w = 0; w < AWARPS; w++) mall = fmaxf(mall, wmax[w]);
  float f[AWARPS], l = 0.f;
#pragma unroll
  for (int w = 0; w < AWARPS; w++) {
    f[w] = wmax[w] == -INFINITY ? 0.f : __expf(wmax[w] - mall);  // a warp with no keys adds nothing
    l += wsum[w] * f[w];
  }
  float* dst = S == 1 ? out + (size_t)m * H * hd + h * hd : part + ((size_t)(m * H + h) * S + s) * (hd + 2);
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float a = 0.f;
#pragma unroll
    for (int w = 0; w < AWARPS; w++) a = fmaf(wacc[w][d], f[w], a);
    dst[d] = S == 1 ? a / l : a;
  }
  if (S == 1) return;
  if (threadIdx.x == 0) {
    dst[hd] = mall;
    dst[hd + 1] = l;
  }
  // The last split of (m, h) merges: its partial results are visible to the others'
  // after their fences, as theirs are to it.
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) last = atomicAdd(count + m * H + h, 1) == S - 1;
  __syncthreads();
  if (!last) return;
  __threadfence();
  const float* pp = part + (size_t)(m * H + h) * S * (hd + 2);
  mall = -INFINITY;
  for (int i = 0; i < S; i++) mall = fmaxf(mall, __ldcg(pp + i * (hd + 2) + hd));
  l = 0.f;
  for (int i = 0; i < S; i++) {
    const float ms = __ldcg(pp + i * (hd + 2) + hd);
    if (ms != -INFINITY) l += __ldcg(pp + i * (hd + 2) + hd + 1) * __expf(ms - mall);
  }
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float a = 0.f;
    for (int i = 0; i < S; i++) {
      const float ms = __ldcg(pp + i * (hd + 2) + hd);
      if (ms != -INFINITY) a = fmaf(__ldcg(pp + i * (hd + 2) + d), __expf(ms - mall), a);
    }
    out[(size_t)m * H * hd + h * hd + d] = a / l;
  }
  if (threadIdx.x == 0) count[m * H + h] = 0;
}

// attend with the lane count of head size hd.
template <typename Row>
__device__ __forceinline__ void attend_hd(const float* q, const __half* K, const __half* V, size_t stride, Row row,
                                          int nkeys, float* out, float* part, int* count, int H, int hd,
                                          float scale) {
  __shared__ attendShared sh;
  if (hd <= 32)
    attend<4>(q, K, V, stride, row, nkeys, out, part, count, H, hd, scale, sh);
  else if (hd <= 64)
    attend<8>(q, K, V, stride, row, nkeys, out, part, count, H, hd, scale, sh);
  else if (hd <= 128)
    attend<16>(q, K, V, stride, row, nkeys, out, part, count, H, hd, scale, sh);
  else
    attend<32>(q, K, V, stride, row, nkeys, out, part, count, H, hd, scale, sh);
}

struct ownRow {
  __device__ __forceinline__ int operator()(int t) const { return t; }
};

// Causal attention over the one-sequence cache for query row m (position
// step->pos+m) and head h, keys of kv head h/(H/KVH): grid H x M x S.
extern "C" __global__ void __launch_bounds__(AWARPS * 32, 8)
    attention_split(const float* __restrict__ q, const __half* __restrict__ cache,
                    float* __restrict__ out, float* __restrict__ part, int* __restrict__ count,
                    const Step* __restrict__ step, int H, int KVH, int hd, int maxT, float scale) {
  launchDependents();
  const int kvh = blockIdx.x / (H / KVH);
  const __half* K = cache + (size_t)kvh * maxT * hd;
  const __half* V = cache + ((size_t)KVH + kvh) * maxT * hd;
  attend_hd(q, K, V, hd, ownRow{}, step->pos + blockIdx.y + 1, out, part, count, H, hd, scale);
}

// The paged cache of a layer is [2][slots][KVH][hd] float16, keys then values, slot
// b*bs+i being position i of block b. Under RunBatch, row m of the batch is at
// position pos[m] of sequence seq[m], whose block table is tables[seq[m]*stride..]:
// position p is in block table[p/bs], at slot table[p/bs]*bs + p%bs. The host checked
// every table and position.
struct tableRow {
  const int* table;
  int bs;
  __device__ __forceinline__ int operator()(int t) const { return __ldg(table + t / bs) * bs + t % bs; }
};

// The paged cache: row m at the slot of position pos[m] in its sequence's table.
struct pagedAt {
  const int *pos, *seq, *tables;
  int stride, bs, KVH, hd;
  __device__ __forceinline__ size_t operator()(int m, int h) const {
    const tableRow row{tables + (size_t)seq[m] * stride, bs};
    return ((size_t)row(pos[m]) * KVH + h) * hd;
  }
};

// rope_store_own for the paged cache under RunBatch.
extern "C" __global__ void rope_store_paged(float* __restrict__ q, float* k, const float* v,
                                            __half* __restrict__ cache, const int* __restrict__ pos,
                                            const int* __restrict__ seq, const int* __restrict__ tables, int stride,
                                            int H, int KVH, int hd, int bs, int slots, float theta, int ropeQ,
                                            int ropeK) {
  rope_store(q, k, v, cache, pos[blockIdx.y], pagedAt{pos, seq, tables, stride, bs, KVH, hd},
             (size_t)slots * KVH * hd, H, KVH, hd, theta, ropeQ, ropeK);
}

// Causal attention over the paged cache: query row m (position pos[m] of sequence
// seq[m]) and head h over that sequence's keys 0..pos[m] read through its block table;
// grid H x M x S as attention_split, its splits merged alike.
extern "C" __global__ void __launch_bounds__(AWARPS * 32, 8)
    attention_paged(const float* __restrict__ q, const __half* __restrict__ cache, float* __restrict__ out,
                    float* __restrict__ part, int* __restrict__ count, const int* __restrict__ pos,
                    const int* __restrict__ seq, const int* __restrict__ tables, int stride, int H, int KVH, int hd,
                    int bs, int slots, float scale) {
  launchDependents();
  const int m = blockIdx.y, kvh = blockIdx.x / (H / KVH);
  const __half* K = cache + (size_t)kvh * hd;
  const __half* V = cache + ((size_t)slots * KVH + kvh) * hd;
  attend_hd(q, K, V, (size_t)KVH * hd, tableRow{tables + (size_t)seq[m] * stride, bs}, pos[m] + 1, out, part, count,
            H, hd, scale);
}

// Causal attention for a prompt (several rows) on tensor cores, flash-attention style:
// grid ceil(M/64) x H, 4 warps; block (x, h) takes query rows 64x..64x+63 of head h and
// walks keys 0..pos of the last of them in tiles of 64 (K and V of kv head h/(H/KVH)
// copied to shared memory by cp.async, each tile serving the block's 64 rows; two
// tiles in dynamic shared memory, attnPromptShared bytes, so that the next tile's copy
// runs while the block works on this one: copied and then waited for tile by tile,
// the kernel took 8% longer, BenchmarkPrefillOps on the H200). Each
// warp owns 16 rows: S = Q K^T with mma.sync (Q scaled by 1/sqrt(hd) and rounded to
// float16 once, kept in registers), the causal mask and a running softmax on the
// accumulators, then O += P V with P rounded to float16 straight from the
// accumulators' layout (V through ldmatrix.trans); float32 accumulation throughout.
// hd is HD (64 or 128); out is [M, H*HD].
#define FA_ROWS 64
#define FA_KEYS 64
template <int HD>
__device__ void attention_prompt(const float* __restrict__ q, const __half* __restrict__ cache,
                                 float* __restrict__ out, const Step* __restrict__ step, int M, int H,
                                 int KVH, int maxT, float scale) {
  constexpr int P = HD + 8;  // halves per shared row: 16-byte aligned, no bank conflicts
  extern __shared__ __align__(16) float4 fa_smem[];  // [2 tiles][K, V][FA_KEYS * P] halves
  __half* const tiles = reinterpret_cast<__half*>(fa_smem);
  const int h = blockIdx.y, kvh = h / (H / KVH);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, gq = lane >> 2, tq = lane & 3;
  const int pos = step->pos, m0 = blockIdx.x * FA_ROWS, rw = m0 + warp * 16;
  uint32_t qf[HD / 16][4];
#pragma unroll
  for (int kk = 0; kk < HD / 16; kk++)
#pragma unroll
    for (int i = 0; i < 4; i++) {
      const int row = rw + gq + (i & 1) * 8, col = kk * 16 + 2 * tq + (i >> 1) * 8;
      float2 v = make_float2(0.f, 0.f);
      if (row < M) v = *reinterpret_cast<const float2*>(q + (size_t)row * H * HD + h * HD + col);
      qf[kk][i] = pack_half2(v.x * scale, v.y * scale);
    }
  float o[HD / 8][4];
#pragma unroll
  for (int j = 0; j < HD / 8; j++)
#pragma unroll
    for (int r = 0; r < 4; r++) o[j][r] = 0.f;
  float mrow[2] = {-INFINITY, -INFINITY}, lrow[2] = {0.f, 0.f};
  const int nkeys = pos + min(m0 + FA_ROWS, M);  // keys of the block's last row
  const __half* K = cache + (size_t)kvh * maxT * HD;
  const __half* V = cache + ((size_t)KVH + kvh) * maxT * HD;
  // load starts the copies of the tile of keys t0.. into tile buffer b, one commit group.
  auto load = [&](int b, int t0) {
    __half* Kb = tiles + b * 2 * FA_KEYS * P;
    __half* Vb = Kb + FA_KEYS * P;
    for (int i = tid; i < FA_KEYS * HD / 8; i += blockDim.x) {
      const int r = i / (HD / 8), p = i % (HD / 8), t = t0 + r;
      const size_t at = (size_t)min(t, nkeys - 1) * HD + p * 8;
      cp_async16(&Kb[r * P + p * 8], K + at, t < nkeys);
      cp_async16(&Vb[r * P + p * 8], V + at, t < nkeys);
    }
    asm volatile("cp.async.commit_group;\n" ::);
  };
  load(0, 0);
  for (int t0 = 0, b = 0; t0 < nkeys; t0 += FA_KEYS, b ^= 1) {
    // The next tile goes into the other buffer, which the block finished with at the
    // end of the last iteration; then this tile's group (all but the newest) is in.
    if (t0 + FA_KEYS < nkeys) {
      load(b ^ 1, t0 + FA_KEYS);
    } else {
      asm volatile("cp.async.commit_group;\n" ::);
    }
    asm volatile("cp.async.wait_group 1;\n" ::);
    __syncthreads();
    const __half* Ks = tiles + b * 2 * FA_KEYS * P;
    const __half* Vs = Ks + FA_KEYS * P;
    if (t0 <= pos + rw + 15) {  // some key of the tile is visible to some row of this warp
      float s[FA_KEYS / 8][4];
#pragma unroll
      for (int j = 0; j < FA_KEYS / 8; j++)
#pragma unroll
        for (int r = 0; r < 4; r++) s[j][r] = 0.f;
#pragma unroll
      for (int kk = 0; kk < HD / 16; kk++)
#pragma unroll
        for (int nj = 0; nj < FA_KEYS / 16; nj++) {
          uint32_t r[4];
          ldsm4(r, &Ks[(nj * 16 + (lane & 7) + (lane >> 4) * 8) * P + kk * 16 + ((lane >> 3) & 1) * 8]);
          const uint32_t b0[2] = {r[0], r[1]}, b1[2] = {r[2], r[3]};
          mma16816(s[2 * nj], qf[kk], b0);
          mma16816(s[2 * nj + 1], qf[kk], b1);
        }
#pragma unroll
      for (int hf = 0; hf < 2; hf++) {
        const int qpos = pos + rw + gq + 8 * hf;
        float mx = mrow[hf];
#pragma unroll
        for (int j = 0; j < FA_KEYS / 8; j++)
#pragma unroll
          for (int e = 0; e < 2; e++) {
            const int key = t0 + j * 8 + 2 * tq + e;
            if (key > qpos) s[j][2 * hf + e] = -INFINITY;
            mx = fmaxf(mx, s[j][2 * hf + e]);
          }
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        // key 0 is visible to every row, so mx is finite from the first tile on
        const float corr = __expf(mrow[hf] - mx);
        lrow[hf] *= corr;
#pragma unroll
        for (int j = 0; j < HD / 8; j++) {
          o[j][2 * hf] *= corr;
          o[j][2 * hf + 1] *= corr;
        }
#pragma unroll
        for (int j = 0; j < FA_KEYS / 8; j++)
#pragma unroll
          for (int e = 0; e < 2; e++) {
            const float p = __expf(s[j][2 * hf + e] - mx);
            s[j][2 * hf + e] = p;
            lrow[hf] += p;
          }
        mrow[hf] = mx;
      }
#pragma unroll
      for (int kk = 0; kk < FA_KEYS / 16; kk++) {
        const uint32_t a[4] = {pack_half2(s[2 * kk][0], s[2 * kk][1]), pack_half2(s[2 * kk][2], s[2 * kk][3]),
                               pack_half2(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                               pack_half2(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
        for (int nj = 0; nj < HD / 16; nj++) {
          uint32_t r[4];
          ldsm4t(r, &Vs[(kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * P + nj * 16 + (lane >> 4) * 8]);
          const uint32_t b0[2] = {r[0], r[1]}, b1[2] = {r[2], r[3]};
          mma16816(o[2 * nj], a, b0);
          mma16816(o[2 * nj + 1], a, b1);
        }
      }
    }
    __syncthreads();  // buffer b is consumed: the next iteration copies into it
  }
#pragma unroll
  for (int hf = 0; hf < 2; hf++) {
    float l = lrow[hf];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    const int row = rw + gq + 8 * hf;
    if (row >= M) continue;
    float* dst = out + (size_t)row * H * HD + h * HD;
#pragma unroll
    for (int j = 0; j < HD / 8; j++)
      *reinterpret_cast<float2*>(dst + j * 8 + 2 * tq) = make_float2(o[j][2 * hf] / l, o[j][2 * hf + 1] / l);
  }
}

#define ATTN_PROMPT(D)                                                                           \
  extern "C" __global__ void __launch_bounds__(128) attention_prompt##D(                        \
      const float* q, const __half* cache, float* out, const Step* step, int M, int H, int KVH,  \
      int maxT, float scale) {                                                                   \
    attention_prompt<D>(q, cache, out, step, M, H, KVH, maxT, scale);                            \
  }
ATTN_PROMPT(64)
ATTN_PROMPT(128)

// rows_gather copies row rows[i] of x to row i of y, rows_scatter row i of y to row
// rows[i] of x (cols floats a row; grid ceil(cols/256) x the rows): a product on some
// rows of the batch alone (engine/backend/cuda's MatMulRows, the output layer on the
// rows whose logits are read), the rows read from the device so that a replayed
// graph takes each step's own.
extern "C" __global__ void rows_gather(const float* __restrict__ x, const int* __restrict__ rows,
                                       float* __restrict__ y, int cols) {
  const int i = blockIdx.y, c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c < cols) y[(size_t)i * cols + c] = x[(size_t)rows[i] * cols + c];
}

extern "C" __global__ void rows_scatter(const float* __restrict__ y, const int* __restrict__ rows,
                                        float* __restrict__ x, int cols) {
  const int i = blockIdx.y, c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c < cols) x[(size_t)rows[i] * cols + c] = y[(size_t)i * cols + c];
}

// out = silu(g) * u and out = a + b elementwise (out may be an operand): each thread
// takes four elements, as one 16-byte access of each operand when n is a multiple of
// 4 (the pointers are allocations, 256-byte aligned), so a grid of ceil(n/1024)
// blocks of 256 covers n.
__device__ __forceinline__ float silu_times(float x, float u) { return x / (1.f + __expf(-x)) * u; }

extern "C" __global__ void silu_mul(const float* g, const float* u, float* out, int n) {
  launchDependents();
  const int i = 4 * (blockIdx.x * blockDim.x + threadIdx.x);
  if ((n & 3) == 0) {
    if (i < n) {
      const float4 x = *reinterpret_cast<const float4*>(g + i), y = *reinterpret_cast<const float4*>(u + i);
      *reinterpret_cast<float4*>(out + i) =
          make_float4(silu_times(x.x, y.x), silu_times(x.y, y.y), silu_times(x.z, y.z), silu_times(x.w, y.w));
    }
    return;
  }
  for (int j = i; j < min(i + 4, n); j++) out[j] = silu_times(g[j], u[j]);
}

extern "C" __global__ void add(const float* a, const float* b, float* out, int n) {
  launchDependents();
  const int i = 4 * (blockIdx.x * blockDim.x + threadIdx.x);
  if ((n & 3) == 0) {
    if (i < n) {
      const float4 x = *reinterpret_cast<const float4*>(a + i), y = *reinterpret_cast<const float4*>(b + i);
      *reinterpret_cast<float4*>(out + i) = make_float4(x.x + y.x, x.y + y.y, x.z + y.z, x.w + y.w);
    }
    return;
  }
  for (int j = i; j < min(i + 4, n); j++) out[j] = a[j] + b[j];
}

// Dense float16 product for a few rows, the output layer of a batch: y[m, n] =
// sum_k x[m, k] W[n, k] for M <= 8*NT rows, W [N, K] float16 read once for all rows,
// x float32 rounded to float16 as gemm_f16 does, float32 accumulation on tensor cores
// (mma.sync m16n8k16). Each warp owns 16 rows of W over all of K: per 32 columns, lane
// (g, t) loads 8 columns (16 bytes) of W's rows g and g+8 and the same 8 columns of x
// rows g, g+8, ...; the two k16 steps take columns 8t..8t+3 and 8t+4..8t+7 of that
// run, a permutation of K that A and B share, so no shared memory is needed. Grid
// ceil(N/64), 128 threads; K is a multiple of 32.
template <int NT>
__device__ __forceinline__ void dense_rows(const __half* __restrict__ W, const float* __restrict__ x,
                                           float* __restrict__ y, int M, int K, int N) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
  const int n0 = (blockIdx.x * 4 + warp) * 16;
  if (n0 >= N) return;
  const uint4* wa = reinterpret_cast<const uint4*>(W + (size_t)min(n0 + g, N - 1) * K) + t;
  const uint4* wb = reinterpret_cast<const uint4*>(W + (size_t)min(n0 + g + 8, N - 1) * K) + t;
  const float4* xr[NT];
#pragma unroll
  for (int j = 0; j < NT; j++) xr[j] = reinterpret_cast<const float4*>(x + (size_t)min(8 * j + g, M - 1) * K) + 2 * t;
  float acc[NT][4];
#pragma unroll
  for (int j = 0; j < NT; j++)
#pragma unroll
    for (int r = 0; r < 4; r++) acc[j][r] = 0.f;
  constexpr int U = NT <= 2 ? 4 : 2;  // chunks of 32 columns in flight
  const int chunks = K / 32;
  for (int c0 = 0; c0 < chunks; c0 += U) {
    uint4 a[U], b[U];
#pragma unroll
    for (int u = 0; u < U; u++) {
      const int c = min(c0 + u, chunks - 1);
      a[u] = __ldg(wa + 4 * c);
      b[u] = __ldg(wb + 4 * c);
    }
#pragma unroll
    for (int u = 0; u < U; u++) {
      if (c0 + u >= chunks) break;
      const uint32_t a0[4] = {a[u].x, b[u].x, a[u].y, b[u].y}, a1[4] = {a[u].z, b[u].z, a[u].w, b[u].w};
#pragma unroll
      for (int j = 0; j < NT; j++) {
        const float4 x0 = __ldg(xr[j] + 8 * (c0 + u)), x1 = __ldg(xr[j] + 8 * (c0 + u) + 1);
        const uint32_t b0[2] = {pack_half2(x0.x, x0.y), pack_half2(x0.z, x0.w)};
        const uint32_t b1[2] = {pack_half2(x1.x, x1.y), pack_half2(x1.z, x1.w)};
        mma16816(acc[j], a0, b0);
        mma16816(acc[j], a1, b1);
      }
    }
  }
#pragma unroll
  for (int j = 0; j < NT; j++)
#pragma unroll
    for (int r = 0; r < 4; r++) {
      const int m = 8 * j + 2 * t + (r & 1), n = n0 + g + 8 * (r >> 1);
      if (m < M && n < N) y[(size_t)m * N + n] = acc[j][r];
    }
}

#define DENSE_ROWS(R)                                                                            \
  extern "C" __global__ void __launch_bounds__(128)                                              \
      dense_rows##R(const __half* W, const float* x, float* y, int M, int K, int N) {            \
    dense_rows<R / 8>(W, x, y, M, K, N);                                                         \
  }
DENSE_ROWS(8)
DENSE_ROWS(16)
DENSE_ROWS(32)
