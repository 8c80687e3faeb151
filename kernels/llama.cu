// The LLaMA layer pieces around the linear layers: embedding lookup, RMSNorm,
// rotate-half RoPE, the key-value cache store, causal attention over the float16 cache
// with grouped-query heads, the SiLU gate and residual adds. Activations are float32,
// rows of the current batch; row m is at position step->pos+m. The cache of a layer
// is [2][KVH][maxT][hd] float16: keys, then values.
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

// Rotate-half RoPE in place on x [M, heads*hd]: column j of each head pairs with
// j+hd/2, frequency theta^(-2j/hd) computed as transformers does in float32. One block
// per row.
extern "C" __global__ void rope(float* __restrict__ x, const Step* __restrict__ step, int heads,
                                int hd, float theta) {
  const int m = blockIdx.x, p = step->pos + m, half = hd / 2;
  float* row = x + (size_t)m * heads * hd;
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

// Causal attention for query row m (position step->pos+m) and head h (grid H x M),
// over keys 0..pos of kv head h/(H/KVH). Keys go in tiles of blockDim.x with a running
// (online) softmax, so any context length fits. hd is a multiple of 32, at most
// blockDim.x, and blockDim.x is a multiple of hd. out is [M, H*hd].
extern "C" __global__ void attention(const float* __restrict__ q, const __half* __restrict__ cache,
                                     float* __restrict__ out, const Step* __restrict__ step,
                                     int H, int KVH, int hd, int maxT, float scale) {
  extern __shared__ float sh[];  // hd query, blockDim.x scores, blockDim.x partial outputs
  float* qs = sh;
  float* ps = qs + hd;
  float* part = ps + blockDim.x;
  __shared__ float scratch[32];
  const int h = blockIdx.x, m = blockIdx.y, kvh = h / (H / KVH);
  const int nkeys = step->pos + m + 1;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  const int d = threadIdx.x % hd, sub = threadIdx.x / hd, nsub = blockDim.x / hd;
  const __half* K = cache + (size_t)kvh * maxT * hd;
  const __half* V = cache + ((size_t)KVH + kvh) * maxT * hd;
  for (int i = threadIdx.x; i < hd; i += blockDim.x) qs[i] = q[(size_t)m * H * hd + h * hd + i] * scale;
  __syncthreads();
  float mrun = -INFINITY, lrun = 0.f, acc = 0.f;
  for (int t0 = 0; t0 < nkeys; t0 += blockDim.x) {
    const int nt = min((int)blockDim.x, nkeys - t0);
#pragma unroll 4
    for (int t = warp; t < nt; t += nw) {
      const __half* kr = K + (size_t)(t0 + t) * hd;
      float s = 0.f;
      for (int i = lane; i < hd; i += 32) s = fmaf(qs[i], __half2float(kr[i]), s);
      s = warp_sum(s);
      if (lane == 0) ps[t] = s;
    }
    __syncthreads();
    const float sv = threadIdx.x < nt ? ps[threadIdx.x] : -INFINITY;
    const float mnew = fmaxf(mrun, block_max(sv, scratch));
    const float p = threadIdx.x < nt ? __expf(sv - mnew) : 0.f;
    const float corr = __expf(mrun - mnew);  // 0 on the first tile
    __syncthreads();
    if (threadIdx.x < nt) ps[threadIdx.x] = p;
    lrun = lrun * corr + block_sum(p, scratch);  // block_sum syncs, so ps is visible
    acc *= corr;
#pragma unroll 8  // independent loads in flight: the loop is latency-bound otherwise
    for (int t = sub; t < nt; t += nsub) acc = fmaf(ps[t], __half2float(V[(size_t)(t0 + t) * hd + d]), acc);
    mrun = mnew;
    __syncthreads();
  }
  part[threadIdx.x] = acc;
  __syncthreads();
  if (sub == 0) {
    for (int s = 1; s < nsub; s++) acc += part[s * hd + d];
    out[(size_t)m * H * hd + h * hd + d] = acc / lrun;
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
