// Package testground will hold the Testground test plan for multi-node
// experiments. The plan will be its own Go module, so that the old
// dependencies pinned by the Testground SDK never reach the node binary.
package testground
