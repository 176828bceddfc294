package healing_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves goroutines behind: the engine
// starts none, and Store's datastore queries and the pebble datastore
// must not leak any either.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
