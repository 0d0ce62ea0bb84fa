package pathlist

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestChildren(t *testing.T) {
	paths := []string{"a", "app/db", "app/api", "app/x/y", "apple", "b/c/d"}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"", []string{"a", "app/", "apple", "b/"}},
		{"/", []string{"a", "app/", "apple", "b/"}},
		{"app", []string{"api", "db", "x/"}},
		{"/app/", []string{"api", "db", "x/"}},
		{"app/x", []string{"y"}},
		{"b", []string{"c/"}},
		{"ap", nil},
		{"a", nil},
		{"missing", nil},
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			got := Children(slices.Values(paths), tt.prefix)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Children(%q) mismatch (-want +got):\n%s", tt.prefix, diff)
			}
		})
	}
}
