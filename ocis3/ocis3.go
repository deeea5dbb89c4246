package ocis3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/ocireg/ociregistry"
)

// Defaults of Config.
const (
	DefaultUploadMaxAge  = 24 * time.Hour
	DefaultPresignExpiry = 15 * time.Minute
)

// partSize is the size of the parts of a multipart upload, and of the
// buffer a push reads its content through: above S3's 5 MiB minimum, so
// that every part but the last may be copied as it is.
const partSize = 8 << 20

// maxIdleConns is how many idle connections to S3 a Registry keeps.
const maxIdleConns = 256

// minPartSize is S3's minimum size of a multipart upload's part (but the
// last).
const minPartSize = 5 << 20

// Config says which bucket to use and how. Its fields mirror the s3
// registry kind of ocireg's configuration file.
type Config struct {
	// Bucket is the bucket's name. It is required.
	Bucket string `json:"bucket" yaml:"bucket"`
	// Prefix, when not empty, is put before every key; a "/" is added
	// when it does not end with one.
	Prefix string `json:"prefix,omitempty" yaml:"prefix,omitempty"`
	// Endpoint is the URL of an S3-compatible service; empty means AWS.
	Endpoint string `json:"endpoint,omitempty" yaml:"endpoint,omitempty"`
	// Region is the bucket's region, where the service needs one.
	Region string `json:"region,omitempty" yaml:"region,omitempty"`
	// PathStyle asks for path-style addressing (endpoint/bucket/key).
	PathStyle bool `json:"pathStyle,omitempty" yaml:"pathStyle,omitempty"`
	// Redirect makes blob GETs answer with a presigned URL of the
	// content (ociserver answers 307), so bytes skip the replica.
	Redirect bool `json:"redirect,omitempty" yaml:"redirect,omitempty"`

	// AWS, when not nil, is the SDK configuration to start from instead
	// of the standard chain (environment, shared files, roles).
	AWS *aws.Config `json:"-" yaml:"-"`
	// Client, when not nil, is the S3 client to use; Endpoint, Region,
	// PathStyle and AWS are then ignored.
	Client *s3.Client `json:"-" yaml:"-"`

	// UploadMaxAge is how long a chunked upload may go without a write
	// before GC removes it. Zero means DefaultUploadMaxAge.
	UploadMaxAge time.Duration `json:"-" yaml:"-"`
	// PresignExpiry is how long a redirect's URL stays valid. Zero
	// means DefaultPresignExpiry.
	PresignExpiry time.Duration `json:"-" yaml:"-"`
	// LaxChildReferences, when true, lets manifests be pushed whose
	// config, layers or child manifests are not in the repository.
	LaxChildReferences bool `json:"-" yaml:"-"`
}

// Registry is a registry stored in an S3 bucket. Its methods are those
// of ociregistry.Interface; the embedded *ociregistry.Funcs is always nil
// and only there so that Registry satisfies the Interface.
type Registry struct {
	*ociregistry.Funcs

	cfg     Config
	client  *s3.Client
	presign *s3.PresignClient
	bucket  string
	prefix  string

	// catalogMu guards catalogSeen, the repositories whose catalog
	// marker this Registry knows to exist: markers are never deleted,
	// so knowing it once is knowing it for good.
	catalogMu   sync.Mutex
	catalogSeen map[string]bool

	// manifests holds manifests' content by digest, which never
	// changes; tagHints, guarded by hintMu, the digest each tag named
	// when last read, which only tells GetTag whether a HEAD may do.
	manifests *manifestCache
	hintMu    sync.Mutex
	tagHints  map[string]ociregistry.Digest
}

var _ ociregistry.Interface = (*Registry)(nil)

// maxCatalogSeen bounds the memory of catalog markers known to exist.
const maxCatalogSeen = 10000

