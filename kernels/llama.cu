// The LLaMA layer pieces around the linear layers: embedding lookup, RMSNorm,
// rotate-half RoPE, the key-value cache store, causal attention over the float16 cache
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
extern "C" __global__ void rmsnorm(const float* h, const __half* __restrict__ w, float* out, int D,
                                   float eps) {
  __shared__ float scratch[32];
  const float* row = h + (size_t)blockIdx.x * D;
  float s = 0.f;
  for (int d = threadIdx.x; d < D; d += blockDim.x) s += row[d] * row[d];
  s = block_sum(s, scratch);
  const float r = rsqrtf(s / D + eps);
  for (int d = threadIdx.x; d < D; d += blockDim.x)
    out[(size_t)blockIdx.x * D + d] = row[d] * r * __half2float(w[d]);
}

// Rotate-half RoPE in place on one row of heads*hd at position p: column j of each
// head pairs with j+hd/2, frequency theta^(-2j/hd) computed as transformers does in
// float32, the block's threads sharing the row.
__device__ __forceinline__ void rotate(float* __restrict__ row, int p, int heads, int hd, float theta) {
  const int half = hd / 2;
  for (int i = threadIdx.x; i < heads * half; i += blockDim.x) {
    const int head = i / half, j = i % half;
    const float inv = 1.f / powf(theta, (float)(2 * j) / (float)hd);
    float sn, cs;
    sincosf((float)p * inv, &sn, &cs);
    float* v = row + head * hd;
    const float x1 = v[j], x2 = v[j + half];
    v[j] = x1 * cs - x2 * sn;
    v[j + half] = x2 * cs + x1 * sn;
  }
}

// RoPE on x [M, heads*hd], row m at position step->pos+m; one block per row.
extern "C" __global__ void rope(float* __restrict__ x, const Step* __restrict__ step, int heads,
                                int hd, float theta) {
  rotate(x + (size_t)blockIdx.x * heads * hd, step->pos + blockIdx.x, heads, hd, theta);
}

// Stores rows of k and v [M, KVH*hd] at positions step->pos+m of the cache.
extern "C" __global__ void kv_store(const float* __restrict__ k, const float* __restrict__ v,
                                    __half* __restrict__ cache, const Step* __restrict__ step,
                                    int KVH, int hd, int maxT) {
  const int m = blockIdx.x, p = step->pos + m, w = KVH * hd;
  __half* vcache = cache + (size_t)KVH * maxT * hd;
  for (int i = threadIdx.x; i < w; i += blockDim.x) {
    const size_t at = ((size_t)(i / hd) * maxT + p) * hd + i % hd;
    cache[at] = __float2half(k[(size_t)m * w + i]);
    vcache[at] = __float2half(v[(size_t)m * w + i]);
  }
}

