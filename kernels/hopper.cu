// Prompt products on Hopper's warpgroup instructions, for the sm_90a target only
// (kernels/gen compiles this file for compute_90, then raises its .version and
// .target lines to PTX ISA 8.0 and sm_90a: nvcc 11.8 emits neither; the driver loads
// it on compute capability 9.0 only, beside the other modules).
//
// gptq_ws3/gptq_ws4: Y[M, N] = Xh[M, K] W[K, N] for the 3- and 4-bit prompt products,
// Xh the input gather_xN (gptq.cu) wrote, in the same 128×256 tiles, 64-row steps of
// K and K splits as gptq_mm, but warp-specialized. gptq_mm's warps each copy, address,
// dequantize and multiply, and wait for one another at a block barrier every step: the
// step takes about the sum of those streams (BENCHMARKS.md, "Prompt products on
// wgmma"). Here the block is three warpgroups:
//
//   - the producer (warps 0-3) copies each step's input tile and packed weights,
//     scales and zero words by cp.async into a ring of STAGES stages, STAGES-D steps
//     ahead, and dequantizes each weight tile once into one of D float16 tiles
//     (mm_item and mm_part, the dequantization gptq_mm does);
//   - the two consumers (the other two) multiply 64 rows each of the tile by all 256
//     columns with wgmma.mma_async.m64n256k16 (float16 in, float32 accumulators, 128
//     a thread), both operands read from shared memory, and only wait for their own
//     products.
//
// They meet at named barriers instead of the block's: FULL[d] (the producer arrives
// when step i's input is in and its weights are dequantized into tile d = i%D; the
// consumers wait) and EMPTY[d] (the consumers arrive when their products of the step
// that used tile d are done; the producer waits before it writes tile d or refills
// that step's stage again). A consumer keeps one step's products in flight while it
// waits for the next tile, so the tensor cores see the producer's work only when it
// is slower than theirs. Each role walks the block's pieces of work (ws_piece: one
// tile, or, streamed, tiles and parts of tiles shared with the blocks beside it) on
// its own, meeting the other only at those barriers. The input and the dequantized
// tiles are rows of 128 bytes in the 128-byte swizzle wgmma reads (16-byte piece p of
// row r at p xor r%8), every tile 1024-byte aligned; the producer's shared-memory
// writes are fenced for the asynchronous proxy before it arrives.
#include "unpack.cuh"

// WG_D64, WG_D96 and WG_D are the register lists {%0..%63}, {%0..%95} and {%0..%127} of
// a 64×128, 64×192 and 64×256 float32 accumulator in wgmma's asm; WG_ACC2, WG_ACC3
// and WG_ACC (4) the outputs of d[I][8][4], in the order of its layout (WG_ACCI: the
// 32 of d[i], 64 columns).
#define WG_D64 \
  "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15" ", " \
  "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31" ", " \
  "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47" ", " \
  "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
#define WG_D96 \
  WG_D64 ", " \
  "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79" ", " \
  "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95"
#define WG_D \
  WG_D96 ", " \
  "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111" ", " \
  "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127"
#define WG_ACCI(d, i) \
  "+f"(d[i][0][0]), "+f"(d[i][0][1]), "+f"(d[i][0][2]), "+f"(d[i][0][3]), \
  "+f"(d[i][1][0]), "+f"(d[i][1][1]), "+f"(d[i][1][2]), "+f"(d[i][1][3]), \
  "+f"(d[i][2][0]), "+f"(d[i][2][1]), "+f"(d[i][2][2]), "+f"(d[i][2][3]), \
  "+f"(d[i][3][0]), "+f"(d[i][3][1]), "+f"(d[i][3][2]), "+f"(d[i][3][3]), \
  "+f"(d[i][4][0]), "+f"(d[i][4][1]), "+f"(d[i][4][2]), "+f"(d[i][4][3]), \
  "+f"(d[i][5][0]), "+f"(d[i][5][1]), "+f"(d[i][5][2]), "+f"(d[i][5][3]), \
  "+f"(d[i][6][0]), "+f"(d[i][6][1]), "+f"(d[i][6][2]), "+f"(d[i][6][3]), \
  "+f"(d[i][7][0]), "+f"(d[i][7][1]), "+f"(d[i][7][2]), "+f"(d[i][7][3])
#define WG_ACC2(d) WG_ACCI(d, 0), WG_ACCI(d, 1)
#define WG_ACC3(d) WG_ACC2(d), WG_ACCI(d, 2)
#define WG_ACC(d) WG_ACC3(d), WG_ACCI(d, 3)

// wg_mma is d += A·B for one wgmma.mma_async.m64n256k16 (float16, float32
// accumulation) of the four warps of a warpgroup, A (64×16, K-major) and B (256×16,
// K-major) in shared memory through the descriptors wg_desc makes; thread t of the
// group holds d[i][j][r] = D[16(t/32) + (t%32)/4 + 8(r/2)][64i + 8j + 2(t%4) + r%2],
// as four rows of mma.sync's C fragments. The product is asynchronous: wg_fence
// before the first of a batch (it orders the registers' earlier writes), wg_commit
// after the batch and wg_wait<N> before d is read (N batches may stay in flight);
// wg_hold keeps the compiler from moving d's registers across them.
__device__ __forceinline__ void wg_mma(float (&d)[4][8][4], uint64_t a, uint64_t b) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n256k16.f32.f16.f16 {"
      WG_D
      "}, %128, %129, p, 1, 1, 0, 0;\n}\n"
      : WG_ACC(d)
      : "l"(a), "l"(b), "r"(1));
}

// wg_mma_rs is wg_mma with A (64×16, row-major: K within a row) from registers: a is
// the thread's fragment, mma.sync.m16n8k16's A fragment of rows 16(t/32).. (a[0]: row
// (t%32)/4, k 2(t%4) and +1; a[1]: that row + 8; a[2], a[3]: the same rows at k + 8).
// a must not change until the product is complete (wg_wait).
// With d of 3 or 2 chunks (rows of B: 192 or 128) it is m64n192k16 or m64n128k16.
#define WG_MMA_RS(I, N, D, ACC, A0, A1, A2, A3, B, P)                                             \
  __device__ __forceinline__ void wg_mma_rs(float(&d)[I][8][4], const uint32_t(&a)[4], uint64_t b) { \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %" #P ", 0;\n"                                  \
                 "wgmma.mma_async.sync.aligned.m64n" #N "k16.f32.f16.f16 {" D "}, {%" #A0 ", %" #A1   \
                 ", %" #A2 ", %" #A3 "}, %" #B ", p, 1, 1, 0;\n}\n"                                  \
                 : ACC(d)                                                                            \
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(1));                       \
  }
WG_MMA_RS(4, 256, WG_D, WG_ACC, 128, 129, 130, 131, 132, 133)
WG_MMA_RS(3, 192, WG_D96, WG_ACC3, 96, 97, 98, 99, 100, 101)
WG_MMA_RS(2, 128, WG_D64, WG_ACC2, 64, 65, 66, 67, 68, 69)

// wg_desc is the descriptor of a K-major operand at shared address addr in 8-row groups
// of 1024 bytes (rows of 128 bytes, 128-byte swizzle: ws_at), the leading offset
// unused with that swizzle (1).
__device__ __forceinline__ uint64_t wg_desc(uint32_t addr) {
  return (uint64_t)((addr & 0x3ffff) >> 4) | (1ull << 16) | ((uint64_t)(1024 >> 4) << 32) | (1ull << 62);
}

__device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wg_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
template <int I>
__device__ __forceinline__ void wg_hold(float (&d)[I][8][4]) {
#pragma unroll
  for (int i = 0; i < I; i++)
#pragma unroll
    for (int j = 0; j < 8; j++)
#pragma unroll
      for (int r = 0; r < 4; r++) asm volatile("" : "+f"(d[i][j][r])::"memory");
}

