/*
 * The metrics registry: counters, gauges and histograms that subsystems
 * declare as static data and bump at their event sites, rendered as the
 * Prometheus text exposition at /metrics and as the JSON snapshot of
 * GET /api/v1/metrics. Every series is listed in docs/metrics.md.
 *
 * Declaring a series. A `struct tb_metric` names the family (with its unit
 * and, for counters, `_total`), its help text, its type and up to
 * TB_METRIC_MAX_LABELS labels. A label is either an enumeration (a
 * NULL-terminated list of every value it can take, declared up front) or
 * free (values NULL: a task id, a log name). Enumerated labels render every
 * combination from the start, zeros included, so a rate is defined before
 * the first event. Free labels are capped per family: the first
 * `max_label_values` (status option, 64 by default) distinct tuples of free
 * values get their own series, later ones all count in one series whose free
 * labels read "other". A value outside an enumeration counts under "other"
 * when the enumeration lists it and is dropped otherwise.
 *
 *   static const char *const results[] = { "valid", "invalid", NULL };
 *   struct tb_metric m_validations = { "tb_acme_validations_total",
 *       "Challenge validations by type and result.", TB_METRIC_COUNTER,
 *       { { "type", types }, { "result", results } } };
 *   tb_metric_register(&m_validations);          (once, at start)
 *   tb_metric_inc(&m_validations, "http-01", "valid");  (label values in order)
 *
 * Bumping is lock-free (relaxed atomics) except the first sight of a new free
 * label tuple, which takes a mutex; any thread may bump (the store writer,
 * the thread pool). A series not registered yet ignores bumps. Registering,
 * hooks and rendering belong to the loop thread.
 */
#ifndef TB_METRICS_H
#define TB_METRICS_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define TB_METRIC_MAX_LABELS 3
#define TB_METRIC_MAX_VALUE_LEN 64       /* longer free label values are cut */
#define TB_METRIC_DEFAULT_LABEL_CAP 64u  /* distinct free-label tuples per family */

enum tb_metric_type { TB_METRIC_COUNTER, TB_METRIC_GAUGE, TB_METRIC_HISTOGRAM };

struct tb_metric_label {
	const char *name;            /* NULL ends the list */
	const char *const *values;   /* NULL-terminated enumeration; NULL: free values */
};

struct tb_metric_rt;             /* core/metrics.c */

struct tb_metric {
	const char *name;
	const char *help;
	enum tb_metric_type type;
	struct tb_metric_label labels[TB_METRIC_MAX_LABELS];
	const double *buckets;       /* histograms: upper bounds, ascending */
	size_t n_buckets;
	struct tb_metric_rt *rt;     /* set by tb_metric_register */
};

/* Makes a series live (idempotent). 0, or TB_ERR_NOMEM / TB_ERR_INVALID. */
int tb_metric_register(struct tb_metric *m);
/* Registers a NULL-terminated list; the first error wins. */
int tb_metrics_register_all(struct tb_metric *const *list);

/*
 * The label values follow the value, one const char * per declared label,
 * in declaration order.
 *   tb_metric_inc / tb_metric_add: counters (add also moves a gauge).
 *   tb_metric_set: gauges; on a counter only to mirror a count kept
 *     elsewhere, from a scrape hook.
 *   tb_metric_observe: histograms.
 */
void tb_metric_inc(struct tb_metric *m, ...);
void tb_metric_add(struct tb_metric *m, double v, ...);
void tb_metric_set(struct tb_metric *m, double v, ...);
void tb_metric_observe(struct tb_metric *m, double v, ...);

/*
 * The same as tb_metric_add for a family whose labels are all enumerations,
 * with each label given as its index in the enumeration (idx[i] < its size;
 * out of range: ignored): no string comparisons, for per-packet paths.
 */
void tb_metric_add_at(struct tb_metric *m, double v, const unsigned *idx);

/* Monotonic seconds, for latencies (uv_hrtime based). */
double tb_metrics_now(void);

/*
 * Free-label cap for families registered from now on (status option
 * max_label_values); 0 restores the default.
 */
void tb_metrics_set_label_cap(unsigned cap);

/*
 * Scrape hooks run on the loop thread just before every rendering: they set
 * gauges read from subsystem state (tree size, cache size, checkpoint age).
 * A subsystem removes its hook before its state goes away.
 */
typedef void (*tb_metrics_hook_fn)(void *arg);
int tb_metrics_hook(tb_metrics_hook_fn fn, void *arg);
void tb_metrics_unhook(tb_metrics_hook_fn fn, void *arg);

/*
 * Text sources: writers of exposition text kept outside the registry (core's
 * tb_http_* and tb_store_* series, tb_build_info), rendered first.
 */
typedef void (*tb_metrics_text_fn)(void *arg, struct tb_bytes *out);
int tb_metrics_add_text(tb_metrics_text_fn fn, void *arg);
void tb_metrics_remove_text(tb_metrics_text_fn fn, void *arg);

/* The whole exposition (text sources, then the registry): GET /metrics. */
void tb_metrics_write_text(struct tb_bytes *out);

/*
 * The JSON snapshot of GET /api/v1/metrics, built from the same exposition:
 *   {"time":"2026-12-02T16:50:00Z",
 *    "series":[{"name":"tb_dns_queries_total","labels":{"qtype":"A",...},"value":3},...]}
 * one entry per sample line (histograms as their _bucket, _sum and _count
 * samples). *out is the caller's to cJSON_Delete. 0 or TB_ERR_NOMEM.
 */
int tb_metrics_write_json(cJSON **out);
/* The same conversion for any exposition text (tests, other sources). */
int tb_metrics_text_to_json(const char *text, size_t len, int64_t unix_time, cJSON **out);

/* Drops every registration, hook and text source (tests; end of process). */
void tb_metrics_reset(void);

#endif
