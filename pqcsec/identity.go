package pqcsec

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// KeyFileName is the file in the node's repo dir that holds the post-quantum
// key seeds, beside the libp2p key the node package keeps there.
const KeyFileName = "pqcsec.key"

// Record lifetimes.
const (
	// DefaultRecordTTL is the record lifetime when RecordOptions.TTL is zero.
	DefaultRecordTTL = 24 * time.Hour
	// MaxRecordTTL is the longest lifetime IssueRecord signs and
	// RecordValidator accepts: an old record (with an old KEM key) can
	// outlive a rotation by at most this long.
	MaxRecordTTL = 7 * 24 * time.Hour
)

// Identity is a node's hybrid identity: its libp2p Ed25519 key plus an
// ML-DSA-65 signature key and an X-Wing (ML-KEM-768 + X25519) KEM key. It
// signs, issues identity records and rotates the KEM key. An Identity is safe
// for concurrent use.
type Identity struct {
	ed      ed25519.PrivateKey
	dsa     *mldsa65.PrivateKey
	dsaPub  *mldsa65.PublicKey
	dsaSeed [mldsa65.SeedSize]byte
	path    string // key file; empty for an in-memory identity

	mu      sync.RWMutex
	kemSeed [32]byte
	kem     hpke.PrivateKey
	pub     *PublicKeys
	version uint64 // version of the last record issued
	opts    *RecordOptions
	record  *Record
}

// RecordOptions say what an identity record holds besides the keys.
type RecordOptions struct {
	// TrustDomain is the SPIFFE trust domain; the record's SPIFFE ID is
	// spiffe://<TrustDomain>/node/<peer ID>. Required.
	TrustDomain spiffeid.TrustDomain
	// Claim, if set, is the attestation claim carried in (and signed with)
	// the record.
	Claim *Claim
	// TTL is how long the record is valid from its issue time; zero means
	// DefaultRecordTTL, and more than MaxRecordTTL is refused.
	TTL time.Duration
	// SVID, if set, is the node's X.509-SVID (from the SPIFFE Workload
	// API): its key signs the peer ID and signature keys, and the record
	// carries the chain and that signature (format 0x02), so peers holding
	// the trust bundle can verify the SPIFFE ID (Record.VerifySVID). It
	// must be valid at the issue time and in TrustDomain (which it sets
	// when TrustDomain is zero). The binding holds only while the SVID is
	// valid: issue a new record when the Workload API rotates the SVID.
	SVID *x509svid.SVID
}

// NewIdentity makes an in-memory identity from the node's libp2p Ed25519 key
// and fresh ML-DSA-65 and KEM seeds read from rand. It touches no files.
func NewIdentity(key crypto.PrivKey, rand io.Reader) (*Identity, error) {
	ed, err := ed25519Key(key)
	if err != nil {
		return nil, err
	}
	var dsaSeed, kemSeed [32]byte
	if _, err := io.ReadFull(rand, dsaSeed[:]); err != nil {
		return nil, fmt.Errorf("pqcsec: read ml-dsa seed: %w", err)
	}
	if _, err := io.ReadFull(rand, kemSeed[:]); err != nil {
		return nil, fmt.Errorf("pqcsec: read kem seed: %w", err)
	}
	return newIdentity(ed, dsaSeed, kemSeed, 0)
}

// LoadOrCreateIdentity loads the identity of key from dir/KeyFileName, or
// creates that file (mode 0600, seeds read from rand) if it does not exist.
// A key file written for another libp2p key is ErrKeyMismatch; a damaged one
// is an error, never silently replaced.
func LoadOrCreateIdentity(dir string, key crypto.PrivKey, rand io.Reader) (*Identity, error) {
	ed, err := ed25519Key(key)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, KeyFileName)
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("pqcsec: create repo dir: %w", err)
		}
		id, err := NewIdentity(key, rand)
		if err != nil {
			return nil, err
		}
		id.path = path
		if err := id.save(id.kemSeed, id.version); err != nil {
			return nil, err
		}
		return id, nil
	case err != nil:
		return nil, fmt.Errorf("pqcsec: read key file: %w", err)
	}
	kf, err := decodeKeyFile(b)
	if err != nil {
		return nil, fmt.Errorf("pqcsec: key file %s: %w", path, err)
	}
	if !bytes.Equal(kf.owner[:], ed.Public().(ed25519.PublicKey)) {
		return nil, fmt.Errorf("%w: %s belongs to another libp2p key", ErrKeyMismatch, path)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, fmt.Errorf("pqcsec: restrict key file: %w", err)
	}
	id, err := newIdentity(ed, kf.dsaSeed, kf.kemSeed, kf.version)
	if err != nil {
		return nil, err
	}
	id.path = path
	return id, nil
}

func ed25519Key(key crypto.PrivKey) (ed25519.PrivateKey, error) {
	if key == nil || key.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("%w: libp2p key must be Ed25519", ErrKeyMismatch)
	}
	raw, err := key.Raw()
	if err != nil || len(raw) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: unreadable Ed25519 key", ErrKeyMismatch)
	}
	return ed25519.PrivateKey(raw), nil
}