// New returns a Registry over the bucket that cfg names. Credentials come
// from the standard AWS chain unless cfg.AWS or cfg.Client say
// otherwise. It does not touch the bucket; it returns an error when
// cfg.Bucket is empty or the SDK configuration cannot be loaded.
func New(ctx context.Context, cfg Config) (*Registry, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("ocis3: no bucket configured")
	}
	if cfg.UploadMaxAge <= 0 {
		cfg.UploadMaxAge = DefaultUploadMaxAge
	}
	if cfg.PresignExpiry <= 0 {
		cfg.PresignExpiry = DefaultPresignExpiry
	}
	client := cfg.Client
	if client == nil {
		var awsCfg aws.Config
		if cfg.AWS != nil {
			awsCfg = cfg.AWS.Copy()
		} else {
			var opts []func(*awsconfig.LoadOptions) error
			if cfg.Region != "" {
				opts = append(opts, awsconfig.WithRegion(cfg.Region))
			}
			c, err := awsconfig.LoadDefaultConfig(ctx, opts...)
			if err != nil {
				return nil, fmt.Errorf("ocis3: loading AWS configuration: %w", err)
			}
			awsCfg = c
		}
		if cfg.Region != "" {
			awsCfg.Region = cfg.Region
		}
		if awsCfg.HTTPClient == nil || cfg.AWS == nil {
			// The SDK keeps 10 idle connections per host; a replica
			// serving many clients at once would open and close
			// connections to S3 all the time.
			awsCfg.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
				t.MaxIdleConns = maxIdleConns
				t.MaxIdleConnsPerHost = maxIdleConns
			})
		}
		if awsCfg.Region == "" {
			// S3-compatible services mostly ignore the region, but
			// the signer needs one.
			awsCfg.Region = "us-east-1"
		}
		// Content is checked against its digest on the way in; the
		// SDK's own checksums would hash every byte once more.
		awsCfg.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		awsCfg.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		client = s3.NewFromConfig(awsCfg, func(o *s3.Options) {
			if cfg.Endpoint != "" {
				o.BaseEndpoint = aws.String(cfg.Endpoint)
			}
			o.UsePathStyle = cfg.PathStyle
			o.EndpointResolverV2 = newEndpointCache(s3.NewDefaultEndpointResolverV2())
		})
	}
	prefix := cfg.Prefix
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return &Registry{
		cfg:         cfg,
		client:      client,
		presign:     s3.NewPresignClient(client),
		bucket:      cfg.Bucket,
		prefix:      prefix,
		catalogSeen: make(map[string]bool),
		manifests:   newManifestCache(manifestCacheBytes),
		tagHints:    make(map[string]ociregistry.Digest),
	}, nil
}

// Client returns the S3 client the registry uses.
func (r *Registry) Client() *s3.Client { return r.client }

// Keys.

func (r *Registry) blobKey(d ociregistry.Digest) string {
	return r.prefix + "blobs/" + string(d.Algorithm()) + "/" + d.Encoded()
}

func (r *Registry) repoKey(repo string) string { return r.prefix + "repos/" + repo + "/" }

func (r *Registry) blobLinkKey(repo string, d ociregistry.Digest) string {
	return r.repoKey(repo) + "_blobs/" + string(d.Algorithm()) + "/" + d.Encoded()
}

func (r *Registry) manifestKey(repo string, d ociregistry.Digest) string {
	return r.repoKey(repo) + "_manifests/" + string(d.Algorithm()) + "/" + d.Encoded()
}

func (r *Registry) tagsPrefix(repo string) string { return r.repoKey(repo) + "_tags/" }

func (r *Registry) tagKey(repo, tag string) string { return r.tagsPrefix(repo) + tag }

func (r *Registry) referrersPrefix(repo string, subject ociregistry.Digest) string {
	return r.repoKey(repo) + "_referrers/" + string(subject.Algorithm()) + "/" + subject.Encoded() + "/"
}

func (r *Registry) referrerKey(repo string, subject, d ociregistry.Digest) string {
	return r.referrersPrefix(repo, subject) + string(d.Algorithm()) + "-" + d.Encoded()
}

func (r *Registry) catalogPrefix() string { return r.prefix + "catalog/" }

func (r *Registry) catalogKey(repo string) string { return r.catalogPrefix() + catalogName(repo) }

// catalogName encodes a repository name as a key suffix: S3 gateways
// over a file system (versitygw's posix backend, for one) cannot hold
// both "catalog/a" and "catalog/a/b", nor a component of more than 255
// bytes. The code ("." is ".-" and "/" is "..", every other character
// itself) is prefix-free and keeps the order of the characters of
// repository names ("-" < "." < "/" < "0"), so keys sort as the names
// do and a listing comes out in the catalog's order. A code longer than
// maxCatalogComponent is cut into components of that length, each but
// the last followed by "~/": "~" comes after every character of a code,
// so a name that ends where another's component is cut sorts first, as
// it should, and is a file where the other has a directory of another
// name.
func catalogName(repo string) string {
	code := strings.NewReplacer(".", ".-", "/", "..").Replace(repo)
	if len(code) <= maxCatalogComponent {
		return code
	}
	var b strings.Builder
	for len(code) > maxCatalogComponent {
		b.WriteString(code[:maxCatalogComponent])
		b.WriteString("~/")
		code = code[maxCatalogComponent:]
	}
	b.WriteString(code)
	return b.String()
}

// maxCatalogComponent is the longest component of a catalogName.
const maxCatalogComponent = 200

