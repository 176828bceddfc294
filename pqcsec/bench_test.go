package pqcsec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/mlkem"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/x0tta6bl4/x0tta6bl4/internal/cputime"
)

// Benchmarks and their baselines run in one invocation so ratios can be read
// from one run:
//
//	go test ./pqcsec -run '^$' -bench . -count 6
//
// Session throughput: BenchmarkSessionSeal / BenchmarkRawAESGCMSeal and
// BenchmarkSessionOpen / BenchmarkRawAESGCMOpen, per size.
// Handshake CPU: BenchmarkHandshake / BenchmarkPrimitives/handshake-sum, the
// latter doing exactly the primitive operations one handshake does (both
// sides), with nothing else.

// On a machine shared with other work, wall time per operation swings with
// the load; every benchmark also reports cpu-ns/op, the process CPU time
// (all threads, GC included) per operation, which the load disturbs far
// less. Ratios are best read from it.

// cpuClock measures process CPU time across a benchmark loop.
type cpuClock struct{ start time.Duration }

func startCPU() cpuClock { return cpuClock{cputime.Now()} }

func (c cpuClock) report(b *testing.B) { cputime.Report(b, c.start) }

var benchSizes = []struct {
	name string
	n    int
}{{"1KiB", 1 << 10}, {"64KiB", 64 << 10}}

// withoutMemos makes every parse a first contact for the rest of tb, as
// the handshake figures quote: without it the same two identities would
// be parsed and verified once, then remembered.
func withoutMemos(tb testing.TB) {
	k, r, v := keysMemo.resize(0), recordMemo.resize(0), svidMemo.resize(0)
	n, s := nodeIDMemo.resize(0), spiffePeerMemo.resize(0)
	tb.Cleanup(func() {
		keysMemo.resize(k)
		recordMemo.resize(r)
		svidMemo.resize(v)
		nodeIDMemo.resize(n)
		spiffePeerMemo.resize(s)
	})
}

// BenchmarkPolicyDecide is what a node's gossip validators and anomaly
// judging ask of the policy engine about a message's signer, by peer ID
// alone: its node SPIFFE ID (NodeID), then a decision (Decide, which
// reads the peer back out of the SPIFFE ID); without-memos is the same
// with the NodeID and PeerFromSPIFFE memos off, as before they were
// kept.
func BenchmarkPolicyDecide(b *testing.B) {
	id, err := NewIdentity(testKey(b, 1), testRand(1))
	if err != nil {
		b.Fatal(err)
	}
	e, err := NewPolicyEngine(PolicyConfig{TrustDomains: []spiffeid.TrustDomain{testTD}})
	if err != nil {
		b.Fatal(err)
	}
	decide := func(b *testing.B) {
		for b.Loop() {
			sid, err := NodeID(testTD, id.PeerID())
			if err != nil {
				b.Fatal(err)
			}
			if d := e.Decide(Subject{Peer: id.PeerID(), SPIFFEID: sid}, ActionConnect, t0); !d.Allow {
				b.Fatal(d)
			}
		}
	}
	b.Run("memos", func(b *testing.B) { b.ReportAllocs(); decide(b) })
	b.Run("without-memos", func(b *testing.B) {
		b.ReportAllocs()
		n, s := nodeIDMemo.resize(0), spiffePeerMemo.resize(0)
		defer func() { nodeIDMemo.resize(n); spiffePeerMemo.resize(s) }()
		decide(b)
	})
}

func BenchmarkHandshake(b *testing.B) {
	withoutMemos(b)
	a, r := testIdentity(b, 1), testIdentity(b, 2)
	ca := HandshakeConfig{Identity: a, Rand: rand.Reader}
	cr := HandshakeConfig{Identity: r, Rand: rand.Reader}
	var wire int
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		i, init, err := NewInitiator(ca, r.PeerID(), t0)
		if err != nil {
			b.Fatal(err)
		}
		resp, err := NewResponder(cr)
		if err != nil {
			b.Fatal(err)
		}
		reply, err := resp.Step(init, t0)
		if err != nil {
			b.Fatal(err)
		}
		fin, err := i.Step(reply, t0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := resp.Step(fin, t0); err != nil {
			b.Fatal(err)
		}
		wire = len(init) + len(reply) + len(fin)
	}
	cpu.report(b)
	b.ReportMetric(float64(wire), "wire-B/op")
}