// proxy_fence makes this thread's shared-memory writes (stores, finished cp.async)
// visible to the asynchronous proxy wgmma reads through, once a barrier follows.
__device__ __forceinline__ void proxy_fence() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

// bar_sync waits at named barrier id until n threads (this one included) have come
// to it; bar_arrive counts this thread without waiting. Barrier 0 is __syncthreads'.
__device__ __forceinline__ void bar_sync(int id, int n) { asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(n) : "memory"); }
__device__ __forceinline__ void bar_arrive(int id, int n) { asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(n) : "memory"); }

// ws_at is where, in halves, 16-byte piece p of row r of an input stage or of a
// dequantized tile starts: rows of 64 halves (128 bytes) whose eight pieces are
// permuted by the row's low three bits, the 128-byte swizzle.
__device__ __forceinline__ int ws_at(int r, int p) { return r * 64 + ((p ^ (r & 7)) << 3); }

// wsLayout is the byte layout of gptq_ws: a stage holds the step's input [128][64]
// halves (swizzled) and, as gptq_mm's (mm_item reads them at offset A), the packed
// words [2][BITS][256], scales [2][256] and zero words [2][ZW] of its two chunks,
// padded to 1 KB; BH is one dequantized tile [256][64] halves (swizzled).
template <int BITS>
struct wsLayout {
  using M = mmLayout<BITS, 128, 256>;
  static constexpr int A = 128 * 64 * 2;
  static constexpr int STAGE = (A + M::W + M::S + M::Z + 1023) / 1024 * 1024;
  static constexpr int BH = 256 * 64 * 2;
};

// wsBlock is one piece of a prompt block's work: the tile's first row m0 and column n0,
// its range of K, chunks [c0, c1) in nst steps of two, and whether it shares the tile
// with a neighbouring block (streamed products, ws_piece): wait (it does not start the
// tile's K: block b-1 did, and published its sums) and publish (it does not end it:
// block b+1 takes the sums through the fix-up slot).
struct wsBlock {
  int m0, n0, c0, c1, nst;
  bool wait, publish;
};

// ws_piece sets b to piece i of this block's work, false past the last. Without
// streamed the block is one tile (blockIdx.x, blockIdx.y) of TM×TN and range
// blockIdx.z of chunksPerSplit chunks, as gptq_mm's. Streamed (Stream-K, with
// data-parallel waves first), the gridDim.x blocks take the product's T tiles (the row
// tiles of a column tile next to each other, so that they read its weights close in
// time) in two phases. First, whole tiles by waves, tile b + i·gridDim.x for block b,
// all but the last wave of them; then the R tiles left (from one wave to two), whose
// steps are cut into ranges of ceil(R·steps/gridDim.x) steps, range b for block b,
// which takes its pieces from the last to the first. So a tile cut between blocks b and
// b+1 is the first streamed piece block b works on (it publishes its sums) and the last
// block b+1 does (it waits for them, adds them to its own and stores the tile): the
// sums are added in one order, and a block waits only for the one before it, which
// started first and published long before. The waves keep the tiles blocks work on at
// one time close together (tile by tile, streaming all T tiles from the start spread
// them over every column's weights, which thrashed L2 at 1,920 rows).
template <int TM, int TN>
__device__ __forceinline__ bool ws_piece(int M, int N, int chunks, int chunksPerSplit, int streamed, int i, wsBlock& b) {
  b.wait = b.publish = false;
  if (!streamed) {
    b.m0 = blockIdx.x * TM, b.n0 = blockIdx.y * TN;
    b.c0 = blockIdx.z * chunksPerSplit, b.c1 = min(b.c0 + chunksPerSplit, chunks);
    b.nst = (max(b.c1 - b.c0, 0) + 1) / 2;
    return i == 0;
  }
  const int G = gridDim.x, rowTiles = (M + TM - 1) / TM, T = rowTiles * ((N + TN - 1) / TN);
  const int per = (chunks + 1) / 2, waves = max(T / G - 1, 0);  // steps a tile; waves a tile a block
  int t;
  if (i < waves) {
    t = blockIdx.x + i * G;
    b.c0 = 0, b.c1 = chunks, b.nst = per;
  } else {
    const int L = ((T - waves * G) * per + G - 1) / G, s0 = blockIdx.x * L;
    int s1 = min(s0 + L, (T - waves * G) * per);
    for (int j = waves; j < i && s1 > s0; j++) s1 = max(s0, (s1 - 1) / per * per);
    if (s1 <= s0) return false;
    const int u = (s1 - 1) / per, ts = max(s0, u * per);
    t = waves * G + u;
    b.c0 = 2 * (ts - u * per), b.c1 = min(2 * (s1 - u * per), chunks), b.nst = s1 - ts;
    b.wait = ts > u * per, b.publish = s1 < (u + 1) * per;
  }
  b.m0 = (t % rowTiles) * TM, b.n0 = (t / rowTiles) * TN;
  return true;
}

// ws_groups stores the chunk groups of b's range in gs: the producer warpgroup's T
// threads, the only ones that read them, between two of their barriers (the first:
// every producer is done with the previous piece's).
template <int T>
__device__ __forceinline__ void ws_groups(const wsBlock& b, const int* __restrict__ cgroup, int* gs) {
  bar_sync(1, T);
  for (int j = threadIdx.x; j < b.c1 - b.c0; j += T) gs[j] = cgroup[b.c0 + j];
  bar_sync(1, T);
}

#define WS_FIX 15  // the consumers' named barrier around a fix-up

// ws_fixup adds the sums block blockIdx.x-1 published for the tile (fix-up slot
// blockIdx.x-1) to a consumer thread's acc, once its flag is up, and takes the flag
// down for the next launch; ws_publish stores acc in this block's slot and raises its
// flag. A slot holds the 256 consumer threads' 128 sums each, thread-minor.
template <int I>
__device__ __forceinline__ void ws_fixup(float (&acc)[I][8][4], const float* __restrict__ fix, unsigned* flags) {
  const int ct = threadIdx.x - 128;
  if (ct == 0) {
    unsigned* f = flags + blockIdx.x - 1;
    unsigned up;
    do {
      asm volatile("ld.acquire.gpu.global.u32 %0, [%1];\n" : "=r"(up) : "l"(f) : "memory");
    } while (up == 0);
    *f = 0;
  }
  bar_sync(WS_FIX, 256);
  const float* src = fix + (size_t)(blockIdx.x - 1) * 128 * 256 + ct;
#pragma unroll
  for (int i = 0; i < I; i++)
#pragma unroll
    for (int j = 0; j < 8; j++)
#pragma unroll
      for (int r = 0; r < 4; r++) acc[i][j][r] += __ldcg(src + ((i * 8 + j) * 4 + r) * 256);
}

template <int I>
__device__ __forceinline__ void ws_publish(const float (&acc)[I][8][4], float* __restrict__ fix, unsigned* flags) {
  const int ct = threadIdx.x - 128;
  float* dst = fix + (size_t)blockIdx.x * 128 * 256 + ct;
#pragma unroll
  for (int i = 0; i < I; i++)
#pragma unroll
    for (int j = 0; j < 8; j++)
#pragma unroll
      for (int r = 0; r < 4; r++) __stcg(dst + ((i * 8 + j) * 4 + r) * 256, acc[i][j][r]);
  __threadfence();
  bar_sync(WS_FIX, 256);
  if (ct == 0) asm volatile("st.release.gpu.global.u32 [%0], %1;\n" ::"l"(flags + blockIdx.x), "r"(1u) : "memory");
}