// repoFromCatalogName decodes catalogName, reporting whether name is
// a valid encoding: the one catalogName gives, cut where it cuts.
func repoFromCatalogName(name string) (string, bool) {
	repo, ok := decodeCatalogName(strings.ReplaceAll(name, "~/", ""))
	return repo, ok && catalogName(repo) == name
}

func decodeCatalogName(name string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '/' || c == '~' {
			return "", false
		}
		if c != '.' {
			b.WriteByte(c)
			continue
		}
		if i++; i == len(name) {
			return "", false
		}
		switch name[i] {
		case '-':
			b.WriteByte('.')
		case '.':
			b.WriteByte('/')
		default:
			return "", false
		}
	}
	return b.String(), true
}

func (r *Registry) uploadPrefix(id string) string { return r.prefix + "uploads/" + id + "/" }

func (r *Registry) gcStateKey() string { return r.prefix + "gc/state" }

// checkRepo checks a repository name. The grammar of repository names
// allows no "_" at the start of a component and no "//", which keeps the
// registry's own keys apart from repositories'.
// checkTag checks a tag, which becomes the last component of a key.
func checkTag(tag string) error {
	if err := ociregistry.CheckTag(tag); err != nil {
		return err
	}
	if strings.ContainsAny(tag, "/") {
		return fmt.Errorf("unsafe tag %q: %w", tag, ociregistry.ErrManifestInvalid)
	}
	return nil
}

// S3 requests.

// s3Status returns the HTTP status of an S3 error, or 0.
func s3Status(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// isNotFound reports whether err says the object (or upload) is not there.
func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	var nsu *types.NoSuchUpload
	return errors.As(err, &nsk) || errors.As(err, &nf) || errors.As(err, &nsu) || s3Status(err) == http.StatusNotFound
}

// isConflict reports whether err is a failed condition: 412, or the 409
// that S3 answers when conditional writes race.
func isConflict(err error) bool {
	if isDirectoryRace(err) {
		return false
	}
	st := s3Status(err)
	return st == http.StatusPreconditionFailed || st == http.StatusConflict
}

// isDirectoryRace reports whether err is versitygw's answer to a write
// that raced the removal of the directory it writes into: its posix
// backend removes a directory once its last object is deleted, and a
// write that finds its directory gone meanwhile fails with 409
// ExistingObjectIsDirectory. Such a write can be sent again.
func isDirectoryRace(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "ExistingObjectIsDirectory"
}

// maxRaceAttempts bounds the attempts at a write that keeps racing the
// removal of its directory.
const maxRaceAttempts = 4

// object is what a GET or HEAD found.
type object struct {
	size     int64
	etag     string
	modified time.Time
	meta     map[string]string
}

// head returns what HEAD says of key, or an error for which isNotFound
// holds when it is not there.
func (r *Registry) head(ctx context.Context, key string) (object, error) {
	out, err := r.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &r.bucket, Key: &key})
	if err != nil {
		return object{}, err
	}
	return object{
		size:     aws.ToInt64(out.ContentLength),
		etag:     aws.ToString(out.ETag),
		modified: aws.ToTime(out.LastModified),
		meta:     out.Metadata,
	}, nil
}

// maxSmallObject bounds what get reads into memory: links, tags,
// manifests and upload states are all smaller.
const maxSmallObject = 8 << 20

// get reads a small object whole.
func (r *Registry) get(ctx context.Context, key string) ([]byte, object, error) {
	out, err := r.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &r.bucket, Key: &key})
	if err != nil {
		return nil, object{}, err
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, maxSmallObject+1))
	if err != nil {
		return nil, object{}, err
	}
	if len(data) > maxSmallObject {
		return nil, object{}, fmt.Errorf("object %s is larger than %d bytes", key, maxSmallObject)
	}
	return data, object{
		size:     int64(len(data)),
		etag:     aws.ToString(out.ETag),
		modified: aws.ToTime(out.LastModified),
		meta:     out.Metadata,
	}, nil
}

// putOptions are the conditions and metadata of a put.
type putOptions struct {
	ifNoneMatch bool   // only if there is no such object
	ifMatch     string // only if the object has this ETag
	meta        map[string]string
}

// put writes a small object and returns its ETag. With a condition that
// fails, the error satisfies isConflict (or isNotFound, for ifMatch on
// an object that is gone).
func (r *Registry) put(ctx context.Context, key string, data []byte, po putOptions) (string, error) {
	in := &s3.PutObjectInput{
		Bucket:        &r.bucket,
		Key:           &key,
		ContentLength: aws.Int64(int64(len(data))),
		Metadata:      po.meta,
	}
	if po.ifNoneMatch {
		in.IfNoneMatch = aws.String("*")
	}
	if po.ifMatch != "" {
		in.IfMatch = aws.String(po.ifMatch)
	}
	var out *s3.PutObjectOutput
	var err error
	for attempt := 1; ; attempt++ {
		in.Body = bytes.NewReader(data)
		out, err = r.client.PutObject(ctx, in, unsignedPayload)
		if err == nil || !isDirectoryRace(err) || attempt == maxRaceAttempts {
			break
		}
	}
	if err != nil {
		return "", err
	}
	return aws.ToString(out.ETag), nil
}

