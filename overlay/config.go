package overlay

import (
	"errors"
	"fmt"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// ErrInvalidConfig is wrapped by the error NewEngine returns for a Config
// that fails validation; the message names the field.
var ErrInvalidConfig = errors.New("overlay: invalid config")

// Config holds every timer and limit of the routing engine. Build one with
// DefaultLANConfig, DefaultWANConfig or DefaultLocalConfig and adjust
// fields; NewEngine validates it. Names in capitals in the comments are
// the RFC 3561 parameters a field corresponds to.
type Config struct {
	// HelloInterval is the time between HELLOs to each neighbor
	// (HELLO_INTERVAL). It travels in HELLOs in whole milliseconds, so it
	// must be a whole number of milliseconds from 1 ms to 65535 ms.
	HelloInterval time.Duration
	// AllowedHelloLoss is how many HELLO intervals a neighbor may stay
	// silent before the engine declares it dead (ALLOWED_HELLO_LOSS).
	// Dead after AllowedHelloLoss × max(HelloInterval, the neighbor's
	// advertised interval), plus twice how late its HELLOs have lately
	// come (at most AllowedHelloLoss × MaxHelloInterval in all), without
	// a frame from it.
	AllowedHelloLoss int
	// NodeTraversalTime is a conservative estimate of the time one hop
	// takes, one way, including processing (NODE_TRAVERSAL_TIME). It sizes
	// the discovery timeouts: an RREQ with TTL t waits
	// 2 × NodeTraversalTime × (t + TimeoutBuffer) for a reply, a
	// network-wide one NetTraversalTime() = 2 × NodeTraversalTime ×
	// NetDiameter.
	NodeTraversalTime time.Duration
	// NetDiameter is the largest number of hops a route may have and the
	// TTL of a network-wide RREQ (NET_DIAMETER), 1 to 255 hops.
	NetDiameter int
	// ActiveRouteTimeout is how long a route stays valid after it last
	// carried DATA (ACTIVE_ROUTE_TIMEOUT); also the shortest lifetime of a
	// reverse route.
	ActiveRouteTimeout time.Duration
	// MyRouteTimeout is the lifetime a destination puts in its own RREPs
	// (MY_ROUTE_TIMEOUT), 1 ms to 2^32-1 ms in whole milliseconds, and the
	// longest lifetime this node gives any route it learns.
	MyRouteTimeout time.Duration
	// DeletePeriod is how long an invalid route keeps its sequence number
	// before it is forgotten (DELETE_PERIOD), counted from when it became
	// invalid or, later, from the last DATA for it that this node had to
	// drop. It must outlast any stale route elsewhere that still points
	// through this node, which lives at most its MyRouteTimeout: at least
	// 2 × MyRouteTimeout, and more than the MyRouteTimeout of every other
	// node of the mesh.
	DeletePeriod time.Duration
	// PathDiscoveryTime is how long a node remembers an RREQ it has seen,
	// for duplicate suppression (PATH_DISCOVERY_TIME).
	PathDiscoveryTime time.Duration
	// RREQRetries is how many more network-wide RREQs an originator sends,
	// each waiting twice as long as the last, after the first one before
	// it gives up (RREQ_RETRIES).
	RREQRetries int
	// TTLStart, TTLIncrement and TTLThreshold shape the expanding-ring
	// search (TTL_START, TTL_INCREMENT, TTL_THRESHOLD), in hops: the first
	// RREQ has TTL TTLStart (or the last known hop count plus
	// TTLIncrement), each retry adds TTLIncrement, and past TTLThreshold
	// the RREQ goes network-wide with TTL NetDiameter.
	TTLStart, TTLIncrement, TTLThreshold int
	// TimeoutBuffer pads the expanding-ring timeout, in hops
	// (TIMEOUT_BUFFER).
	TimeoutBuffer int
	// LocalRepair lets a relay whose next hop fails repair the route
	// itself, buffering DATA meanwhile, when the destination was at most
	// MaxRepairTTL hops away; it sends RERR only if the repair fails.
	LocalRepair bool
	// MaxRepairTTL is the largest hop count to a destination for which a
	// relay attempts local repair (MAX_REPAIR_TTL), in hops.
	MaxRepairTTL int
	// LocalAddTTL is added to the last known hop count to form the TTL of
	// a local-repair RREQ (LOCAL_ADD_TTL), in hops.
	LocalAddTTL int
	// IntermediateReplies lets a node with a fresh enough route answer an
	// RREQ for another destination itself.
	IntermediateReplies bool
	// DataTTL is the TTL a source puts in its DATA packets, in hops,
	// NetDiameter to 255.
	DataTTL int
	// RREQRateLimit and RREQBurst bound the RREQs this node originates
	// (RREQ_RATELIMIT): at most RREQBurst at once and RREQRateLimit per
	// second on average. Discoveries over the limit wait for a token.
	RREQRateLimit, RREQBurst int
	// ForwardRateLimit and ForwardBurst bound the RREQs this node forwards
	// for others, per second and at once; 0 means no limit. Half of each
	// is split evenly among the alive neighbors, as the part of the RREQs
	// from each that is always forwarded; the other half goes to whoever
	// has used up its part. Over the limit an RREQ is dropped, which
	// bounds what a flooding neighbor can make a node send, and takes
	// from the others no more than the spare half.
	ForwardRateLimit, ForwardBurst int
	// RERRRateLimit and RERRBurst bound the RERR transmissions of this
	// node (RERR_RATELIMIT), per second and at once. One transmission is
	// one RERR to each precursor concerned; entries over the limit wait,
	// merged, for the next token.
	RERRRateLimit, RERRBurst int
	// MaxQueuedPerDestination bounds the DATA packets buffered while a
	// route to one destination is being discovered or repaired, in packets.
	MaxQueuedPerDestination int
	// MaxQueuedBytes bounds the DATA payload bytes buffered for all
	// destinations together.
	MaxQueuedBytes int
	// MaxRoutes bounds the routing table entries, valid and invalid,
	// learned from RREQs and RREPs; routes to neighbors from their HELLOs
	// always fit besides. Each entry counts against the neighbor that
	// taught it: half the table is first come, first served, the other
	// half split evenly among the neighbors, and a neighbor beyond its
	// part makes room by evicting its own entries that carried no DATA
	// (invalid ones first). Information that finds no room is ignored.
	MaxRoutes int
	// MaxSeenRREQs bounds the duplicate-suppression cache, in entries,
	// shared among the neighbors as MaxRoutes is; RREQs that would need a
	// new entry beyond their neighbor's room are dropped.
	MaxSeenRREQs int
	// ClaimCache bounds the cache of route claims this node verified,
	// in claims (by address and sequence number; the one added longest
	// ago gives way): a claim met again in a packet that left it nowhere
	// else, such as a live neighbor's claim relayed by another node or a
	// late copy of an RREQ whose duplicate-suppression entry expired,
	// costs no second signature check. It saves work only; 0 turns it
	// off. 0 to 2^20; 1024 in the profiles.
	ClaimCache int
	// MaxPendingRERR bounds the RERR entries waiting for a rate-limit
	// token, in entries; further entries are dropped.
	MaxPendingRERR int
	// DuplicateRREQLimit is how many further copies of one RREQ a node
	// processes after the first, each only if it arrived over a path at
	// least CostImprovement percent cheaper than the best copy so far.
	// This is what lets link costs and the avoid list choose between
	// paths; 0 gives plain first-copy-wins AODV.
	DuplicateRREQLimit int
	// CostImprovement is the percentage, 0 to 99, by which a later RREQ
	// copy's path cost must undercut the best copy so far to be processed.
	CostImprovement int
	// HopCost is added to every link's measured one-way delay when its
	// cost is computed, so that hop count still counts on links whose
	// round-trip time is negligible. At least 1 µs.
	HopCost time.Duration
	// AvoidPenalty is added to the cost of a link to a neighbor on the
	// avoid list (see Engine.SetAvoid); it should exceed the cost of any
	// detour.
	AvoidPenalty time.Duration
	// MaxHelloInterval bounds the HELLO interval a neighbor's HELLOs may
	// advertise for its liveness: a neighbor is declared dead after
	// AllowedHelloLoss × max(HelloInterval, min(its interval,
	// MaxHelloInterval)) of silence, so one that advertises 65.5 s is
	// not kept alive for minutes; and however late its HELLOs come,
	// after AllowedHelloLoss × MaxHelloInterval at most. From HelloInterval to 65535 ms;
	// 4 × HelloInterval in the profiles.
	MaxHelloInterval time.Duration
	// LateAllowance is how many times a link's HELLO lateness (how late
	// its HELLOs have lately come, docs/protocol.md §8.4) its liveness
	// window grows by, within AllowedHelloLoss × MaxHelloInterval. 2 in
	// the local profile (many nodes on one host, whose scheduler holds
	// their HELLOs back): room for two HELLOs in a row as late as the
	// latest late one. 0, judging silence by AllowedHelloLoss intervals
	// alone, in LAN and WAN: a node slowed by a gray fault is late too,
	// and the anomaly model was trained on engines without the allowance
	// (docs/protocol.md §8.4). 0 to 16.
	LateAllowance int
	// SeqWindow is how far ahead of the sequence number a node holds for
	// a destination, in sequence numbers, news about it may be: route
	// information further ahead is refused, an RERR may not raise a
	// number further, and a destination asked for a number further ahead
	// of its own does not adopt it. It keeps every node's numbers for one
	// destination within a window far smaller than 2^31 (which loop
	// freedom needs), whatever a neighbor sends. 1 to 2^30; 2^20 in the
	// profiles (a node originating 10 RREQs a second moves that far in
	// 29 hours).
	SeqWindow uint32
	// MaxDiscoveries bounds the route discoveries under way at once
	// (sending RREQs or waiting for their replies). Further discoveries
	// wait for a slot, in a queue per class served round robin: the
	// node's own (DATA it sends, refreshes) and one per neighbor whose
	// DATA needs a local repair.
	MaxDiscoveries int
	// MaxWaitingDiscoveries bounds the discoveries waiting for a slot;
	// beyond it Send refuses with ErrQueueFull and a relay drops the
	// DATA that would have needed a repair.
	MaxWaitingDiscoveries int
	// FrameChunk is the size, in bytes, of the chunks the engine carves
	// its control frames from (one allocation per chunk rather than one
	// per frame); 0 means 16 KiB. An engine always holds its current
	// chunk, so a process running thousands of engines (the twin) sets a
	// smaller one: 512 bytes hold about 20 HELLOs. It changes no frame,
	// only how often the engine allocates. 0 or 64 to 1 MiB.
	FrameChunk int
}

// DefaultLANConfig returns the profile for nodes on one local network:
// round trips around a millisecond, a dead neighbor noticed within 750 ms
// (HELLO every 250 ms, 3 lost).
func DefaultLANConfig() Config {
	c := Config{
		HelloInterval:           250 * time.Millisecond,
		AllowedHelloLoss:        3,
		NodeTraversalTime:       10 * time.Millisecond,
		NetDiameter:             32,
		ActiveRouteTimeout:      3 * time.Second,
		RREQRetries:             2,
		TTLStart:                1,
		TTLIncrement:            2,
		TTLThreshold:            7,
		TimeoutBuffer:           2,
		LocalRepair:             true,
		MaxRepairTTL:            10,
		LocalAddTTL:             2,
		IntermediateReplies:     true,
		DataTTL:                 64,
		RREQRateLimit:           10,
		RREQBurst:               10,
		ForwardRateLimit:        200,
		ForwardBurst:            400,
		RERRRateLimit:           10,
		RERRBurst:               10,
		MaxQueuedPerDestination: 64,
		MaxQueuedBytes:          1 << 20,
		MaxRoutes:               1 << 16,
		MaxSeenRREQs:            1 << 16,
		ClaimCache:              1024,
		MaxPendingRERR:          4096,
		DuplicateRREQLimit:      2,
		CostImprovement:         10,
		HopCost:                 time.Millisecond,
		AvoidPenalty:            10 * time.Second,
		SeqWindow:               1 << 20,
		MaxDiscoveries:          64,
		MaxWaitingDiscoveries:   1024,
		LateAllowance:           0,
	}
	c.derive()
	return c
}

// DefaultWANConfig returns the profile for nodes across the internet:
// LAN timers with slower hops (50 ms), longer-lived routes, and a dead
// neighbor noticed within 1 s (HELLO every 250 ms, 4 lost).
func DefaultWANConfig() Config {
	c := DefaultLANConfig()
	c.AllowedHelloLoss = 4
	c.NodeTraversalTime = 50 * time.Millisecond
	c.ActiveRouteTimeout = 6 * time.Second
	c.HopCost = 5 * time.Millisecond
	c.derive()
	return c
}

// DefaultLocalConfig returns the profile for nodes on one host (devnet,
// tests over loopback): LAN limits with fast hops (5 ms) and a dead
// neighbor noticed within 300 ms (HELLO every 100 ms, 3 lost).
func DefaultLocalConfig() Config {
	c := DefaultLANConfig()
	c.HelloInterval = 100 * time.Millisecond
	c.NodeTraversalTime = 5 * time.Millisecond
	c.LateAllowance = 2
	c.derive()
	return c
}

// derive sets the timers the RFC defines in terms of others.
func (c *Config) derive() {
	c.MaxHelloInterval = 4 * c.HelloInterval
	c.MyRouteTimeout = 2 * c.ActiveRouteTimeout
	c.DeletePeriod = 5 * max(c.ActiveRouteTimeout, c.HelloInterval)
	c.PathDiscoveryTime = 2 * c.NetTraversalTime()
}

// NetTraversalTime is the time a network-wide RREQ waits for its reply
// before the first retry (NET_TRAVERSAL_TIME):
// 2 × NodeTraversalTime × NetDiameter.
func (c *Config) NetTraversalTime() time.Duration {
	return 2 * c.NodeTraversalTime * time.Duration(c.NetDiameter)
}

// ringTraversalTime is how long an RREQ with the given TTL waits for a
// reply (RING_TRAVERSAL_TIME).
func (c *Config) ringTraversalTime(ttl int) time.Duration {
	return 2 * c.NodeTraversalTime * time.Duration(ttl+c.TimeoutBuffer)
}

// DetectionTime is the longest a dead neighbor that sent HELLOs every
// HelloInterval, on time, goes unnoticed: AllowedHelloLoss ×
// HelloInterval, plus however late the caller calls Tick. One whose
// HELLOs came late goes unnoticed for up to twice that lateness more
// (docs/protocol.md §8.4).
func (c *Config) DetectionTime() time.Duration {
	return time.Duration(c.AllowedHelloLoss) * c.HelloInterval
}

func (c *Config) validate() error {
	bad := func(field string, v any, rule string) error {
		return fmt.Errorf("%w: %s = %v: %s", ErrInvalidConfig, field, v, rule)
	}
	const maxWire = time.Duration(1<<32-1) * time.Millisecond
	switch {
	case c.HelloInterval < time.Millisecond || c.HelloInterval > 65535*time.Millisecond ||
		c.HelloInterval%time.Millisecond != 0:
		return bad("HelloInterval", c.HelloInterval, "must be whole milliseconds from 1ms to 65535ms")
	case c.AllowedHelloLoss < 1:
		return bad("AllowedHelloLoss", c.AllowedHelloLoss, "must be at least 1")
	case c.NodeTraversalTime <= 0:
		return bad("NodeTraversalTime", c.NodeTraversalTime, "must be positive")
	case c.NetDiameter < 1 || c.NetDiameter > 255:
		return bad("NetDiameter", c.NetDiameter, "must be 1 to 255 hops")
	case c.ActiveRouteTimeout <= 0:
		return bad("ActiveRouteTimeout", c.ActiveRouteTimeout, "must be positive")
	case c.MyRouteTimeout < time.Millisecond || c.MyRouteTimeout > maxWire ||
		c.MyRouteTimeout%time.Millisecond != 0:
		return bad("MyRouteTimeout", c.MyRouteTimeout, "must be whole milliseconds from 1ms to 2^32-1 ms")
	case c.MyRouteTimeout < c.ActiveRouteTimeout:
		return bad("MyRouteTimeout", c.MyRouteTimeout, "must be at least ActiveRouteTimeout")
	case c.DeletePeriod < 2*c.MyRouteTimeout:
		return bad("DeletePeriod", c.DeletePeriod, "must be at least 2 × MyRouteTimeout")
	case c.PathDiscoveryTime <= 0:
		return bad("PathDiscoveryTime", c.PathDiscoveryTime, "must be positive")
	case c.RREQRetries < 0:
		return bad("RREQRetries", c.RREQRetries, "must not be negative")
	case c.TTLStart < 1 || c.TTLStart > c.NetDiameter:
		return bad("TTLStart", c.TTLStart, "must be 1 to NetDiameter")
	case c.TTLIncrement < 1:
		return bad("TTLIncrement", c.TTLIncrement, "must be at least 1")
	case c.TTLThreshold < c.TTLStart || c.TTLThreshold > c.NetDiameter:
		return bad("TTLThreshold", c.TTLThreshold, "must be TTLStart to NetDiameter")
	case c.TimeoutBuffer < 0:
		return bad("TimeoutBuffer", c.TimeoutBuffer, "must not be negative")
	case c.MaxRepairTTL < 0 || c.MaxRepairTTL > c.NetDiameter:
		return bad("MaxRepairTTL", c.MaxRepairTTL, "must be 0 to NetDiameter")
	case c.LocalAddTTL < 0:
		return bad("LocalAddTTL", c.LocalAddTTL, "must not be negative")
	case c.DataTTL < c.NetDiameter || c.DataTTL > 255:
		return bad("DataTTL", c.DataTTL, "must be NetDiameter to 255")
	case c.RREQRateLimit < 1 || c.RREQBurst < 1:
		return bad("RREQRateLimit/RREQBurst", [2]int{c.RREQRateLimit, c.RREQBurst}, "must be at least 1")
	case c.ForwardRateLimit < 0 || c.ForwardBurst < 0 || (c.ForwardRateLimit > 0 && c.ForwardBurst < 1):
		return bad("ForwardRateLimit/ForwardBurst", [2]int{c.ForwardRateLimit, c.ForwardBurst}, "rate 0 (no limit) or rate and burst at least 1")
	case c.RERRRateLimit < 1 || c.RERRBurst < 1:
		return bad("RERRRateLimit/RERRBurst", [2]int{c.RERRRateLimit, c.RERRBurst}, "must be at least 1")
	case c.MaxQueuedPerDestination < 1:
		return bad("MaxQueuedPerDestination", c.MaxQueuedPerDestination, "must be at least 1")
	case c.MaxQueuedBytes < protocols.MaxPayloadSize:
		return bad("MaxQueuedBytes", c.MaxQueuedBytes, "must hold at least one maximal payload")
	case c.MaxRoutes < 1:
		return bad("MaxRoutes", c.MaxRoutes, "must be at least 1")
	case c.MaxSeenRREQs < 1:
		return bad("MaxSeenRREQs", c.MaxSeenRREQs, "must be at least 1")
	case c.ClaimCache < 0 || c.ClaimCache > 1<<20:
		return bad("ClaimCache", c.ClaimCache, "must be 0 to 2^20")
	case c.MaxPendingRERR < 1:
		return bad("MaxPendingRERR", c.MaxPendingRERR, "must be at least 1")
	case c.DuplicateRREQLimit < 0:
		return bad("DuplicateRREQLimit", c.DuplicateRREQLimit, "must not be negative")
	case c.CostImprovement < 0 || c.CostImprovement > 99:
		return bad("CostImprovement", c.CostImprovement, "must be 0 to 99 percent")
	case c.HopCost < time.Microsecond:
		return bad("HopCost", c.HopCost, "must be at least 1µs")
	case c.AvoidPenalty < 0:
		return bad("AvoidPenalty", c.AvoidPenalty, "must not be negative")
	case c.MaxHelloInterval < c.HelloInterval || c.MaxHelloInterval > 65535*time.Millisecond:
		return bad("MaxHelloInterval", c.MaxHelloInterval, "must be HelloInterval to 65535ms")
	case c.LateAllowance < 0 || c.LateAllowance > 16:
		return bad("LateAllowance", c.LateAllowance, "must be 0 to 16")
	case c.SeqWindow < 1 || c.SeqWindow > 1<<30:
		return bad("SeqWindow", c.SeqWindow, "must be 1 to 2^30")
	case c.MaxDiscoveries < 1:
		return bad("MaxDiscoveries", c.MaxDiscoveries, "must be at least 1")
	case c.MaxWaitingDiscoveries < 0:
		return bad("MaxWaitingDiscoveries", c.MaxWaitingDiscoveries, "must not be negative")
	case c.FrameChunk != 0 && (c.FrameChunk < 64 || c.FrameChunk > 1<<20):
		return bad("FrameChunk", c.FrameChunk, "must be 0 or 64 to 1 MiB")
	}
	return nil
}
