package consensus

import "fmt"

// EvidenceKind says what an Evidence proves.
type EvidenceKind uint8

// Evidence kinds.
const (
	// EvidenceFork: two records of one author with the same seq.
	EvidenceFork EvidenceKind = 1
	// EvidenceBrokenChain: a record (B) whose prev (A) is not its author's
	// record seq−1, or is timestamped after it.
	EvidenceBrokenChain EvidenceKind = 2
	// EvidenceHeadFork: two heads of one author with the same seq naming
	// different records.
	EvidenceHeadFork EvidenceKind = 3
)

func (k EvidenceKind) String() string {
	switch k {
	case EvidenceFork:
		return "fork"
	case EvidenceBrokenChain:
		return "broken-chain"
	case EvidenceHeadFork:
		return "head-fork"
	}
	return fmt.Sprintf("evidence(%d)", uint8(k))
}

// MarshalText implements encoding.TextMarshaler.
func (k EvidenceKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Evidence is a self-contained proof that Author equivocated: two statements
// it signed (records, or heads for EvidenceHeadFork) that cannot both be
// honest. Anyone can check it by decoding and verifying A and B. From Seq
// on, the author's votes are void.
type Evidence struct {
	Author PeerID       `json:"author"`
	Seq    uint64       `json:"seq"`
	Kind   EvidenceKind `json:"kind"`
	A      []byte       `json:"a"`
	B      []byte       `json:"b"`
}