// wsXCopy is a producer thread's share (thread tid of the 128) of copying a step's
// input tile of TM rows into a stage: rows xr0 + 16r (r < TM/16) at 16-byte piece xp,
// swizzled as ws_at (xr0 % 8 for every r). Its addresses are set up once a piece of
// work; with valid false cp.async reads nothing and writes zeros, so they go unchecked.
template <int TM>
struct wsXCopy {
  const __half* src;
  int dst, stride, xp;
  uint32_t rows;  // bit r: row xr0 + 16r is below M

  __device__ __forceinline__ wsXCopy(const __half* Xh, int tid, int m0, int M, int K) {
    const int xr0 = tid >> 3;
    xp = tid & 7;
    src = Xh + (size_t)(m0 + xr0) * K + xp * 8;
    dst = xr0 * 128 + ((xp ^ (xr0 & 7)) << 4), stride = 16 * K;
    rows = 0;
#pragma unroll
    for (int r = 0; r < TM / 16; r++) rows |= (uint32_t)(m0 + xr0 + 16 * r < M) << r;
  }

  // copy starts the copies of the step of chunks cs, cs+1 (of the range's c1) into base.
  __device__ __forceinline__ void copy(unsigned char* base, int cs, int c1) const {
    const uint32_t ok = cs + (xp >> 2) < c1 ? rows : 0u;
    const __half* xs = src + cs * 32;
#pragma unroll
    for (int r = 0; r < TM / 16; r++) cp_async16(base + dst + r * 16 * 128, xs + r * stride, (ok >> r) & 1u);
  }
};

#define WS_FULL 2  // named barriers FULL[d] = WS_FULL + d, EMPTY[d] = WS_FULL + D + d

template <int BITS, int STAGES, int D>
__device__ void ws(const uint32_t* __restrict__ qweight, const uint32_t* __restrict__ qzeros,
                   const __half* __restrict__ scales, const int* __restrict__ cgroup,
                   const __half* __restrict__ Xh, float* __restrict__ Y, int M, int K, int N,
                   int chunksPerSplit, float zeroOffset, int streamed, float* __restrict__ fix,
                   unsigned* flags) {
  constexpr int TM = 128, TN = 256, T = 128, THREADS = T + 256, AHEAD = STAGES - D;
  using L = wsLayout<BITS>;
  using ML = mmLayout<BITS, TM, TN>;
  static_assert(AHEAD >= 1 && D >= 2 && WS_FULL + 2 * D <= WS_FIX, "gptq_ws shape");
  extern __shared__ __align__(16) float smemf[];
  unsigned char* smem = reinterpret_cast<unsigned char*>(smemf);
  smem += (1024 - (smem_u32(smem) & 1023)) & 1023;  // the swizzle's 1024-byte atoms
  unsigned char* tiles = smem + STAGES * L::STAGE;
  int* gs = reinterpret_cast<int*>(tiles + D * L::BH);
  const int tid = threadIdx.x, warp = tid >> 5;
  wsBlock blk;
  if (warp < 4) {
    for (int piece = 0; ws_piece<TM, TN>(M, N, K / 32, chunksPerSplit, streamed, piece, blk); piece++) {
      ws_groups<T>(blk, cgroup, gs);
      const int m0 = blk.m0, n0 = blk.n0, c0 = blk.c0, c1 = blk.c1, nst = blk.nst;
      // fill starts the copies of step j (chunks c0+2j, c0+2j+1) into stage st. A
      // thread's share is fixed for the piece, so its addresses are set up once: the
      // input's (wsXCopy), packed word rows wr0 + r*T/64 at piece wp (word row c*BITS + b
      // of chunk c is global row cs*BITS + row: the step's 2*BITS rows are consecutive).
      // With valid false cp.async reads nothing and writes zeros, so the address goes
      // unchecked.
      const int wr0 = tid >> 6, wp = tid & 63;
      const wsXCopy<TM> x(Xh, tid, m0, M, K);
      const bool wcol = n0 + 4 * wp < N;
      const uint32_t* wsrc = qweight + (size_t)wr0 * N + n0 + 4 * wp;
      const int wstride = (T / 64) * N;
      auto fill = [&](int st, int j) {
        unsigned char* base = smem + st * L::STAGE;
        uint32_t* ws = reinterpret_cast<uint32_t*>(base + L::A);
        __half* ss = reinterpret_cast<__half*>(base + L::A + ML::W);
        uint32_t* zs = reinterpret_cast<uint32_t*>(base + L::A + ML::W + ML::S);
        const int cs = c0 + 2 * j;
        x.copy(base, cs, c1);
        constexpr int WP = 2 * BITS * TN / 4;  // 16-byte pieces of packed words
        const uint32_t* wc = wsrc + (size_t)cs * BITS * N;
#pragma unroll
        for (int r = 0; r < (WP + T - 1) / T; r++) {
          const int row = wr0 + r * (T / 64);
          if (WP % T == 0 || row < 2 * BITS) cp_async16(&ws[row * TN + 4 * wp], wc + r * wstride, wcol && cs + (BITS == 4 ? row >> 2 : row / 3) < c1);
        }
        if (tid < 2 * TN / 8) {
          const int h = tid / (TN / 8), p = tid % (TN / 8), c = cs + h, n = n0 + 8 * p;
          const bool ok = c < c1 && n < N;
          cp_async16(&ss[h * TN + 8 * p], ok ? scales + (size_t)gs[c - c0] * N + n : scales, ok);
        }
        if (tid < 2 * ML::ZW) {
          const int h = tid / ML::ZW, j2 = tid % ML::ZW, c = cs + h;
          const bool ok = c < c1 && n0 + (BITS == 4 ? 8 * j2 : 32 * (j2 / 3)) < N;
          const uint32_t* src = qzeros;
          if (ok)
            src = qzeros + (BITS == 4 ? (size_t)gs[c - c0] * (N / 8) + n0 / 8 : (size_t)gs[c - c0] * (N / 32 * 3) + n0 / 32 * 3) + j2;
          cp_async_ca<4>(&zs[h * ML::ZW + j2], src, ok ? 4 : 0);
        }
      };
      static_assert(T == 128 && 2 * TN % T == 0 && 2 * ML::ZW <= T && 2 * TN / 8 <= T, "gptq_ws copies");
#pragma unroll
      for (int s = 0; s < AHEAD; s++) {
        if (s < nst) fill(s, s);
        cp_async_commit();
      }
      for (int i = 0; i < nst; i++) {
        // Step i is commit group i of the AHEAD+i committed so far.
        cp_async_wait<AHEAD - 1>();
        proxy_fence();
        bar_sync(1, T);  // every producer's copies of step i are in, and its dequantization of step i-1 done
        if (i >= D) bar_sync(WS_FULL + D + i % D, THREADS);  // EMPTY: the consumers are done with step i-D
        // Step i+AHEAD goes into the stage of step i-D.
        if (i + AHEAD < nst) fill((i + AHEAD) % STAGES, i + AHEAD);
        cp_async_commit();
        const unsigned char* st = smem + (i % STAGES) * L::STAGE;
        __half* bt = reinterpret_cast<__half*>(tiles + (i % D) * L::BH);
#pragma unroll
        for (int it = 0; it < 2 * TN / T; it++) {
          const int idx = tid + it * T, h = idx / TN, bn = idx % TN;
          mmItem<BITS> x;
          mm_item<BITS, TN>(x, st, L::A, h, bn, zeroOffset);
#pragma unroll
          for (int q = 0; q < 4; q++) mm_part<BITS>(bt + ws_at(bn, 4 * h + q), x, q);
        }
        proxy_fence();
        bar_arrive(WS_FULL + i % D, THREADS);  // FULL: step i is ready
      }
      // The consumers' releases of the last steps, which no later step waited for.
      for (int i = max(nst - D, 0); i < nst; i++) bar_sync(WS_FULL + D + i % D, THREADS);
    }
    return;
  }
  for (int piece = 0; ws_piece<TM, TN>(M, N, K / 32, chunksPerSplit, streamed, piece, blk); piece++) {
    const int m0 = blk.m0, n0 = blk.n0, c0 = blk.c0, c1 = blk.c1, nst = blk.nst;
    const int cg = (warp >> 2) - 1;  // this consumer's rows: 64cg..64cg+63 of the tile
    float acc[4][8][4] = {};
    for (int j = 0; j < nst; j++) {
      bar_sync(WS_FULL + j % D, THREADS);  // FULL: step j's input and tile are in
      const uint64_t da = wg_desc(smem_u32(smem + (j % STAGES) * L::STAGE) + cg * 64 * 128);
      const uint64_t db = wg_desc(smem_u32(tiles + (j % D) * L::BH));
      wg_hold(acc);
      wg_fence();
#pragma unroll
      for (int ks = 0; ks < 4; ks++) wg_mma(acc, da + 2 * ks, db + 2 * ks);  // 32 bytes into each row a k-step
      wg_commit();
      wg_wait<1>();  // step j-1's products are done: release its tile and stage
      wg_hold(acc);
      if (j > 0) bar_arrive(WS_FULL + D + (j - 1) % D, THREADS);
    }
    wg_wait<0>();
    wg_hold(acc);
    if (nst > 0) bar_arrive(WS_FULL + D + (nst - 1) % D, THREADS);
    if (blk.wait) ws_fixup(acc, fix, flags);
    if (blk.publish) {
      ws_publish(acc, fix, flags);
    } else {
      mm_store(acc, Y, M, N, m0 + cg * 64 + (warp & 3) * 16, 0, n0, 64);  // wgmma's D is mma.sync's C by rows of 16
    }
  }
}