func BenchmarkSessionSeal(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			s, _ := testSessions(b, SessionConfig{})
			pt := make([]byte, sz.n)
			dst := make([]byte, 0, sz.n+FrameOverhead)
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				var err error
				if dst, err = s.Seal(dst[:0], pt, t0); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b)
		})
	}
}

func BenchmarkSessionOpen(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			sa, sb := testSessions(b, SessionConfig{})
			frame, err := sa.Seal(nil, make([]byte, sz.n), t0)
			if err != nil {
				b.Fatal(err)
			}
			counter := binary.BigEndian.Uint64(frame[5:13])
			out := make([]byte, 0, sz.n)
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				if out, err = sb.Open(out[:0], frame); err != nil {
					b.Fatal(err)
				}
				// Forget the counter so the same frame opens again; this
				// one bit-clear is the only work added to the real path.
				sb.window.bits[(counter/64)%windowWords] &^= 1 << (counter % 64)
			}
			cpu.report(b)
		})
	}
}

func benchGCM(b *testing.B) cipher.AEAD {
	block, err := aes.NewCipher(make([]byte, 32))
	if err != nil {
		b.Fatal(err)
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		b.Fatal(err)
	}
	return g
}

// BenchmarkRawAESGCMSeal is the baseline: the standard library's
// AES-256-GCM with a counter nonce and no framing.
func BenchmarkRawAESGCMSeal(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			g := benchGCM(b)
			pt := make([]byte, sz.n)
			dst := make([]byte, 0, sz.n+g.Overhead())
			var nonce [12]byte
			var ctr uint64
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				ctr++
				binary.BigEndian.PutUint64(nonce[4:], ctr)
				dst = g.Seal(dst[:0], nonce[:], pt, nil)
			}
			cpu.report(b)
		})
	}
}

// BenchmarkRawAESGCMOpen is the baseline for BenchmarkSessionOpen.
func BenchmarkRawAESGCMOpen(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			g := benchGCM(b)
			var nonce [12]byte
			ct := g.Seal(nil, nonce[:], make([]byte, sz.n), nil)
			out := make([]byte, 0, sz.n)
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				var err error
				if out, err = g.Open(out[:0], nonce[:], ct, nil); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b)
		})
	}
}

// handshakeOps is what one handshake (both sides) does with each primitive.
var handshakeOps = map[string]int{
	"mlkem768-keygen":   1, // initiator's ephemeral X-Wing key
	"mlkem768-parse-ek": 2, // responder parses the ephemeral key, initiator the responder's record key
	"mlkem768-encap":    2,
	"mlkem768-decap":    2,
	"x25519-keygen":     3, // ephemeral X-Wing key, one per encapsulation
	"x25519-ecdh":       4, // one per encapsulation and decapsulation
	"mldsa65-parse-pk":  2, // each side parses the peer's record key
	"mldsa65-sign":      2, // transcript signatures
	"mldsa65-verify":    4, // each side: peer record + peer transcript
	"ed25519-sign":      2,
	"ed25519-verify":    4,
}

// primitives holds inputs for the primitive benchmarks.
type primitives struct {
	seed   [64]byte
	dk     *mlkem.DecapsulationKey768
	ekRaw  []byte
	ct     []byte
	x      *ecdh.PrivateKey
	xPub   *ecdh.PublicKey
	dsa    *mldsa65.PrivateKey
	dsaPub *mldsa65.PublicKey
	pkRaw  [mldsa65.PublicKeySize]byte
	ed     ed25519.PrivateKey
	edPub  ed25519.PublicKey

	signMsg []byte // varied before every signature
	scratch []byte

	verifyMsg     []byte // a fixed, validly signed message
	dsaSig, edSig []byte
	n             uint64
}