func newIdentity(ed ed25519.PrivateKey, dsaSeed, kemSeed [32]byte, version uint64) (*Identity, error) {
	dsaPub, dsa := dsaKeyFromSeed(&dsaSeed)
	id := &Identity{ed: ed, dsa: dsa, dsaPub: dsaPub, dsaSeed: dsaSeed, version: version}
	if err := id.setKEM(kemSeed); err != nil {
		return nil, err
	}
	return id, nil
}

// setKEM installs the KEM key derived from seed; the caller holds mu or owns id.
func (id *Identity) setKEM(seed [32]byte) error {
	kem, err := xwing.NewPrivateKey(seed[:])
	if err != nil {
		return fmt.Errorf("pqcsec: kem key: %w", err)
	}
	kemPub := kem.PublicKey()
	pub, err := newPublicKeys(id.ed.Public().(ed25519.PublicKey), id.dsaPub,
		func() (hpke.PublicKey, error) { return kemPub, nil }, nil)
	if err != nil {
		return err
	}
	id.kemSeed, id.kem, id.pub = seed, kem, pub
	return nil
}

// PeerID is the libp2p peer ID of the Ed25519 key.
func (id *Identity) PeerID() peer.ID { return id.PublicKeys().PeerID() }

// PublicKeys returns the current public key set (the KEM key changes on
// Rotate).
func (id *Identity) PublicKeys() *PublicKeys {
	id.mu.RLock()
	defer id.mu.RUnlock()
	return id.pub
}

// Version is the version of the last record issued (0 before the first).
func (id *Identity) Version() uint64 {
	id.mu.RLock()
	defer id.mu.RUnlock()
	return id.version
}

// Record returns the last record issued, or nil.
func (id *Identity) Record() *Record {
	id.mu.RLock()
	defer id.mu.RUnlock()
	return id.record
}

// Sign makes a hybrid Ed25519 + ML-DSA-65 signature (SignatureSize bytes) of
// msg in domain. The domain (1..MaxDomainSize bytes, e.g. "consensus/vote")
// separates uses: a signature made in one domain never verifies in another.
// Domains starting with "pqcsec/" are reserved (ErrReservedDomain). Signing
// is deterministic: both halves depend only on key, domain and msg.
func (id *Identity) Sign(domain string, msg []byte) ([]byte, error) {
	if err := checkDomain(domain); err != nil {
		return nil, err
	}
	return id.sign(domain, msg), nil
}

func (id *Identity) sign(domain string, msg []byte) []byte {
	m := signedMessage(domain, msg)
	sig := make([]byte, SignatureSize)
	sig[0] = SuiteHybrid
	copy(sig[1:], ed25519.Sign(id.ed, m))
	// Deterministic ML-DSA (FIPS 204): randomness is never drawn implicitly.
	if err := dsaSign(id.dsa, m, sig[1+ed25519.SignatureSize:]); err != nil {
		panic("pqcsec: ml-dsa sign: " + err.Error()) // only fails for a context over 255 bytes
	}
	return sig
}

// IssueRecord signs a new identity record for the current keys with a
// version one above the last, valid from now for opts.TTL, and remembers it
// (Record) and opts (for Rotate). A dir-backed identity persists the version
// before signing, so a version is never issued twice.
func (id *Identity) IssueRecord(opts RecordOptions, now time.Time) (*Record, error) {
	id.mu.Lock()
	defer id.mu.Unlock()
	return id.issueLocked(opts, now)
}

func (id *Identity) issueLocked(opts RecordOptions, now time.Time) (*Record, error) {
	if opts.TTL == 0 {
		opts.TTL = DefaultRecordTTL
	}
	if opts.TTL < 0 || opts.TTL > MaxRecordTTL {
		return nil, fmt.Errorf("pqcsec: record ttl %s not in (0, %s]", opts.TTL, MaxRecordTTL)
	}
	if opts.Claim != nil {
		c := *opts.Claim
		if err := c.validate(); err != nil {
			return nil, err
		}
		opts.Claim = &c
	}
	if opts.SVID != nil {
		switch svidTD := opts.SVID.ID.TrustDomain(); {
		case opts.TrustDomain.IsZero():
			opts.TrustDomain = svidTD
		case opts.TrustDomain != svidTD:
			return nil, fmt.Errorf("pqcsec: svid %s is not in the record's trust domain %s", opts.SVID.ID, opts.TrustDomain)
		}
	}
	sid, err := NodeID(opts.TrustDomain, id.pub.PeerID())
	if err != nil {
		return nil, err
	}
	var svid *svidBinding
	if opts.SVID != nil {
		if svid, err = newSVIDBinding(opts.SVID, id.pub.PeerID(), id.pub, now); err != nil {
			return nil, err
		}
	}
	version := id.version + 1
	if err := id.save(id.kemSeed, version); err != nil {
		return nil, err
	}
	id.version = version
	r := &Record{keys: id.pub, spiffeID: sid, claim: opts.Claim, svid: svid, version: version, expiry: now.Add(opts.TTL).UTC()}
	body := r.appendBody(make([]byte, 0, MaxRecordSize))
	r.raw = append(body, id.sign(domainRecord, body)...)
	id.opts, id.record = &opts, r
	return r, nil
}

