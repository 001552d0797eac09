// Package metrics exposes letterbox's figures in the Prometheus text format (at /metrics): what
// the store holds and did, the SMTP sessions and messages, the clients connected, and whatever
// other parts (relay, webhooks) report. Every family is named letterbox_*.
//
// Parts of letterbox do not import this package: they keep their own counters, and the binary
// hands readers of them to a Registry (GaugeFunc, CounterFunc, Store), which reads them at each
// scrape. Only what must be observed as it happens (ingest latency, group commit sizes, index batches) is pushed,
// through the Observe methods, which the store calls through an interface of its own.
package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/letterbox-mail/letterbox/store"
)

// Prefix starts the name of every family this package registers.
const Prefix = "letterbox_"

// Registry holds letterbox's metrics. Its methods are safe for concurrent use.
type Registry struct {
	reg     *prometheus.Registry
	ingest  prometheus.Histogram
	commits prometheus.Histogram
	index   prometheus.Histogram
}

// New returns a registry with the store's pushed figures (ingest latency, commit sizes) and the
// Go runtime's and the process's, prefixed letterbox_ (letterbox_go_goroutines, ...).
func New() *Registry {
	r := &Registry{reg: prometheus.NewRegistry()}
	r.ingest = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: Prefix + "ingest_duration_seconds",
		Help: "Time from the start of a message's storing to its commit (the SMTP 250 follows): read, parse, compress, index, group commit.",
		// 0.25 ms to 4 s: a commit costs about a millisecond on a local disk, more on a busy database.
		Buckets: prometheus.ExponentialBuckets(0.00025, 2, 15),
	})
	r.commits = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    Prefix + "store_commit_messages",
		Help:    "Messages and changes committed together in one transaction (group commit).",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
	})
	r.index = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: Prefix + "store_index_batch_seconds",
		Help: "Time the writer took to move one batch of messages into the full-text index; every write waits behind it (a few hundred messages: tens of milliseconds, more when the index merges).",
		// 1 ms to 8 s.
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	})
	r.reg.MustRegister(r.ingest, r.commits, r.index)
	wrapped := prometheus.WrapRegistererWithPrefix(Prefix, r.reg)
	wrapped.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Handler serves the metrics in the Prometheus text format (or OpenMetrics when asked); nil for a
// nil Registry (metrics off).
func (r *Registry) Handler() http.Handler {
	if r == nil {
		return nil
	}
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{EnableOpenMetrics: true, ErrorHandling: promhttp.ContinueOnError})
}

// ObserveIngest records how long one message took to store (see store.Observer).
func (r *Registry) ObserveIngest(d time.Duration) { r.ingest.Observe(d.Seconds()) }

// ObserveCommit records the size of one group commit (see store.Observer).
func (r *Registry) ObserveCommit(n int) { r.commits.Observe(float64(n)) }

// ObserveIndexBatch records how long one index batch held the writer (see store.Observer).
func (r *Registry) ObserveIndexBatch(took time.Duration) { r.index.Observe(took.Seconds()) }

var _ store.Observer = (*Registry)(nil)

// GaugeFunc registers letterbox_<name>, a gauge read from f at each scrape. labels, when given, are
// constant label pairs (name, value, name, value...).
func (r *Registry) GaugeFunc(name, help string, f func() float64, labels ...string) {
	r.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: Prefix + name, Help: help, ConstLabels: pairs(labels)}, f))
}

// CounterFunc registers letterbox_<name>, a counter read from f at each scrape (f must never
// decrease). labels are as for GaugeFunc.
func (r *Registry) CounterFunc(name, help string, f func() float64, labels ...string) {
	r.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: Prefix + name, Help: help, ConstLabels: pairs(labels)}, f))
}

func pairs(kv []string) prometheus.Labels {
	if len(kv) == 0 {
		return nil
	}
	l := prometheus.Labels{}
	for i := 0; i+1 < len(kv); i += 2 {
		l[kv[i]] = kv[i+1]
	}
	return l
}

// StoreStats is what the store collector reads; *store.Store satisfies it.
type StoreStats interface {
	Stats(ctx context.Context) (store.Stats, error)
}

// Store registers the store's figures, read with one Stats call a scrape: messages held, unread,
// their bytes, the database's size, and what this process stored, deleted and committed.
// letterbox_database_up is 0 while the database does not answer (the others are then left out).
// A nil Registry does nothing.
func (r *Registry) Store(st StoreStats) {
	if r == nil {
		return
	}
	r.reg.MustRegister(&storeCollector{st: st})
}

// storeCollector reads the store's Stats once for all its families.
type storeCollector struct{ st StoreStats }

var storeDescs = struct {
	up, messages, unread, bytes, dbBytes, stored, deleted, commits, writes *prometheus.Desc
}{
	up:       prometheus.NewDesc(Prefix+"database_up", "1 when the database answers, 0 when it does not.", nil, nil),
	messages: prometheus.NewDesc(Prefix+"messages", "Messages in the database.", nil, nil),
	unread:   prometheus.NewDesc(Prefix+"messages_unread", "Messages in the database not read yet.", nil, nil),
	bytes:    prometheus.NewDesc(Prefix+"messages_bytes", "Bytes of the raw messages in the database.", nil, nil),
	dbBytes:  prometheus.NewDesc(Prefix+"database_bytes", "Bytes the database takes on disk.", nil, nil),
	stored:   prometheus.NewDesc(Prefix+"messages_stored_total", "Messages this process stored.", nil, nil),
	deleted:  prometheus.NewDesc(Prefix+"messages_deleted_total", "Messages this process deleted (by request or retention).", nil, nil),
	commits:  prometheus.NewDesc(Prefix+"store_commits_total", "Write transactions this process committed.", nil, nil),
	writes:   prometheus.NewDesc(Prefix+"store_writes_total", "Messages and changes in those transactions.", nil, nil),
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{storeDescs.up, storeDescs.messages, storeDescs.unread, storeDescs.bytes,
		storeDescs.dbBytes, storeDescs.stored, storeDescs.deleted, storeDescs.commits, storeDescs.writes} {
		ch <- d
	}
}

// scrapeTimeout bounds the store's answer to one scrape.
const scrapeTimeout = 5 * time.Second

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	st, err := c.st.Stats(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(storeDescs.up, prometheus.GaugeValue, 0)
		return
	}
	g := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	n := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	g(storeDescs.up, 1)
	g(storeDescs.messages, float64(st.Total))
	g(storeDescs.unread, float64(st.Unread))
	g(storeDescs.bytes, float64(st.Size))
	g(storeDescs.dbBytes, float64(st.DatabaseSize))
	n(storeDescs.stored, float64(st.Stored))
	n(storeDescs.deleted, float64(st.Deleted))
	n(storeDescs.commits, float64(st.Commits))
	n(storeDescs.writes, float64(st.Writes))
}
