package lab

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/lab/scenario"
	"github.com/x0tta6bl4/x0tta6bl4/twin"
)

// ErrEnvironment is returned when the machine cannot host the lab: not
// root, or iproute2 and iptables missing. Tests skip on it.
var ErrEnvironment = errors.New("lab: environment")

// ErrConfig wraps every invalid Config.
var ErrConfig = errors.New("lab: invalid config")

// Config is one lab run.
type Config struct {
	// Binary is the x0tta6bl4 executable each daemon runs.
	Binary string
	// Topology says which nodes are linked and how each link is shaped.
	Topology scenario.TopologySpec
	// Faults happen at their times from the start of traffic.
	Faults []scenario.Fault
	// Duration is how long traffic runs. Default 30 s.
	Duration time.Duration
	// Flows is the number of probe flows (default: one per node, at
	// least 30 where there are that many pairs: a notified failure costs
	// a flow a packet only if one was in flight through the failed node,
	// so it takes many flows for the worst one to mean something),
	// CrossingFlows how many of them cross a failing node (default a
	// fifth, at least one per failing node; negative for none), FlowRate
	// each flow's probes per second (default 10).
	Flows         int
	CrossingFlows int
	FlowRate      float64
	// PingTimeout is how long a probe may take before it counts as lost.
	// Default 3 s: a probe that an engine held while it repaired a route
	// arrives late, not lost, as in the twin.
	PingTimeout time.Duration
	// Routing is the daemons' [mesh] routing profile: local (the
	// default: HELLO every 100 ms, a neighbour dead after 3 lost), lan or
	// wan.
	Routing string
	// DaemonNice is the daemons' nice value; nil means -10: a node alone
	// on its host does not wait behind a busy machine's other work, and
	// its HELLO timers (100 ms under the local profile) must not either.
	DaemonNice *int
	// DaemonLogLevel is the daemons' log_level (their logs are
	// daemon.log in each repo; see Keep). Default warn.
	DaemonLogLevel string
	// Twin runs the same topology, link profile (from the gate's
	// measurements), faults and flow counts in the digital twin too.
	Twin bool
	// Seed draws the random topology, the flows and the twin. Default 1.
	Seed uint64
	// TempDir holds the run's directory. Default os.TempDir().
	TempDir string
	// Keep leaves the run's directory (repos, daemon logs, and the
	// twin's inputs in twin-inputs.json for Replay) in place, for a look
	// after the run; the next run removes it.
	Keep bool
	// GateAdvisory runs on after a failed shaping gate: the run still
	// fails (its report has the gate's failures and OK false), and its
	// figures are for a look at what a loaded host does, not results.
	GateAdvisory bool
	// ReadyTimeout bounds the wait for every node's mesh neighbours and
	// every flow's first answer. Default 90 s.
	ReadyTimeout time.Duration
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
}

