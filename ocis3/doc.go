// Package ocis3 is an OCI registry stored in an S3-compatible bucket: an
// ociregistry.Interface that any number of stateless replicas may serve
// from one bucket at once, with no lock service and no shared cache.
//
// # Layout
//
// Every key lives under Config.Prefix:
//
//	blobs/<alg>/<hex>                        content of every blob, once per digest for the whole registry
//	repos/<repo>/_blobs/<alg>/<hex>          link: the repository holds the blob (JSON: media type, size, when linked)
//	repos/<repo>/_manifests/<alg>/<hex>      a manifest of the repository, under its sha256 and its sha512 digest
//	repos/<repo>/_tags/<tag>                 the tag: a copy of its manifest, with the manifest's digest in metadata
//	repos/<repo>/_referrers/<alg>/<hex>/<alg>-<hex>
//	                                         empty: the second manifest's subject is the first digest
//	repos/<repo>/_deleting/sha256/<hex>/<id> a DeleteManifest's marker: empty while it runs, one byte after
//	repos/<repo>/_deleted/sha256/<hex>       the manifest's deletion record, written afresh by every deletion
//	catalog/<repo>                           empty: the repository exists (name coded, see below)
//	uploads/<id>/state                       a chunked upload: repository, size, parts, sha256 state
//	uploads/<id>/<seq>-<rand>                one part of a chunked upload
//	gc/state                                 the garbage collector's fence (see Garbage)
//	gc/repos/<repo>                          its fence of one repository's links
//
// Manifests are small, so each repository keeps its own copies, and a
// tag holds one more: a manifest GET or HEAD by tag or by digest is one
// S3 request. The catalog is its own namespace, so listing repositories
// never walks blobs or repositories' content; a repository once created
// stays in the catalog. Catalog keys code the repository name ("." as
// ".-", "/" as ".."), an order-preserving code cut into components of
// 200 bytes joined by "~/", so that they list in the catalog's order, no
// key is a directory of another and no component is too long for a
// file name on gateways that map keys to files.
//
// # Consistency across replicas
//
// S3 reads its own writes and lists what has been written, and it
// honours conditional writes; ocis3 relies on nothing else. Content is
// addressed by digest and written once (If-None-Match: *), so a replica
// may keep it forever; ocis3 caches nothing mutable, except the catalog
// markers, which are never deleted. Manifests' content is kept in
// memory by digest (bounded, least recently used out), but whether a
// tag or repository holds a manifest is asked of S3 on every request
// (a HEAD when the content is known). A chunked upload's state lives in
// the bucket and moves by compare-and-swap on its ETag (If-Match), so
// each PATCH may land on any replica and two racing on one upload cannot
// both win. A push and a delete of the same manifest end as one whole
// after the other: DeleteManifest removes every tag that names the
// manifest (each by a delete conditional on the ETag it read, so a tag
// moved meanwhile stays), then the manifest, then its referrer entry,
// under a marker it renews from a goroutine, and writes the manifest's
// deletion record before it lets go; a PushManifest reads the record
// before it writes, and the markers and the record after, and writes
// everything again once the deletions it overlapped have ended.
//
// # Garbage
//
// DeleteBlob and DeleteManifest remove what a repository sees; content
// goes when GC finds nothing linking to it. GC is mark-and-sweep with a
// grace period, and announces itself in fence objects: gc/state for its
// whole run, gc/repos/<repo> while it sweeps one repository's links. An
// operation that relies on objects that were there before it began
// reads the fence that covers them before and after: a blob pushed again
// or mounted relies on content (gc/state), a manifest on its
// repository's links (gc/repos/<repo>). When a collection overlapped
// it, the operation waits for the fence to be let go, checks again that
// what it relied on is there, and fails cleanly, undoing its writes, if
// not. Reads and pushes of new content never wait. A collector that dies
// lets go of its fences when their lease (30 seconds, renewed every 10
// from a goroutine while it runs) ends.
//
// # Errors
//
// As with ocifs, blob operations answer an error that Is
// ociregistry.ErrBlobUnknown and manifest and tag operations one that Is
// ociregistry.ErrManifestUnknown for unknown content; Tags answers
// ociregistry.ErrNameUnknown for a repository that does not exist.
// Errors of S3 are returned wrapped.
package ocis3
