// The LLaMA layer pieces around the linear layers: embedding lookup, RMSNorm,
// rotate-half RoPE with the key-value cache store, causal attention over the float16
// cache with grouped-query heads, and the SiLU gate. The residual stream is float32;
// inputs of the linear layers are float16. Positions come from the Step record.
#include "common.cuh"

// h[m, :] = table[ids[m], :] for M rows; ids were checked by the caller. When ids is
// null the id is step->token (the token just sampled).
extern "C" __global__ void embed(const int* __restrict__ ids, const Step* __restrict__ step,
                                 const __half* __restrict__ table, float* __restrict__ h, int D) {
  const int m = blockIdx.x;
  const int id = ids ? ids[m] : step->token;
  const __half* row = table + (size_t)id * D;
  for (int d = threadIdx.x; d < D; d += blockDim.x) h[(size_t)m * D + d] = __half2float(row[d]);
}

// out[m, :] = h[m, :] / sqrt(mean(h[m, :]^2) + eps) * w, one block per row.
extern "C" __global__ void rmsnorm(const float* __restrict__ h, const __half* __restrict__ w,
                                   __half* __restrict__ out, int D, float eps) {
  __shared__ float scratch[32];
  const float* row = h + (size_t)blockIdx.x * D;
  float s = 0.f;
  for (int d = threadIdx.x; d < D; d += blockDim.x) s += row[d] * row[d];
  s = block_sum(s, scratch);
  const float r = rsqrtf(s / D + eps);
  for (int d = threadIdx.x; d < D; d += blockDim.x)
    out[(size_t)blockIdx.x * D + d] = __float2half(row[d] * r * __half2float(w[d]));
}

// Rotate-half RoPE (pairs j and j+hd/2) on q [M, H*hd] in place and on k [M, KVH*hd],
// storing the rotated k and v [M, KVH*hd] into the caches [KVH, maxT, hd] at positions
// step->pos+m. One block per row, threads over (head, pair).
extern "C" __global__ void rope_kv(float* __restrict__ q, const float* __restrict__ k,
                                   const float* __restrict__ v, __half* __restrict__ kc,
                                   __half* __restrict__ vc, const Step* __restrict__ step, int H,
                                   int KVH, int hd, int maxT, float theta) {
  const int m = blockIdx.x, p = step->pos + m, half = hd / 2;
  for (int i = threadIdx.x; i < (H + KVH) * half; i += blockDim.x) {
    const int head = i / half, j = i % half;
    const float inv = 1.f / powf(theta, (float)(2 * j) / (float)hd);
    float sn, cs;
    sincosf((float)p * inv, &sn, &cs);
    if (head < H) {
      float* x = q + (size_t)m * H * hd + head * hd;
      const float x1 = x[j], x2 = x[j + half];
      x[j] = x1 * cs - x2 * sn;
      x[j + half] = x2 * cs + x1 * sn;
    } else {
      const int kh = head - H;
      const float* x = k + (size_t)m * KVH * hd + kh * hd;
      const float x1 = x[j], x2 = x[j + half];
      __half* dst = kc + ((size_t)kh * maxT + p) * hd;
      dst[j] = __float2half(x1 * cs - x2 * sn);
      dst[j + half] = __float2half(x2 * cs + x1 * sn);
      const float* vs = v + (size_t)m * KVH * hd + kh * hd;
      __half* vd = vc + ((size_t)kh * maxT + p) * hd;
      vd[j] = __float2half(vs[j]);
      vd[j + half] = __float2half(vs[j + half]);
    }
  }
}

// Causal attention for query row m (position step->pos+m) and head h (grid H x M),
// over keys 0..pos of kv head h/(H/KVH). Keys go in tiles of blockDim.x with a running
// (online) softmax, so any context length fits. hd is a multiple of 32, at most
// blockDim.x, and blockDim.x is a multiple of hd. out is float16 [M, H*hd].
extern "C" __global__ void attention(const float* __restrict__ q, const __half* __restrict__ kc,
                                     const __half* __restrict__ vc, __half* __restrict__ out,
                                     const Step* __restrict__ step, int H, int KVH, int hd,
                                     int maxT, float scale) {
  extern __shared__ float sh[];  // hd query, blockDim.x scores, blockDim.x partial outputs
  float* qs = sh;
  float* ps = qs + hd;
  float* part = ps + blockDim.x;
  __shared__ float scratch[32];
  const int h = blockIdx.x, m = blockIdx.y, kvh = h / (H / KVH);
  const int nkeys = step->pos + m + 1;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  const int d = threadIdx.x % hd, sub = threadIdx.x / hd, nsub = blockDim.x / hd;
  const __half* K = kc + (size_t)kvh * maxT * hd;
  const __half* V = vc + (size_t)kvh * maxT * hd;
  for (int i = threadIdx.x; i < hd; i += blockDim.x) qs[i] = q[(size_t)m * H * hd + h * hd + i] * scale;
  __syncthreads();
  float mrun = -INFINITY, lrun = 0.f, acc = 0.f;
  for (int t0 = 0; t0 < nkeys; t0 += blockDim.x) {
    const int nt = min((int)blockDim.x, nkeys - t0);
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
    for (int t = sub; t < nt; t += nsub) acc = fmaf(ps[t], __half2float(V[(size_t)(t0 + t) * hd + d]), acc);
    mrun = mnew;
    __syncthreads();
  }
  part[threadIdx.x] = acc;
  __syncthreads();
  if (sub == 0) {
    for (int s = 1; s < nsub; s++) acc += part[s * hd + d];
    out[(size_t)m * H * hd + h * hd + d] = __float2half(acc / lrun);
  }
}

// out = silu(g) * u elementwise, as float16 for the down projection.
extern "C" __global__ void silu_mul(const float* __restrict__ g, const float* __restrict__ u,
                                    __half* __restrict__ out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) {
    const float x = g[i];
    out[i] = __float2half(x / (1.f + __expf(-x)) * u[i]);
  }
}
