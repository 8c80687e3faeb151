// Package cuda is the NVIDIA GPU backend of the engine: the operations of
// engine.Backend as launches of the PTX kernels in package kernels, through the CUDA
// driver API (gorgonia.org/cu plus a little cgo of its own for pinned memory and CUDA
// graphs). It and internal/cuinit (which explains, before gorgonia.org/cu's init exits
// the process, why the driver did not initialize) are the only packages with cgo, and
// build only with the cuda tag.
//
// Ops record each Run's launches as a program; a program that repeats the previous
// Run's of the same batch size is captured as a CUDA graph and replayed from then on
// while it stays the same (program.go).
//
// All driver calls run on one goroutine locked to its OS thread, which owns the CUDA
// context; everything else reaches it through thread.Do. Device memory is owned by
// the backend and freed explicitly by Close; allocation and launch failures come back
// as errors naming the buffer or kernel. Every launch's arguments are checked against
// the kernel's parameter list in the PTX (kernels.Entries) before the driver reads
// them.
//
// It registers as backend "cuda", priority 100 (before the CPU for "auto"), with
// Devices as its probe; Open(ctx, N) opens GPU N of those the driver shows, which
// are the ones CUDA_VISIBLE_DEVICES leaves visible.
//
// Layouts: activations are float32 rows; dense weights stay float16 as in the
// checkpoint; GPTQ weights keep the checkpoint's packed layout, with act-order rows
// sorted by g_idx once at load (on the device) and inputs gathered through the same
// permutation; the key-value cache of a layer is float16 [2][kvHeads][context][headDim].
//
// It implements engine.PagedBackend too (paged.go): a paged cache of a layer is
// float16 [2][blocks×blockSize][kvHeads][headDim]; RunBatch uploads each step's
// positions, sequences and block tables into one device buffer that rope_store_paged
// and attention_paged (split over the keys, flash-decoding style, for decode rows and
// prompt chunks alike) read, so a RunBatch step's launches depend
// only on its number of rows and are captured and replayed as a CUDA graph per
// number of rows like Run's. One-row quantized products of 4 bits take gptq_mv4 (CUDA
// cores, a ring of chunks in shared memory), of 3 bits gptq_mvq3 (the fields unpacked
// with one LOP3 a pair into mma.sync operands, zeros and scales applied per group; each
// warp's weights through its own cp.async ring); on compute capability 9.0 both are
// launched early (oneRowEarly, programmatic dependent launch: their first weight
// copies overlap the kernel ahead of them, which lets them start). Quantized products of 2..mvRowsMax (64) rows of 3 or 4
// bits take gptq_tcN_mR (R = 16, 32, 64: tcKernels, with K split for whole waves of
// blocks, tcDefaults), which dequantize each chunk of weights once in registers into
// the B operands of mma.sync for all the rows (up to 16 rows of weights with one group
// per four chunks on gptq_tcN_m16_p1w4r, whose B operands skip the zero and scale,
// applied to the sums per group instead, and whose warps meet at no block barrier
// while they stream the weights; up to mvR4Rows rows of weights never
// permuted take gptq_mvN_r4, on CUDA cores); more rows, and 2 or 8
// bits, take the prompt kernels (gptq_mm, gptq_gemm; on compute capability 9.0
// gptq_ws3 and gptq_wr4 from the sm_90a module, warp-specialized on wgmma and
// streamed over the multiprocessors where the tiles are not whole waves:
// promptKernels, mmPlan; steps of longRowsMin rows or more on gemm_ws, the weight
// dequantized once a product into float16 by dequant_tN: longBuild), whose row tiles
// (128, 64 or 256 rows) hold a whole decode batch. Either way each weight is read once per step; the
// float16 output layer too (gemv_f16 for one row, dense_rowsR on tensor cores for
// 2..32, gemm_f16 past that).
//
// Around the products, a layer's RoPE of q and k and the store of k and v into the
// cache are one launch (rope_store_own or rope_store_paged: ops hold a RoPE back until
// the next operation, and Attention takes the ones on its q and k), and attention's
// key splits are merged by the last split of each row and head, not a launch of its
// own.
package cuda
