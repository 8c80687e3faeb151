// Sampling on the device, with Hugging Face semantics and order: repetition penalty
// over the distinct ids of the history, temperature, top-k, top-p, then a draw with
// a uniform u (temperature 0: the first maximal logit); a NaN or +Inf logit, or every
// logit at -Inf, gives no token (the id V), as the host sampler fails on them. One
// block of 1024 threads over one row of logits, which it overwrites (sample_row).
// sample takes one row, its history and draw from the Step record and writes the id
// to step->token; sample_rows takes a row per block, each with its own settings,
// history and draw (RowSample), and writes the ids to tokens: decoding copies back
// one int a row.
#include "common.cuh"

#define SAMPLE_THREADS 1024

// key maps a float to an unsigned int of the same order.
__device__ __forceinline__ uint32_t key(float f) {
  const uint32_t u = __float_as_uint(f);
  return u & 0x80000000u ? ~u : u | 0x80000000u;
}

__device__ __forceinline__ float block_count(float v, float* scratch) { return block_sum(v, scratch); }

// sample_row picks the token of one row of V logits (every thread of the block
// returns it): nh ids of history in hist, mark V bytes of scratch of this block's own.
__device__ __forceinline__ int sample_row(float* __restrict__ logits, int V, const int* __restrict__ hist,
                                          int nh, unsigned char* __restrict__ mark, float penalty,
                                          float temperature, int topk, float topp, float u) {
  __shared__ float scratch[32];
  __shared__ int best;
  const int tid = threadIdx.x, nt = blockDim.x;
  // Repetition penalty: mark each distinct id once, then change each marked logit once.
  if (penalty != 1.f) {
    for (int v = tid; v < V; v += nt) mark[v] = 0;
    __syncthreads();
    for (int i = tid; i < nh; i += nt) mark[hist[i]] = 1;
    __syncthreads();
    for (int v = tid; v < V; v += nt)
      if (mark[v]) {
        const float s = logits[v];
        logits[v] = s < 0.f ? s * penalty : s / penalty;
      }
    __syncthreads();
  }
  int token;
  // A NaN or +Inf logit gives no token (V), as every logit at -Inf does; bad flags
  // one in the pass that reads every logit.
  float bad = 0.f;
  if (temperature <= 0.f) {
    float bv = -INFINITY;
    int bi = V;
    for (int v = tid; v < V; v += nt) {
      const float s = logits[v];
      if (!(s < INFINITY)) bad = 1.f;
      if (s > bv) bv = s, bi = v;
    }
    if (block_max(bad, scratch) > 0.f) return V;
    const float m = block_max(bv, scratch);
    if (tid == 0) best = V;
    __syncthreads();
    if (bv == m) atomicMin(&best, bi);
    __syncthreads();
    token = best;
  } else {
    for (int v = tid; v < V; v += nt) {
      const float s = logits[v];
      if (!(s < INFINITY)) bad = 1.f;
      logits[v] = s / temperature;
    }
    if (block_max(bad, scratch) > 0.f) return V;  // its barriers order the writes above
    // Top-k: lo is the key of the k-th largest logit; keys below it are out.
    uint32_t lo = 0;
    if (topk > 0 && topk < V) {
      for (int bit = 31; bit >= 0; bit--) {
        const uint32_t cand = lo | (1u << bit);
        float cnt = 0.f;
        for (int v = tid; v < V; v += nt) cnt += key(logits[v]) >= cand;
        if (block_count(cnt, scratch) >= (float)topk) lo = cand;
      }
    }
    float mx = -INFINITY;
    for (int v = tid; v < V; v += nt)
      if (key(logits[v]) >= lo) mx = fmaxf(mx, logits[v]);
    mx = block_max(mx, scratch);
    if (mx == -INFINITY) return V;  // every logit at -Inf
    float z = 0.f;
    for (int v = tid; v < V; v += nt)
      if (key(logits[v]) >= lo) z += __expf(logits[v] - mx);
    z = block_sum(z, scratch);
    // Top-p: drop the smallest logits whose probabilities add up to at most 1-topp.
    if (topp > 0.f && topp < 1.f) {
      const float limit = (1.f - topp) * z;
      uint32_t t = 0;
      bool any = false;
      for (int bit = 31; bit >= 0; bit--) {
        const uint32_t cand = t | (1u << bit);
        float mass = 0.f;
        for (int v = tid; v < V; v += nt) {
          const uint32_t kv = key(logits[v]);
          if (kv >= lo && kv <= cand) mass += __expf(logits[v] - mx);
        }
        if (block_sum(mass, scratch) <= limit) t = cand, any = true;
      }
      if (any) {
        lo = max(lo, t + 1);
        z = 0.f;
        for (int v = tid; v < V; v += nt)
          if (key(logits[v]) >= lo) z += __expf(logits[v] - mx);
        z = block_sum(z, scratch);
      }
    }
    // Draw: the first id, in id order, whose cumulative weight passes u*z. Each thread
    // owns a contiguous run of ids; an exclusive scan over the runs finds the one.
    const int per = (V + nt - 1) / nt, a = tid * per, b = min(a + per, V);
    float own = 0.f;
    int lastKept = -1;
    for (int v = a; v < b; v++)
      if (key(logits[v]) >= lo) own += __expf(logits[v] - mx), lastKept = v;
    __shared__ float sums[SAMPLE_THREADS];
    sums[tid] = own;
    __syncthreads();
    for (int off = 1; off < nt; off <<= 1) {  // inclusive Hillis-Steele scan
      const float add = tid >= off ? sums[tid - off] : 0.f;
      __syncthreads();
      sums[tid] += add;
      __syncthreads();
    }
    const float target = u * sums[nt - 1];
    const float before = tid ? sums[tid - 1] : 0.f;
    if (tid == 0) best = -1;
    __syncthreads();
    if (lastKept >= 0) atomicMax(&best, lastKept);  // fallback: the last kept id
    __syncthreads();
    const int fallback = best;
    __syncthreads();
    if (tid == 0) best = V;
    __syncthreads();
    if (own > 0.f && before <= target && target < before + own) {
      float c = before;
      int pick = lastKept;
      for (int v = a; v < b; v++)
        if (key(logits[v]) >= lo) {
          c += __expf(logits[v] - mx);
          if (c > target) {
            pick = v;
            break;
          }
        }
      atomicMin(&best, pick);
    }
    __syncthreads();
    token = best < V ? best : fallback;
  }
  return token;
}

