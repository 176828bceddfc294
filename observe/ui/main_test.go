package ui_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a goroutine outlives its tests: the
// devnet's nodes, the browser's connection and the dashboards' streams
// all end with the test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