func newPrimitives(b *testing.B) *primitives {
	p := &primitives{}
	var err error
	if p.dk, err = mlkem.GenerateKey768(); err != nil {
		b.Fatal(err)
	}
	p.ekRaw = p.dk.EncapsulationKey().Bytes()
	_, p.ct = p.dk.EncapsulationKey().Encapsulate()
	if p.x, err = ecdh.X25519().GenerateKey(rand.Reader); err != nil {
		b.Fatal(err)
	}
	p.xPub = p.x.PublicKey()
	var s [32]byte
	p.dsaPub, p.dsa = mldsa65.NewKeyFromSeed(&s)
	p.dsaPub.Pack(&p.pkRaw)
	p.ed = ed25519.NewKeyFromSeed(s[:])
	p.edPub = p.ed.Public().(ed25519.PublicKey)
	// What the handshake signs: label ‖ domain ‖ 32-byte transcript hash.
	p.signMsg = signedMessage(domainResponder, make([]byte, 32))
	p.verifyMsg = signedMessage(domainInitiator, make([]byte, 32))
	p.scratch = make([]byte, mldsa65.SignatureSize)
	p.dsaSig = make([]byte, mldsa65.SignatureSize)
	if err := mldsa65.SignTo(p.dsa, p.verifyMsg, nil, false, p.dsaSig); err != nil {
		b.Fatal(err)
	}
	p.edSig = ed25519.Sign(p.ed, p.verifyMsg)
	return p
}

// do runs one primitive operation. Signing varies the message so ML-DSA's
// rejection loop averages out as it does over many handshakes.
func (p *primitives) do(b *testing.B, op string) {
	switch op {
	case "mlkem768-keygen":
		p.seed[0]++
		if _, err := mlkem.NewDecapsulationKey768(p.seed[:]); err != nil {
			b.Fatal(err)
		}
	case "mlkem768-parse-ek":
		if _, err := mlkem.NewEncapsulationKey768(p.ekRaw); err != nil {
			b.Fatal(err)
		}
	case "mlkem768-encap":
		p.dk.EncapsulationKey().Encapsulate()
	case "mlkem768-decap":
		if _, err := p.dk.Decapsulate(p.ct); err != nil {
			b.Fatal(err)
		}
	case "x25519-keygen":
		k, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		k.PublicKey()
	case "x25519-ecdh":
		if _, err := p.x.ECDH(p.xPub); err != nil {
			b.Fatal(err)
		}
	case "mldsa65-parse-pk":
		var pk mldsa65.PublicKey
		pk.Unpack(&p.pkRaw)
	case "mldsa65-sign":
		p.n++
		binary.BigEndian.PutUint64(p.signMsg[len(p.signMsg)-8:], p.n)
		if err := mldsa65.SignTo(p.dsa, p.signMsg, nil, false, p.scratch); err != nil {
			b.Fatal(err)
		}
	case "mldsa65-verify":
		if !mldsa65.Verify(p.dsaPub, p.verifyMsg, nil, p.dsaSig) {
			b.Fatal("ml-dsa signature did not verify")
		}
	case "ed25519-sign":
		p.n++
		binary.BigEndian.PutUint64(p.signMsg[len(p.signMsg)-8:], p.n)
		ed25519.Sign(p.ed, p.signMsg)
	case "ed25519-verify":
		if !ed25519.Verify(p.edPub, p.verifyMsg, p.edSig) {
			b.Fatal("ed25519 signature did not verify")
		}
	default:
		b.Fatalf("unknown primitive %s", op)
	}
}

var primitiveOps = []string{"mlkem768-keygen", "mlkem768-parse-ek", "mlkem768-encap", "mlkem768-decap",
	"x25519-keygen", "x25519-ecdh", "mldsa65-parse-pk", "mldsa65-sign", "mldsa65-verify",
	"ed25519-sign", "ed25519-verify"}

