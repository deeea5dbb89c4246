package conformance

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestSizedManifest(t *testing.T) {
	config := newBlob(digest.SHA256, mtConfig, []byte("{}"))
	for _, size := range []int{400, 4096, 64 << 10, 4 << 20} {
		m := sizedManifest(digest.SHA512, config, size)
		qt.Assert(t, qt.Equals(len(m.data), size))
		qt.Assert(t, qt.Equals(m.digest, digest.SHA512.FromBytes(m.data)))
		var im ocispec.Manifest
		qt.Assert(t, qt.IsNil(json.Unmarshal(m.data, &im)))
		qt.Assert(t, qt.Equals(im.Config.Digest, config.desc.Digest))
	}
}

func TestNewImageExtraFields(t *testing.T) {
	m := newImage(digest.SHA256, imageOpts{layers: 2, extraFields: true})
	var fields map[string]any
	qt.Assert(t, qt.IsNil(json.Unmarshal(m.data, &fields)))
	qt.Assert(t, qt.Not(qt.IsNil(fields["org.example.conformance.unknown"])))
	// The layout is not Go's, so a registry that re-encodes is caught.
	var im ocispec.Manifest
	qt.Assert(t, qt.IsNil(json.Unmarshal(m.data, &im)))
	again, err := json.Marshal(im)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Not(qt.Equals(string(again), string(m.data))))
	qt.Assert(t, qt.HasLen(im.Layers, 2))
	qt.Assert(t, qt.HasLen(m.blobs, 3))
}

func TestNewImageArtifactType(t *testing.T) {
	tests := []struct {
		name string
		opts imageOpts
		want string
	}{
		{"Explicit", imageOpts{artifactType: mtArtifactA, configMediaType: mtEmptyJSON}, mtArtifactA},
		{"FromConfig", imageOpts{configMediaType: mtArtifactConf}, mtArtifactConf},
		{"Image", imageOpts{}, mtConfig},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			m := newImage(digest.SHA256, test.opts)
			qt.Assert(t, qt.Equals(m.referrerDesc().ArtifactType, test.want))
		})
	}
}

func TestEmptyJSONLayerSharesConfig(t *testing.T) {
	m := newImage(digest.SHA256, imageOpts{configMediaType: mtEmptyJSON, emptyJSONLayer: true})
	qt.Assert(t, qt.HasLen(m.blobs, 1))
}

func TestNextLink(t *testing.T) {
	tests := []struct {
		name   string
		header []string
		want   string
	}{
		{"None", nil, ""},
		{"Next", []string{`</v2/a/tags/list?n=2&last=b>; rel="next"`}, "/v2/a/tags/list?n=2&last=b"},
		{"Unquoted", []string{`</v2/_catalog?last=x>; rel=next`}, "/v2/_catalog?last=x"},
		{"Several", []string{`</prev>; rel="prev", </next>; rel="next"`}, "/next"},
		{"SeveralHeaders", []string{`</prev>; rel="prev"`, `</next>; rel="next"`}, "/next"},
		{"OtherRel", []string{`</prev>; rel="prev"`}, ""},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			r := &response{header: http.Header{"Link": test.header}}
			qt.Assert(t, qt.Equals(r.nextLink(t), test.want))
		})
	}
}

func TestErrorCodes(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		want   []string
		wantOK bool
	}{
		{"Spec", `{"errors":[{"code":"BLOB_UNKNOWN","message":"x"}]}`, []string{"BLOB_UNKNOWN"}, true},
		{"Two", `{"errors":[{"code":"A"},{"code":"B"}]}`, []string{"A", "B"}, true},
		{"NotJSON", `not found`, nil, false},
		{"OtherJSON", `{"error":"x"}`, nil, false},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			r := &response{body: []byte(test.body)}
			got, ok := r.errorCodes()
			qt.Assert(t, qt.Equals(ok, test.wantOK))
			qt.Assert(t, qt.DeepEquals(got, test.want))
		})
	}
}

func TestWarningPattern(t *testing.T) {
	tests := []struct {
		warning string
		want    bool
	}{
		{`299 - "Your auth token will expire in 30 seconds."`, true},
		{`299 - "quoted \"word\" inside"`, true},
		{`299 registry "text"`, false},
		{`199 - "text"`, false},
		{`299 - "text" "Wed, 21 Oct 2015 07:28:00 GMT"`, false},
	}
	for _, test := range tests {
		qt.Check(t, qt.Equals(warningPattern.MatchString(test.warning), test.want), qt.Commentf("%s", test.warning))
	}
}
