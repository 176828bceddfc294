package light

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
)

// LoadKey reads the observer's Ed25519 key (libp2p's protobuf form) from
// path, or makes one and writes it there (mode 0600) if the file does not
// exist, so that the observer keeps its peer ID from run to run (what a
// closed mesh's [policy] allow list names).
func LoadKey(path string) (crypto.PrivKey, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		k, err := crypto.UnmarshalPrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("light: key %s: %w", path, err)
		}
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("light: key: %w", err)
	}
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("light: generate key: %w", err)
	}
	b, err = crypto.MarshalPrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("light: encode key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("light: key: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, fmt.Errorf("light: write key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("light: write key: %w", err)
	}
	return k, nil
}

// GovernanceVerifier checks the hybrid signatures of governance records
// and heads as nodes do (pqcsec.VerifyPeer: both halves, and the key
// bundle bound to the author's peer ID), for observe.Config.Verifier.
var GovernanceVerifier = consensus.VerifierFunc(func(author consensus.PeerID, key, msg, sig []byte) error {
	return pqcsec.VerifyPeer(peer.ID(author), key, consensus.SignatureDomain, msg, sig)
})
