package ui

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"html"
	"regexp"
	"strings"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/home"
	"github.com/trustsync/trustsync/internal/showtext"
)

// hidden is what a modified client could store as a boundary: on a page,
// the right-to-left override would show "etal" as "late", and the control
// characters could hide where a word ends.
const hidden = "I will call you when I am running \u202Eetal\u202C\r\x1b[2K \u2066<b>bold</b>\u2069 \u0085end"

// plantBoundaryText writes text into the boundary id on Sam's device the
// way a modified client could, bypassing the library's checks, signed
// with Sam's device key, with summary as its history line.
func plantBoundaryText(t *testing.T, sam *home.Home, id, text, summary string) {
	t.Helper()
	ctx := context.Background()
	sp := sam.Space()
	saved, err := sp.Save(ctx, "boundaries")
	must(t, err)
	signed, err := sp.SaveSigned(ctx, "boundaries")
	must(t, err)
	d, err := automerge.Load(saved)
	must(t, err)
	must(t, d.SetActorID(sp.Self().DeviceID))
	must(t, d.Path(id).Map().Set("text", automerge.NewText(text)))
	msg, err := json.Marshal(map[string]string{"a": "edit", "k": "boundary", "i": id, "s": summary})
	must(t, err)
	h, err := d.Commit(string(msg))
	must(t, err)
	data := signBundle(t, signed, d.Save(), "boundaries", deviceKey(t, sam), h)
	// Sam's own device takes the change as if it had made it; the sync
	// then carries it to the page's device, which checks the signature.
	_, err = sp.Import(ctx, "boundaries", data, sp.Self().DeviceID)
	must(t, err)
}

// deviceKey returns the signing key of a home's device.
func deviceKey(t *testing.T, h *home.Home) ed25519.PrivateKey {
	t.Helper()
	ctx := context.Background()
	_, err := h.Space().PeerID(ctx) // creates the key when the home has none yet
	must(t, err)
	var key ed25519.PrivateKey
	must(t, h.Store().View(ctx, func(tx trustsync.ReadTx) error {
		raw, err := tx.Get(crdt.KeyMeta)
		if err != nil {
			return err
		}
		if len(raw) != 4+ed25519.PrivateKeySize {
			t.Fatalf("device key: %d bytes", len(raw))
		}
		key = ed25519.PrivateKey(bytes.Clone(raw[4:]))
		return nil
	}))
	return key
}

// signBundle returns data as a signed bundle carrying the signatures of
// the bundle signed and key's signature of each change in fresh.
func signBundle(t *testing.T, signed, data []byte, doc string, key ed25519.PrivateKey, fresh ...automerge.ChangeHash) []byte {
	t.Helper()
	rest, ok := bytes.CutPrefix(signed, []byte("TSsg\x01"))
	if !ok {
		t.Fatal("not a signed bundle")
	}
	n, k := binary.Uvarint(rest)
	rest = rest[k+int(n):]
	count, k := binary.Uvarint(rest)
	const entry = 32 + ed25519.SignatureSize
	if k <= 0 || count*entry != uint64(len(rest)-k) {
		t.Fatal("signed bundle: bad signature list")
	}
	sigs := map[automerge.ChangeHash][]byte{}
	for rest = rest[k:]; len(rest) > 0; rest = rest[entry:] {
		var h automerge.ChangeHash
		copy(h[:], rest[:32])
		sigs[h] = bytes.Clone(rest[32:entry])
	}
	for _, h := range fresh {
		sigs[h] = ed25519.Sign(key, append([]byte("trustsync change v1\x00"+doc+"\x00"), h[:]...))
	}
	b := append([]byte("TSsg\x01"), binary.AppendUvarint(nil, uint64(len(data)))...)
	b = append(b, data...)
	b = binary.AppendUvarint(b, uint64(len(sigs)))
	for h, sig := range sigs {
		b = append(append(b, h[:]...), sig...)
	}
	return b
}

// TestServer_ShowsControlCharactersAsTheCLIDoes: a boundary whose words a
// modified client filled with a right-to-left override, control
// characters and markup is shown on every page that lists it with those
// characters made visible, as the command line shows them, and agreeing
// to it agrees to the stored words.
func TestServer_ShowsControlCharactersAsTheCLIDoes(t *testing.T) {
	k := keeper(t)
	s := startServer(t, newHome(t, "Alex", false, k), k)
	c := login(t, s)
	sam, sync := partnerHome(t, s)
	ctx := context.Background()
	id, err := sam.Space().AddBoundary(ctx, "I will call you when I am running late")
	must(t, err)
	sync()
	plantBoundaryText(t, sam, id, hidden, "changed the words \u202Eot\u202C "+hostile)
	sync()
	hiddenInput := regexp.MustCompile(`<input type="hidden"[^>]*>`)
	for _, page := range []string{"/", "/boundaries", "/setbacks", "/history"} {
		_, body := c.get(page)
		visible := hiddenInput.ReplaceAllString(body, "")
		if strings.ContainsAny(visible, "\u202E\u202C\u2066\u2069\u0085\r\x1b") {
			t.Errorf("%s shows a control or bidi character as is", page)
		}
		if strings.Contains(visible, "<b>bold") || strings.Contains(visible, "<script>") {
			t.Errorf("%s shows a partner's markup as markup", page)
		}
		want := showtext.Escape(hidden) // as the command line shows it
		switch page {
		case "/setbacks": // the start of the words, on one line
			want = "boundary: I will call you when I am running <U+202E>etal<U+202C>"
		case "/history":
			want = "changed the words <U+202E>ot<U+202C> " + hostile
		}
		if !strings.Contains(html.UnescapeString(visible), want) {
			t.Errorf("%s does not show %q:\n%s", page, want, body)
		}
	}
	// The agree form carries the stored words, which are what was shown.
	c.do("/boundaries/agree", map[string][]string{"id": {id}, "seen": {hidden}}, "/boundaries")
	b, err := s.current().sp.Boundary(ctx, id)
	must(t, err)
	if !agreedBy(b.Agreements, s.current().sp.Self().MemberID) {
		t.Errorf("agreeing to the words shown did not record an agreement")
	}
}