// gptq_ws3/gptq_ws4: four stages, three dequantized tiles (the producer up to two steps
// ahead of the consumers; 204 KB of shared memory at 4 bits, 196 KB at 3, with
// LLaMA-65B's widest K unsplit), one block of 384 threads a multiprocessor;
// engine/backend/cuda's wsBuild (TestMMOccupancy). On the H200 five stages and two
// tiles were 0-2% slower. A second producer warpgroup does not fit: at 512 threads a
// thread has 128 registers at launch, and ptxas cannot assemble wgmma.m64n256k16 (128
// accumulators) within them.
#define WS(B)                                                                                       \
  extern "C" __global__ void __launch_bounds__(384, 1) gptq_ws##B(                                 \
      const uint32_t* qweight, const uint32_t* qzeros, const __half* scales, const int* cgroup,     \
      const __half* Xh, float* Y, int M, int K, int N, int chunksPerSplit, float zeroOffset,         \
      int streamed, float* fix, unsigned* flags) {                                                  \
    ws<B, 4, 3>(qweight, qzeros, scales, cgroup, Xh, Y, M, K, N, chunksPerSplit, zeroOffset,        \
                streamed, fix, flags);                                                              \
  }
WS(3)
WS(4)

// Long prompt steps (engine/backend/cuda's longBuild, from longRowsMin rows): at 1,920
// rows gptq_ws and gptq_wr dequantize every weight once for each of a product's eight
// row tiles, and ExLlamaV2, which dequantizes the whole weight to float16 once and
// multiplies with cuBLAS, was 17% faster there (BENCHMARKS.md, "gptq_wr's tile
// heights"). So a long step does the same: dequant_t3/dequant_t4 write the weight
// once in float16 and gather_xlN (gather_xlpN through a permutation) the input, both
// as the 16 KB and 32 KB images of the tiles gemm_ws's stages hold, so that one
// thread copies a stage with two bulk copies.
//
// The tiles: a step's input tile (rows 128i.. of the step's 64 positions) and weight
// tile (columns 256j.. , W^T's rows) are rows of 64 halves, 128-byte swizzled as ws_at,
// the tiles of one row (column) tile consecutive by step. Within a 32-row chunk the
// positions are gather_xN's pairs, and the weight's values mm_part's (gptq_ws's tiles
// hold the same). K is rounded up to whole steps: where a checkpoint's chunks are odd
// the last step's second chunk is zeros in both.
__device__ __forceinline__ int tile_steps(int K) { return (K + 63) / 64; }

// tile_at is the half where position k of row r of a tiled operand of R-row tiles
// lies.
template <int R>
__device__ __forceinline__ size_t tile_at(int r, int k, int K) {
  return ((size_t)(r / R) * tile_steps(K) + k / 64) * R * 64 + ws_at(r % R, (k & 63) >> 3) + (k & 7);
}

// tileAt is gather_pairs' placement of the input in gemm_ws's tiles of 128 rows.
struct tileAt {
  static constexpr bool padded = true;
  __device__ __forceinline__ __half2* operator()(__half* Xh, int r, int p, int K) const {
    return reinterpret_cast<__half2*>(Xh + tile_at<128>(r, 2 * p, K));
  }
  __device__ __forceinline__ int pairs(int K) const { return tile_steps(K) * 32; }
};

#define GATHER_XL(B)                                                                              \
  extern "C" __global__ void gather_xl##B(const float* X, const int* perm, __half* Xh, int K) {    \
    gather_pairs(X, perm, Xh, K, gxPair<B>(), tileAt());                                           \
  }                                                                                               \
  extern "C" __global__ void __launch_bounds__(1024) gather_xlp##B(const float* X, const int* perm, \
                                                                   __half* Xh, int K) {           \
    gather_staged(X, perm, Xh, K, gxPair<B>(), tileAt());                                          \
  }
GATHER_XL(3)
GATHER_XL(4)

// dequant_t: block (x, y) writes columns 64x..64x+63 of chunks 8y..8y+7: each thread
// dequantizes two columns' chunks (a warp 32 columns of one chunk, so that it reads
// the packed words, scales and zeros in whole lines, as mm_item reads them from a
// stage) into a shared tile [64][256 + 8] halves, then the block writes the tile's
// rows out, 16 bytes a thread, a warp a row's 512 contiguous bytes. Written straight
// from the registers (each thread 64 bytes of its own row, the rows K halves apart),
// W^T took 178 µs for q's 134 MB on the H200, 0.75 TB/s; through the tile 46 µs.
#define DQ_COLS 64
#define DQ_CHUNKS 8
#define DQ_PITCH (32 * DQ_CHUNKS + 8)  // halves: 16 bytes of padding, so 8 rows' 16-byte pieces hit 8 bank groups
template <int BITS>
__device__ void dequant_t(const uint32_t* __restrict__ qweight, const uint32_t* __restrict__ qzeros,
                          const __half* __restrict__ scales, const int* __restrict__ cgroup, __half* __restrict__ Wt,
                          int K, int N, float zeroOffset) {
  __shared__ __align__(16) __half tile[DQ_COLS * DQ_PITCH];
  const int n0 = blockIdx.x * DQ_COLS, c0 = blockIdx.y * DQ_CHUNKS, chunks = K / 32, padded = 2 * tile_steps(K);
  for (int i = threadIdx.x; i < DQ_COLS * DQ_CHUNKS; i += blockDim.x) {
    const int nl = i % DQ_COLS, cl = i / DQ_COLS, n = n0 + nl, c = c0 + cl;
    __half* dst = tile + nl * DQ_PITCH + 32 * cl;
    if (n >= N || c >= padded) continue;
    if (c >= chunks) {  // the last step's missing chunk
#pragma unroll
      for (int q = 0; q < 4; q++) *reinterpret_cast<uint4*>(dst + 8 * q) = make_uint4(0, 0, 0, 0);
      continue;
    }
    const int g = cgroup[c];
    mmItem<BITS> it;
#pragma unroll
    for (int b = 0; b < BITS; b++) it.w[b] = __ldcs(qweight + (size_t)(c * BITS + b) * N + n);
    it.s2 = __half2half2(scales[(size_t)g * N + n]);
    const uint32_t* zs = qzeros + (size_t)g * (BITS == 4 ? N / 8 : N / 32 * 3);
    it.zz = __float2half2_rn((float)zero_at<BITS>(zs, n) + zeroOffset);
#pragma unroll
    for (int q = 0; q < 4; q++) mm_part<BITS>(dst + 8 * q, it, q);
  }
  __syncthreads();
  constexpr int PIECES = 32 * DQ_CHUNKS / 8;  // 16-byte pieces of a tile row
  const int width = min(DQ_CHUNKS, padded - c0) * 4;  // pieces of a row within the padded K
  for (int i = threadIdx.x; i < DQ_COLS * PIECES; i += blockDim.x) {
    const int nl = i / PIECES, p = i % PIECES, n = n0 + nl;
    if (n >= N || p >= width) continue;
    *reinterpret_cast<uint4*>(Wt + tile_at<256>(n, 32 * c0 + 8 * p, K)) = *reinterpret_cast<const uint4*>(tile + nl * DQ_PITCH + 8 * p);
  }
}

