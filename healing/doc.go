// Package healing is the node's self-healing: a MAPE-K loop (monitor,
// analyze, plan, execute over a knowledge base) as a pure engine, and, in
// healing/anomaly, the GraphSAGE anomaly detector whose scores it acts
// on.
//
// The Engine takes the node's view of the mesh (overlay.Graph), the
// anomaly reports of its members, the figures of its own neighbour links
// and its own load, and answers with plans as plain data. Like the
// routing engine it is pure: no goroutines, sockets or clock (time comes
// with every input) and randomness only from the *rand.Rand it is given;
// TestPurity checks this. So the libp2p node and the twin drive the very
// same code, and the scenario scripts in testdata run on virtual time.
//
// # The loop
//
// Every CycleInterval (at Tick) the engine:
//
//   - Monitors: applies the quorum rule to the fresh reports (a node is
//     suspect when Quorum distinct reporters that neighbour it in the
//     view flag it, so one liar cannot frame a node), and reads its own
//     links' delivery and RTT (against each link's own baseline) and its
//     own CPU and relay queue.
//   - Analyzes: names a root cause with its evidence (Diagnosis):
//     partition (the view largely out of reach, own links dying together,
//     or 40% or more of the view suspect), self (this node overloaded,
//     suspected, or slow on most of its links at once), node (another
//     suspect), link (an own link that loses or is slow, to a neighbour
//     no one suspects).
//   - Plans: each symptom (a cause and its subject) becomes an incident
//     with a ladder of strategies: avoid, reconnect, shed, quarantine,
//     restart-component, those that apply to the cause and can be carried
//     out (avoid only when the view shows a way around the subject,
//     reconnect only for a neighbour and with a peer to link to instead),
//     ranked by expected benefit (Knowledge below). The first rung
//     becomes a Plan.
//   - Rehearses: the plan waits for a what-if (Ready.Rehearse), which the
//     caller runs through its Rehearser, the twin built from the node's
//     view, and hands back (Rehearsed). The plan is kept only if
//     connectivity stays at MinConnectivity (0.95) or more and delivery
//     recovers (for a suspect node, from below RecoverDelivery: a plan
//     whose flows deliver with the suspect blackholed has nothing to
//     restore); otherwise it is dropped and the next rung rehearsed. A
//     driver that cannot rehearse (the twin, running an engine on each of
//     thousands of simulated nodes) sets Config.SkipRehearsal.
//   - Executes: in enforce mode the plan's Action is handed out
//     (Ready.Actions, Ready.Avoid). Every action is time-bounded or
//     reversible: an avoid or a shed expires TTL after its symptom was
//     last seen (each cycle that still sees it re-confirms it), a
//     reconnect's ban on the old neighbour expires, a quarantine is only
//     a governance proposal bounded by its deadline, a restart is
//     one-shot. In observe mode (the default) nothing is executed: every
//     plan is recorded with WouldExecute and the rehearsal's HealedIn.
//   - Judges: a step succeeds when its symptom clears within the
//     strategy's T and no alarm returns for 2T; it fails when the symptom
//     outlasts T, returns within 2T, or the caller reports the action
//     failed (ActionFailed), and the ladder moves to its next rung. An
//     exhausted ladder is climbed afresh after a backoff.
//
// # Knowledge
//
// For each (cause, strategy) the engine counts successes and failures
// and sums the times to clear (Entry). A ladder is ranked by
//
//	benefit = mean + ExplorationBonus·sqrt(ln(1+N)/(1+n)) − Cost
//
// where mean is the posterior mean of success under a uniform prior,
// (1+successes)/(2+n), n the strategy's outcomes for the cause and N
// those of all its strategies. This is the posterior mean with an
// exploration bonus, not Thompson sampling: the order is a function of
// the counts alone, so an operator can read from `heal status` why a
// strategy comes first, tests need no luck, and on an empty knowledge
// base (every mean 1/2, every bonus 0) the cheapest strategy leads. A
// strategy that keeps failing sinks below an untried dearer one as its
// mean falls; the bonus keeps a rarely tried one in play. Counts are
// halved past KnowledgeCap so the ranking follows a mesh that changes.
//
// The engine does no I/O: Ready.Persist lists the entries that changed,
// Store saves them in a go-datastore (the node's pebble datastore) and
// loads them at start for Restore.
//
// # Safety
//
//   - No plan while a partition is diagnosed, which includes 40% or more
//     of the view suspect (MaxAnomalousFraction): a detector fault or a
//     split is likelier than that many faults; actions in force are then
//     not re-confirmed and expire.
//   - No first plan against a node that turned suspect in a burst: when
//     MinSuspectBurst nodes, and at least MaxNewSuspectFraction of the
//     view, turned suspect within SuspectBurstWindow, something
//     mesh-wide upset the detector (a mass rediscovery after an avoid, a
//     host that stalls), not as many node faults at once. The nodes that
//     turned suspect since the burst began wait until the window has
//     passed without a new one; a suspect that stays suspect longer is
//     then planned for as usual. Actions in force stay re-confirmed.
//   - No plan on a suspicion alone against a node that relays nothing:
//     while the view shows a suspect given fewer than MinTransitRate
//     DATA frames a second to relay (its neighbours' links' transit
//     rates to it), no strategy against it is planned, first or next
//     rung, and neither is shed for this node when being suspected is
//     all the evidence about it. Taking a node that is on no route out
//     of the routes restores no delivery; such a flag is the detector's
//     reading of something else (a neighbourhood changed by the
//     rerouting around a real fault). A view without DATA rates holds
//     nothing.
//   - Each action (a strategy against a target) may not execute again
//     before BackoffBase·2^f after it last did, f its failures in a row
//     (capped at BackoffMax, jittered); all actions together at most
//     MaxActionsPerMinute. A node acted against again within
//     OffenceMemory gets doubled TTLs, up to MaxTTL.
//   - The escalation ladder gives each rung its strategy's T.
//   - Pause stops execution (plans are still made and recorded as held)
//     and re-confirmation; Resume restarts them.
//   - Reports are bounded (MaxReports, and MaxReportsPerReporter per
//     reporter), incidents (MaxIncidents) and history (HistorySize) too.
//
// # Usage
//
//	e, err := healing.NewEngine(healing.DefaultConfig(), self, rng)
//	entries, err := healing.NewStore(ds).Load(ctx)
//	err = e.Restore(entries)
//	...
//	e.SetView(now, view.Graph(now))        // each telemetry interval
//	e.SetLinks(now, router.Neighbors())
//	err = e.SetLoad(now, healing.Load{CPUPercent: cpu, QueueLen: q, QueueCap: c})
//	err = e.Report(now, healing.Report{Reporter: r, Subject: s, Score: 0.9})
//	e.Tick(now)                            // at e.NextDeadline()
//	for e.HasReady() {
//		rd := e.Ready()
//		e.Advance()
//		// carry out rd.Actions, SetAvoid(rd.Avoid) if rd.AvoidChanged,
//		// save rd.Persist, log rd.Plans; then for each p in rd.Rehearse:
//		r, err := rehearser.Rehearse(e.View(), p)
//		_ = e.Rehearsed(now, p.ID, r, err)
//	}
//
// Loop.RunCycle wraps one such round for callers that rehearse at once
// (the seed's run_cycle): it returns a CycleResult with AnomalyDetected,
// Analyzer.RootCause, Planner.Strategy and Executor.Success.
//
// # The caller's duties
//
// One goroutine owns an Engine (it is not safe for concurrent use). The
// caller must:
//
//  1. Feed the inputs once per cycle, before Tick: SetView with the
//     node's view, SetLinks with its own neighbour links, SetLoad with
//     its load, SetPeers with the peers it could link to. Pass every
//     anomaly report to Report as it arrives, after the anomaly topic's
//     validator checked its signature, membership and model; the engine
//     applies the quorum and the freshness rules.
//  2. Call Tick with the current time no later than NextDeadline. (A
//     driver of many engines, the twin, may skip the Tick of an engine
//     that is Quiet: its cycle could change nothing.)
//  3. After every input, while HasReady is true, take Ready, call
//     Advance, and carry Ready out: execute or revert each Action in
//     order (see Action for each kind: the routing engine's avoid list,
//     the connection manager, governance, the component); when
//     AvoidChanged, pass Avoid to overlay.Engine.SetAvoid; save Persist
//     (Store.Save); log Plans (observe mode's record).
//  4. Rehearse each plan of Ready.Rehearse on View() with the Rehearser
//     and hand the answer (or the error) to Rehearsed, at once or later
//     (within RehearsalTimeout, after which the plan is dropped).
//  5. Report an action it could not carry out with ActionFailed, so the
//     ladder moves on; an action it carried out needs no report.
//  6. At start, Load the knowledge from the Store and Restore it before
//     the first Tick.
//
// Summary, History, Cycles, Knowledge, Avoid and Counters describe the
// state for `heal status|history`, GET /v1/heal and /metrics; they are
// read by the owner goroutine too (or copied out by it).
//
// # Knowledge entry
//
// A Store keeps one entry per cause and strategy under
// /healing/knowledge/<cause>/<strategy>. An entry is EntrySize (36)
// bytes, multi-byte fields big-endian:
//
//	offset size field
//	0      4    magic "x0hk"
//	4      1    format version (1)
//	5      1    cause: 1 self, 2 node, 3 link, 4 partition
//	6      1    strategy: 1 avoid, 2 reconnect, 3 shed, 4 quarantine,
//	            5 restart-component; one that applies to the cause
//	7      1    reserved, 0
//	8      4    successes, at most 2^24
//	12     4    failures, at most 2^24
//	16     8    time to clear, summed over the successes: nanoseconds,
//	            at most successes × 1 h
//	24     8    updated: Unix nanoseconds, 0 for never
//	32     4    CRC-32C (Castagnoli) of bytes 0 to 31
//
// DecodeEntry refuses anything else with a *DecodeError wrapping
// ErrTooLarge, ErrTruncated, ErrMagic, ErrVersion, ErrChecksum or
// ErrField (Store.Load adds ErrKey for an entry under another key); an
// entry it accepts re-encodes to the same bytes.
package healing
