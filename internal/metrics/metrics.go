// Package metrics holds phiwatch's Prometheus metrics. One Metrics value is
// made per process and handed to the roles; nothing is registered globally.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the pipeline's counters and histograms.
type Metrics struct {
	Registry *prometheus.Registry

	// ingest
	IngestRecords   *prometheus.CounterVec // records read, by format
	IngestEvents    *prometheus.CounterVec // events published, by format
	IngestFailures  *prometheus.CounterVec // records rejected, by format and stage
	PublishDuration prometheus.Histogram

	// dead letters published by any role, by stage
	DeadLettered *prometheus.CounterVec

	// syslog receiver (ingest --syslog-udp / --syslog-tcp)
	SyslogMessages    *prometheus.CounterVec // messages received, by transport
	SyslogTruncated   *prometheus.CounterVec // messages cut short (size limit, connection ended), by transport
	SyslogErrors      *prometheus.CounterVec // by transport and kind (read, accept, handler, connection_limit)
	SyslogConnections prometheus.Gauge       // open TCP connections

	// API pullers (ingest --sources)
	PullRecords     *prometheus.CounterVec // records handed to the pipeline, by source type
	PullErrors      *prometheus.CounterVec // failed pull passes, by source type and reason
	PullRetries     *prometheus.CounterVec // HTTP calls retried, by source type and reason
	PullLastSuccess *prometheus.GaugeVec   // unix time of the last successful pass, by tenant and source
	PullLag         *prometheus.GaugeVec   // seconds between now and the checkpoint, by tenant and source

	// loader
	LoaderConsumed       *prometheus.CounterVec // messages fetched, by topic
	LoaderInserted       *prometheus.CounterVec // rows inserted, by table
	LoaderInsertFailures *prometheus.CounterVec // failed insert attempts, by table
	LoaderBatchRows      prometheus.Histogram
	LoaderInsertDuration *prometheus.HistogramVec
	LoaderLag            *prometheus.GaugeVec // messages behind, by topic
	LoaderLastInsert     *prometheus.GaugeVec // unix time of the last successful insert, by table

	// analyze
	AlertsWritten    *prometheus.CounterVec // alert versions written, by rule and severity
	ExplainedShare   *prometheus.GaugeVec   // share of EHR patient accesses explained, by tenant
	DetectorDuration prometheus.Histogram   // one run of every detector over every tenant
	DetectorRuns     *prometheus.CounterVec // scheduled detector runs, by result (ok, error)

	// streaming detection (analyze --stream, all, demo)
	DetectionLatency prometheus.Histogram   // event arrival (received_at) → alert stored
	StreamConsumed   prometheus.Counter     // events the streaming detectors consumed
	StreamLag        prometheus.Gauge       // messages between their position and the end of the topic
	StreamAlerts     *prometheus.CounterVec // alert versions the streaming detectors wrote, by rule and severity
}

