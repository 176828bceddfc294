package pqcsec

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"go.uber.org/goleak"
)

func TestPolicyDecisions(t *testing.T) {
	foreignTD := spiffeid.RequireTrustDomainFromString("elsewhere.example")
	member := SubjectOf(testIdentity(t, 1).Record())
	foreign := SubjectOf(testIdentityIn(t, 2, foreignTD).Record())
	denied := SubjectOf(testIdentity(t, 3).Record())
	quarantined := SubjectOf(testIdentity(t, 4).Record())
	noClaim := member
	noClaim.Claim = nil
	staleClaim := member
	stale := *member.Claim
	stale.Issued = t0.Add(-DefaultAttestationMaxAge - time.Second)
	staleClaim.Claim = &stale
	wrongBinary := member
	wb := *member.Claim
	wb.BinarySHA256 = [32]byte{0xee}
	wrongBinary.Claim = &wb
	noSPIFFE := member
	noSPIFFE.SPIFFEID = spiffeid.ID{}
	mismatch := member
	mismatch.SPIFFEID = denied.SPIFFEID
	impostor := member // a forged record: member's peer ID, other keys
	impostor.Keys = foreign.Keys
	unknownKeys := member
	unknownKeys.Keys = nil

	e, err := NewPolicyEngine(PolicyConfig{
		TrustDomains: []spiffeid.TrustDomain{testTD},
		Deny:         []peer.ID{denied.Peer},
		Pins:         map[peer.ID][32]byte{member.Peer: member.Keys.Fingerprint()},
		AttestFor:    []Action{ActionVote, ActionPropose},
		Measurements: []Measurement{{BinarySHA256: member.Claim.BinarySHA256}},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.Quarantine(quarantined.Peer)

	allowAll := map[Action]Reason{}
	for _, a := range Actions() {
		allowAll[a] = ReasonAllowed
	}
	every := func(r Reason) map[Action]Reason {
		m := map[Action]Reason{}
		for _, a := range Actions() {
			m[a] = r
		}
		return m
	}
	attested := func(r Reason) map[Action]Reason {
		m := every(ReasonAllowed)
		m[ActionVote], m[ActionPropose] = r, r
		return m
	}
	quarantine := every(ReasonQuarantined)
	quarantine[ActionConnect] = ReasonAllowed

	for _, tc := range []struct {
		name string
		s    Subject
		want map[Action]Reason
	}{
		{"member", member, allowAll},
		{"foreign trust domain", foreign, every(ReasonForeignTrustDomain)},
		{"deny list", denied, every(ReasonDenyListed)},
		{"quarantined", quarantined, quarantine},
		{"no attestation", noClaim, attested(ReasonNoAttestation)},
		{"stale attestation", staleClaim, attested(ReasonStaleAttestation)},
		{"wrong measurement", wrongBinary, attested(ReasonUnknownMeasurement)},
		{"no SPIFFE ID", noSPIFFE, every(ReasonNoSPIFFEID)},
		{"SPIFFE ID of another peer", mismatch, every(ReasonSPIFFEMismatch)},
		{"pinned peer, other keys", impostor, every(ReasonKeyNotPinned)},
		{"pinned peer, keys unknown", unknownKeys, every(ReasonKeyNotPinned)},
	} {
		for _, a := range Actions() {
			t.Run(fmt.Sprintf("%s/%s", tc.name, a), func(t *testing.T) {
				d := e.Decide(tc.s, a, t0)
				if d.Reason != tc.want[a] || d.Allow != (tc.want[a] == ReasonAllowed) {
					t.Errorf("got %v, want %v", d, tc.want[a])
				}
				err := e.Check(tc.s, a, t0)
				var de *DeniedError
				if d.Allow != (err == nil) || (err != nil && (!errors.Is(err, ErrDenied) || !errors.As(err, &de) || de.Decision != d || de.Action != a)) {
					t.Errorf("Check: %v for %v", err, d)
				}
			})
		}
	}
	if d := e.Decide(member, Action(99), t0); d.Allow || d.Reason != ReasonUnknownAction {
		t.Errorf("unknown action: %v", d)
	}
}

func TestPolicySetters(t *testing.T) {
	a := SubjectOf(testIdentity(t, 1).Record())
	b := SubjectOf(testIdentity(t, 2).Record())
	e, err := NewPolicyEngine(DefaultPolicyConfig(testTD))
	if err != nil {
		t.Fatal(err)
	}
	check := func(step string, s Subject, act Action, want Reason) {
		t.Helper()
		if d := e.Decide(s, act, t0); d.Reason != want {
			t.Errorf("%s: %v, want %v", step, d, want)
		}
	}
	check("default", a, ActionRoute, ReasonAllowed)
	e.SetAllow([]peer.ID{b.Peer})
	check("allow list without a", a, ActionRoute, ReasonNotAllowListed)
	check("allow list with b", b, ActionRoute, ReasonAllowed)
	e.SetAllow(nil)
	e.SetDeny([]peer.ID{a.Peer})
	check("deny list", a, ActionConnect, ReasonDenyListed)
	e.SetDeny(nil)
	e.SetQuarantine([]peer.ID{a.Peer, b.Peer})
	if !e.Quarantined(a.Peer) || !e.Quarantined(b.Peer) {
		t.Error("SetQuarantine did not quarantine")
	}
	check("quarantined relay", a, ActionRelay, ReasonQuarantined)
	check("quarantined connect", a, ActionConnect, ReasonAllowed)
	e.Release(a.Peer)
	check("released", a, ActionRelay, ReasonAllowed)
	check("still quarantined", b, ActionVote, ReasonQuarantined)
	if err := e.CheckIgnoringQuarantine(b, ActionVote, t0); err != nil {
		t.Errorf("CheckIgnoringQuarantine of a quarantined peer: %v", err)
	}
	e.SetDeny([]peer.ID{b.Peer})
	if err := e.CheckIgnoringQuarantine(b, ActionVote, t0); !errors.Is(err, ErrDenied) {
		t.Errorf("CheckIgnoringQuarantine of a deny-listed peer: %v", err)
	}
	e.SetDeny(nil)
	e.SetQuarantine(nil)
	check("list replaced", b, ActionVote, ReasonAllowed)

	// Pins follow the signature keys, so a KEM rotation keeps matching.
	id := testIdentity(t, 1)
	e.SetPins(map[peer.ID][32]byte{a.Peer: id.PublicKeys().Fingerprint()})
	check("pinned", a, ActionRoute, ReasonAllowed)
	rotated, err := id.Rotate(testRand(77), t0)
	if err != nil {
		t.Fatal(err)
	}
	check("pinned after rotation", SubjectOf(rotated), ActionRoute, ReasonAllowed)
	e.SetPins(map[peer.ID][32]byte{a.Peer: {1}})
	check("pin changed", a, ActionRoute, ReasonKeyNotPinned)
	e.SetPins(nil)
	check("pins cleared", a, ActionRoute, ReasonAllowed)
}

func TestPolicyConfigValidation(t *testing.T) {
	for name, c := range map[string]PolicyConfig{
		"no trust domain":          {},
		"empty trust domain":       {TrustDomains: []spiffeid.TrustDomain{{}}},
		"unknown attested action":  {TrustDomains: []spiffeid.TrustDomain{testTD}, AttestFor: []Action{0}, Measurements: []Measurement{{}}},
		"attestation but no value": {TrustDomains: []spiffeid.TrustDomain{testTD}, AttestFor: []Action{ActionVote}},
		"negative max age":         {TrustDomains: []spiffeid.TrustDomain{testTD}, AttestationMaxAge: -1},
	} {
		if _, err := NewPolicyEngine(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestActionNames(t *testing.T) {
	for _, a := range Actions() {
		got, err := ParseAction(a.String())
		if err != nil || got != a {
			t.Errorf("%v: parsed back as %v, %v", a, got, err)
		}
	}
	if _, err := ParseAction("reboot"); err == nil {
		t.Error("unknown action parsed")
	}
	if Action(0).String() != "action(0)" || Reason(0).String() != "reason(0)" {
		t.Error("unknown values print oddly")
	}
}

// Governance feeds the quarantine list while handshakes consult the policy.
func TestPolicyConcurrentUse(t *testing.T) {
	defer goleak.VerifyNone(t)
	s := SubjectOf(testIdentity(t, 1).Record())
	e, err := NewPolicyEngine(DefaultPolicyConfig(testTD))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 2000 {
			if i%2 == 0 {
				e.Quarantine(s.Peer)
			} else {
				e.Release(s.Peer)
			}
			e.SetMeasurements([]Measurement{{BinarySHA256: [32]byte{byte(i)}}})
		}
	})
	seen := map[Reason]bool{}
	wg.Go(func() {
		for range 2000 {
			seen[e.Decide(s, ActionRoute, t0).Reason] = true
		}
	})
	wg.Wait()
	for r := range seen {
		if r != ReasonAllowed && r != ReasonQuarantined {
			t.Errorf("unexpected reason %v", r)
		}
	}
	e.Release(s.Peer)
	if !e.Decide(s, ActionRoute, t0).Allow {
		t.Error("released peer still denied")
	}
}
