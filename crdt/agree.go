package crdt

import (
	"errors"
	"fmt"
)

// ErrTextChanged is returned by [Space.AgreeBoundaryText] and
// [Space.AgreeRhythmCadence] when the words the member was shown are no
// longer the current ones: an edit (often the partner's, arriving by sync)
// came in between showing and agreeing. Nothing was recorded. The error is
// a [*TextChangedError] carrying the current words, to show before asking
// again.
var ErrTextChanged = errors.New("the words changed since they were shown")

// TextChangedError reports an agreement refused because the words agreed to
// differ from the current ones (see [ErrTextChanged]).
type TextChangedError struct {
	Kind    string // KindBoundary or KindRhythm
	ID      string // the item's full ID
	Seen    string // the words the member agreed to
	Current string // the words in effect now; for a rhythm, the cadence in words
}

func (e *TextChangedError) Error() string {
	return fmt.Sprintf("the %s now reads %q, not what you agreed to: read it and agree again",
		kindName(e.Kind), e.Current)
}

// Unwrap returns [ErrTextChanged].
func (e *TextChangedError) Unwrap() error { return ErrTextChanged }