// BenchmarkPrimitives times each primitive alone and, as handshake-sum,
// all the primitive operations of one handshake (handshakeOps) in a row.
func BenchmarkPrimitives(b *testing.B) {
	for _, op := range primitiveOps {
		b.Run(op, func(b *testing.B) {
			p := newPrimitives(b)
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				p.do(b, op)
			}
			cpu.report(b)
		})
	}
	b.Run("handshake-sum", func(b *testing.B) {
		p := newPrimitives(b)
		calls := 0
		b.ReportAllocs()
		cpu := startCPU()
		for b.Loop() {
			calls = 0
			for _, op := range primitiveOps {
				for range handshakeOps[op] {
					p.do(b, op)
					calls++
				}
			}
		}
		cpu.report(b)
		b.ReportMetric(float64(calls), "primitive-ops/op")
	})
}

func TestHandshakeOpsListed(t *testing.T) {
	if len(handshakeOps) != len(primitiveOps) {
		t.Fatalf("%d primitives counted, %d benchmarked", len(handshakeOps), len(primitiveOps))
	}
	for _, op := range primitiveOps {
		if handshakeOps[op] == 0 {
			t.Errorf("%s not counted", op)
		}
	}
}

// BenchmarkRatios measures each target ratio directly: the path and its
// baseline run in alternating small batches inside one loop, so a change in
// the machine's load hits both alike. It reports, per op pair,
//
//	throughput-wall, throughput-cpu: raw AES-GCM time / session time (target ≥ 0.9)
//	cost-wall, cost-cpu: handshake time / its primitives' time (target ≤ 1.3)
//	penalty-wall: SHA-256 or AES-256-GCM of 4 KiB right after a hybrid
//	  Sign or Verify / the same with the vector state cleared (target
//	  ≤ 1.2); alone-wall: / the same alone (see benchAfter)
//	svid-wall, svid-cpu: a record's checks with its X.509-SVID verified /
//	  the same record kind without an SVID (BenchmarkSVIDRatios; target
//	  ≤ 1.2 for ingest)
func BenchmarkRatios(b *testing.B) {
	for _, sz := range benchSizes {
		batch := max(1, (256<<10)/sz.n) // about 256 KiB per batch
		b.Run("seal-"+sz.name, func(b *testing.B) {
			s, _ := testSessions(b, SessionConfig{})
			g := benchGCM(b)
			pt := make([]byte, sz.n)
			dst := make([]byte, 0, sz.n+FrameOverhead)
			var nonce [12]byte
			var ctr uint64
			benchPair(b, "throughput", true, func() {
				for range batch {
					dst, _ = s.Seal(dst[:0], pt, t0)
				}
			}, func() {
				for range batch {
					ctr++
					binary.BigEndian.PutUint64(nonce[4:], ctr)
					dst = g.Seal(dst[:0], nonce[:], pt, nil)
				}
			})
		})
		b.Run("open-"+sz.name, func(b *testing.B) {
			sa, sb := testSessions(b, SessionConfig{})
			frame, _ := sa.Seal(nil, make([]byte, sz.n), t0)
			counter := binary.BigEndian.Uint64(frame[5:13])
			g := benchGCM(b)
			var nonce [12]byte
			ct := g.Seal(nil, nonce[:], make([]byte, sz.n), nil)
			out := make([]byte, 0, sz.n)
			benchPair(b, "throughput", true, func() {
				for range batch {
					out, _ = sb.Open(out[:0], frame)
					sb.window.bits[(counter/64)%windowWords] &^= 1 << (counter % 64)
				}
			}, func() {
				for range batch {
					out, _ = g.Open(out[:0], nonce[:], ct, nil)
				}
			})
		})
	}
	b.Run("handshake", func(b *testing.B) {
		withoutMemos(b)
		a, r := testIdentity(b, 1), testIdentity(b, 2)
		ca := HandshakeConfig{Identity: a, Rand: rand.Reader}
		cr := HandshakeConfig{Identity: r, Rand: rand.Reader}
		p := newPrimitives(b)
		benchPair(b, "cost", false, func() {
			i, init, _ := NewInitiator(ca, r.PeerID(), t0)
			resp, _ := NewResponder(cr)
			reply, _ := resp.Step(init, t0)
			fin, err := i.Step(reply, t0)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := resp.Step(fin, t0); err != nil {
				b.Fatal(err)
			}
		}, func() {
			for _, op := range primitiveOps {
				for range handshakeOps[op] {
					p.do(b, op)
				}
			}
		})
	})
	id := testIdentity(b, 1)
	msg, signed, n := make([]byte, 32), make([]byte, 32), uint64(0)
	sig, err := id.Sign("bench/penalty", signed)
	if err != nil {
		b.Fatal(err)
	}
	ops := []struct {
		name string
		op   func()
	}{
		{"sign", func() {
			n++
			binary.BigEndian.PutUint64(msg, n) // average over ML-DSA's rejection loop
			if _, err := id.Sign("bench/penalty", msg); err != nil {
				b.Fatal(err)
			}
		}},
		{"verify", func() {
			if err := Verify(id.PublicKeys(), "bench/penalty", signed, sig); err != nil {
				b.Fatal(err)
			}
		}},
	}
	buf := make([]byte, 4<<10)
	g := benchGCM(b)
	var nonce [12]byte
	out := make([]byte, 0, len(buf)+g.Overhead())
	works := []struct {
		name string
		work func()
	}{
		{"sha256", func() { sha256.Sum256(buf) }},
		{"gcm", func() { out = g.Seal(out[:0], nonce[:], buf, nil) }},
	}
	for _, w := range works {
		for _, o := range ops {
			b.Run(w.name+"-after-"+o.name, func(b *testing.B) { benchAfter(b, o.op, w.work) })
		}
	}
}

