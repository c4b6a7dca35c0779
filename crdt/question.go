package crdt

// Answered together: a question both partners answer, where neither can
// read the other's answer before both have answered. The package
// documentation ("Answered together") says what this protects and what it
// does not.
//
// Each answer is sealed with AES-256-GCM under a fresh random key, bound to
// its question and its author (the additional data). The sealed answer goes
// into the shared document; the key stays in this device's store meta
// under "answerkey/<question>/<fingerprint of the sealed answer>", which is
// never synced. The author's device writes the key into the shared document
// (reveals the answer) only once the other partner's answer is there: right
// away when answering second, else as soon as it sees the other answer --
// inside the transaction that stores a received sync message or imported
// document (see absorb), or at the next read (Space.RevealAnswers).

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/trustsync/trustsync"
)

// questionView is a question's view row: the sealed answers and any
// revealed keys, as the shared document holds them.
type questionView struct {
	Text    string      `json:"text"`
	AskedBy personRow   `json:"asked_by"`
	AskedAt time.Time   `json:"asked_at"`
	Answers []answerRow `json:"answers,omitempty"`
}

type answerRow struct {
	By     personRow `json:"by"`
	At     time.Time `json:"at"`
	Sealed string    `json:"sealed"`
	Key    string    `json:"key,omitempty"`
	KeyAt  time.Time `json:"key_at,omitzero"`
}

// answerKeyMeta is the store meta key holding the key of a sealed answer.
func answerKeyMeta(question, sealed string) string {
	sum := sha256.Sum256([]byte(sealed))
	return "answerkey/" + question + "/" + hex.EncodeToString(sum[:16])
}

func answerAAD(question, member string) []byte {
	return []byte("trustsync answer\x00" + question + "\x00" + member)
}

