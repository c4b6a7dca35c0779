package hostile

import (
	"bytes"
	"strings"
	"testing"

	"github.com/automerge/automerge-go"
)

func seeds(t *testing.T) []Seed {
	t.Helper()
	s, err := Seeds()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestChecksumMatchesAutomerge checks the format as this package reads it
// against what automerge-go writes: every seed chunk's checksum is the one
// Checksum computes, and a change chunk's full SHA-256 is its change hash.
func TestChecksumMatchesAutomerge(t *testing.T) {
	n, hashes := 0, 0
	for _, s := range seeds(t) {
		data := [][]byte{s.Data}
		if s.Kind == Sync {
			m, err := ParseSync(s.Data)
			if err != nil {
				t.Fatalf("%s: %v", s.Name, err)
			}
			data = m.Changes
		}
		for _, d := range data {
			chunks, rest := SplitChunks(d)
			if len(chunks) == 0 || len(rest) != 0 {
				t.Fatalf("%s: %d chunks, %d bytes left", s.Name, len(chunks), len(rest))
			}
			for _, c := range chunks {
				if c.Type == TypeCompressed {
					continue
				}
				if c.Checksum != Checksum(c.Type, c.Body) {
					t.Fatalf("%s: checksum %x, computed %x", s.Name, c.Checksum, Checksum(c.Type, c.Body))
				}
				if !bytes.Equal(c.Encode(), c.Fixed()) {
					t.Fatalf("%s: re-encoding differs", s.Name)
				}
				n++
				if c.Type == TypeChange {
					// LoadChanges refuses a lone change whose
					// dependencies are missing: check the others.
					chs, err := automerge.LoadChanges(c.Encode())
					if err != nil {
						continue
					}
					if h := chs[0].Hash(); len(chs) != 1 || h != automerge.ChangeHash(changeHash(c)) {
						t.Fatalf("%s: change hash %s, computed %x", s.Name, h, changeHash(c))
					}
					hashes++
				}
			}
			if !Valid(d) {
				t.Fatalf("%s: not valid", s.Name)
			}
		}
	}
	if n < 10 || hashes < 3 {
		t.Fatalf("only %d chunks and %d change hashes checked", n, hashes)
	}
}

// TestChecksumIsEnforced shows why checksums are recomputed: a flipped body
// byte with the old checksum is refused as such; with the checksum fixed,
// the bytes reach the decoder.
func TestChecksumIsEnforced(t *testing.T) {
	var doc []byte
	for _, s := range seeds(t) {
		if s.Name == "doc-a" {
			doc = s.Data
		}
	}
	c, _, err := ParseChunk(doc)
	if err != nil {
		t.Fatal(err)
	}
	c.Body = append([]byte(nil), c.Body...)
	c.Body[len(c.Body)/2] ^= 0x01
	_, err = automerge.Load(c.Encode())
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "checksum") {
		t.Fatalf("stale checksum: %v", err)
	}
	_, err = automerge.Load(c.Fixed())
	if err != nil && strings.Contains(strings.ToLower(err.Error()), "checksum") {
		t.Fatalf("fixed checksum still refused as a checksum error: %v", err)
	}
	t.Logf("stale checksum refused; fixed one reaches the decoder (%v)", err)
}

func TestSyncRoundTrip(t *testing.T) {
	n := 0
	for _, s := range seeds(t) {
		if s.Kind != Sync {
			continue
		}
		m, err := ParseSync(s.Data)
		if err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		if !bytes.Equal(m.Encode(), s.Data) {
			t.Fatalf("%s: re-encoding differs", s.Name)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no sync seeds")
	}
}

func TestSeedsAreDeterministic(t *testing.T) {
	a, b := seeds(t), seeds(t)
	if len(a) != len(b) {
		t.Fatal("seed count differs")
	}
	for i := range a {
		if !bytes.Equal(a[i].Data, b[i].Data) {
			t.Fatalf("seed %s differs between runs", a[i].Name)
		}
	}
	kinds := map[Kind]int{}
	for _, s := range a {
		kinds[s.Kind]++
	}
	for _, k := range Kinds {
		if kinds[k] == 0 {
			t.Fatalf("no seed of kind %s", k)
		}
	}
}

func TestGeneratorIsDeterministic(t *testing.T) {
	s := seeds(t)
	g1, g2, g3 := New(7, s), New(7, s), New(8, s)
	same3 := true
	for i := 0; i < 150; i++ {
		k := Kinds[i%len(Kinds)]
		a, b, c := g1.Next(k), g2.Next(k), g3.Next(k)
		if !bytes.Equal(a.Data, b.Data) || a.Op != b.Op {
			t.Fatalf("input %d differs for the same seed", i)
		}
		same3 = same3 && bytes.Equal(a.Data, c.Data)
	}
	if same3 {
		t.Fatal("another seed gave the same inputs")
	}
	o1, m1 := g1.Session()
	o2, m2 := g2.Session()
	if o1 != o2 || len(m1) != len(m2) {
		t.Fatal("sessions differ for the same seed")
	}
}

// TestMutationsKeepChecksumsValid checks that the "fixed:" mutations give
// chunks with valid checksums, and that inputs are really mutated.
func TestMutationsKeepChecksumsValid(t *testing.T) {
	s := seeds(t)
	g := New(1, s)
	fixed, changed := 0, 0
	const n = 600
	for i := 0; i < n; i++ {
		in := g.Next(Kinds[i%3])
		if strings.HasPrefix(in.Op, "fixed:") {
			fixed++
			chunks, _ := SplitChunks(in.Data)
			for _, c := range chunks {
				if c.Type != TypeCompressed && c.Checksum != Checksum(c.Type, c.Body) {
					t.Fatalf("%s: bad checksum", in)
				}
			}
		}
		orig := false
		for _, sd := range s {
			orig = orig || bytes.Equal(sd.Data, in.Data)
		}
		if !orig {
			changed++
		}
	}
	if fixed < n/2 || changed < n*9/10 {
		t.Fatalf("fixed %d, changed %d of %d", fixed, changed, n)
	}
}