// Rotate replaces the KEM key with a fresh one (seed read from rand) and
// issues a record for it, with the options of the last IssueRecord and a
// higher version. Sessions already established are unaffected (their keys do
// not depend on the KEM key); handshakes already past their first message
// finish with the key they started with. Without a previous record it
// returns ErrNoRecord and changes nothing.
func (id *Identity) Rotate(rand io.Reader, now time.Time) (*Record, error) {
	var seed [32]byte
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return nil, fmt.Errorf("pqcsec: read kem seed: %w", err)
	}
	id.mu.Lock()
	defer id.mu.Unlock()
	if id.opts == nil {
		return nil, ErrNoRecord
	}
	if err := id.save(seed, id.version); err != nil {
		return nil, err
	}
	oldSeed, oldKEM, oldPub := id.kemSeed, id.kem, id.pub
	if err := id.setKEM(seed); err != nil {
		return nil, err
	}
	r, err := id.issueLocked(*id.opts, now)
	if err != nil {
		// Put the old key back; the file already holds the new seed, which
		// is harmless: it was never used or published.
		id.kemSeed, id.kem, id.pub = oldSeed, oldKEM, oldPub
		return nil, err
	}
	return r, nil
}

// handshakeKeys is what a handshake needs from the identity, taken
// together so a concurrent Rotate cannot split them.
func (id *Identity) handshakeKeys() (*Record, hpke.PrivateKey, error) {
	id.mu.RLock()
	defer id.mu.RUnlock()
	if id.record == nil {
		return nil, nil, ErrNoRecord
	}
	if !id.record.keys.Equal(id.pub) {
		return nil, nil, fmt.Errorf("%w: current record predates the current keys", ErrNoRecord)
	}
	return id.record, id.kem, nil
}

// Key file layout (keyFileSize bytes):
//
//	magic "X0PQ" ‖ format 0x01 ‖ Ed25519 public key of the owner (32) ‖
//	ML-DSA-65 seed (32) ‖ X-Wing KEM seed (32) ‖ record version (8) ‖
//	SHA-256 of everything before (32)
const (
	keyFileMagic  = "X0PQ"
	keyFileFormat = 0x01
	keyFileSize   = 4 + 1 + 32 + 32 + 32 + 8 + 32
)

type keyFile struct {
	owner, dsaSeed, kemSeed [32]byte
	version                 uint64
}

func decodeKeyFile(b []byte) (keyFile, error) {
	var kf keyFile
	if len(b) != keyFileSize || string(b[:4]) != keyFileMagic || b[4] != keyFileFormat {
		return kf, malformed("not a version 1 key file")
	}
	if sum := sha256.Sum256(b[:keyFileSize-32]); !bytes.Equal(sum[:], b[keyFileSize-32:]) {
		return kf, malformed("key file checksum mismatch")
	}
	copy(kf.owner[:], b[5:37])
	copy(kf.dsaSeed[:], b[37:69])
	copy(kf.kemSeed[:], b[69:101])
	kf.version = binary.BigEndian.Uint64(b[101:109])
	return kf, nil
}

// save writes the key file (if the identity is dir-backed) atomically and
// durably: a temporary file in the same dir, fsync, rename, fsync of the
// dir.
func (id *Identity) save(kemSeed [32]byte, version uint64) error {
	if id.path == "" {
		return nil
	}
	b := make([]byte, 0, keyFileSize)
	b = append(b, keyFileMagic...)
	b = append(b, keyFileFormat)
	b = append(b, id.ed.Public().(ed25519.PublicKey)...)
	b = append(b, id.dsaSeed[:]...)
	b = append(b, kemSeed[:]...)
	b = binary.BigEndian.AppendUint64(b, version)
	sum := sha256.Sum256(b)
	b = append(b, sum[:]...)

	f, err := os.CreateTemp(filepath.Dir(id.path), KeyFileName+".tmp*")
	if err != nil {
		return fmt.Errorf("pqcsec: write key file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("pqcsec: write key file: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("pqcsec: write key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("pqcsec: write key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("pqcsec: write key file: %w", err)
	}
	if err := os.Rename(tmp, id.path); err != nil {
		return fmt.Errorf("pqcsec: write key file: %w", err)
	}
	// The rename is durable only once the directory is synced: a crash
	// before would bring back the old key file, whose record version
	// was issued already.
	d, err := os.Open(filepath.Dir(id.path))
	if err != nil {
		return fmt.Errorf("pqcsec: sync key file dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("pqcsec: sync key file dir: %w", err)
	}
	return nil
}
