package node

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// govCollector exports the governance log's size and the replication
// driver's counters, read at each scrape.
type govCollector struct{ g *Governance }

var _ prometheus.Collector = govCollector{}

var (
	govRecordsDesc   = prometheus.NewDesc("x0tta6bl4_gov_records", "Governance records held, every author's.", nil, nil)
	govProposalsDesc = prometheus.NewDesc("x0tta6bl4_gov_proposals", "Governance proposals held, by state.", []string{"state"}, nil)
	govMissingDesc   = prometheus.NewDesc("x0tta6bl4_gov_missing_records", "Governance records known of but not held yet.", nil, nil)
	govEvidenceDesc  = prometheus.NewDesc("x0tta6bl4_gov_evidence", "Proofs of equivocation held.", nil, nil)
	govSyncedDesc    = prometheus.NewDesc("x0tta6bl4_gov_synced", "1 once the first governance sync round completed.", nil, nil)
	govMessagesDesc  = prometheus.NewDesc("x0tta6bl4_gov_messages_total", "Governance gossip messages validated, by verdict.", []string{"verdict"}, nil)
	govFetchesDesc   = prometheus.NewDesc("x0tta6bl4_gov_dht_fetches_total", "Governance values got from the DHT, by kind (head, record, error).", []string{"kind"}, nil)
	govPutsDesc      = prometheus.NewDesc("x0tta6bl4_gov_dht_puts_total", "Governance values put in the DHT, by result.", []string{"result"}, nil)
	govRoundsDesc    = prometheus.NewDesc("x0tta6bl4_gov_sync_rounds_total", "Governance sync rounds completed.", nil, nil)
	govPublishedDesc = prometheus.NewDesc("x0tta6bl4_gov_announcements_total", "Own governance announcements published.", nil, nil)
	govDecisionsDesc = prometheus.NewDesc("x0tta6bl4_gov_decisions_total", "Governance proposals decided since start.", nil, nil)
	govDamagedDesc   = prometheus.NewDesc("x0tta6bl4_gov_damaged", "Governance values found damaged in the datastore at start and set aside, by kind (record, decision).", []string{"kind"}, nil)
	govWritableDesc  = prometheus.NewDesc("x0tta6bl4_gov_writable", "1 when the node may propose and vote; 0 while it waits for its first sync after an empty or damaged store.", nil, nil)
	govMembersDesc   = prometheus.NewDesc("x0tta6bl4_gov_members", "Governance members in force (listed or admitted peers), and quarantined peers, by kind (member, quarantined).", []string{"kind"}, nil)
)

// Describe implements prometheus.Collector.
func (c govCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{govRecordsDesc, govProposalsDesc, govMissingDesc, govEvidenceDesc, govSyncedDesc,
		govMessagesDesc, govFetchesDesc, govPutsDesc, govRoundsDesc, govPublishedDesc, govDecisionsDesc,
		govDamagedDesc, govWritableDesc, govMembersDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c govCollector) Collect(ch chan<- prometheus.Metric) {
	g := c.g
	st := g.driver.Stats()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	ls := g.log.Status()
	gauge(govRecordsDesc, float64(ls.Records))
	states := map[string]int{"open": 0, "closing": 0, "passed": 0, "rejected": 0}
	for _, p := range g.log.Proposals(time.Now()) {
		states[p.State.String()]++
	}
	for s, v := range states {
		gauge(govProposalsDesc, float64(v), s)
	}
	gauge(govMissingDesc, float64(ls.Missing))
	gauge(govEvidenceDesc, float64(ls.Evidence))
	gauge(govDamagedDesc, float64(ls.DamagedRecords), "record")
	gauge(govDamagedDesc, float64(ls.DamagedDecisions), "decision")
	writable := 0.0
	if ls.Writable {
		writable = 1
	}
	gauge(govWritableDesc, writable)
	m := g.log.Membership()
	gauge(govMembersDesc, float64(len(m.Members())), "member")
	gauge(govMembersDesc, float64(len(m.Quarantine())), "quarantined")
	synced := 0.0
	if st.Synced {
		synced = 1
	}
	gauge(govSyncedDesc, synced)
	counter(govMessagesDesc, st.Accepted, "accept")
	counter(govMessagesDesc, st.Ignored, "ignore")
	counter(govMessagesDesc, st.Rejected, "reject")
	counter(govFetchesDesc, st.HeadsFetched, "head")
	counter(govFetchesDesc, st.RecordsFetched, "record")
	counter(govFetchesDesc, st.FetchErrors, "error")
	counter(govPutsDesc, st.Puts, "ok")
	counter(govPutsDesc, st.PutErrors, "error")
	counter(govRoundsDesc, st.SyncRounds)
	counter(govPublishedDesc, st.Published)
	counter(govDecisionsDesc, st.Decisions)
}
