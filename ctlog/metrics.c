/*
 * The CT log's series (ctlog/metrics.h), after what Sunlight exports in
 * spirit: submissions by result, the sequencer's batch sizes and latency,
 * the tree size and the age of the newest checkpoint. The log label is
 * free (logs come from the configuration) and capped by
 * status.metrics_max_label_values.
 */
#include "ctlog/metrics.h"

#include <time.h>

#include "core/error.h"
#include "ctlog/ctlog_internal.h"

static const char *const endpoints[] = { "add-chain", "add-pre-chain", NULL };
static const char *const results[] = { "ok", "rejected", "error", NULL };
static const double size_buckets[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096 };
static const double secs_buckets[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5 };

struct tb_metric ct_m_submissions = { "tb_ct_submissions_total",
	"Submissions to a log (HTTP and the built-in CA) by endpoint and result: ok (an SCT), rejected "
	"(the chain was refused), error (the log could not take it: pool full, shutting down, store).",
	TB_METRIC_COUNTER, { { "log", NULL }, { "endpoint", endpoints }, { "result", results } }, NULL, 0, NULL };
struct tb_metric ct_m_entries = { "tb_ct_entries_total", "Entries sequenced into a log (committed).",
	TB_METRIC_COUNTER, { { "log", NULL } }, NULL, 0, NULL };
struct tb_metric ct_m_batch_size = { "tb_ct_sequencing_batch_entries",
	"Entries per sequenced batch (one store commit each).", TB_METRIC_HISTOGRAM, { { "log", NULL } },
	size_buckets, sizeof size_buckets / sizeof *size_buckets, NULL };
struct tb_metric ct_m_batch_secs = { "tb_ct_sequencing_duration_seconds",
	"Time from sealing a batch to its commit (hashing, signing, the store's fsync).", TB_METRIC_HISTOGRAM,
	{ { "log", NULL } }, secs_buckets, sizeof secs_buckets / sizeof *secs_buckets, NULL };
static struct tb_metric m_tree_size = { "tb_ct_tree_size_entries", "Entries in a log's published tree.",
	TB_METRIC_GAUGE, { { "log", NULL } }, NULL, 0, NULL };
static struct tb_metric m_pool = { "tb_ct_pool_entries",
	"Submissions waiting in a log's pool for the next batch.", TB_METRIC_GAUGE, { { "log", NULL } }, NULL, 0,
	NULL };
static struct tb_metric m_age = { "tb_ct_checkpoint_age_seconds",
	"Seconds since a log's newest checkpoint was signed (it is signed with each batch, so an idle log ages).",
	TB_METRIC_GAUGE, { { "log", NULL } }, NULL, 0, NULL };

const char *ct_metrics_result(int status)
{
	switch (status) {
	case 0:
		return "ok";
	case TB_ERR_INVALID:
	case TB_ERR_VERIFY:
	case TB_ERR_TOO_LARGE:
	case TB_ERR_UNSUPPORTED:
	case TB_ERR_TRAILING:
	case TB_ERR_TRUNCATED:
		return "rejected";
	default:
		return "error";
	}
}

static void scrape(void *arg)
{
	struct ct_service *svc = arg;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	for (size_t i = 0; i < svc->n_logs; i++) {
		const struct ct_log *log = &svc->logs[i];
		tb_metric_set(&m_tree_size, (double)log->size, log->name);
		tb_metric_set(&m_pool, (double)log->n_pool, log->name);
		double age = now - (double)log->sth_timestamp / 1000;
		tb_metric_set(&m_age, age > 0 ? age : 0, log->name);
	}
}

int ct_metrics_start(struct ct_service *svc)
{
	static struct tb_metric *const all[] = { &ct_m_submissions, &ct_m_entries, &m_tree_size, &m_pool,
		&ct_m_batch_size, &ct_m_batch_secs, &m_age, NULL };
	int err = tb_metrics_register_all(all);
	return err ? err : tb_metrics_hook(scrape, svc);
}

void ct_metrics_stop(struct ct_service *svc)
{
	tb_metrics_unhook(scrape, svc);
}