// Causal attention of one query row and head over nkeys keys, the keys split over
// gridDim.z blocks (flash-decoding): 128 threads. Split s takes an equal share of the
// keys, so the grid does not depend on the length and a captured step replays at any
// length. Key t of the head is K[row(t)*stride..], its value V[row(t)*stride..] (half2
// units), row mapping the position to the cache's row: the position itself for the
// one-sequence cache, the slot its block table gives for the paged one. Each of the
// four warps walks its keys eight at a time (all eight rows' loads in flight, then one
// running-softmax update), a lane holding pairs lane, lane+32, ... of the head; the
// warps then merge. With one split the block writes out[m, h*hd..] directly; otherwise
// it writes its unnormalized sum, running maximum and denominator to
// part[(m*H+h)*S+s][hd+2] for attention_combine. hd is even and at most 256; out is
// [M, H*hd].
#define AWARPS 4
#define AKEYS 8
template <typename Row>
__device__ __forceinline__ void attend_split(const float* __restrict__ q, const __half2* __restrict__ K,
                                             const __half2* __restrict__ V, size_t stride, Row row, int nkeys,
                                             float* __restrict__ out, float* __restrict__ part, int H, int hd,
                                             float scale) {
  __shared__ float wmax[AWARPS], wsum[AWARPS], wacc[AWARPS][256];
  const int h = blockIdx.x, m = blockIdx.y, s = blockIdx.z, S = gridDim.z;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, np = hd / 2;
  const int per = (nkeys + S - 1) / S;
  const int t0 = s * per, t1 = min(nkeys, t0 + per);
  float2 qr[4];
#pragma unroll
  for (int i = 0; i < 4; i++) {
    const int p = lane + 32 * i;
    const float* qp = q + (size_t)m * H * hd + h * hd + 2 * p;
    qr[i] = p < np ? make_float2(qp[0] * scale, qp[1] * scale) : make_float2(0.f, 0.f);
  }
  float mrun = -INFINITY, lrun = 0.f;
  float2 acc[4];
#pragma unroll
  for (int i = 0; i < 4; i++) acc[i] = make_float2(0.f, 0.f);
  for (int base = t0 + warp * AKEYS; base < t1; base += AWARPS * AKEYS) {
    const int nt = min(AKEYS, t1 - base);
    float sc[AKEYS];
    size_t at[AKEYS];
#pragma unroll
    for (int j = 0; j < AKEYS; j++) at[j] = (size_t)row(base + min(j, nt - 1)) * stride;  // past the end: a real row, masked below
#pragma unroll
    for (int j = 0; j < AKEYS; j++) {
      const __half2* kr = K + at[j];
      float d = 0.f;
#pragma unroll
      for (int i = 0; i < 4; i++) {
        const int p = lane + 32 * i;
        if (p < np) {
          const float2 kf = __half22float2(kr[p]);
          d = fmaf(qr[i].x, kf.x, fmaf(qr[i].y, kf.y, d));
        }
      }
      sc[j] = d;
    }
    float mx = mrun;
#pragma unroll
    for (int j = 0; j < AKEYS; j++) {
      sc[j] = warp_sum(sc[j]);
      if (j < nt) mx = fmaxf(mx, sc[j]);
    }
    const float corr = __expf(mrun - mx);  // 0 on the first batch
    lrun *= corr;
#pragma unroll
    for (int i = 0; i < 4; i++) acc[i] = make_float2(acc[i].x * corr, acc[i].y * corr);
#pragma unroll
    for (int j = 0; j < AKEYS; j++) {
      const float p = j < nt ? __expf(sc[j] - mx) : 0.f;
      lrun += p;
      const __half2* vr = V + at[j];
#pragma unroll
      for (int i = 0; i < 4; i++) {
        const int pi = lane + 32 * i;
        if (pi < np) {
          const float2 vf = __half22float2(vr[pi]);
          acc[i] = make_float2(fmaf(p, vf.x, acc[i].x), fmaf(p, vf.y, acc[i].y));
        }
      }
    }
    mrun = mx;
  }
  if (lane == 0) {
    wmax[warp] = mrun;
    wsum[warp] = lrun;
  }
#pragma unroll
  for (int i = 0; i < 4; i++) {
    const int p = lane + 32 * i;
    if (p < np) {
      wacc[warp][2 * p] = acc[i].x;
      wacc[warp][2 * p + 1] = acc[i].y;
    }
  }
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
  if (S > 1 && threadIdx.x == 0) {
    dst[hd] = mall;
    dst[hd + 1] = l;
  }
}

struct ownRow {
  __device__ __forceinline__ int operator()(int t) const { return t; }
};