#define DEQUANT_T(B)                                                                                 \
  extern "C" __global__ void __launch_bounds__(256) dequant_t##B(                                    \
      const uint32_t* qweight, const uint32_t* qzeros, const __half* scales, const int* cgroup,      \
      __half* Wt, int K, int N, float zeroOffset) {                                                  \
    dequant_t<B>(qweight, qzeros, scales, cgroup, Wt, K, N, zeroOffset);                             \
  }
DEQUANT_T(3)
DEQUANT_T(4)

// The mbarriers of gemm_ws's stages: mbar_init sets one up for count arrivals,
// mbar_expect arrives on it expecting bytes more of copies, bulk_copy copies bytes
// (a multiple of 16) from global to shared memory and completes them on the
// barrier, and mbar_wait waits until the barrier's phase of the given parity is
// done (the copies it expected are in, visible to the thread).
__device__ __forceinline__ void mbar_init(uint32_t bar, int count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_expect(uint32_t bar, int bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void bulk_copy(uint32_t dst, const void* src, int bytes, uint32_t bar) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(dst),
               "l"(src), "r"(bytes), "r"(bar)
               : "memory");
}
__device__ __forceinline__ void mbar_wait(uint32_t bar, int parity) {
  asm volatile(
      "{\n.reg .pred p;\nWAIT:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n"
      "@!p bra WAIT;\n}\n" ::"r"(bar),
      "r"(parity)
      : "memory");
}