// benchAfter times work (a few µs) right after op, and the same work
// twice more in each iteration: after op again followed by VZEROUPPER
// (the state of a thread that never ran AVX code, with the caches op
// left), and at once again (warm caches, clean state: work alone). It
// reports the ratio of the medians
//
//	penalty-wall = after op / after op and VZEROUPPER (target ≤ 1.2)
//	alone-wall   = after op / alone
//
// circl's ML-DSA used to leave the upper vector state dirty, which made
// the SHA-NI and AES-NI code after it up to 70 times slower on some CPUs
// (issue 18, docs/upstream/circl-avx.md); penalty-wall comes back far
// above 1.2 if a clear goes missing on such a CPU. alone-wall adds what op
// does to the caches (AES-GCM's tables and the 4 KiB input, evicted by
// ML-DSA's working set): up to about 1.25 here. Medians, because a single
// preemption inside a 2 µs window would swamp a sum.
func benchAfter(b *testing.B, op, work func()) {
	runtime.LockOSThread() // the vector state belongs to the thread
	defer runtime.UnlockOSThread()
	var after, clean, alone []time.Duration
	timed := func(d *[]time.Duration) {
		t := time.Now()
		work()
		*d = append(*d, time.Since(t))
	}
	b.ReportAllocs()
	for b.Loop() {
		op()
		timed(&after)
		op()
		clearUpperVectors()
		timed(&clean)
		timed(&alone)
	}
	med := func(d []time.Duration) float64 {
		slices.Sort(d)
		return float64(d[len(d)/2])
	}
	if len(after) > 0 && med(clean) > 0 && med(alone) > 0 {
		b.ReportMetric(med(after)/med(clean), "penalty-wall")
		b.ReportMetric(med(after)/med(alone), "alone-wall")
		b.ReportMetric(med(after), "after-ns")
		b.ReportMetric(med(alone), "alone-ns")
	}
}