// Causal attention over the one-sequence cache for query row m (position
// step->pos+m) and head h, keys of kv head h/(H/KVH): grid H x M x S.
extern "C" __global__ void __launch_bounds__(AWARPS * 32)
    attention_split(const float* __restrict__ q, const __half* __restrict__ cache,
                    float* __restrict__ out, float* __restrict__ part,
                    const Step* __restrict__ step, int H, int KVH, int hd, int maxT, float scale) {
  const int kvh = blockIdx.x / (H / KVH);
  const __half2* K = reinterpret_cast<const __half2*>(cache + (size_t)kvh * maxT * hd);
  const __half2* V = reinterpret_cast<const __half2*>(cache + ((size_t)KVH + kvh) * maxT * hd);
  attend_split(q, K, V, hd / 2, ownRow{}, step->pos + blockIdx.y + 1, out, part, H, hd, scale);
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

// RoPE as rope, row m at position pos[m].
extern "C" __global__ void rope_rows(float* __restrict__ x, const int* __restrict__ pos, int heads, int hd,
                                     float theta) {
  rotate(x + (size_t)blockIdx.x * heads * hd, pos[blockIdx.x], heads, hd, theta);
}

// Stores rows of k and v [M, KVH*hd] in the paged cache at each row's slot.
extern "C" __global__ void kv_store_paged(const float* __restrict__ k, const float* __restrict__ v,
                                          __half* __restrict__ cache, const int* __restrict__ pos,
                                          const int* __restrict__ seq, const int* __restrict__ tables,
                                          int stride, int KVH, int hd, int bs, int slots) {
  const int m = blockIdx.x, w = KVH * hd;
  const tableRow row{tables + (size_t)seq[m] * stride, bs};
  const size_t at = (size_t)row(pos[m]) * w;
  __half* vcache = cache + (size_t)slots * w;
  for (int i = threadIdx.x; i < w; i += blockDim.x) {
    cache[at + i] = __float2half(k[(size_t)m * w + i]);
    vcache[at + i] = __float2half(v[(size_t)m * w + i]);
  }
}

// Causal attention over the paged cache: query row m (position pos[m] of sequence
// seq[m]) and head h over that sequence's keys 0..pos[m] read through its block table;
// grid H x M x S as attention_split, its partial results for attention_combine alike.
extern "C" __global__ void __launch_bounds__(AWARPS * 32)
    attention_paged(const float* __restrict__ q, const __half* __restrict__ cache, float* __restrict__ out,
                    float* __restrict__ part, const int* __restrict__ pos, const int* __restrict__ seq,
                    const int* __restrict__ tables, int stride, int H, int KVH, int hd, int bs, int slots,
                    float scale) {
  const int m = blockIdx.y, kvh = blockIdx.x / (H / KVH);
  const __half2* K = reinterpret_cast<const __half2*>(cache + (size_t)kvh * hd);
  const __half2* V = reinterpret_cast<const __half2*>(cache + ((size_t)slots * KVH + kvh) * hd);
  attend_split(q, K, V, (size_t)KVH * hd / 2, tableRow{tables + (size_t)seq[m] * stride, bs}, pos[m] + 1, out,
               part, H, hd, scale);
}

// Causal attention for a prompt (several rows) on tensor cores, flash-attention style:
// grid ceil(M/64) x H, 4 warps; block (x, h) takes query rows 64x..64x+63 of head h and
// walks keys 0..pos of the last of them in tiles of 64 (K and V of kv head h/(H/KVH)
// copied to shared memory by cp.async, each tile serving the block's 64 rows). Each
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
  __shared__ __align__(16) __half Ks[FA_KEYS * P];
  __shared__ __align__(16) __half Vs[FA_KEYS * P];
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
  for (int t0 = 0; t0 < nkeys; t0 += FA_KEYS) {
    __syncthreads();  // the previous tile is consumed
    for (int i = tid; i < FA_KEYS * HD / 8; i += blockDim.x) {
      const int r = i / (HD / 8), p = i % (HD / 8), t = t0 + r;
      const size_t at = (size_t)min(t, nkeys - 1) * HD + p * 8;
      cp_async16(&Ks[r * P + p * 8], K + at, t < nkeys);
      cp_async16(&Vs[r * P + p * 8], V + at, t < nkeys);
    }
    asm volatile("cp.async.commit_group;\n" ::);
    asm volatile("cp.async.wait_all;\n" ::);
    __syncthreads();
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

// Merges attention_split's S partial results of each (row, head): grid H x M.
extern "C" __global__ void attention_combine(const float* __restrict__ part, float* __restrict__ out,
                                             int H, int hd, int S) {
  const int h = blockIdx.x, m = blockIdx.y;
  const float* p = part + (size_t)(m * H + h) * S * (hd + 2);
  float mall = -INFINITY;
  for (int s = 0; s < S; s++) mall = fmaxf(mall, p[s * (hd + 2) + hd]);
  float l = 0.f;
  for (int s = 0; s < S; s++) {
    const float ms = p[s * (hd + 2) + hd];
    if (ms != -INFINITY) l += p[s * (hd + 2) + hd + 1] * __expf(ms - mall);
  }
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float a = 0.f;
    for (int s = 0; s < S; s++) {
      const float ms = p[s * (hd + 2) + hd];
      if (ms != -INFINITY) a = fmaf(p[s * (hd + 2) + d], __expf(ms - mall), a);
    }
    out[(size_t)m * H * hd + h * hd + d] = a / l;
  }
}

// out = silu(g) * u elementwise; out may be g or u.
extern "C" __global__ void silu_mul(const float* g, const float* u, float* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) {
    const float x = g[i];
    out[i] = x / (1.f + __expf(-x)) * u[i];
  }
}

// out = a + b elementwise; out may be a or b.
extern "C" __global__ void add(const float* a, const float* b, float* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = a[i] + b[i];
}