// gemm_ws: Y[M, N] = X[M, K] W[K, N] from gather_xlN's tiles of the input and
// dequant_tN's of the weight, float16 multiplied and float32 accumulated, on gptq_ws's
// tiles (128×256), pieces (ws_piece: K splits of whole steps, or streamed) and
// consumers (wgmma from shared memory, both operands). A ring of STAGES stages of 48
// KB; one producer thread fills stage s with the step's input and weight tiles in
// two bulk copies that complete on the stage's mbarrier, which the consumers wait on
// (a phase a use: parity (step/STAGES)%2, the steps counted over all of the block's
// pieces); they hand the stage back at the named barrier EMPTY[s], where the
// producer warpgroup waits before it fills it again. So the copies of all STAGES
// stages can be in flight at once, and no thread waits for them but the consumers.
// The tensor cores write and read the stages through the asynchronous proxy alone,
// so no proxy fence is needed. With every producer thread copying 16 bytes a
// cp.async, each waiting for its copies before it handed a stage over, 65B's
// 1,920-row products ran at 480-525 TFLOP/s (q, gate, down), no faster at the SM
// clock of the H200 under load than at base (ncu).
template <int STAGES>
__device__ void gemm_ws(const __half* __restrict__ Wt, const __half* __restrict__ Xt, float* __restrict__ Y, int M,
                        int K, int N, int chunksPerSplit, int streamed, float* __restrict__ fix, unsigned* flags) {
  constexpr int TM = 128, TN = 256, T = 128, THREADS = 384, A = TM * 128, STAGE = (TM + TN) * 128;
  constexpr int EMPTY = 2;  // named barriers EMPTY[s]
  static_assert(STAGES >= 2 && EMPTY + STAGES <= WS_FIX, "gemm_ws shape");
  extern __shared__ __align__(16) float smemf[];
  unsigned char* smem = reinterpret_cast<unsigned char*>(smemf);
  smem += (1024 - (smem_u32(smem) & 1023)) & 1023;
  const uint32_t bars = smem_u32(smem + STAGES * STAGE);  // STAGES mbarriers of 8 bytes
  const int tid = threadIdx.x, warp = tid >> 5, steps = tile_steps(K);
  if (tid == 0) {
    for (int s = 0; s < STAGES; s++) mbar_init(bars + 8 * s, 1);
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();
  wsBlock blk;
  int done = 0;  // steps of the block's earlier pieces
  if (warp < 4) {
    for (int piece = 0; ws_piece<TM, TN>(M, N, K / 32, chunksPerSplit, streamed, piece, blk); piece++) {
      const int nst = blk.nst;
      const __half* xs = Xt + ((size_t)(blk.m0 / TM) * steps + blk.c0 / 2) * TM * 64;
      const __half* wsrc = Wt + ((size_t)(blk.n0 / TN) * steps + blk.c0 / 2) * TN * 64;
      auto fill = [&](int j) {
        if (tid == 0) {
          const int st = (done + j) % STAGES;
          const uint32_t base = smem_u32(smem + st * STAGE), bar = bars + 8 * st;
          mbar_expect(bar, STAGE);
          bulk_copy(base, xs + (size_t)j * TM * 64, A, bar);
          bulk_copy(base + A, wsrc + (size_t)j * TN * 64, STAGE - A, bar);
        }
      };
      for (int j = 0; j < STAGES && j < nst; j++) fill(j);
      for (int i = 0; i + STAGES < nst; i++) {
        bar_sync(EMPTY + (done + i) % STAGES, THREADS);  // the consumers are done with step i
        fill(i + STAGES);
      }
      for (int i = max(nst - STAGES, 0); i < nst; i++) bar_sync(EMPTY + (done + i) % STAGES, THREADS);
      done += nst;
    }
    return;
  }
  for (int piece = 0; ws_piece<TM, TN>(M, N, K / 32, chunksPerSplit, streamed, piece, blk); piece++) {
    const int nst = blk.nst, cg = (warp >> 2) - 1;  // this consumer's rows: 64cg..64cg+63 of the tile
    float acc[4][8][4] = {};
    for (int j = 0; j < nst; j++) {
      const int g = done + j, st = g % STAGES;
      mbar_wait(bars + 8 * st, (g / STAGES) & 1);  // step j's tiles are in
      const uint32_t base = smem_u32(smem + st * STAGE);
      const uint64_t da = wg_desc(base + cg * 64 * 128), db = wg_desc(base + A);
      wg_hold(acc);
      wg_fence();
#pragma unroll
      for (int ks = 0; ks < 4; ks++) wg_mma(acc, da + 2 * ks, db + 2 * ks);  // 32 bytes into each row a k-step
      wg_commit();
      wg_wait<1>();  // step j-1's products are done: release its stage
      wg_hold(acc);
      if (j > 0) bar_arrive(EMPTY + (g - 1) % STAGES, THREADS);
    }
    wg_wait<0>();
    wg_hold(acc);
    if (nst > 0) bar_arrive(EMPTY + (done + nst - 1) % STAGES, THREADS);
    done += nst;
    if (blk.wait) ws_fixup(acc, fix, flags);
    if (blk.publish) {
      ws_publish(acc, fix, flags);
    } else {
      mm_store(acc, Y, M, N, blk.m0 + cg * 64 + (warp & 3) * 16, 0, blk.n0, 64);
    }
  }
}

// gemm_ws: four stages (193 KB of shared memory), one block of 384 threads a
// multiprocessor; engine/backend/cuda's longBuild (TestMMOccupancy).
extern "C" __global__ void __launch_bounds__(384, 1) gemm_ws(const __half* Wt, const __half* Xt, float* Y, int M, int K,
                                                             int N, int chunksPerSplit, int streamed, float* fix,
                                                             unsigned* flags) {
  gemm_ws<4>(Wt, Xt, Y, M, K, N, chunksPerSplit, streamed, fix, flags);
}


// gptq_wr4 (and gptq_wr3): the 4-bit (3-bit) prompt product with the weights as
// wgmma's A operand, in registers: D = W^T X^T, 128 weight columns by 256 rows of X a block. Dequantizing
// into registers takes the float16 weight tile out of shared memory altogether (no
// store of it, no read of it by the tensor cores), which in gptq_ws is over half of a
// step's shared-memory traffic, and moves the dequantization into the consumers,
// beside their own asynchronous products, where it costs ~80 instructions a thread a
// step. The producer warpgroup only copies: each step's input tile (256 rows of 64
// halves, 128-byte swizzled: the B operand) and the packed words, scales and zero
// words of its 128 columns, into a ring of STAGES stages; FULL[s] and EMPTY[s] (named
// barriers) hand stage s over and back. Consumer c takes columns 64c..64c+63, all 256
// rows (wgmma.m64n256k16: 128 accumulators a thread), and walks the step's four
// k-steps with two sets of A registers: while the product of one k-step runs, it
// dequantizes the next into the other set (wg_wait<1> first, so that the set it
// writes is no longer read). Its loop takes a step an iteration, the four k-steps
// unrolled, so that the chunk, the k-step and the set are constants and the stage is
// worked out once a step. With two k-steps an iteration and the stage as (k/4) %
// STAGES, ncu on the H200 showed the consumers issuing ~85 instructions a k-step,
// most of them indices (a division by five among them), and the tensor pipe busy 45%
// of the time; unrolled, 65B prompts were 13% faster. Moving registers from the
// copying warpgroup to the computing ones (setmaxnreg: 56 and 224 of the 168 a thread
// launches with) made prompts 3% slower than without it, so it is not done.
//
// A thread (warp w, lane 4g+t) holds the A fragments of columns 16w+g and 16w+g+8:
// in k-step s (0, 1) of a chunk, k = 2t, 2t+1 and 2t+8, 2t+9, which it takes from word
// t of each column's chunk (eight values): pairs 2s and 2s+1 of that word as the LOP3
// unpacking yields them (at 3 bits, from bits 24t.. of the chunk's three words: wrCol).
// gather_xr4 (gather_xrp4 through a permutation) writes the input in that order, for
// both widths, xrPair: position 16s + 8h + 2t + e of a chunk holds sorted row
// 8t + 2s + h + 4e.
struct xrPair {
  __device__ __forceinline__ int2 operator()(int p) const {
    const int j = p & 15, s = j >> 3, h = (j >> 2) & 1, t = j & 3;
    const int k = (p >> 4) * 32 + 8 * t + 2 * s + h;
    return make_int2(k, k + 4);
  }
};

extern "C" __global__ void gather_xr4(const float* X, const int* perm, __half* Xh, int K) {
  gather_pairs(X, perm, Xh, K, xrPair());
}

// gather_xrp4 is gather_xr4 through perm, one block of a row (gather_staged).
extern "C" __global__ void __launch_bounds__(1024) gather_xrp4(const float* X, const int* perm, __half* Xh, int K) {
  gather_staged(X, perm, Xh, K, xrPair());
}

#define WR_PITCH 136  // words a row of packed words in a stage: 128 columns and 8 of padding

// wrLayout is a gptq_wr stage of BITS-bit weights for tiles of TM rows: the input
// [TM][64] halves (swizzled), the packed words [2 chunks][BITS][WR_PITCH], the scales
// [2][128] halves, the zero words [2][ZW] (ZW: 128 columns' zeros) and, read at 3
// bits, two flags [2] ints (chunk h's group is the chunk before's, in the block's
// range), padded to 1 KB.
template <int BITS, int TM>
struct wrLayout {
  static constexpr int ZW = BITS == 4 ? 16 : 12;
  static constexpr int A = TM * 128;
  static constexpr int W = 2 * BITS * WR_PITCH * 4;
  static constexpr int S = 2 * 128 * 2;
  static constexpr int Z = 2 * ZW * 4;
  static constexpr int G = 2 * 4;
  static constexpr int STAGE = (A + W + S + Z + G + 1023) / 1024 * 1024;
};

// wrCol is what a consumer thread needs of one column's chunk: its eight values'
// bits w, the scale, and the unpacking offsets (zero and magic number) of its pairs.
// At 4 bits w is word t of the chunk (rows 8t..8t+7, a nibble each), and o[0], o[1]
// serve the pairs of nibbles (j, j+4) at bits 0 and 4 of each half (w, w >> 8). At 3
// bits w is bits 24t..24t+23 of the chunk's three words, which GPTQ packs row after
// row (row r at bit 3r: rows 8t..8t+7 again, at bits 3j of w), and LOP3 takes every
// pair (j, j+4), j = 0..3, from w << 7, w << 4, w << 1 and w >> 2, which puts it at
// bits 7 and 3 of the (low, high) halves, within each half's mantissa (so the magic
// number 1024 is exact): one offset o[0] serves all four pairs. (With the pairs at
// three different places, three offsets a column made gptq_wr3 spill.)
template <int BITS>
struct wrCol {
  uint32_t w;
  __half2 s2, o[BITS == 4 ? 2 : 1];
};

// wr4_col is all a 4-bit consumer needs of column n's chunk h of the stage: the
// scale, the word and the offsets. At 3 bits wr3_word is the word and wr3_scale the
// scale and offset, which a consumer takes again only where the chunk's group
// differs from the chunk before (the stage's flag, wrLayout's G: none of a
// checkpoint without groups, one in four chunks at 128 rows a group). On the H200
// that made 65B 3-bit prompts 3.3-4.0% faster, and 4-bit ones 2.3-5% slower
// (BENCHMARKS.md, "gptq_wr's tile heights"), so 4-bit consumers take all of it every
// chunk.
template <int TM>
__device__ __forceinline__ wrCol<4> wr4_col(const unsigned char* stage, int h, int t, int n, float zeroOffset) {
  using L = wrLayout<4, TM>;
  const uint32_t* ws = reinterpret_cast<const uint32_t*>(stage + L::A);
  const __half* ss = reinterpret_cast<const __half*>(stage + L::A + L::W);
  const uint32_t* zs = reinterpret_cast<const uint32_t*>(stage + L::A + L::W + L::S) + h * L::ZW;
  wrCol<4> c;
  c.s2 = __half2half2(ss[h * 128 + n]);
  c.w = ws[(h * 4 + t) * WR_PITCH + n];
  const __half2 zz = __float2half2_rn((float)zero_at<4>(zs, n) + zeroOffset);
  c.o[0] = __hsub2(__float2half2_rn(-1024.f), zz);
  c.o[1] = __hsub2(__float2half2_rn(-64.f), zz);
  return c;
}

template <int TM>
__device__ __forceinline__ void wr3_word(const unsigned char* stage, int h, int t, int n, wrCol<3>& c) {
  const uint32_t* ws = reinterpret_cast<const uint32_t*>(stage + wrLayout<3, TM>::A);
  const int bit = 24 * t, wi = bit >> 5;  // t = 3 needs word 2 alone
  const uint32_t lo = ws[(h * 3 + wi) * WR_PITCH + n], hi = t < 3 ? ws[(h * 3 + wi + 1) * WR_PITCH + n] : 0u;
  c.w = __funnelshift_r(lo, hi, bit & 31);
}

template <int TM>
__device__ __forceinline__ void wr3_scale(const unsigned char* stage, int h, int n, float zeroOffset, wrCol<3>& c) {
  using L = wrLayout<3, TM>;
  const __half* ss = reinterpret_cast<const __half*>(stage + L::A + L::W);
  const uint32_t* zs = reinterpret_cast<const uint32_t*>(stage + L::A + L::W + L::S) + h * L::ZW;
  c.s2 = __half2half2(ss[h * 128 + n]);
  const __half2 zz = __float2half2_rn((float)zero_at<3>(zs, n) + zeroOffset);
  c.o[0] = __hsub2(__floats2half2_rn(-8.f, -128.f), zz);  // bits (7, 3)
}

// wr_pair is pair p (0..3, a constant once unrolled: rows 8t+p and 8t+p+4 of the
// chunk) of column c's values, dequantized.
template <int BITS>
__device__ __forceinline__ uint32_t wr_pair(const wrCol<BITS>& c, int p) {
  if (BITS == 4) {
    const uint32_t w = p < 2 ? c.w : c.w >> 8;
    return (p & 1) ? h2u(__hmul2(unpack(lop<0x00f000f0>(w), __float2half2_rn(1.f / 16.f), c.o[1]), c.s2))
                   : h2u(__hmul2(unpack(lop<0x000f000f>(w), __float2half2_rn(1.f), c.o[0]), c.s2));
  }
  const uint32_t w = p == 0 ? c.w << 7 : p == 1 ? c.w << 4 : p == 2 ? c.w << 1 : c.w >> 2;
  return h2u(__hmul2(unpack(lop<0x00380380>(w), __floats2half2_rn(1.f / 128.f, 1.f / 8.f), c.o[0]), c.s2));
}

template <int BITS, int STAGES, int TM>
__device__ void wr(const uint32_t* __restrict__ qweight, const uint32_t* __restrict__ qzeros,
                   const __half* __restrict__ scales, const int* __restrict__ cgroup,
                   const __half* __restrict__ Xh, float* __restrict__ Y, int M, int K, int N,
                   int chunksPerSplit, float zeroOffset, int streamed, float* __restrict__ fix,
                   unsigned* flags) {
  constexpr int TN = 128, T = 128, THREADS = 384, I = TM / 64;
  constexpr int FULL = 2, EMPTY = FULL + STAGES;  // named barriers FULL[s], EMPTY[s]
  using L = wrLayout<BITS, TM>;
  static_assert(TM % 64 == 0 && I >= 2 && I <= 4, "gptq_wr tile rows");
  static_assert(STAGES >= 2 && EMPTY + STAGES <= WS_FIX, "gptq_wr shape");
  extern __shared__ __align__(16) float smemf[];
  unsigned char* smem = reinterpret_cast<unsigned char*>(smemf);
  smem += (1024 - (smem_u32(smem) & 1023)) & 1023;
  int* gs = reinterpret_cast<int*>(smem + STAGES * L::STAGE);
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  wsBlock blk;
  if (warp < 4) {
    for (int piece = 0; ws_piece<TM, TN>(M, N, K / 32, chunksPerSplit, streamed, piece, blk); piece++) {
      ws_groups<T>(blk, cgroup, gs);
      const int m0 = blk.m0, n0 = blk.n0, c0 = blk.c0, c1 = blk.c1, nst = blk.nst;
      // The input as wsXCopy copies it; packed word rows wr0 + 4r of the step (global
      // rows cs*BITS + row: the two chunks' 2·BITS rows are consecutive) at piece wp;
      // with valid false cp.async reads nothing.
      const int wr0 = tid >> 5, wp = tid & 31;
      const wsXCopy<TM> x(Xh, tid, m0, M, K);
      const bool wcol = n0 + 4 * wp < N;
      const uint32_t* wsrc = qweight + (size_t)wr0 * N + n0 + 4 * wp;
      auto fill = [&](int st, int j) {
        unsigned char* base = smem + st * L::STAGE;
        uint32_t* ws = reinterpret_cast<uint32_t*>(base + L::A);
        __half* ss = reinterpret_cast<__half*>(base + L::A + L::W);
        uint32_t* zs = reinterpret_cast<uint32_t*>(base + L::A + L::W + L::S);
        const int cs = c0 + 2 * j;
        x.copy(base, cs, c1);
        const uint32_t* wc = wsrc + (size_t)cs * BITS * N;
#pragma unroll
        for (int r = 0; r < 2; r++) {
          const int row = wr0 + 4 * r;  // word row b of chunk h: row BITS·h + b
          if (row < 2 * BITS) cp_async16(&ws[row * WR_PITCH + 4 * wp], wc + (size_t)r * 4 * N, wcol && cs + row / BITS < c1);
        }
        if (tid < 32) {
          const int h = tid >> 4, p = tid & 15, c = cs + h, n = n0 + 8 * p;
          const bool ok = c < c1 && n < N;
          cp_async16(&ss[h * TN + 8 * p], ok ? scales + (size_t)gs[c - c0] * N + n : scales, ok);
          if (BITS == 4) {  // zero words of 8 columns
            const bool zok = c < c1 && n0 + 8 * (tid & 15) < N;
            cp_async_ca<4>(&zs[h * 16 + p], zok ? qzeros + (size_t)gs[c - c0] * (N / 8) + n0 / 8 + p : qzeros, zok ? 4 : 0);
          }
        }
        if (BITS == 3 && tid < 2) {  // chunk cs+tid's group is the one before's (the consumers keep its scales)
          const int c = cs + tid;
          reinterpret_cast<int*>(base + L::A + L::W + L::S + L::Z)[tid] = c > c0 && c < c1 && gs[c - c0] == gs[c - 1 - c0];
        }
        if (BITS == 3 && tid < 2 * L::ZW) {  // three zero words for every 32 columns
          const int h = tid / L::ZW, p = tid % L::ZW, c = cs + h;
          const bool zok = c < c1 && n0 + 32 * (p / 3) < N;
          cp_async_ca<4>(&zs[h * L::ZW + p], zok ? qzeros + (size_t)gs[c - c0] * (N / 32 * 3) + n0 / 32 * 3 + p : qzeros, zok ? 4 : 0);
        }
      };
      static_assert(2 * BITS <= 8 && 2 * L::ZW <= T, "gptq_wr copies");
#pragma unroll
      for (int s = 0; s < STAGES - 1; s++) {
        if (s < nst) fill(s, s);
        cp_async_commit();
      }
      for (int i = 0; i < nst; i++) {
        cp_async_wait<STAGES - 2>();  // step i is commit group i of the STAGES-1+i so far
        proxy_fence();
        bar_sync(1, T);  // every producer's copies of step i are in
        bar_arrive(FULL + i % STAGES, THREADS);
        // Step i+STAGES-1 goes into the stage of step i-1, once the consumers are done with it.
        if (i > 0) bar_sync(EMPTY + (i - 1) % STAGES, THREADS);
        if (i + STAGES - 1 < nst) fill((i + STAGES - 1) % STAGES, i + STAGES - 1);
        cp_async_commit();
      }
      if (nst > 0) bar_sync(EMPTY + (nst - 1) % STAGES, THREADS);  // the last release
    }
    return;
  }
  for (int piece = 0; ws_piece<TM, TN>(M, N, K / 32, chunksPerSplit, streamed, piece, blk); piece++) {
    const int m0 = blk.m0, n0 = blk.n0, c0 = blk.c0, c1 = blk.c1, nst = blk.nst;
    const int c = (warp >> 2) - 1, w = warp & 3, g = lane >> 2, t = lane & 3;
    const int nlo = 64 * c + 16 * w + g;  // this thread's columns: nlo and nlo + 8 of the tile
    float acc[I][8][4] = {};
    uint32_t a[2][4];  // the A fragments of two k-steps
    wrCol<BITS> lo, hi;  // the columns' chunk of the current k-step
    // frag dequantizes k-step s (0, 1) of chunk h (0, 1) of the step in stage st into
    // f, reading the chunk's words at its first k-step, and its scales and zeros
    // (at 3 bits only where its group is not the chunk before's).
    auto frag = [&](const unsigned char* st, int h, int s, uint32_t(&f)[4]) {
      if (s == 0) {
        if constexpr (BITS == 4) {
          lo = wr4_col<TM>(st, h, t, nlo, zeroOffset);
          hi = wr4_col<TM>(st, h, t, nlo + 8, zeroOffset);
        } else {
          wr3_word<TM>(st, h, t, nlo, lo);
          wr3_word<TM>(st, h, t, nlo + 8, hi);
          if (!reinterpret_cast<const int*>(st + L::A + L::W + L::S + L::Z)[h]) {
            wr3_scale<TM>(st, h, nlo, zeroOffset, lo);
            wr3_scale<TM>(st, h, nlo + 8, zeroOffset, hi);
          }
        }
      }
      f[0] = wr_pair(lo, 2 * s);
      f[1] = wr_pair(hi, 2 * s);
      f[2] = wr_pair(lo, 2 * s + 1);
      f[3] = wr_pair(hi, 2 * s + 1);
    };
    if (nst > 0) {
      bar_sync(FULL, THREADS);
      frag(smem, 0, 0, a[0]);
    }
    // A step an iteration, its four k-steps unrolled, so that the chunk, the k-step
    // and a[]'s set are constants and the stage is worked out once a step.
    int sj = 0;  // step j's stage
    for (int j = 0; j < nst; j++) {
      const unsigned char* st = smem + sj * L::STAGE;
      const uint64_t db = wg_desc(smem_u32(st));
      const int sn = sj + 1 == STAGES ? 0 : sj + 1;
#pragma unroll
      for (int q = 0; q < 4; q++) {
        wg_hold(acc);
        wg_fence();
        wg_mma_rs(acc, a[q & 1], db + 2 * q);
        wg_commit();
        wg_wait<1>();  // k-step q-1 is done: a[1-q%2] is free, and with it, at q = 0, step j-1's stage
        wg_hold(acc);
        if (q == 0 && j > 0) bar_arrive(EMPTY + (sj == 0 ? STAGES - 1 : sj - 1), THREADS);
        if (q < 3) {
          frag(st, (q + 1) >> 1, (q + 1) & 1, a[(q + 1) & 1]);
        } else if (j + 1 < nst) {
          bar_sync(FULL + sn, THREADS);
          frag(smem + sn * L::STAGE, 0, 0, a[0]);
        }
      }
      sj = sn;
    }
    wg_wait<0>();
    wg_hold(acc);
    if (nst > 0) bar_arrive(EMPTY + (sj == 0 ? STAGES - 1 : sj - 1), THREADS);
    if (blk.wait) ws_fixup(acc, fix, flags);
    if (blk.publish) {
      ws_publish(acc, fix, flags);
      continue;  // the next piece (a return here left the producer waiting: the hang of call 6)
    }
    // acc[i][j][r]: column nlo + 8(r/2) of the tile, row 64i + 8j + 2t + r%2.
#pragma unroll
    for (int hf = 0; hf < 2; hf++) {
      const int n = n0 + nlo + 8 * hf;
      if (n >= N) continue;
#pragma unroll
      for (int i = 0; i < I; i++)
#pragma unroll
        for (int j = 0; j < 8; j++)
#pragma unroll
          for (int e = 0; e < 2; e++) {
            const int m = m0 + 64 * i + 8 * j + 2 * t + e;
            if (m >= M) continue;
            float* y = Y + (size_t)m * N + n;
            if (gridDim.z > 1) {
              atomicAdd(y, acc[i][j][2 * hf + e]);
            } else {
              *y = acc[i][j][2 * hf + e];
            }
          }
    }
  }
}

// gptq_wr3/gptq_wr4: five stages (189 KB of shared memory at 4 bits with LLaMA-65B's
// widest K unsplit), one block of 384 threads a multiprocessor, tiles of 256 rows;
// gptq_wrB_r192 and _r128 the same with tiles of 192 and 128 rows (m64n192k16,
// m64n128k16), for row counts that 256-row tiles would leave partly empty (384 rows:
// two of 192); engine/backend/cuda's wrBuild and wrRows (TestMMOccupancy).
#define WR(B, TM, NAME)                                                                              \
  extern "C" __global__ void __launch_bounds__(384, 1) NAME(                                         \
      const uint32_t* qweight, const uint32_t* qzeros, const __half* scales, const int* cgroup,      \
      const __half* Xh, float* Y, int M, int K, int N, int chunksPerSplit, float zeroOffset,          \
      int streamed, float* fix, unsigned* flags) {                                                   \
    wr<B, 5, TM>(qweight, qzeros, scales, cgroup, Xh, Y, M, K, N, chunksPerSplit, zeroOffset,         \
                 streamed, fix, flags);                                                              \
  }
WR(3, 256, gptq_wr3)
WR(4, 256, gptq_wr4)
WR(3, 192, gptq_wr3_r192)
WR(4, 192, gptq_wr4_r192)
WR(3, 128, gptq_wr3_r128)
WR(4, 128, gptq_wr4_r128)

// wg_probe is the tensor-core rate probe of the Hopper prompt kernels' instruction
// (engine/backend/cuda's TensorRate on compute capability 9.0): each of a block's two
// warpgroups runs iters rounds of four wgmma.m64n256k16 (float16 from shared memory,
// float32 accumulated, as gptq_ws's consumers issue them: its own 64×64 tile of A, the
// block's 256×64 tile of B), one round in flight beside the next, one block a
// multiprocessor. The tiles hold ones, so every accumulator ends at 64·iters (exact
// in float32 up to iters = 2^18); each thread writes its 128 for the host to check.
extern "C" __global__ void __launch_bounds__(256, 1) wg_probe(float* __restrict__ out, int iters) {
  extern __shared__ __align__(16) float smemf[];
  unsigned char* smem = reinterpret_cast<unsigned char*>(smemf);
  smem += (1024 - (smem_u32(smem) & 1023)) & 1023;  // the swizzle's 1024-byte atoms
  const int tid = threadIdx.x, wg = tid >> 7;
  uint32_t* s32 = reinterpret_cast<uint32_t*>(smem);
  for (int i = tid; i < (2 * 64 + 256) * 64 / 2; i += blockDim.x) s32[i] = 0x3c003c00u;  // float16 ones
  proxy_fence();
  __syncthreads();
  const uint64_t da = wg_desc(smem_u32(smem + wg * 64 * 128)), db = wg_desc(smem_u32(smem + 2 * 64 * 128));
  float acc[4][8][4] = {};
  for (int i = 0; i < iters; i++) {
    wg_hold(acc);
    wg_fence();
#pragma unroll
    for (int ks = 0; ks < 4; ks++) wg_mma(acc, da + 2 * ks, db + 2 * ks);
    wg_commit();
    wg_wait<1>();
    wg_hold(acc);
  }
  wg_wait<0>();
  wg_hold(acc);
  float* o = out + ((size_t)blockIdx.x * blockDim.x + tid) * 128;
#pragma unroll
  for (int i = 0; i < 4; i++)
#pragma unroll
    for (int j = 0; j < 8; j++)
#pragma unroll
      for (int r = 0; r < 4; r++) o[(i * 8 + j) * 4 + r] = acc[i][j][r];
}
