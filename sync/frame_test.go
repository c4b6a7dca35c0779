package sync

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"testing"
)

// A document payload is deflated when that makes it shorter and sent as
// is otherwise (codec byte 0 or 1 after the document ID); either way the
// receiver reads back the same bytes.
func TestEncodeDocPayload(t *testing.T) {
	ctx := context.Background()
	d := newDevice(t, "Alex")
	for i := range 300 {
		_, err := d.space.AddBoundary(ctx, fmt.Sprint("boundary ", i))
		must(t, err)
	}
	saved, err := d.space.SaveSigned(ctx, "boundaries")
	must(t, err)
	random := make([]byte, 4096)
	rand.Read(random)
	for _, tc := range []struct {
		name string
		data []byte
		// deflated: whether the payload goes deflated; 0 means "whichever
		// is shorter", checked against the length.
		deflated int
	}{
		{"short", []byte("hello"), -1},
		{"repetitive", bytes.Repeat([]byte("sync message "), 1000), 1},
		{"random", random, -1},
		{"saved document", saved, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, err := encodeDocPayload("boundaries", tc.data)
			must(t, err)
			codec := body[len(appendString(nil, "boundaries"))]
			switch {
			case tc.deflated == 1 && codec != 1:
				t.Fatalf("codec %d, want deflated (1)", codec)
			case tc.deflated == -1 && codec != 0:
				t.Fatalf("codec %d, want as is (0)", codec)
			}
			if over := len(body) - len(appendString(nil, "boundaries")) - 1; over > len(tc.data) {
				t.Fatalf("%d bytes of data take %d on the wire", len(tc.data), over)
			}
			t.Logf("%d bytes, codec %d, %d on the wire", len(tc.data), codec, len(body))
			doc, got, err := decodeDocPayload(body)
			must(t, err)
			if doc != "boundaries" || !bytes.Equal(got, tc.data) {
				t.Fatalf("decoded %q and %d bytes, want boundaries and the %d bytes sent", doc, len(got), len(tc.data))
			}
		})
	}
}