// New creates and registers the metrics, plus Go and process collectors.
func New() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		IngestRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phiwatch_ingest_records_total", Help: "Source records read by ingest, by format.",
		}, []string{"format"}),
		IngestEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phiwatch_ingest_events_total", Help: "Normalized events published to the bus, by format.",
		}, []string{"format"}),
		IngestFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phiwatch_ingest_failures_total", Help: "Source records that failed to parse or validate, by format and stage.",
		}, []string{"format", "stage"}),
		PublishDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "phiwatch_bus_publish_duration_seconds", Help: "Time to publish one batch to the bus.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		DeadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phiwatch_dead_letters_total", Help: "Records sent to the dead-letter topic, by stage (parse, validate, decode).",
		}, []string{"stage"}),
		SyslogMessages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phiwatch_syslog_messages_total", Help: "Syslog messages received, by transport (udp, tcp).",
		}, []string{"transport"}),
		SyslogTruncated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phiwatch_syslog_truncated_total", Help: "Syslog messages delivered truncated (over the size limit or cut off mid-frame) and so dead-lettered, by transport.",
		}, []string{"transport"}),
		SyslogErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phiwatch_syslog_errors_total", Help: "Syslog receiver problems, by transport and kind (read, accept, handler, connection_limit).",
		}, []string{"transport", "kind"}),
		SyslogConnections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "phiwatch_syslog_tcp_connections", Help: "Open syslog TCP connections.",
		}),
		PullRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phiwatch_pull_records_total", Help: "Records pulled from source APIs and handed to the pipeline, by source type (a record re-fetched after a crash counts again).",
		}, []string{"type"}),
		PullErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phiwatch_pull_errors_total", Help: "Pull passes that failed (retried from the checkpoint after a backoff of at most the interval), by source type and reason.",
		}, []string{"type", "reason"}),
		PullRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phiwatch_pull_http_retries_total", Help: "HTTP calls to source APIs retried after a transient failure, by source type and reason (rate_limited, server_error, network, timeout, auth_refresh).",
		}, []string{"type", "reason"}),
		PullLastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "phiwatch_pull_last_success_timestamp_seconds", Help: "Unix time of the last successful pull pass, by tenant and source.",
		}, []string{"tenant", "source"}),
		PullLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "phiwatch_pull_lag_seconds", Help: "Seconds between now and the source's checkpoint (everything before it is published), by tenant and source; updated after every pass.",
		}, []string{"tenant", "source"}),
		LoaderConsumed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phiwatch_loader_consumed_total", Help: "Messages fetched from the bus by the loader, by topic.",
		}, []string{"topic"}),
		LoaderInserted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phiwatch_loader_inserted_rows_total", Help: "Rows inserted into ClickHouse, by table.",
		}, []string{"table"}),
		LoaderInsertFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phiwatch_loader_insert_failures_total", Help: "Failed insert attempts (each is retried), by table.",
		}, []string{"table"}),
		LoaderBatchRows: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "phiwatch_loader_batch_rows", Help: "Rows per insert batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10),
		}),
		LoaderInsertDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "phiwatch_loader_insert_duration_seconds", Help: "Time to insert one batch, by table.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"table"}),
		LoaderLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "phiwatch_loader_consumer_lag", Help: "Messages between the loader's position and the end of the topic.",
		}, []string{"topic"}),
		LoaderLastInsert: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "phiwatch_loader_last_insert_timestamp_seconds", Help: "Unix time of the last successful insert, by table.",
		}, []string{"table"}),
		AlertsWritten: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phiwatch_alerts_written_total", Help: "Alert versions written by the detectors, by rule and severity (a re-run rewrites the same alerts).",
		}, []string{"rule", "severity"}),
		ExplainedShare: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "phiwatch_explained_access_ratio", Help: "Share of EHR patient accesses in the last analyzed window explained by a clinical relationship or role, by tenant (only tenants with schedule data).",
		}, []string{"tenant"}),
		DetectorRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phiwatch_detector_runs_total", Help: "Scheduled runs of every detector over every tenant, by result (ok, error).",
		}, []string{"result"}),
		DetectorDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "phiwatch_detector_run_duration_seconds", Help: "Time for one run of every detector over every tenant.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14),
		}),
	}
	m.DetectionLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "phiwatch_detection_latency_seconds", Help: "Time from an event's arrival (received_at, when ingest accepted it) to a streaming alert it is evidence of being stored.",
		Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300},
	})
	m.StreamConsumed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "phiwatch_stream_events_consumed_total", Help: "Events consumed from the bus by the streaming detectors.",
	})
	m.StreamLag = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "phiwatch_stream_consumer_lag", Help: "Messages between the streaming detectors' position and the end of the events topic (-1 unknown).",
	})
	m.StreamAlerts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "phiwatch_stream_alerts_written_total", Help: "Alert versions written by the streaming detectors, by rule and severity (a version per change; the scheduled run rewrites the same alerts, counted in phiwatch_alerts_written_total).",
	}, []string{"rule", "severity"})
	r.MustRegister(m.DetectionLatency, m.StreamConsumed, m.StreamLag, m.StreamAlerts)
	r.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.IngestRecords, m.IngestEvents, m.IngestFailures, m.PublishDuration, m.DeadLettered,
		m.SyslogMessages, m.SyslogTruncated, m.SyslogErrors, m.SyslogConnections,
		m.PullRecords, m.PullErrors, m.PullRetries, m.PullLastSuccess, m.PullLag,
		m.LoaderConsumed, m.LoaderInserted, m.LoaderInsertFailures, m.LoaderBatchRows,
		m.LoaderInsertDuration, m.LoaderLag, m.LoaderLastInsert,
		m.AlertsWritten, m.ExplainedShare, m.DetectorDuration, m.DetectorRuns,
	)
	return m
}