// benchPair alternates path and baseline once per iteration and reports
// their time ratio: baseline/path when throughput (higher is better),
// path/baseline otherwise.
func benchPair(b *testing.B, name string, throughput bool, path, baseline func()) {
	var wallP, wallB, cpuP, cpuB time.Duration
	b.ReportAllocs()
	for b.Loop() {
		w, c := time.Now(), cputime.Now()
		path()
		w2, c2 := time.Now(), cputime.Now()
		baseline()
		w3, c3 := time.Now(), cputime.Now()
		wallP, cpuP = wallP+w2.Sub(w), cpuP+c2-c
		wallB, cpuB = wallB+w3.Sub(w2), cpuB+c3-c2
	}
	ratio := func(p, q time.Duration) float64 {
		if throughput {
			p, q = q, p
		}
		if q == 0 {
			return 0
		}
		return float64(p) / float64(q)
	}
	b.ReportMetric(ratio(wallP, wallB), name+"-wall")
	if cpuP > 0 && cpuB > 0 {
		b.ReportMetric(ratio(cpuP, cpuB), name+"-cpu")
	}
}

// BenchmarkSVIDRatios measures what verifying SVID bindings adds, each
// path against its baseline in alternation (benchPair), reporting svid-wall
// and svid-cpu:
//
//	record-first-contact: ParseRecord + VerifySVID of a record with an
//	  ECDSA P-256 SVID, memos off (a peer met for the first time, or after
//	  it rotated its SVID) / ParseRecord of a record without one, memos off;
//	record-again: the same with the memos on (the same records met again,
//	  as every DHT answer and handshake does);
//	ingest: what a node does per governance record of an author, whose
//	  identity record it met before: the author's record from the memo, the
//	  policy's subject and check, the record's hybrid signature verified;
//	  with RequireSVID and the SVID verified / the claimed SPIFFE ID only.
func BenchmarkSVIDRatios(b *testing.B) {
	ca := newTestCA(b, testTD)
	svid := ca.svid(b, "/workload/bench", leafOpts{})
	withSVID := svidIdentity(b, 1, svid)
	plain := testIdentity(b, 2)
	svidRec, plainRec := withSVID.Record().Bytes(), plain.Record().Bytes()
	bundle := ca.bundle()
	parseVerify := func(rec []byte, svid bool) {
		r, err := ParseRecord(rec)
		if err != nil {
			b.Fatal(err)
		}
		if svid {
			if _, err := r.VerifySVID(bundle, t0); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("record-first-contact", func(b *testing.B) {
		withoutMemos(b)
		benchPair(b, "svid", false, func() { parseVerify(svidRec, true) }, func() { parseVerify(plainRec, false) })
	})
	b.Run("record-again", func(b *testing.B) {
		benchPair(b, "svid", false, func() { parseVerify(svidRec, true) }, func() { parseVerify(plainRec, false) })
	})
	b.Run("ingest", func(b *testing.B) {
		strict, err := NewPolicyEngine(PolicyConfig{TrustDomains: []spiffeid.TrustDomain{testTD}, Bundles: bundle, RequireSVID: true})
		if err != nil {
			b.Fatal(err)
		}
		lax, err := NewPolicyEngine(DefaultPolicyConfig(testTD))
		if err != nil {
			b.Fatal(err)
		}
		vote := []byte("a governance record of about a hundred bytes: proposal 7, yes, 42 tokens, at 2026-03-01")
		sigS, _ := withSVID.Sign("consensus/record", vote)
		sigP, _ := plain.Sign("consensus/record", vote)
		ingest := func(e *PolicyEngine, rec, sig []byte) {
			r, err := ParseRecord(rec)
			if err != nil {
				b.Fatal(err)
			}
			if err := e.Check(e.SubjectOf(r, t0), ActionVote, t0); err != nil {
				b.Fatal(err)
			}
			if err := Verify(r.Keys(), "consensus/record", vote, sig); err != nil {
				b.Fatal(err)
			}
		}
		benchPair(b, "svid", false, func() { ingest(strict, svidRec, sigS) }, func() { ingest(lax, plainRec, sigP) })
	})
}
