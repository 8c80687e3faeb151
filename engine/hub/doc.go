// Package hub downloads model repositories from a Hugging Face–compatible hub
// into the cache that huggingface_hub (and so transformers, AutoGPTQ and the
// other Python tools) use, so a model pulled by either side serves both.
//
// A reference is "org/name" or "org/name:branch"; TheBloke publishes each GPTQ
// quantization of a model on its own branch. Pull lists the revision
// ({endpoint}/api/models/{repo}/revision/{rev}?blobs=true), reads each file's
// metadata with a HEAD of {endpoint}/{repo}/resolve/{commit}/{path} (X-Repo-Commit,
// X-Linked-Etag or ETag, X-Linked-Size), and downloads it through the redirect to
// the CDN into blobs/{etag}.incomplete, resuming with Range after a break, checking
// LFS files against their sha256, and renaming the blob into place only when it is
// whole. The snapshot folder then links each path to its blob. Cache.Snapshot
// answers from the cache alone, with no network.
//
// Configuration follows huggingface_hub: HF_ENDPOINT, HF_TOKEN (or the token
// file), HF_HOME / HF_HUB_CACHE, HF_HUB_OFFLINE.
package hub
