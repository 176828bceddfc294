// Package vectors holds the test vectors of every x0tta6bl4 wire format, as
// JSON files beside this package, and the test that checks them against the
// code.
//
// Each file covers one family of formats (framing.json, mesh.json,
// records.json, handshake.json, governance.json, telemetry.json, dht.json).
// A vector gives its inputs as fields, the expected bytes as lower-case hex
// and, for bytes a receiver must refuse, the name of the error the code
// returns (the sentinel's Go name, in the package the file names). The
// specifications they illustrate are docs/protocol.md, docs/security.md and
// docs/governance.md; where a vector and a specification disagree, that is
// a bug in one of them.
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
