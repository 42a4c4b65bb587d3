/*
 * The CA's series (acme/metrics.h). Names follow what Boulder exports in
 * spirit (validations by challenge type and result, a latency histogram,
 * issuances by profile) in Prometheus' conventions: units in names, _total
 * counters, labels that take a known set of values. The profile label is
 * free (profiles come from the configuration) and capped by
 * status.metrics_max_label_values.
 */
#include "acme/metrics.h"

#include <stddef.h>

static const char *const chall_types[] = { "http-01", "dns-01", "tls-alpn-01", "other", NULL };
static const char *const results[] = { "valid", "invalid", NULL };
static const char *const authz_results[] = { "valid", "invalid", "deactivated", NULL };
/* Validations take from a millisecond (a lab name on loopback) to the timeout (10 s by default). */
static const double validation_buckets[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30 };

struct tb_metric acme_m_orders = { "tb_acme_orders_created_total",
	"ACME orders created (newOrder answered 201).", TB_METRIC_COUNTER, { { NULL, NULL } }, NULL, 0, NULL };
struct tb_metric acme_m_authzs = { "tb_acme_authorizations_created_total",
	"ACME authorizations created for new orders (reused ones are not counted).", TB_METRIC_COUNTER,
	{ { NULL, NULL } }, NULL, 0, NULL };
struct tb_metric acme_m_authz_results = { "tb_acme_authorizations_total",
	"ACME authorizations that reached a final state: valid or invalid (by a validation), deactivated "
	"(by the client).", TB_METRIC_COUNTER, { { "result", authz_results } }, NULL, 0, NULL };
struct tb_metric acme_m_finalized = { "tb_acme_orders_finalized_total",
	"ACME orders finalized, by result: valid (the certificate issued) or invalid (issuance failed).",
	TB_METRIC_COUNTER, { { "result", results } }, NULL, 0, NULL };
struct tb_metric acme_m_validations = { "tb_acme_validations_total",
	"ACME challenge validations by challenge type and result.", TB_METRIC_COUNTER,
	{ { "type", chall_types }, { "result", results } }, NULL, 0, NULL };
struct tb_metric acme_m_validation_secs = { "tb_acme_validation_duration_seconds",
	"Time from the start of a challenge validation to its outcome.", TB_METRIC_HISTOGRAM,
	{ { "type", chall_types } }, validation_buckets, sizeof validation_buckets / sizeof *validation_buckets,
	NULL };
struct tb_metric acme_m_issued = { "tb_acme_certificates_issued_total",
	"Certificates issued (stored and the order valid) by profile.", TB_METRIC_COUNTER,
	{ { "profile", NULL } }, NULL, 0, NULL };

int acme_metrics_register(void)
{
	static struct tb_metric *const all[] = { &acme_m_orders, &acme_m_authzs, &acme_m_authz_results,
		&acme_m_validations, &acme_m_validation_secs, &acme_m_finalized, &acme_m_issued, NULL };
	return tb_metrics_register_all(all);
}
