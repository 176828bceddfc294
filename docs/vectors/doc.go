// Package vectors holds the test vectors of every x0tta6bl4 wire format, as
// JSON files beside this package, and the test that checks them against the
// code.
//
// Each file covers one family of formats: framing.json (mesh stream
// framing), mesh.json (mesh packets and route claims), records.json (key
// sets, hybrid signatures, identity records, attestations, an
// SVID-bound record),
// handshake.json (a whole handshake from seeds with its key schedule),
// sessions.json (session frames: a receive script), e2e.json (end-to-end
// channel messages and plaintexts), governance.json (genesis, log records,
// head, announcement, tally), telemetry.json (gossip messages),
// anomaly.json (anomaly scores, federated-learning updates, model blobs
// and their DHT validator), dht.json (the other DHT namespaces'
// validators).
// A vector gives its inputs as fields, the expected bytes as lower-case hex
// and, for bytes a receiver must refuse, the name of the error the code
// returns (the sentinel's Go name, in the package the file names). The
// specifications they illustrate are docs/protocol.md, docs/security.md,
// docs/governance.md and docs/gossip.md; where a vector and a specification
// disagree, that is a bug in one of them. The tests compute what they can
// from the specifications alone (the handshake's key schedule and frames,
// the genesis ID, channel envelopes) and compare it with the code's bytes.
//
// Randomness: every key and random value comes from a seed written in the
// file, except the X-Wing encapsulations of a handshake, which the
// standard library draws itself; the Go test fixes them with
// testing/cryptotest.SetGlobalRandom, and a file gives the resulting
// ciphertexts and shared secrets so that another implementation can check
// them by decapsulation.
//
// # Usage
//
// Check the vectors against the code (encode every valid vector from its
// fields and compare the bytes, decode the bytes and compare the fields,
// decode every invalid vector and compare the error):
//
//	go test ./docs/vectors
//
// After a deliberate wire change, regenerate the files and review the diff,
// which shows every byte that changed:
//
//	go test ./docs/vectors -rewrite
//	git diff docs/vectors
//
// The package holds no code outside its tests.
package vectors
