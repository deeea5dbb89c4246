package main

import (
	"testing"

	"github.com/go-quicktest/qt"
)

func TestParseSizeLimit(t *testing.T) {
	tests := []struct {
		in      string
		want    sizeLimit
		wantErr bool
	}{
		{in: "0", want: 0},
		{in: "4096", want: 4096},
		{in: "64KiB", want: 64 << 10},
		{in: "64 KiB", want: 64 << 10},
		{in: "2MiB", want: 2 << 20},
		{in: "2MB", want: 2 << 20},
		{in: "1GiB", want: 1 << 30},
		{in: "10B", want: 10},
		{in: "", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "1.5MiB", wantErr: true},
		{in: "lots", wantErr: true},
		{in: "KiB", wantErr: true},
		{in: "9999999999GiB", wantErr: true},
	}
	for _, test := range tests {
		got, err := parseSizeLimit(test.in)
		if test.wantErr {
			qt.Check(t, qt.ErrorMatches(err, `invalid size .*`), qt.Commentf("%q", test.in))
			continue
		}
		qt.Check(t, qt.IsNil(err), qt.Commentf("%q", test.in))
		qt.Check(t, qt.Equals(got, test.want), qt.Commentf("%q", test.in))
	}
	qt.Check(t, qt.Equals(sizeLimit(64<<10).String(), "64KiB"))
	qt.Check(t, qt.Equals(sizeLimit(3<<20).String(), "3MiB"))
	qt.Check(t, qt.Equals(sizeLimit(1000).String(), "1000"))
}
