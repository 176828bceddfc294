package node

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the node's own Prometheus series, beside libp2p's.
type metrics struct {
	dials       *prometheus.CounterVec // bootstrap, member and discovery dials by kind and result
	discovered  prometheus.Counter
	advertised  prometheus.Counter
	apiRequests *prometheus.CounterVec
	apiRefused  *prometheus.CounterVec
}

func newMetrics(n *Node) (*metrics, error) {
	m := &metrics{
		dials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "x0tta6bl4_node_dials_total",
			Help: "Dials made by the node's connector, by kind (bootstrap, member, discovery) and result (ok, error).",
		}, []string{"kind", "result"}),
		discovered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "x0tta6bl4_node_discovered_peers_total",
			Help: "Peers found through DHT rendezvous (repeats counted).",
		}),
		advertised: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "x0tta6bl4_node_advertisements_total",
			Help: "Successful rendezvous advertisements in the DHT.",
		}),
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "x0tta6bl4_api_requests_total",
			Help: "Local API requests, by route pattern.",
		}, []string{"route"}),
		apiRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "x0tta6bl4_api_refused_total",
			Help: "Local API requests the guard refused, by status (401 no token, 403 foreign Host or cross-origin, 415 not JSON).",
		}, []string{"status"}),
	}
	cs := []prometheus.Collector{
		m.dials, m.discovered, m.advertised, m.apiRequests, m.apiRefused, n.adm.refusals, n.ids.lookups,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "x0tta6bl4_node_peers",
			Help: "Connected peers.",
		}, func() float64 { return float64(len(n.host.Network().Peers())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "x0tta6bl4_node_dht_peers",
			Help: "Peers in the DHT routing table.",
		}, func() float64 { return float64(n.dht.RoutingTable().Size()) }),
	}
	for _, c := range cs {
		if err := n.reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}
