package vectors

import (
	"bytes"
	"encoding/binary"
	"testing"
	"testing/cryptotest"
	"time"
)

// sessionsFile is sessions.json: a session from a handshake (the fields
// of handshake.json, without rekeying by count) and a receive script: the
// frames a responder is given, in order, and what it answers, which shows
// the replay window, the epochs and the refusals of docs/security.md
// section 7.
type sessionsFile struct {
	handshakeFile
	Script []scriptStep `json:"receive_script"`
}

// scriptStep: a frame for the responder's session, and "" (it opens, to
// plaintext) or the error it gives.
type scriptStep struct {
	Name      string `json:"name"`
	Hex       string `json:"hex"`
	Plaintext string `json:"plaintext,omitempty"`
	Error     string `json:"error"`
}

const sessionsRandomSeed = 7

func TestSessions(t *testing.T) {
	cryptotest.SetGlobalRandom(t, sessionsRandomSeed)
	id, eph := seed32("vectors/session handshake id"), seed32("vectors/session handshake ephemeral")
	var doc sessionsFile
	doc.handshakeFile = handshakeFile{
		Format: "pqcsec session frames: a receive script over one session",
		Spec:   "docs/security.md section 7",
		Notes: "The session comes from the handshake given here (see handshake.json for how to check it). " +
			"The responder's session receives the script's frames in order; each opens to its plaintext or fails with its error, " +
			"and a refused frame changes nothing. Frames are sealed with the default rekey rules: " +
			"the last two were sealed 3 minutes later, after the sender moved to epoch 1.",
		Initiator: identityFrom(t, "alice"), Responder: identityFrom(t, "bob"),
		RecordsIssued: vectorTime.Format(time.RFC3339Nano), TrustDomain: "mesh.example",
		Now:         vectorTime.Add(time.Minute).Format(time.RFC3339Nano),
		HandshakeID: hexOf(id[:8]), EphemeralSeed: hexOf(eph[:]),
		GoRandomSeed: sessionsRandomSeed,
	}
	script := func(doc *sessionsFile, fill bool) {
		si, sr, now := runHandshake(t, &doc.handshakeFile)
		// The sender seals counters 0..4096 in epoch 0, then 4097 and
		// 4098 three minutes later, in epoch 1.
		var sealed [][]byte
		for c := range 4097 {
			f, err := si.Seal(nil, binary.BigEndian.AppendUint64([]byte("m"), uint64(c)), now)
			if err != nil {
				t.Fatal(err)
			}
			sealed = append(sealed, f)
		}
		for c := 4097; c <= 4098; c++ {
			f, err := si.Seal(nil, binary.BigEndian.AppendUint64([]byte("m"), uint64(c)), now.Add(3*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			sealed = append(sealed, f)
		}
		edit := func(c int, f func(b []byte) []byte) []byte { return f(bytes.Clone(sealed[c])) }
		steps := []struct {
			name string
			f    []byte
		}{
			{"counter 0", sealed[0]},
			{"counter 0 again", sealed[0]},
			{"counter 4096 (the window moves up)", sealed[4096]},
			{"counter 0, exactly 4096 below the highest", sealed[0]},
			{"counter 1, 4095 below the highest: inside and new", sealed[1]},
			{"counter 1 again", sealed[1]},
			{"28 bytes", sealed[2][:28]},
			{"type 0x05", edit(2, func(b []byte) []byte { b[0] = 5; return b })},
			{"counter 2 with its tag changed", edit(2, func(b []byte) []byte { b[len(b)-1] ^= 1; return b })},
			{"counter 2 with its counter changed to 3", edit(2, func(b []byte) []byte { b[12] = 3; return b })},
			{"counter 2: the forgeries changed nothing", sealed[2]},
			{"counter 3 claiming epoch 9 (beyond MaxEpochSkip)", edit(3, func(b []byte) []byte { b[4] = 9; return b })},
			{"counter 4098, epoch 1 (the receiver ratchets)", sealed[4098]},
			{"counter 4097, epoch 1, below the highest and new", sealed[4097]},
			{"counter 3, epoch 0, during the previous epoch's grace", sealed[3]},
		}
		for i, st := range steps {
			if fill {
				doc.Script = append(doc.Script, scriptStep{Name: st.name, Hex: hexOf(st.f)})
			}
			v := &doc.Script[i]
			if v.Hex != hexOf(st.f) {
				t.Errorf("%s: frame differs", v.Name)
			}
			p, err := sr.Open(nil, unhex(t, v.Hex))
			name := ""
			if err != nil {
				name = errorName(t, err, pqcsecErrors)
			}
			if fill {
				v.Error, v.Plaintext = name, hexOf(p)
			} else if name != v.Error || hexOf(p) != v.Plaintext {
				t.Errorf("%s: Open = %x, %v; want %s, %q", v.Name, p, err, v.Plaintext, v.Error)
			}
		}
		doc.Frames = nil
		for _, c := range []int{0, 1, 4096, 4097} {
			doc.Frames = append(doc.Frames, frameOf("i2r", binary.BigEndian.AppendUint64([]byte("m"), uint64(c)), sealed[c]))
		}
	}
	script(&doc, true)
	doc.Schedule = recompute(t, &doc.handshakeFile)

	var file sessionsFile
	load(t, golden(t, "sessions.json", doc), &file)
	if got := recompute(t, &file.handshakeFile); got != file.Schedule {
		t.Errorf("key schedule recomputed from the file differs")
	}
	cryptotest.SetGlobalRandom(t, file.GoRandomSeed)
	again := file
	again.Script = append([]scriptStep(nil), file.Script...)
	script(&again, false)
}