func (c Config) withDefaults(nodes int) Config {
	if c.Duration == 0 {
		c.Duration = 30 * time.Second
	}
	if c.Flows == 0 {
		c.Flows = scenario.DefaultFlows(nodes)
	}
	if c.CrossingFlows == 0 {
		c.CrossingFlows = scenario.DefaultCrossing(c.Flows, c.Faults)
	}
	c.CrossingFlows = min(max(c.CrossingFlows, 0), c.Flows)
	if c.FlowRate == 0 {
		c.FlowRate = 10
	}
	if c.PingTimeout == 0 {
		c.PingTimeout = 3 * time.Second
	}
	if c.Routing == "" {
		c.Routing = "local"
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.DaemonLogLevel == "" {
		c.DaemonLogLevel = "warn"
	}
	if c.DaemonNice == nil {
		nice := -10
		c.DaemonNice = &nice
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = 90 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Binary == "":
		return fmt.Errorf("%w: no daemon binary", ErrConfig)
	case c.Duration < time.Second:
		return fmt.Errorf("%w: duration %v under 1s", ErrConfig, c.Duration)
	case c.Flows < 0:
		return fmt.Errorf("%w: negative flow count", ErrConfig)
	case c.FlowRate <= 0 || c.FlowRate > 1000:
		return fmt.Errorf("%w: flow rate %v not in (0, 1000]", ErrConfig, c.FlowRate)
	case c.PingTimeout < 10*time.Millisecond || c.PingTimeout > time.Minute:
		return fmt.Errorf("%w: ping timeout %v not in 10ms..1m", ErrConfig, c.PingTimeout)
	case *c.DaemonNice < -20 || *c.DaemonNice > 19:
		return fmt.Errorf("%w: nice %d not in -20..19", ErrConfig, *c.DaemonNice)
	case c.Routing != "local" && c.Routing != "lan" && c.Routing != "wan":
		return fmt.Errorf("%w: routing profile %q (want local, lan or wan)", ErrConfig, c.Routing)
	}
	for _, f := range c.Faults {
		if f.At >= c.Duration {
			return fmt.Errorf("%w: fault %s after the traffic ends (%v)", ErrConfig, f, c.Duration)
		}
	}
	return nil
}

// Report is what a run measured; with --json the command prints it.
type Report struct {
	Topology string `json:"topology"`
	Nodes    int    `json:"nodes"`
	Links    int    `json:"links"`
	// Processes is how many daemon processes ran at the start of traffic;
	// Namespaces how many distinct network namespaces of the run they ran
	// in (one each).
	Processes  int     `json:"processes"`
	Namespaces int     `json:"namespaces"`
	Shaping    Shaping `json:"shaping"`
	// SetupSeconds is from the first daemon's start until every node had
	// its mesh neighbours and every flow its first answer.
	SetupSeconds float64 `json:"setup_s"`
	// DetectSeconds is from the first failing fault until a neighbour's
	// routing table first showed a failed node (or a cut link) as lost
	// (-1 when none did, or there was no such fault).
	DetectSeconds float64 `json:"detect_s"`
	// DetectP50Seconds and DetectMaxSeconds are the median and the last
	// of the times at which each surviving neighbour of that fault (each
	// end of a cut link) showed it, DetectWatched how many did (within
	// 10 s). After a kill this is the time the kernel takes to end the
	// process and its connections' resets take to reach the neighbours'
	// mesh drivers; the twin's links get it (see twinProfile).
	DetectP50Seconds float64 `json:"detect_p50_s"`
	DetectMaxSeconds float64 `json:"detect_max_s"`
	DetectWatched    int     `json:"detect_watched"`
	// HopMs is the time a probe took per link it crossed, delay line and
	// forwarding daemon together, before the first fault: the slope of
	// the probes' round trips over the links they crossed out and back
	// (the median of the slopes between link counts; 0 when the probes
	// crossed too few different numbers of links; see hopTime).
	HopMs float64 `json:"hop_ms"`
	// KillExitMsMax is the longest any daemon took from a kill fault's
	// SIGKILL until it was reaped.
	KillExitMsMax float64 `json:"kill_exit_ms_max"`
	// MTTR per affected flow, pooled over the fault windows (see
	// scenario.Measure), and the delivery ratio of servable probes.
	MTTRP50       float64 `json:"mttr_p50_s"`
	MTTRP99       float64 `json:"mttr_p99_s"`
	MTTRMax       float64 `json:"mttr_max_s"`
	DeliveryRatio float64 `json:"delivery_ratio"`
	// Flows, FlowsCrossing (every fewest-hop path crosses a failing
	// node) and FlowsAffected (lost a probe after a fault).
	Flows         int `json:"flows"`
	FlowsCrossing int `json:"flows_crossing"`
	FlowsAffected int `json:"flows_affected"`
	ProbesSent    int `json:"probes_sent"`
	// LatencyP50 and P99 are probes' one-way times (half the round
	// trip), in milliseconds.
	LatencyMsP50 float64 `json:"latency_ms_p50"`
	LatencyMsP99 float64 `json:"latency_ms_p99"`
	// ControlOverhead is mesh routing frames sent (HELLO, RREQ, RREP,
	// RERR; every hop) per probe packet (a ping and its pong are two).
	ControlOverhead float64 `json:"control_overhead"`
	// RSSMiBMax is the largest resident set of any daemon; CPUPercent
	// the mean and largest share of one CPU a daemon used while traffic
	// ran.
	RSSMiBMax        float64 `json:"rss_mib_max"`
	CPUPercentMean   float64 `json:"cpu_percent_mean"`
	CPUPercentMax    float64 `json:"cpu_percent_max"`
	LabCPUPercent    float64 `json:"lab_cpu_percent"`
	DelayLinePackets uint64  `json:"delay_line_packets"`
	// DelayLineDrops counts packets the kernel dropped on the delay
	// lines' queues (over the bound, or not handed to the lab), and
	// DelayLineErrors failed reads and verdicts: both 0 in a sound run.
	DelayLineDrops  int64  `json:"delay_line_drops"`
	DelayLineErrors uint64 `json:"delay_line_errors"`
	// DelayLineLateMsMax is the most any packet was released after its
	// time, gate included: a stalled lab process shows here.
	DelayLineLateMsMax float64 `json:"delay_line_late_ms_max"`
	// HelloLoss counts the neighbours the daemons declared dead for
	// HELLO loss during traffic (x0tta6bl4_mesh_hello_loss_total, summed
	// over the daemons, the killed ones up to their last sample).
	// LiveHelloLossMin is how many of those at least were of live
	// neighbours, when every fault is a kill (or there is none):
	// HelloLoss less the links watched for the kills' detection, each
	// of which a survivor declares dead once, by HELLO loss or by its
	// transport; -1 for other faults (a stopped daemon's neighbours may
	// declare it dead again and again). A daemon declares a live
	// neighbour dead when it heard none of its HELLOs for three
	// intervals: its owner loop, the neighbour's or the link stalled that
	// long, and the outage that follows is neither the fault's nor in the
	// twin.
	HelloLoss        int `json:"hello_loss"`
	LiveHelloLossMin int `json:"live_hello_loss_min"`
	// OwnerStalls are the stretches of traffic in which a daemon's mesh
	// owner served nothing for a HELLO interval or more, by its own
	// warnings (at most one a second each; see OwnerStall). The twin
	// replays them.
	OwnerStalls []OwnerStall `json:"owner_stalls"`
	// DelayLineStallsPerSecond counts, by second of traffic (as
	// LostPerSecond), the releases of a delay line that came over 100 ms
	// (the local profile's HELLO interval) late: a host too busy to carry
	// the links. Any makes the run fail, since its outages may be the
	// host's rather than the mesh's.
	DelayLineStallsPerSecond []int `json:"delay_line_stalls_per_s"`
	// Windows has the figures after each fault time; LostPerSecond the
	// servable probes lost by second of traffic.
	Windows       []scenario.Window `json:"windows"`
	LostPerSecond []int             `json:"lost_per_s"`
	// ProbeErrors counts the lost probes (setup included) by the error
	// the source daemon's API gave.
	ProbeErrors map[string]int `json:"probe_errors"`
	// Twin is the same run replayed in the digital twin (with --twin),
	// and TwinMTTRRatio the twin's MTTR over the lab's for the same
	// flows after the same faults (Twin.PairedRatio: the sum of the
	// twin's per-flow MTTRs over the lab's, for the flows the lab
	// measured that lost a probe in a replay too), 0 when no flow
	// paired.
	Twin          *TwinReport `json:"twin,omitempty"`
	TwinMTTRRatio float64     `json:"twin_mttr_ratio"`
	DurationS     float64     `json:"duration_s"`
	OK            bool        `json:"ok"`
	Failures      []string    `json:"failures"`
	// Cleaned lists leftovers of earlier runs that this run removed.
	Cleaned []string `json:"cleaned,omitempty"`
}

// TwinReport is the twin's side of the comparison: the lab's run
// replayed Seeds times (the same topology, link profile from the gate,
// faults at the times they took effect, and flows, each probing on the
// lab's schedule, as pings), each replay measured as the lab's run is.
type TwinReport struct {
	// MTTRSeconds, MTTRP99Seconds and MTTRMaxSeconds are the median,
	// 99th percentile and largest of the twin's MTTR per affected flow,
	// pooled over the replays: FlowSamples flow MTTRs in all.
	MTTRSeconds    float64 `json:"mttr_s"`
	MTTRP99Seconds float64 `json:"mttr_p99_s"`
	MTTRMaxSeconds float64 `json:"mttr_max_s"`
	FlowSamples    int     `json:"flow_samples"`
	Seeds          int     `json:"seeds"`
	// LabCrossings are the directions of the lab's flows (a ping out,
	// its answer back) whose routes crossed the nodes of the first kill
	// or stop just before it, from the daemons' routing tables.
	// The twin ran ReplaysTried seeds for its Seeds replays and kept
	// those whose flows crossed those nodes just as the lab's did:
	// RoutesMatched of them did, and the rest, when fewer did, differ
	// least (see routes.go for why).
	LabCrossings  []Crossing `json:"lab_crossings"`
	ReplaysTried  int        `json:"replays_tried"`
	RoutesMatched int        `json:"routes_matched"`
	// Steered is true when the replays started the fault from the
	// lab's routes: until it, each replay's network dropped the route
	// requests and replies that would have taught its engines others
	// than the daemons held (routeSteer), SteeredFrames of them in the
	// median replay. UnsteeredRatio and UnsteeredMatched are PairedRatio and
	// RoutesMatched of replays run and chosen as before (by their
	// routes, not steered), from the same run; both 0 when not
	// steered.
	Steered          bool    `json:"steered"`
	SteeredFrames    float64 `json:"steered_frames"`
	UnsteeredRatio   float64 `json:"unsteered_ratio"`
	UnsteeredMatched int     `json:"unsteered_routes_matched"`
	// Stalls is how many of the lab's OwnerStalls the replays carried
	// (as twin Stall faults of their nodes), StallMsMax the longest.
	// UnstalledRatio is PairedRatio of replays without them, run and
	// chosen otherwise alike, from the same run (the figure before the
	// twin replayed the daemons' stalls); equal to PairedRatio when the
	// lab had none.
	Stalls         int     `json:"stalls"`
	StallMsMax     float64 `json:"stall_ms_max"`
	UnstalledRatio float64 `json:"unstalled_ratio"`
	// AnyRoutesRatio is PairedRatio over the first Seeds replays,
	// whatever routes their flows took: the figure before the replays
	// were chosen by their routes.
	AnyRoutesRatio float64 `json:"any_routes_ratio"`
	// Paired has each flow the lab measured an MTTR for beside the
	// twin's MTTR of the same flow after the same fault; FlowsPaired
	// of them lost a probe in a replay too, FlowsLabOnly in none.
	// FlowsTwinOnly counts flows that lost a probe in at least half the
	// replays but not in the lab. PairedLabSeconds and PairedTwinSeconds
	// are the sums over the paired flows, PairedRatio the second over
	// the first (the report's twin_mttr_ratio).
	Paired            []PairedFlow `json:"paired"`
	FlowsPaired       int          `json:"flows_paired"`
	FlowsLabOnly      int          `json:"flows_lab_only"`
	FlowsTwinOnly     int          `json:"flows_twin_only"`
	PairedLabSeconds  float64      `json:"paired_lab_s"`
	PairedTwinSeconds float64      `json:"paired_twin_s"`
	PairedRatio       float64      `json:"paired_ratio"`
	// DeliveryRatio, DetectionSeconds and FlowsAffected are the
	// replays' medians (delivery as the lab counts it); Recovered is
	// true when every replay's flows delivered again.
	DeliveryRatio    float64 `json:"delivery_ratio"`
	DetectionSeconds float64 `json:"detect_s"`
	FlowsAffected    int     `json:"flows_affected"`
	Recovered        bool    `json:"recovered"`
	// LatencyMs and JitterMs are the link profile given to the twin,
	// from the gate: the lowest delays (p1) plus ForwardMs, and a
	// uniform jitter whose median lands on the measured p50 (plus
	// ForwardMs).
	LatencyMs float64 `json:"latency_ms"`
	JitterMs  float64 `json:"jitter_ms"`
	// ForwardMs is what the lab's daemons add per link beyond its delay
	// (hop_ms less the gate's p50), added to the twin's LatencyMs.
	ForwardMs float64 `json:"forward_ms"`
	// NotifyMs is how much later than one latency the twin's drivers
	// learn of a kill (from the lab's detect_p50_s) on a link whose own
	// detection the lab did not measure; NotifyLinks links got their
	// own (twinNotify), the largest NotifyMsMax.
	NotifyMs    float64 `json:"notify_ms"`
	NotifyLinks int     `json:"notify_links"`
	NotifyMsMax float64 `json:"notify_ms_max"`
	Loss        float64 `json:"loss"`
	Detection   string  `json:"detection"`
	// Skipped lists faults the twin cannot model.
	Skipped []string `json:"skipped,omitempty"`
}

// twinProfile is the link profile the twin gets from the gate: latency
// the measured p1, jitter twice (p50 − p1), so that the twin's uniform
// delays start where the delay line's do and have its median. To the
// latency it adds forward, what a daemon takes to pass a frame on beyond
// its link's delay (the lab's hop_ms less the gate's p50): the twin's
// drivers forward at once, and a repair whose RREQs and RREP cross a
// dozen links runs out of its timeout in the lab and not in a twin
// without it. Loss is 0: the daemons' links are TCP, which turns a lost
// packet into a retransmission, not a lost frame (see the report's
// notes). Its NotifyDelay is the median time the lab's neighbours took
// to show a killed node as lost (detect, in seconds; 0 when not
// measured) less the delay line's median: the twin's driver learns of a
// kill one link latency after it, the lab's when the killed process has
// ended and its connections' resets have reached the neighbours' mesh
// drivers, which takes tens to hundreds of milliseconds on a loaded
// host.
func twinProfile(s Shaping, detect float64, forward time.Duration) twin.LinkProfile {
	p1 := time.Duration(s.DelayMsP1 * float64(time.Millisecond))
	p50 := time.Duration(s.DelayMsP50 * float64(time.Millisecond))
	p := twin.DefaultLinkProfile()
	p.Latency = p1 + max(0, forward)
	p.Jitter = max(0, 2*(p50-p1))
	p.Loss = 0
	p.NotifyDelay = notifyDelay(detect, p50)
	return p
}

// forwardTime is what the lab's daemons add to a link's delay when they
// pass a frame on: hop, the lab's time per link crossed, less the
// gate's median delay, 0 at least.
func forwardTime(s Shaping, hop time.Duration) time.Duration {
	return max(0, hop-time.Duration(s.DelayMsP50*float64(time.Millisecond))).Round(time.Microsecond)
}

// notifyDelay is a detection time (in seconds) less one median link
// delay, 0 at least.
func notifyDelay(detect float64, p50 time.Duration) time.Duration {
	return max(0, time.Duration(detect*float64(time.Second))-p50).Round(time.Microsecond)
}

// linkDetection is when the surviving end of topology link Link showed
// the failed end as lost, in seconds after the fault.
type linkDetection struct {
	Link    int
	Seconds float64
}

// detectionSeconds returns the times of ds in order.
func detectionSeconds(ds []linkDetection) []float64 {
	out := make([]float64, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.Seconds)
	}
	slices.Sort(out)
	return out
}

