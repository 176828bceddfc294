// Package consensus is the mesh's governance: proposals, quadratic votes,
// their tally, and the signed, hash-chained per-node logs that the DHT
// replicates.
//
// There is no coordinator. Each node appends its own proposals and votes to
// its own log: every record is signed with the node's hybrid key, names the
// ID (SHA-256) of the node's previous record and carries a sequence number.
// Records are stored in the DHT under their ID (/x0rec/), each node's head
// under its peer ID (/x0log/), and new records are announced on the gossip
// topic x0tta6bl4/gov/1. The outcome of a proposal is a pure function of the
// records (Count): every node that holds the same records computes the same
// tally, to the byte, whatever order they arrived in and whenever it
// decided.
//
// Membership has a root of trust and no coordinator: the genesis lists the
// founding members and their tokens; an identity it does not list holds
// nothing; members join and leave by governance (Admit, Evict, and
// Quarantine to isolate one), and those decisions take effect in the tally
// of every later proposal, in deadline order, on every node alike (see
// Membership).
//
// # Usage
//
// A network starts from a genesis file that lists its founders (the CLI's
// genesis command writes one from a list of peers):
//
//	var allocs []consensus.Allocation
//	for _, s := range []string{"12D3KooW…", "12D3KooW…=400"} {
//		a, err := consensus.ParseAllocation(s, 10_000) // 10,000 tokens unless "=n"
//		allocs = append(allocs, a)
//	}
//	g, err := consensus.NewGenesis("mesh.example", 0, allocs)
//	file, err := g.MarshalTOML()
//
// A node opens its Log over its datastore, with its identity, the network's
// genesis, a Verifier, the policy engine as Admitter and, where SPIFFE IDs
// are proven (SVIDs), a Binder:
//
//	g, err := consensus.ParseGenesis(genesisFile)
//	cfg := consensus.DefaultConfig()
//	cfg.Genesis, cfg.Store = g, ds
//	cfg.Self = consensus.Author{ID: self, Key: keyBundle, Signer: signer}
//	cfg.Verifier, cfg.Admitter, cfg.Binder = verifier, policy, nil
//	gov, err := consensus.Open(ctx, cfg)
//	// ... the first sync round (duty 4), then:
//	gov.SyncDone()
//
//	p, err := gov.CreateProposal(ctx, time.Now(), "admit X", "new gateway", 5*time.Minute,
//		quorum, threshold, &consensus.Admit{Peer: x, Tokens: 100})
//	v, err := gov.CastVote(ctx, time.Now(), p.ID(), consensus.Yes, 100)
//	decided, err := gov.CheckProposals(ctx, time.Now())
//	for _, d := range decided { /* act on d: the one place decisions leave the Log */ }
//	quarantined := gov.Membership().Quarantine()
//
// With pqcsec, the interfaces are one-line adapters: Signer signs with
// Identity.Sign(SignatureDomain, msg); Verifier calls
// pqcsec.VerifyPeer(peer.ID(author), key, SignatureDomain, msg, sig), which
// also checks that the key bundle is the peer's; Admitter asks the policy
// engine's CheckIgnoringQuarantine for ActionPropose or ActionVote with the
// author's keys (so that key pins hold) and node SPIFFE ID, leaving out the
// quarantine list, which is governance's own output: the tally applies it.
// The node sets the engine's quarantine list from Membership after each
// decision, for routing and relaying.
//
// CreateProposal and CastVote return only after the record is durably in
// the datastore (Put, then Sync), so a restarted node still has its own
// votes and never reuses a sequence number. A Log opened on an empty store
// (a new node, or one that lost its store) or one with damaged records
// refuses to write (ErrNotSynced) until SyncDone, and so does a Log that
// knows of a later record of its own than it holds: a node never writes a
// second record at a sequence number it used before. The Log starts no
// goroutines, never reads the clock and calls nobody back: its outputs are
// return values. Its driver (the node) has these duties:
//
//  1. After CreateProposal or CastVote returns, put the record in the DHT
//     under RecordKey(r.ID()), put Head(ctx, now) under HeadKey(self), and
//     publish Announcement(ctx, now) on Topic. Never publish before the
//     call returned.
//  2. Register NewHeadValidator and NewRecordValidator as the DHT's "x0log"
//     and "x0rec" namespaces (they match libp2p's record.Validator), with
//     an AuthorQuota that asks the membership (Members): a DHT stores
//     whatever its validator takes, and a record costs its author only a
//     signature, so the quota takes members' values only in closed mode
//     and bounds each author's distinct records otherwise.
//  3. In the Topic validator, call IngestAnnouncement with the message's
//     signing peer; ErrDuplicate and ErrStale mean ignore, ReasonFuture
//     means ignore (the sender's clock is ahead), anything else reject.
//  4. On start, and after a partition heals: fetch the head of every known
//     peer (including itself, in case its store was lost) from the DHT and
//     pass it to IngestHead; then fetch each ID of Missing from the DHT and
//     pass them to IngestAll (one Sync per batch), until Missing is empty;
//     report IDs the DHT does not have with Unavailable. Then call SyncDone
//     (the Log writes again) and, only then, CheckProposals for the first
//     time.
//  5. Call CheckProposals periodically (every second, say) and hand the
//     decisions it returns to the one consumer that acts on them (after a
//     restart, Decisions lists the earlier ones again). Once a proposal's
//     deadline + SettleDelay has passed, run a sync round as in duty 4
//     (every member's head and every known author's, skipping heads
//     already seen signed after the deadline) and, if it got every
//     member's head, call SyncRoundDone with the time the round began:
//     the Log decides only after such a round (or SyncWait later).
//  6. Re-publish Head and Announcement every AnnounceMaxAge/2 or so (both
//     re-sign the head when it is that old), so that nodes that missed a
//     message learn of new records; re-put Records(self) in the DHT
//     periodically, since DHT records expire.
//
// # Records
//
// A record is a Draft (seq, prev, time, optional SPIFFE ID claim, and a
// Proposal or a Vote body) signed by its author. Its ID is the SHA-256 of
// its encoding; a proposal's ID is the ID of its record. Records bind the
// author to its key: a record carries the author's peer ID and public key
// bundle, and the Verifier checks that the bundle belongs to the peer ID
// (for libp2p Ed25519 identities, the peer ID is the identity multihash of
// the bundle's Ed25519 half) as well as the signature. The signed message
// covers the whole record but the signature, including the key bundle, so
// the post-quantum half of the bundle is bound to the peer ID by both halves
// of the hybrid signature.
//
// # Voting arithmetic (no floating point)
//
// Voting power is the square root of the tokens spent, computed in integers
// as micro-votes: Power(tokens) = isqrt(tokens × 10^12) = floor(sqrt(tokens)
// × 10^6), with an exact 128-bit integer square root. It is exact for
// perfect squares (100 tokens → 10 votes, 10,000 → 100), so 100 voters with
// 100 tokens each (1,000 votes) outweigh one holder of 10,000 (100 votes).
// Tokens are at most MaxTokens (2^40), so sums of powers fit a uint64.
//
// Quorum and threshold are fractions in parts per million (PPM; ParsePPM
// reads "0.33" exactly) and are compared by integer cross-multiplication
// with 128-bit products:
//
//	quorum met: participating × 10^6 ≥ quorum × total
//	passed:     quorum met and YES × 10^6 > threshold × (YES + NO)
//
// where participating = YES + NO + ABSTAIN (ABSTAIN counts for the quorum
// only) and total is the total allocatable power that exists at the
// proposal's place in deadline order: the power of every allocation in
// force (the genesis's, with every earlier Admit, Evict and Quarantine
// applied: nothing for an evicted or quarantined peer), plus the default
// allocation's power for each counted voter that holds it. An identity
// that holds nothing adds nothing to the total, however many records it
// writes. A ratio equal to the threshold fails; a proposal whose author
// is quarantined at its place in the order fails whatever the votes.
// Nothing in a decision touches a float, so every platform computes the
// same bits.
//
// A vote counts if it is its voter's latest valid vote on the proposal
// (highest seq in the voter's own log). A vote is void, with a Reason listed
// in the tally, if it lies on an equivocating author's forked range, if the
// voter is quarantined, holds no tokens (not-member) or fewer than it
// spends (over-allocation), or if it is timestamped after the deadline; an
// earlier valid vote of the same voter then counts instead. Tokens are
// judged by the tally, not at ingest, because allocations change by
// governance.
//
// # Membership
//
// The membership in force for a proposal P is a pure fold: start from the
// genesis; take every proposal whose action is Admit, Evict or Quarantine
// and that comes before P in (deadline, ID) order; tally each, in that
// order, under the membership its predecessors made; apply the action of
// each that passed. Admit gives a peer its tokens (0: a member without
// votes) and lifts a quarantine; Evict takes all of a peer's tokens,
// whatever the genesis lists; Quarantine isolates a peer (no votes, its
// proposals rejected) until admitted again. A decision therefore depends
// only on the records up to each deadline: a node that decided a
// quarantine early and one that decided it late, having received the same
// records in different orders, compute the same tallies. Log.Membership
// is the membership after every proposal the node has decided.
//
// # Time
//
// Time is passed in (now) and never read. A record's time is its author's
// clock in Unix milliseconds and never decreases along a log. A proposal's
// deadline is absolute (creation time + duration, on the creator's clock).
// A vote counts if its time is at or before the deadline.
//
// The clock-skew assumption: honest nodes' clocks differ by at most
// MaxClockSkew (default 2 s; 250 ms in LocalConfig). A record or head
// timestamped more than MaxClockSkew after the receiver's clock is refused
// (ReasonFuture; it is accepted once the receiver's clock catches up). A
// node decides a proposal no earlier than SettleDelay (≥ MaxClockSkew)
// after its deadline, leaving time for votes written at the deadline by a
// slow clock to be written and put, and only once a sync round that began
// after then has completed (SyncRoundDone: the driver fetched every
// member's head, and those of the authors it knows, from the DHT and
// walked their logs) and no record is missing. A vote the node never heard
// of in gossip is therefore still counted: its author's head names it.
// Failing that, it decides SyncWait later with what it holds (a
// partitioned node still decides, and logs that it did so). A node decides
// each proposal once. Agreement between nodes therefore does not depend on
// gossip timing; it assumes only that a member's vote timestamped before
// the deadline is in the DHT (under its head) by the time the round asks,
// and that the round completes within SyncWait. An author can backdate a vote only to no earlier than its own
// previous record (an earlier time breaks its chain and voids the vote), and
// a backdated vote that arrives after other nodes decided would be counted
// only by nodes deciding later; Tally shows the current count at any time.
//
// # Equivocation
//
// A single writer per log means no merge conflicts; two records of one
// author with the same seq (a fork), a record whose prev is not its
// author's record seq−1 or is timestamped after it (a broken chain), or two
// heads with the same seq naming different records, are equivocation. Each
// is kept as Evidence (both signed statements, checkable by anyone), and the
// author's votes from the lowest such seq on are void on every node that
// holds the records. Proposals of an equivocating author stay valid: each is
// self-contained and others may have voted on them.
//
// # Genesis file
//
// TOML, or JSON if the first non-blank byte is '{'. Unknown keys are
// errors. The peer ID is the root of an identity: a listed peer ID's
// allocation applies first (0 tokens excludes it). A SPIFFE ID counts only
// when the Binder confirms that it is bound to the author's keys (an SVID;
// a SPIFFE ID string alone proves nothing): then its listed allocation
// applies, or else the default allocation. An identity neither listed nor
// with a bound SPIFFE ID holds nothing, so a fresh key earns no votes and a
// node excluded by SPIFFE ID gains nothing by claiming none. Admit and
// Evict decisions override all of this for a peer.
//
//	trust_domain = "mesh.example"       # SPIFFE trust domain, a bare name
//	default_allocation = 0             # tokens of an unlisted identity with a bound SPIFFE ID (default 0)
//
//	[[allocations]]
//	peer = "12D3KooW…"                  # base58 libp2p peer ID
//	tokens = 10000
//
//	[[allocations]]
//	spiffe_id = "spiffe://mesh.example/node/gw1"
//	tokens = 400
//
//	{"trust_domain": "mesh.example", "default_allocation": 0,
//	 "allocations": [{"peer": "12D3KooW…", "tokens": 10000},
//	                 {"spiffe_id": "spiffe://mesh.example/node/gw1", "tokens": 400}]}
//
// The genesis ID is the SHA-256 of a canonical binary form (trust domain,
// default allocation, allocations sorted) that does not depend on the
// file's format or order. It is mixed into every
// signature, so a record of one network never verifies in another.
//
// # Wire formats
//
// docs/governance.md is the normative specification of these formats
// and of the tally, with test vectors in docs/vectors/governance.json and
// docs/vectors/dht.json. All integers are big-endian. Lengths are unsigned. Decoders refuse
// anything not exactly as below (wrong version, out-of-range lengths, bad
// UTF-8, trailing bytes) with an error wrapping ErrMalformed or ErrTooLarge.
//
// Record (at most MaxRecordSize = 20,480 bytes):
//
//	off  size  field
//	0    1     version = 1
//	1    1     kind: 1 proposal, 2 vote
//	2    8     seq, ≥ 1
//	10   32    prev: ID of the author's record seq−1; all zero iff seq = 1
//	42   8     time: Unix ms, author's clock, > 0
//	50   1     A = author length, 1..64
//	51   A     author: peer ID (binary multihash)
//	     2     K = key length, 1..4096
//	     K     key: the author's public key bundle
//	     1     I = identity length, 0..255
//	     I     identity: SPIFFE ID claim (spiffe://…), empty for none
//	     2     B = body length
//	     B     body (proposal or vote, below)
//	     2     S = signature length, 1..8192
//	     S     signature over "x0tta6bl4/gov/record/1\x00" ‖ genesis ID (32) ‖
//	           every preceding byte of the record
//
// Proposal body:
//
//	2+T   title, UTF-8, T in 1..256
//	2+D   description, UTF-8, D in 0..4096
//	8     deadline: Unix ms, > time, ≤ time + 366 days
//	4     quorum, PPM, ≤ 1,000,000
//	4     threshold, PPM, < 1,000,000
//	1     action kind: 0 none, 1 quarantine, 2 set-parameter, 3 accept-model,
//	      4 admit, 5 evict
//	2+L   action body, L ≤ 1200 (empty for kind 0):
//	        quarantine:    1+P peer ID (1..64) ‖ 2+R reason (UTF-8, ≤ 256)
//	        set-parameter: 1+N name ([a-z0-9._-], 1..64) ‖ 2+V value (UTF-8, ≤ 1024)
//	        accept-model:  1+N name ([a-z0-9._-], 1..64) ‖ 32 SHA-256 of the model
//	        admit:         1+P peer ID (1..64) ‖ 8 tokens (0..2^40)
//	        evict:         1+P peer ID (1..64)
//
// The text form of an action (ParseAction, FormatAction; the CLI's
// --action and the API take it) is quarantine:<peer>[:<reason>],
// admit:<peer>[:<tokens>], evict:<peer>, set:<name>=<value> or
// model:<name>@<sha256 hex>.
//
// Vote body (41 bytes):
//
//	32    proposal ID
//	1     choice: 1 YES, 2 NO, 3 ABSTAIN
//	8     tokens, 1..2^40
//
// Head, the value under /x0log/<author> (at most MaxHeadSize):
//
//	1     version = 1
//	1+A   author peer ID
//	2+K   key bundle
//	8     seq of the latest record, ≥ 1
//	32    ID of the latest record
//	8     time the head was signed, Unix ms
//	2+S   signature over "x0tta6bl4/gov/head/1\x00" ‖ genesis ID ‖ preceding bytes
//
// Announcement, the message on x0tta6bl4/gov/1 (at most MaxAnnouncementSize):
//
//	1     version = 1
//	2+H   head (1..MaxHeadSize bytes)
//	2+R   the record the head names, or R = 0 for a head-only announcement
//
// A receiver accepts an announcement only from its author (the pubsub
// signing peer) and only if the head was signed no more than AnnounceMaxAge
// before its clock and no more than MaxClockSkew after it.
//
// DHT keys: HeadKey = "/x0log/" + base58 peer ID; RecordKey = "/x0rec/" +
// hex record ID. HeadValidator checks that the head's author is the key's
// and its signature; its Select prefers the higher seq, then the later
// signing time, then the smaller encoding. RecordValidator checks that the
// value hashes to the key and verifies.
//
// Datastore keys (values are the encodings above): /gov/genesis (genesis
// ID; Open refuses a store of another network), /gov/rec/<hex ID> (every
// accepted record; the key is the value's SHA-256), /gov/self/head (own
// latest head), /gov/decided/<hex ID> (format 1 (1 byte) ‖ decision time,
// Unix ms, 8 bytes ‖ the tally's canonical encoding, see
// Tally.MarshalBinary ‖ SHA-256 of the preceding bytes). Open checks every
// record against its key and every decision against its checksum and its
// proposal; a damaged value is moved to /gov/damaged/<the same path below
// /gov>, counted in Status and logged, and the node starts without it: a
// damaged record is wanted again (Missing), a damaged decision is taken
// again.
package consensus
