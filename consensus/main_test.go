package consensus

import (
	"testing"

	"go.uber.org/goleak"
)

// The package starts no goroutines; the check also covers the on-disk
// datastore the persistence test opens and closes.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