extern "C" __global__ void __launch_bounds__(SAMPLE_THREADS)
    sample(float* __restrict__ logits, int V, const int* __restrict__ hist, Step* __restrict__ step,
           unsigned char* __restrict__ mark, float penalty, float temperature, int topk,
           float topp) {
  const int token = sample_row(logits, V, hist, step->nhist, mark, penalty, temperature, topk, topp, step->u);
  if (threadIdx.x == 0) step->token = token;
}

// RowSample is one row of a sample_rows launch (the engine's RowSample; the layout
// engine/backend/cuda writes): which row of logits, where its history lies in the
// launch's history buffer, and its settings and draw.
struct RowSample {
  int row;    // the row of logits
  int hist;   // the offset of its history in hist, in ids
  int nhist;  // the length of its history
  int topk;   // 0: off
  float penalty, temperature, topp, u;
};

// sample_rows samples block b's row rows[b] (rows distinct) with its own mark
// scratch (V bytes at mark + b*V), writing the id to tokens[b].
extern "C" __global__ void __launch_bounds__(SAMPLE_THREADS)
    sample_rows(float* __restrict__ logits, int V, const RowSample* __restrict__ rows,
                const int* __restrict__ hist, int* __restrict__ tokens, unsigned char* __restrict__ mark) {
  const RowSample r = rows[blockIdx.x];
  const int token = sample_row(logits + (size_t)r.row * V, V, hist + r.hist, r.nhist,
                               mark + (size_t)blockIdx.x * V, r.penalty, r.temperature, r.topk, r.topp, r.u);
  if (threadIdx.x == 0) tokens[blockIdx.x] = token;
}
