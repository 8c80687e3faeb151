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
// whole. A server that ignores Range answers 200 with the whole file: the bytes
// already held are compared as they pass (and cut where they differ) and only
// what lies beyond is written. A body may not exceed the size announced, and a
// download gives up after Client.Retries tries in a row that brought no byte past
// the most it ever held. The snapshot folder then links each path to its blob. Cache.Snapshot
// answers from the cache alone, with no network.
//
// Configuration follows huggingface_hub: HF_ENDPOINT, HF_TOKEN (or the token
// file), HF_HOME / HF_HUB_CACHE, HF_HUB_OFFLINE.
package hub
