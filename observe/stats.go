package observe

import (
	"math"
	"time"
)

// Stats are a watch's counters, in every snapshot.
type Stats struct {
	// Messages counts the messages taken, by topic; Ignored and Rejected
	// those the topic's rules refused (Check), Duplicates those GossipSub
	// dropped as already seen (reported to Duplicate).
	Messages   map[string]uint64 `json:"messages"`
	Ignored    map[string]uint64 `json:"ignored"`
	Rejected   map[string]uint64 `json:"rejected"`
	Duplicates map[string]uint64 `json:"duplicates"`
	NodesUp    int               `json:"nodes_up"`
	NodesDown  int               `json:"nodes_down"`
	NodesSeen  int               `json:"nodes_seen"`
	Suspects   int               `json:"suspects"`
	// TelemetryP50MS and TelemetryP99MS are quantiles of the telemetry
	// messages' latency (made → taken), within 2%.
	TelemetryP50MS float64 `json:"telemetry_p50_ms"`
	TelemetryP99MS float64 `json:"telemetry_p99_ms"`
}

// Summary is the observer's last NDJSON line.
type Summary struct {
	Type      string    `json:"type"` // "summary"
	Time      time.Time `json:"time"`
	DurationS float64   `json:"duration_s"`
	// NodesSeen counts the distinct nodes that were in the view at some
	// time; NodesUp those in it at the end.
	NodesSeen int `json:"nodes_seen"`
	NodesUp   int `json:"nodes_up"`
	// Topics are the topics watched.
	Topics []string `json:"topics"`
	// Messages counts the messages taken on every topic, MessagesByTopic
	// by topic.
	Messages        uint64            `json:"messages"`
	MessagesByTopic map[string]uint64 `json:"messages_by_topic"`
	TelemetryP50MS  float64           `json:"telemetry_p50_ms"`
	TelemetryP99MS  float64           `json:"telemetry_p99_ms"`
	// Duplicates counts the messages GossipSub received again and dropped.
	Duplicates uint64 `json:"duplicates"`
	Rejected   uint64 `json:"rejected"`
	Ignored    uint64 `json:"ignored"`
	Proposals  int    `json:"proposals"`
	Suspects   int    `json:"suspects"`
}

// latencyHistogram counts durations in buckets whose bounds grow by 2%,
// from 1 µs to about three hours (negative durations, a clock behind the
// sender's, count as zero), so that quantiles come out within 2% in a
// fixed 9 KiB whatever the number of samples.
type latencyHistogram struct {
	counts [latencyBuckets]uint64
	total  uint64
}

const (
	latencyGrowth  = 1.02
	latencyBuckets = 1164 // latencyGrowth^1163 µs ≈ 3 h
)

var logLatencyGrowth = math.Log(latencyGrowth)

func (h *latencyHistogram) add(d time.Duration) {
	us := max(0, float64(d)/float64(time.Microsecond))
	i := 0
	if us >= 1 {
		i = min(latencyBuckets-1, 1+int(math.Log(us)/logLatencyGrowth))
	}
	h.counts[i]++
	h.total++
}

// quantile returns the q-quantile in milliseconds (0 without samples):
// the geometric middle of the bucket that holds it.
func (h *latencyHistogram) quantile(q float64) float64 {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	rank = max(1, min(rank, h.total))
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen < rank {
			continue
		}
		if i == 0 {
			return 0
		}
		lo := math.Pow(latencyGrowth, float64(i-1))
		return lo * math.Sqrt(latencyGrowth) / 1000
	}
	return 0
}

func sum(m map[string]uint64) uint64 {
	var s uint64
	for _, v := range m {
		s += v
	}
	return s
}