// unsignedPayload leaves the body out of the request's signature: what
// ocis3 writes is checked against its digest or small, and hashing every
// byte once more for the signature would cost a core on a fast push.
func unsignedPayload(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
}

// del deletes key, only if it has the ETag ifMatch when that is not
// empty. Deleting what is not there succeeds.
func (r *Registry) del(ctx context.Context, key, ifMatch string) error {
	in := &s3.DeleteObjectInput{Bucket: &r.bucket, Key: &key}
	if ifMatch != "" {
		in.IfMatch = aws.String(ifMatch)
	}
	_, err := r.client.DeleteObject(ctx, in)
	if err != nil && isNotFound(err) && ifMatch == "" {
		return nil
	}
	return err
}

// deleteKeys deletes keys in batches, ignoring those already gone.
func (r *Registry) deleteKeys(ctx context.Context, keys []string) error {
	for len(keys) > 0 {
		n := min(len(keys), 1000)
		ids := make([]types.ObjectIdentifier, n)
		for i, k := range keys[:n] {
			ids[i] = types.ObjectIdentifier{Key: aws.String(k)}
		}
		out, err := r.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: &r.bucket,
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return err
		}
		for _, e := range out.Errors {
			if aws.ToString(e.Code) != "NoSuchKey" {
				return fmt.Errorf("deleting %s: %s", aws.ToString(e.Key), aws.ToString(e.Message))
			}
		}
		keys = keys[n:]
	}
	return nil
}

// list yields the objects whose keys start with prefix and sort after
// startAfter (a full key, or empty), page by page, so that no more than a
// page is held at once.
func (r *Registry) list(ctx context.Context, prefix, startAfter string) func(yield func(types.Object, error) bool) {
	return func(yield func(types.Object, error) bool) {
		in := &s3.ListObjectsV2Input{Bucket: &r.bucket, Prefix: &prefix}
		if startAfter != "" {
			in.StartAfter = aws.String(startAfter)
		}
		for {
			out, err := r.client.ListObjectsV2(ctx, in)
			if err != nil {
				yield(types.Object{}, err)
				return
			}
			for _, o := range out.Contents {
				if !yield(o, nil) {
					return
				}
			}
			if !aws.ToBool(out.IsTruncated) || len(out.Contents) == 0 {
				return
			}
			if out.NextContinuationToken != nil {
				in.ContinuationToken = out.NextContinuationToken
				in.StartAfter = nil
			} else {
				in.StartAfter = out.Contents[len(out.Contents)-1].Key
			}
		}
	}
}

// ensureCatalog makes sure the repository's catalog marker exists. A HEAD
// is cheaper than a PUT on AWS, so it looks before it writes.
func (r *Registry) ensureCatalog(ctx context.Context, repo string) error {
	r.catalogMu.Lock()
	seen := r.catalogSeen[repo]
	r.catalogMu.Unlock()
	if seen {
		return nil
	}
	key := r.catalogKey(repo)
	if _, err := r.head(ctx, key); err != nil {
		if !isNotFound(err) {
			return err
		}
		if _, err := r.put(ctx, key, nil, putOptions{ifNoneMatch: true}); err != nil && !isConflict(err) {
			return err
		}
	}
	r.catalogMu.Lock()
	if len(r.catalogSeen) >= maxCatalogSeen {
		clear(r.catalogSeen)
	}
	r.catalogSeen[repo] = true
	r.catalogMu.Unlock()
	return nil
}

// repoExists reports whether the repository has a catalog marker.
func (r *Registry) repoExists(ctx context.Context, repo string) (bool, error) {
	_, err := r.head(ctx, r.catalogKey(repo))
	if err == nil {
		return true, nil
	}
	if isNotFound(err) {
		return false, nil
	}
	return false, err
}

func blobError(repo string, d ociregistry.Digest, err error) error {
	if isNotFound(err) {
		return fmt.Errorf("blob %s in repository %s: %w", d, repo, ociregistry.ErrBlobUnknown)
	}
	return fmt.Errorf("ocis3: blob %s in repository %s: %w", d, repo, err)
}

func manifestError(repo, what string, err error) error {
	if isNotFound(err) {
		return fmt.Errorf("manifest %s in repository %s: %w", what, repo, ociregistry.ErrManifestUnknown)
	}
	return fmt.Errorf("ocis3: manifest %s in repository %s: %w", what, repo, err)
}
