// Package replication is the network driver of the governance log: it
// carries a node's consensus.Log records to and from other nodes through a
// DHT and a gossip topic, keeps a node that missed messages in step by
// walking other authors' logs, decides proposals when they are due and
// hands the decisions to one consumer.
//
// consensus stays pure (no I/O, no clock, no goroutines); this package is
// the thin, impure part around it, and it still does not import libp2p. It
// reaches the network through the Network interface, which the node
// implements over its private Kademlia DHT, GossipSub and host, and which
// the tests implement in memory, so that the driver's rules (what to fetch,
// when to decide, what a gossip message is worth) run in a test without a
// socket, under testing/synctest's fake clock.
//
// # Usage
//
//	d, err := replication.New(replication.Config{
//		Log: gov, Author: self, Genesis: g, Network: netw, Ready: n.Ready(),
//		SettleDelay: consensusCfg.SettleDelay, AnnounceMaxAge: consensusCfg.AnnounceMaxAge,
//		Apply: func(dec consensus.Decision) { /* act on dec */ },
//	})
//	err = d.Start(ctx)                         // one sync goroutine, one publisher goroutine
//	defer d.Close()
//
//	// In the gossip topic's validator:
//	verdict, err := d.Validate(ctx, consensus.PeerID(msg.GetFrom()), msg.Data)
//	// In the DHT's /x0log/ validator, after a head validated:
//	d.SeeHead(value)
//
//	p, err := d.Propose(ctx, "quarantine X", "floods", 5*time.Minute, quorum, threshold, &consensus.Quarantine{Peer: x})
//	v, err := d.Vote(ctx, p.ID(), consensus.Yes, 100)
//
// # What the driver does
//
// It carries out the duties listed in consensus/doc.go:
//
//  1. Propose and Vote append to the Log (durably), publish the Log's
//     Announcement on the gossip topic at once, then wake the publisher,
//     which puts every own record not yet put under consensus.RecordKey
//     and the head under consensus.HeadKey(self), all at once, then
//     advertises the node as an author in the DHT (after the head, so that
//     whoever finds the node through the advertisement finds its head). Failed puts are retried with backoff; all
//     own records, the head and the advertisement are put again every
//     RepublishInterval (DHT records expire), and the announcement is
//     published again every AnnounceMaxAge/2, when the Log re-signs the
//     head, so that a fresh head reaches every node and ones that missed a
//     message learn of the author's latest record.
//  2. Validate is the gossip validator: it calls Log.IngestAnnouncement
//     with the message's signing peer and maps the outcome to a Verdict.
//     Accept: something was new. Ignore: nothing new (ErrDuplicate), a
//     stale or future head (ErrStale, ErrFuture, the sender's clock is
//     off), or a local failure (the datastore) that is no fault of the
//     sender. Reject, which counts against the peer in the topic's score:
//     oversize, undecodable, sent by someone other than its author,
//     forged, not admitted, claiming a SPIFFE ID nothing binds to it, or
//     outside the trust domain.
//     The node's own messages are accepted without ingesting (the Log
//     already holds them). A message that names records the Log lacks
//     wakes the sync goroutine.
//  3. Heads the node sees anywhere (gossip, DHT gets, and values the DHT
//     validates for other nodes' puts and gets, passed in with SeeHead) are
//     ingested, so that two heads of one author with the same sequence
//     number become evidence of equivocation wherever they meet.
//  4. Sync. Once Ready is closed (and the Network lists a peer, or
//     FetchTimeout passed) the sync goroutine runs an initial round before
//     it decides anything: it fetches from the DHT the head of every known
//     author and walks the logs back (Log.Missing, then the records by ID,
//     ingested with IngestAll, until nothing is missing). Known authors are
//     those of the records held, those whose heads it has seen (gossip,
//     DHT) and the members that advertised a log in the DHT; the round
//     fetches each author's head as soon as it learns of the author (the
//     advertisement lookup streams them; a walk names the authors of the
//     records it fetched) and walks each log as soon as its head arrives.
//     Anyone can advertise, and in open mode anyone can write a log, so
//     the work is bounded: a round runs at most FetchConcurrency gets at
//     once (queueing the rest, never a goroutine per author), fetches the
//     heads of members first and of at most MaxAuthors others, and probes
//     advertised non-members in the background without waiting for them;
//     the driver remembers heads seen and probes of at most MaxAuthors
//     non-members (Stats.AuthorsSkipped counts the rest).
//     Other peers, from the genesis and the Network's peer list, are
//     candidates: nothing says they have a log, and a head nobody stored
//     costs a whole DHT lookup to not find (seconds on a large mesh), so
//     they are probed once each, in the background, and a head found joins
//     the heads seen: a few never-probed ones per periodic round, and the
//     node itself in the initial round, in case its store was lost (waited
//     for when the node finds its own advertisement). Only when the DHT
//     could not say who advertised (lookup failed, or found nobody twice)
//     does the initial round probe every candidate and wait for them.
//     A known author's head that could not be got (a timeout, no route,
//     or not found: a known author has a log) makes the initial round
//     incomplete; it is retried up to five times with backoff before the node decides
//     anyway. When the initial round ends the driver calls Log.SyncDone:
//     a node that lost its store has fetched its own log back by then,
//     and may write again (until then Propose and Vote fail with
//     consensus.ErrNotSynced). After that a periodic round runs every SyncInterval for the
//     authors whose latest head seen is older than AnnounceMaxAge/2 +
//     SyncInterval (their periodic announcement went missing), and a walk
//     runs whenever a message names a missing record. A record the DHT
//     does not have (or could not deliver) is asked for again after
//     RetryInterval and given up (Log.Unavailable) after three failures,
//     so a record announced before its author's put landed is still found.
//  5. Decide. Every CheckInterval the driver calls Log.CheckProposals.
//     When a proposal's deadline passes, every node with a log announces a
//     head-only announcement signed then (a closing head): every record
//     its author timestamped at or before the deadline precedes it. When
//     the proposal reaches deadline + SettleDelay the driver runs a
//     decision round over the known authors whose closing head (or any
//     head signed after the deadline) has not arrived, so that a vote whose
//     announcement was lost is fetched from the DHT before the node
//     decides; advertised authors that are not members are awaited too
//     (within MaxAuthors), but only the members' heads must be got. A
//     decision round (or the initial one) that got every known member's
//     head tells the Log when it began (Log.SyncRoundDone), and the Log
//     decides a proposal only after such a round began after its deadline
//     + SettleDelay, or SyncWait later; a round that missed a member's
//     head runs again at the next check. With every closing head
//     delivered by gossip the decision round fetches nothing, so deciding
//     costs no DHT lookup of a head.
//  6. Hand on. The decisions leave the Log only as CheckProposals's
//     return value, and the driver hands them to one consumer, Apply:
//     at Start every decision the Log took before (state a node keeps in
//     memory, its policy engine's quarantine list, must be rebuilt after a
//     restart), then each new one as it is taken. Nothing is fed back:
//     membership changes (admit, evict, quarantine) are the Log's own
//     fold.
//
// Agreement between nodes rests on consensus's rules (see its doc.go):
// nodes that hold the same records compute the same tally, to the byte; the
// driver's job is to make every node hold the same records by the time it
// decides, which the pre-decision sync round makes robust to lost gossip.
//
// # Wire formats
//
// None of its own: the driver moves consensus's records, heads and
// announcements (byte layouts in consensus/doc.go) under consensus's DHT
// keys and topic. A closing head is an ordinary head-only announcement.
// The author advertisement is a DHT provider record under the rendezvous
// the Network chooses (a node uses "x0tta6bl4/gov/1/authors/" and the
// first 32 hex digits of the genesis ID).
//
// # Concurrency
//
// The driver runs two goroutines between Start and Close: the sync
// goroutine (heads, walks, sync rounds, CheckProposals and Apply, which
// runs on it; it waits for up to FetchConcurrency DHT gets of its own
// at a time, each on a short-lived goroutine, and the advertisement lookup
// of a round) and the publisher (puts, advertisement, periodic
// announcements). Candidates are probed on one more goroutine, one batch
// at a time (up to FetchConcurrency gets), which hands the heads it finds
// to the sync goroutine. Validate and SeeHead are called from the network's
// goroutines and never block on either; Propose and Vote may be called from
// any goroutine. Close stops both goroutines and waits for them;
// it is safe to call more than once.
package replication