// twinNotify gives each link of top (whose profiles are set) that the
// lab measured in ds its own NotifyDelay: the time its surviving end
// took to show the failed end as lost less the delay line's median. When
// six daemons are killed at once the kernel reaps them over 0.1-0.4 s
// and each neighbour learns when its peer's resets arrive, so one
// median for every link makes some of the twin's flows recover too
// early and others too late. It returns how many links it set and the
// largest delay.
func twinNotify(top *twin.Topology, s Shaping, ds []linkDetection) (n int, most time.Duration) {
	p50 := time.Duration(s.DelayMsP50 * float64(time.Millisecond))
	for _, d := range ds {
		if d.Link < 0 || d.Link >= len(top.Links) {
			continue
		}
		nd := notifyDelay(d.Seconds, p50)
		top.Links[d.Link].Profile.NotifyDelay = nd
		n++
		most = max(most, nd)
	}
	return n, most
}

// liveHelloLossMin is how many of hello HELLO-loss declarations during
// traffic were at least of live neighbours, when every fault of faults
// is a kill: each of the watched links (a survivor's end of a link to a
// killed node) is declared dead once, by HELLO loss or by its
// transport, so the rest were of live ones. -1 when another fault makes
// it unknowable.
func liveHelloLossMin(faults []scenario.Fault, hello, watched int) int {
	for _, f := range faults {
		if f.Kind != scenario.Kill {
			return -1
		}
	}
	return max(0, hello-watched)
}
