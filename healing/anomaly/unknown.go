package anomaly

// A node without a collector (telemetry source none) reports no host
// figures: Features gives them as 0, which is not what they are but that
// they are unknown. Models of CurrentSchema read them, and the byte and
// retransmit figures of the links such a node reports, as unknown:
// normalised to 0, their training median, which is also what training's
// input dropout teaches every model to make of a missing value. A node
// that runs several nodes per host (a devnet) has them run without a
// collector for this reason: a shared collector's figures are the host's,
// no one node's.

// hostNodeFeatures are the node features of CurrentSchema that a node's
// collector measures.
var hostNodeFeatures = []int{NodeCPU, NodeLoad1, NodeMemory, NodeTCPLatency, NodeTCPLoss,
	NodeSendRate, NodeReceiveRate, NodeRetransmitRate, NodeKernelDropRate}

// hostLinkFeatures are the link features of CurrentSchema that the
// reporting node's collector measures.
var hostLinkFeatures = []int{LinkSendRate, LinkReceiveRate, LinkRetransmitRate}

// readsUnknown reports whether the model takes a node's collector flag
// to mean its host figures are unknown: models of CurrentSchema do.
func (m *model) readsUnknown() bool { return m.schema == currentSchemaHash }

// unknownHost reports whether x, a node's raw features of CurrentSchema,
// come from a node without a collector.
func unknownHost(x []float64) bool { return x[NodeCollector] == 0 }

// normNode normalises a node's raw features x into dst.
func (m *model) normNode(dst, x []float64) {
	normalise(dst, x, m.norm.NodeCenter, m.norm.NodeScale)
	if m.readsUnknown() && unknownHost(x) {
		for _, f := range hostNodeFeatures {
			dst[f] = 0
		}
	}
}

// normLink normalises the raw features of link l of s into dst.
func (m *model) normLink(dst []float64, s *Sample, l int) {
	normalise(dst, s.LinkFeatures(l), m.norm.LinkCenter, m.norm.LinkScale)
	if m.readsUnknown() && unknownHost(s.Node(int(s.Links[l].From))) {
		for _, f := range hostLinkFeatures {
			dst[f] = 0
		}
	}
}

// normFlat normalises a flat input (Sample.FlatInput) in place. A
// collector-less node's own host figures and the means of the links it
// reports read as unknown; the means of the links its neighbours report
// mix reporters and are taken as they are.
func (m *model) normFlat(x []float64) {
	unknown := m.readsUnknown() && unknownHost(x)
	m.norm.Flat(x)
	if !unknown {
		return
	}
	fn, fe := m.norm.dims()
	for _, f := range hostNodeFeatures {
		x[f] = 0
	}
	for _, f := range hostLinkFeatures {
		x[fn+fe+f] = 0
	}
}