// sealAnswer encrypts text under a fresh random key.
func sealAnswer(question, member, text string) (sealed string, key []byte, err error) {
	key = make([]byte, 32)
	rand.Read(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return "", nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	rand.Read(nonce)
	ct := gcm.Seal(nonce, nonce, []byte(text), answerAAD(question, member))
	return base64.StdEncoding.EncodeToString(ct), key, nil
}

// openAnswer decrypts a sealed answer; ok is false when key does not open it.
func openAnswer(question, member, sealed string, key []byte) (string, bool) {
	ct, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(key) != 32 {
		return "", false
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", false
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil || len(ct) < gcm.NonceSize() {
		return "", false
	}
	pt, err := gcm.Open(nil, ct[:gcm.NonceSize()], ct[gcm.NonceSize():], answerAAD(question, member))
	if err != nil {
		return "", false
	}
	return string(pt), true
}

func decodeKey(s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil
	}
	return b
}

// sealedOverhead is what sealing adds to an answer's words: the GCM nonce
// before them and the tag after.
const sealedOverhead = 12 + 16

// maxSealed is the most bytes a sealed answer can have: the words of the
// longest answer allowed ([MaxNoteLen] characters, up to 4 bytes each in
// UTF-8) with the nonce and tag.
const maxSealed = sealedOverhead + 4*MaxNoteLen

// wellFormedSealed reports whether s has the shape of a sealed answer this
// package writes: standard base64 of a 12-byte nonce, at least one byte of
// words (an answer is never empty) and a 16-byte AES-256-GCM tag, and no
// longer than the longest answer allowed. Without the key nothing more can
// be checked: random bytes of that shape pass, which is why the package
// documentation ("Answered together") does not promise more.
func wellFormedSealed(s string) bool {
	if s == "" || len(s) > base64.StdEncoding.EncodedLen(maxSealed) {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(s)
	return err == nil && len(b) > sealedOverhead && len(b) <= maxSealed
}

// partnerOf returns the member ID of my partner: the other member of a
// space that has exactly two members (counted as readMembers counts them),
// one of them me. ok is false otherwise (before pairing, or when the
// members make no sense).
func partnerOf(me string, members map[string]bool) (partner string, ok bool) {
	if len(members) != 2 || !members[me] {
		return "", false
	}
	for m := range members {
		if m != me {
			return m, true
		}
	}
	return "", false
}

// otherAnswered reports whether the partner has answered: whether the
// answer map holds, under the partner's member ID (see partnerOf), a
// well-formed sealed answer. Whatever else is in the map -- entries under
// made-up IDs, or junk under the partner's -- reveals nothing.
func otherAnswered(answer *automerge.Map, me string, members map[string]bool) bool {
	partner, ok := partnerOf(me, members)
	return ok && answer != nil && wellFormedSealed(getStr(answer, partner))
}

// memberIDs is memberSet in a read transaction of its own.
func (s *Space) memberIDs(ctx context.Context) (map[string]bool, error) {
	var members map[string]bool
	err := s.view(ctx, func(tx trustsync.ReadTx) error {
		var err error
		members, err = memberSet(tx)
		return err
	})
	return members, err
}

// memberSet returns the IDs of the members the space really has (see
// readMembers).
func memberSet(tx trustsync.ReadTx) (map[string]bool, error) {
	ms, err := readMembers(tx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(ms))
	for _, m := range ms {
		out[m.ID] = true
	}
	return out, nil
}

// AskQuestion adds a question for both partners to answer.
func (s *Space) AskQuestion(ctx context.Context, text string) (string, error) {
	text, err := cleanText("the question", text, MaxTextLen)
	if err != nil {
		return "", fmt.Errorf("ask: %w", err)
	}
	id := newID()
	me := s.Self().MemberID
	_, err = s.write(ctx, QuestionsDoc, func(d *automerge.Doc, root *automerge.Map) (edit, error) {
		m := automerge.NewMap()
		if err := root.Set(id, m); err != nil {
			return edit{}, err
		}
		if err := setFields(m,
			"text", text,
			"asked_by", me,
			"asked_at", s.now().UnixMilli(),
			"answer", automerge.NewMap(),
			"answer_at", automerge.NewMap(),
			"key", automerge.NewMap(),
			"key_at", automerge.NewMap(),
		); err != nil {
			return edit{}, err
		}
		return edit{action: "add", kind: KindQuestion, item: id,
			summary: "asked " + quote(text),
			touched: []ItemRef{{KindQuestion, id}}}, nil
	})
	if err != nil {
		return "", fmt.Errorf("ask: %w", err)
	}
	return id, nil
}

// ErrAnswered is returned by AnswerQuestion when this member has already
// answered the question.
var ErrAnswered = errors.New("already answered")

// AnswerQuestion seals this member's answer and adds it to the question.
// The key stays on this device until the partner's answer is in the
// document too; when it already is, the answer is revealed at once. An
// answer cannot be changed: answering again fails with [ErrAnswered].
func (s *Space) AnswerQuestion(ctx context.Context, id, text string) error {
	text, err := cleanText("the answer", text, MaxNoteLen)
	if err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	if err := s.check(); err != nil {
		return err
	}
	r, err := s.resolveItem(ctx, id, KindQuestion)
	if err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	me := s.Self().MemberID
	var q questionView
	if err := readRow(r.item, &q); err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	for _, a := range q.Answers {
		if a.By.ID == me && a.Sealed != "" {
			return fmt.Errorf("answer: you answered %q already: %w", r.id, ErrAnswered)
		}
	}
	members, err := s.memberIDs(ctx)
	if err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	sealed, key, err := sealAnswer(r.id, me, text)
	if err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	// The key is stored first, so that no sealed answer of this device is
	// ever in a document without its key here.
	meta := answerKeyMeta(r.id, sealed)
	if err := s.st.Update(ctx, func(tx trustsync.Tx) error { return tx.Put(meta, key) }); err != nil {
		return fmt.Errorf("answer: keep the key: %w", err)
	}
	_, err = s.write(ctx, QuestionsDoc, func(d *automerge.Doc, root *automerge.Map) (edit, error) {
		m, err := itemMap(root, KindQuestion, r.id)
		if err != nil {
			return edit{}, err
		}
		answer, answerAt, err := memberMaps(m, "answer", "answer_at")
		if err != nil {
			return edit{}, err
		}
		if getStr(answer, me) != "" {
			return edit{}, fmt.Errorf("you answered %q already: %w", r.id, ErrAnswered)
		}
		at := s.now()
		if err := answer.Set(me, sealed); err != nil {
			return edit{}, err
		}
		if err := setTime(answerAt, me, at); err != nil {
			return edit{}, err
		}
		summary := "answered " + quote(getStr(m, "text")) + "; the answer stays sealed until both have answered"
		if otherAnswered(answer, me, members) {
			if err := setRevealed(m, me, key, at); err != nil {
				return edit{}, err
			}
			summary = "answered " + quote(getStr(m, "text")) + "; both have answered now"
		}
		return edit{action: "answer", kind: KindQuestion, item: r.id, summary: summary,
			touched: []ItemRef{{KindQuestion, r.id}}}, nil
	})
	if err != nil {
		_ = s.st.Update(ctx, func(tx trustsync.Tx) error { return tx.Delete(meta) })
		return fmt.Errorf("answer: %w", err)
	}
	return nil
}

func setRevealed(m *automerge.Map, me string, key []byte, at time.Time) error {
	keys, keyAt, err := memberMaps(m, "key", "key_at")
	if err != nil {
		return err
	}
	if err := keys.Set(me, base64.StdEncoding.EncodeToString(key)); err != nil {
		return err
	}
	return setTime(keyAt, me, at)
}

// revealFunc returns an edit that reveals this member's answer to question
// qid when the partner's answer is in the document, the answer is not
// revealed yet, and keyFor (which looks in the store meta) holds its key.
// Otherwise it changes nothing.
func (s *Space) revealFunc(qid, me string, members map[string]bool, keyFor func(sealed string) []byte) editFunc {
	return func(d *automerge.Doc, root *automerge.Map) (edit, error) {
		m := getMap(root, qid)
		if m == nil {
			return edit{}, errNoChange
		}
		answer := getMap(m, "answer")
		mine := getStr(answer, me)
		if mine == "" || !otherAnswered(answer, me, members) {
			return edit{}, errNoChange
		}
		if _, ok := openAnswer(qid, me, mine, decodeKey(getStr(getMap(m, "key"), me))); ok {
			return edit{}, errNoChange
		}
		key := keyFor(mine)
		if _, ok := openAnswer(qid, me, mine, key); !ok {
			return edit{}, errNoChange
		}
		if err := setRevealed(m, me, key, s.now()); err != nil {
			return edit{}, err
		}
		return edit{action: "reveal", kind: KindQuestion, item: qid,
			summary: "revealed their answer to " + quote(getStr(m, "text")) + " now that both have answered",
			touched: []ItemRef{{KindQuestion, qid}}}, nil
	}
}

// revealReceived is the hook run by absorb, in the transaction that stores
// changes received for the questions document: every answer of this member
// that the received changes made revealable is revealed in the same
// transaction, and goes back to the partner with the next sync message.
// ds.mu must be held, inside an Update.
func (s *Space) revealReceived(tx trustsync.Tx, ds *docState) error {
	me := s.Self().MemberID
	keys, err := ds.doc.RootMap().Keys()
	if err != nil {
		return err
	}
	members, err := memberSet(tx)
	if err != nil {
		return err
	}
	for _, qid := range keys {
		if isMetaKey(qid) {
			continue
		}
		keyFor := func(sealed string) []byte {
			b, err := tx.Get(answerKeyMeta(qid, sealed))
			if err != nil {
				return nil
			}
			return b
		}
		_, err := s.writeTx(tx, ds, s.now(), s.revealFunc(qid, me, members, keyFor))
		if errors.Is(err, errNoChange) || errors.Is(err, trustsync.ErrReadOnly) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reveal answer: %w", err)
		}
	}
	return nil
}

// RevealAnswers reveals every answer of this member, written on this
// device, whose question the partner has answered too. Receiving changes
// does it already; reads (Questions, Question) call it too, so that an
// answer is revealed at the latest at the next command. It writes nothing
// when there is nothing to reveal.
func (s *Space) RevealAnswers(ctx context.Context) error {
	me := s.Self().MemberID
	type todo struct {
		qid, sealed string
		key         []byte
	}
	var list []todo
	var members map[string]bool
	err := s.view(ctx, func(tx trustsync.ReadTx) error {
		var err error
		if members, err = memberSet(tx); err != nil {
			return err
		}
		items, err := tx.Items(KindQuestion)
		if err != nil {
			return err
		}
		for _, it := range items {
			var q questionView
			if err := readRow(it, &q); err != nil {
				return err
			}
			var mine *answerRow
			other := false
			partner, ok := partnerOf(me, members)
			for i, a := range q.Answers {
				switch {
				case a.By.ID == me && a.Sealed != "":
					mine = &q.Answers[i]
				case ok && a.By.ID == partner && wellFormedSealed(a.Sealed):
					other = true
				}
			}
			if mine == nil || !other {
				continue
			}
			if _, ok := openAnswer(it.ID, me, mine.Sealed, decodeKey(mine.Key)); ok {
				continue
			}
			key, err := tx.Get(answerKeyMeta(it.ID, mine.Sealed))
			if err != nil {
				continue
			}
			list = append(list, todo{it.ID, mine.Sealed, key})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reveal answers: %w", err)
	}
	for _, t := range list {
		keyFor := func(sealed string) []byte {
			if sealed == t.sealed {
				return t.key
			}
			return nil
		}
		if _, err := s.write(ctx, QuestionsDoc, s.revealFunc(t.qid, me, members, keyFor)); err != nil {
			return fmt.Errorf("reveal answers: %w", err)
		}
	}
	return nil
}

// Questions lists the questions, newest first, with every answer this
// device can read. It first reveals what can be revealed (RevealAnswers);
// when that fails, the listing is still returned and the failure logged.
func (s *Space) Questions(ctx context.Context) ([]trustsync.Question, error) {
	if err := s.RevealAnswers(ctx); err != nil {
		s.log.Warn("cannot reveal answers", "err", err)
	}
	var out []trustsync.Question
	me := s.Self().MemberID
	err := s.view(ctx, func(tx trustsync.ReadTx) error {
		p, err := loadPeople(tx)
		if err != nil {
			return err
		}
		items, err := tx.Items(KindQuestion)
		if err != nil {
			return err
		}
		for _, it := range items {
			q, err := readQuestion(tx, it, p, me)
			if err != nil {
				return err
			}
			out = append(out, q)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list questions: %w", err)
	}
	newestFirst(out, func(v trustsync.Question) (time.Time, string) { return v.AskedAt, v.ID })
	return out, nil
}

// Question returns one question by ID or prefix, like Questions.
func (s *Space) Question(ctx context.Context, id string) (trustsync.Question, error) {
	if err := s.RevealAnswers(ctx); err != nil {
		s.log.Warn("cannot reveal answers", "err", err)
	}
	var q trustsync.Question
	me := s.Self().MemberID
	err := s.view(ctx, func(tx trustsync.ReadTx) error {
		r, err := resolve(tx, id, KindQuestion)
		if err != nil {
			return err
		}
		p, err := loadPeople(tx)
		if err != nil {
			return err
		}
		q, err = readQuestion(tx, r.item, p, me)
		return err
	})
	return q, err
}

func readQuestion(tx trustsync.ReadTx, it trustsync.Item, p people, me string) (trustsync.Question, error) {
	var v questionView
	if err := readRow(it, &v); err != nil {
		return trustsync.Question{}, err
	}
	q := trustsync.Question{ID: it.ID, Text: v.Text, AskedBy: trustsync.Person{ID: v.AskedBy.ID}, AskedAt: v.AskedAt, Answers: []trustsync.Answer{}}
	p.fill(&q.AskedBy)
	answered := map[string]bool{}
	for _, a := range v.Answers {
		// Only a member's well-formed sealed answer is an answer; anything
		// else in the map (a modified client can put it there) is not shown
		// and does not count.
		if !p.members[a.By.ID] || !wellFormedSealed(a.Sealed) {
			continue
		}
		answered[a.By.ID] = true
		ans := trustsync.Answer{By: trustsync.Person{ID: a.By.ID}, At: a.At}
		p.fill(&ans.By)
		if text, ok := openAnswer(it.ID, a.By.ID, a.Sealed, decodeKey(a.Key)); ok {
			ans.Text, ans.Readable, ans.Revealed, ans.RevealedAt = text, true, true, a.KeyAt
		} else if a.By.ID == me {
			if key, err := tx.Get(answerKeyMeta(it.ID, a.Sealed)); err == nil {
				ans.Text, ans.Readable = openAnswer(it.ID, me, a.Sealed, key)
			}
		}
		q.Answers = append(q.Answers, ans)
	}
	q.Both = p.both(func(id string) bool { return answered[id] })
	return q, nil
}

func questionFromDoc(root *automerge.Map, id string) (questionView, bool) {
	m := getMap(root, id)
	if m == nil {
		return questionView{}, false
	}
	q := questionView{
		Text:    getStr(m, "text"),
		AskedBy: personRow{ID: getStr(m, "asked_by")},
		AskedAt: getTime(m, "asked_at"),
	}
	if answer := getMap(m, "answer"); answer != nil {
		at, keys, keyAt := getMap(m, "answer_at"), getMap(m, "key"), getMap(m, "key_at")
		vals, _ := answer.Values()
		for member, v := range vals {
			if strOf(v) == "" {
				continue
			}
			q.Answers = append(q.Answers, answerRow{
				By: personRow{ID: member}, At: getTime(at, member), Sealed: strOf(v),
				Key: getStr(keys, member), KeyAt: getTime(keyAt, member),
			})
		}
	}
	slices.SortFunc(q.Answers, func(x, y answerRow) int {
		if c := x.At.Compare(y.At); c != 0 {
			return c
		}
		return strings.Compare(x.By.ID, y.By.ID)
	})
	return q, true
}
