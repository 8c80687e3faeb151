package engine

import (
	"errors"
	"fmt"
)

// ErrIDRange is wrapped by every error about a token id outside the vocabulary.
var ErrIDRange = errors.New("token id outside the vocabulary")

// CheckIDs reports the first of ids that is not in [0, vocab), naming the id, its
// place in the list and the vocabulary's size.
func CheckIDs(ids []int, vocab int) error {
	for i, id := range ids {
		if id < 0 || id >= vocab {
			return fmt.Errorf("%w: token %d is id %d, but the vocabulary has %d ids (0 to %d)", ErrIDRange, i+1, id, vocab, vocab-1)
		}
	}
	return nil
}
