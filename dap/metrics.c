/*
 * The aggregator's series (dap/metrics.h), after what Janus exports in
 * spirit: uploads by outcome, one value per rejection reason, aggregation
 * jobs and collections by result. The per-task family is labelled with the
 * task id (base64url, as in DAP URLs): tasks are created at run time, so
 * that label is capped by status.metrics_max_label_values (64 by default);
 * tasks beyond the cap count together under task="other".
 */
#include "dap/metrics.h"

#include <string.h>

#include "core/buf.h"
#include "dap/dap_internal.h"

static const char *const outcomes[] = { "accepted", "invalid_message", "unrecognized_task", "too_early",
	"task_expired", "report_expired", "batch_collected", "outdated_config", "decrypt_failure", "replayed",
	"error", NULL };
static const char *const events[] = { "accepted", "rejected", "aggregated", "collected", NULL };
static const char *const roles[] = { "leader", "helper", NULL };
static const char *const results[] = { "ok", "error", NULL };

static struct tb_metric m_reports = { "tb_dap_reports_total",
	"Report uploads to the leader by outcome: accepted, or the reason it was rejected.", TB_METRIC_COUNTER,
	{ { "outcome", outcomes } }, NULL, 0, NULL };
static struct tb_metric m_task_reports = { "tb_dap_task_reports_total",
	"Reports of one task by event (uploads accepted and rejected, reports aggregated and collected by the "
	"leader); the task label is capped.", TB_METRIC_COUNTER, { { "task", NULL }, { "event", events } }, NULL,
	0, NULL };
struct tb_metric dap_m_agg_jobs = { "tb_dap_aggregation_jobs_total",
	"Aggregation jobs finished, by role and result (leader: driven to the helper and committed; helper: "
	"answered and committed).", TB_METRIC_COUNTER, { { "role", roles }, { "result", results } }, NULL, 0,
	NULL };
struct tb_metric dap_m_collections = { "tb_dap_collections_total",
	"Collections finished, by role and result (leader: collection jobs completed; helper: aggregate shares "
	"answered).", TB_METRIC_COUNTER, { { "role", roles }, { "result", results } }, NULL, 0, NULL };

static void task_label(const uint8_t *task_id, char out[48])
{
	struct tb_bytes b = { 0 };
	out[0] = 0;
	if (task_id && tb_base64url_encode(&b, task_id, DAP_TASK_ID_LEN) == 0 && b.len < 48) {
		memcpy(out, b.p, b.len);
		out[b.len] = 0;
	}
	tb_bytes_free(&b);
}

void dap_metrics_upload(const uint8_t *task_id, const char *outcome)
{
	tb_metric_inc(&m_reports, outcome);
	if (!m_task_reports.rt || !task_id)
		return;
	char t[48];
	task_label(task_id, t);
	tb_metric_inc(&m_task_reports, t, strcmp(outcome, "accepted") == 0 ? "accepted" : "rejected");
}

void dap_metrics_task(const uint8_t *task_id, const char *event, uint64_t n)
{
	if (!m_task_reports.rt || !n)
		return;
	char t[48];
	task_label(task_id, t);
	tb_metric_add(&m_task_reports, (double)n, t, event);
}

int dap_metrics_register(void)
{
	static struct tb_metric *const all[] = { &m_reports, &m_task_reports, &dap_m_agg_jobs, &dap_m_collections,
		NULL };
	return tb_metrics_register_all(all);
}
