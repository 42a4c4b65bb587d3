/* The metrics registry: label bounds, rendering, JSON, hooks, bumps from several threads. */
#include "core/metrics.h"

#include <math.h>
#include <uv.h>

#include "core/error.h"
#include "tb_test.h"

static const char *const colors[] = { "red", "green", "other", NULL };
static const char *const sizes[] = { "s", "l", NULL };
static const double buckets[] = { 0.1, 1, 10 };

static struct tb_metric m_plain = { "t_plain_total", "A counter without labels.", TB_METRIC_COUNTER,
	{ { NULL, NULL } }, NULL, 0, NULL };
static struct tb_metric m_enum = { "t_enum_total", "Two enumerations.", TB_METRIC_COUNTER,
	{ { "color", colors }, { "size", sizes } }, NULL, 0, NULL };
static struct tb_metric m_free = { "t_free_total", "A free label and an enumeration.", TB_METRIC_COUNTER,
	{ { "task", NULL }, { "size", sizes } }, NULL, 0, NULL };
static struct tb_metric m_gauge = { "t_gauge", "A gauge with \"quotes\" and a \\ backslash\nin help.",
	TB_METRIC_GAUGE, { { "name", NULL } }, NULL, 0, NULL };
static struct tb_metric m_hist = { "t_latency_seconds", "A histogram.", TB_METRIC_HISTOGRAM,
	{ { "size", sizes } }, buckets, 3, NULL };

static char *render(void)
{
	struct tb_bytes b = { 0 };
	tb_metrics_write_text(&b);
	return tb_bytes_cstr(&b);
}

static int has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return 1;
	return 0;
}

/* Enumerations: every combination from the start; unknown values go to "other" or nowhere. */
static void test_enums(void)
{
	CHECK_INT(tb_metric_register(&m_plain), 0);
	CHECK_INT(tb_metric_register(&m_enum), 0);
	CHECK_INT(tb_metric_register(&m_enum), 0); /* idempotent */
	char *t = render();
	CHECK(has_line(t, "# HELP t_plain_total A counter without labels."));
	CHECK(has_line(t, "# TYPE t_plain_total counter"));
	CHECK(has_line(t, "t_plain_total 0"));
	CHECK(has_line(t, "t_enum_total{color=\"red\",size=\"s\"} 0"));
	CHECK(has_line(t, "t_enum_total{color=\"other\",size=\"l\"} 0"));
	free(t);
	tb_metric_inc(&m_plain);
	tb_metric_add(&m_plain, 41);
	tb_metric_inc(&m_enum, "green", "l");
	tb_metric_inc(&m_enum, "blue", "s");   /* not listed: counts under other */
	tb_metric_inc(&m_enum, "red", "xl");   /* size has no other: dropped */
	t = render();
	CHECK(has_line(t, "t_plain_total 42"));
	CHECK(has_line(t, "t_enum_total{color=\"green\",size=\"l\"} 1"));
	CHECK(has_line(t, "t_enum_total{color=\"green\",size=\"s\"} 0"));
	CHECK(has_line(t, "t_enum_total{color=\"other\",size=\"s\"} 1"));
	CHECK(has_line(t, "t_enum_total{color=\"red\",size=\"s\"} 0"));
	CHECK(has_line(t, "t_enum_total{color=\"red\",size=\"l\"} 0"));
	free(t);
	/* by index: the same series; out of range or a free-label family: ignored */
	unsigned idx[2] = { 0, 1 }, bad[2] = { 3, 0 };
	tb_metric_add_at(&m_enum, 5, idx);
	tb_metric_add_at(&m_enum, 1, bad);
	tb_metric_add_at(&m_free, 1, idx);
	t = render();
	CHECK(has_line(t, "t_enum_total{color=\"red\",size=\"l\"} 5"));
	CHECK(has_line(t, "t_enum_total{color=\"other\",size=\"s\"} 1"));
	free(t);
}

/* Free labels: at most cap distinct tuples, the rest under "other"; values escaped and cut. */
static void test_free_cap(void)
{
	tb_metrics_set_label_cap(2);
	CHECK_INT(tb_metric_register(&m_free), 0);
	CHECK_INT(tb_metric_register(&m_gauge), 0);
	tb_metrics_set_label_cap(0);
	char *t = render();
	CHECK(strstr(t, "t_free_total{") == NULL); /* no tuple seen yet */
	CHECK(has_line(t, "# TYPE t_free_total counter"));
	free(t);
	tb_metric_inc(&m_free, "a", "s");
	tb_metric_inc(&m_free, "b", "l");
	tb_metric_inc(&m_free, "a", "l");
	tb_metric_inc(&m_free, "c", "s"); /* third task: over the cap */
	tb_metric_inc(&m_free, "d", "s");
	tb_metric_set(&m_gauge, 1.5, "q\"u\\o\nte");
	char long_name[200];
	memset(long_name, 'x', sizeof long_name - 1);
	long_name[sizeof long_name - 1] = 0;
	tb_metric_set(&m_gauge, -3, long_name); /* over the cap of 2 too: becomes name="other" */
	t = render();
	CHECK(has_line(t, "t_free_total{task=\"a\",size=\"s\"} 1"));
	CHECK(has_line(t, "t_free_total{task=\"a\",size=\"l\"} 1"));
	CHECK(has_line(t, "t_free_total{task=\"b\",size=\"l\"} 1"));
	CHECK(has_line(t, "t_free_total{task=\"other\",size=\"s\"} 2"));
	CHECK(strstr(t, "task=\"c\"") == NULL && strstr(t, "task=\"d\"") == NULL);
	CHECK(has_line(t, "t_gauge{name=\"q\\\"u\\\\o\\nte\"} 1.5"));
	CHECK(has_line(t, "# HELP t_gauge A gauge with \"quotes\" and a \\\\ backslash\\nin help."));
	free(t);
	/* a long value within the cap is cut to TB_METRIC_MAX_VALUE_LEN */
	tb_metrics_reset();
	CHECK_INT(tb_metric_register(&m_gauge), 0);
	tb_metric_set(&m_gauge, 7, long_name);
	t = render();
	char want[128];
	snprintf(want, sizeof want, "t_gauge{name=\"%.*s\"} 7", TB_METRIC_MAX_VALUE_LEN, long_name);
	CHECK(has_line(t, want));
	free(t);
	tb_metrics_reset();
}

/* Histograms: cumulative buckets, +Inf = count, sum. */
static void test_histogram(void)
{
	CHECK_INT(tb_metric_register(&m_hist), 0);
	tb_metric_observe(&m_hist, 0.05, "s");
	tb_metric_observe(&m_hist, 0.1, "s"); /* le is inclusive */
	tb_metric_observe(&m_hist, 5, "s");
	tb_metric_observe(&m_hist, 50, "s");
	tb_metric_inc(&m_hist, "s"); /* not a counter: ignored */
	char *t = render();
	CHECK(has_line(t, "# TYPE t_latency_seconds histogram"));
	CHECK(has_line(t, "t_latency_seconds_bucket{size=\"s\",le=\"0.1\"} 2"));
	CHECK(has_line(t, "t_latency_seconds_bucket{size=\"s\",le=\"1\"} 2"));
	CHECK(has_line(t, "t_latency_seconds_bucket{size=\"s\",le=\"10\"} 3"));
	CHECK(has_line(t, "t_latency_seconds_bucket{size=\"s\",le=\"+Inf\"} 4"));
	CHECK(has_line(t, "t_latency_seconds_count{size=\"s\"} 4"));
	CHECK(has_line(t, "t_latency_seconds_sum{size=\"s\"} 55.15"));
	CHECK(has_line(t, "t_latency_seconds_bucket{size=\"l\",le=\"+Inf\"} 0"));
	free(t);
	tb_metrics_reset();
}

static int hook_calls;
static void hook(void *arg)
{
	hook_calls++;
	tb_metric_set(&m_gauge, (double)hook_calls, (const char *)arg);
}

static void text_source(void *arg, struct tb_bytes *out)
{
	tb_bytes_printf(out, "# HELP t_core_total From a text source.\n# TYPE t_core_total counter\n"
			     "t_core_total{route=\"/x\"} %d\n", *(int *)arg);
}

/* Hooks run before each rendering; text sources come first; the JSON carries the samples. */
static void test_hooks_json(void)
{
	int core_value = 9;
	CHECK_INT(tb_metric_register(&m_gauge), 0);
	CHECK_INT(tb_metric_register(&m_hist), 0);
	CHECK_INT(tb_metrics_hook(hook, "lab"), 0);
	CHECK_INT(tb_metrics_add_text(text_source, &core_value), 0);
	char *t = render();
	CHECK_INT(hook_calls, 1);
	CHECK(has_line(t, "t_gauge{name=\"lab\"} 1"));
	CHECK(strstr(t, "t_core_total") != NULL && strstr(t, "t_core_total") < strstr(t, "t_gauge"));
	free(t);
	cJSON *j = NULL;
	CHECK_INT(tb_metrics_write_json(&j), 0);
	CHECK_INT(hook_calls, 2);
	const cJSON *time = cJSON_GetObjectItem(j, "time");
	CHECK(cJSON_IsString(time) && strlen(time->valuestring) == 20 && time->valuestring[19] == 'Z');
	const cJSON *s, *series = cJSON_GetObjectItem(j, "series");
	int found_core = 0, found_gauge = 0, found_inf = 0;
	cJSON_ArrayForEach(s, series) {
		const char *name = cJSON_GetObjectItem(s, "name")->valuestring;
		const cJSON *labels = cJSON_GetObjectItem(s, "labels");
		const cJSON *v = cJSON_GetObjectItem(s, "value");
		if (!strcmp(name, "t_core_total")) {
			found_core = cJSON_IsNumber(v) && v->valuedouble == 9 &&
				     !strcmp(cJSON_GetObjectItem(labels, "route")->valuestring, "/x");
		} else if (!strcmp(name, "t_gauge")) {
			found_gauge = cJSON_IsNumber(v) && v->valuedouble == 2 &&
				      !strcmp(cJSON_GetObjectItem(labels, "name")->valuestring, "lab");
		} else if (!strcmp(name, "t_latency_seconds_bucket") &&
			   !strcmp(cJSON_GetObjectItem(labels, "le")->valuestring, "+Inf")) {
			found_inf++;
		}
	}
	CHECK(found_core && found_gauge);
	CHECK_INT(found_inf, 2);
	cJSON_Delete(j);
	tb_metrics_unhook(hook, "lab");
	tb_metrics_remove_text(text_source, &core_value);
	t = render();
	CHECK_INT(hook_calls, 2);
	CHECK(strstr(t, "t_core_total") == NULL);
	free(t);
	/* escapes and non-finite values survive the conversion */
	const char *txt = "# comment\nx{a=\"q\\\"\\\\\\n\",b=\"\"} +Inf\ny 1e3\nbad{a=\"unterminated} 1\n";
	CHECK_INT(tb_metrics_text_to_json(txt, strlen(txt), 0, &j), 0);
	CHECK_STR(cJSON_GetObjectItem(j, "time")->valuestring, "1970-01-01T00:00:00Z");
	series = cJSON_GetObjectItem(j, "series");
	CHECK_INT(cJSON_GetArraySize(series), 2);
	s = cJSON_GetArrayItem(series, 0);
	CHECK_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(s, "labels"), "a")->valuestring, "q\"\\\n");
	CHECK_STR(cJSON_GetObjectItem(s, "value")->valuestring, "+Inf");
	CHECK(cJSON_GetObjectItem(cJSON_GetArrayItem(series, 1), "value")->valuedouble == 1000);
	cJSON_Delete(j);
	tb_metrics_reset();
}

/* A series not registered ignores bumps; a histogram without buckets is refused. */
static void test_unregistered(void)
{
	tb_metric_inc(&m_plain);
	tb_metric_observe(&m_hist, 1, "s");
	CHECK(m_plain.rt == NULL);
	struct tb_metric nob = { "t_nob_seconds", "x", TB_METRIC_HISTOGRAM, { { NULL, NULL } }, NULL, 0, NULL };
	CHECK_INT(tb_metric_register(&nob), TB_ERR_INVALID);
}

#define THREADS 4
#define BUMPS 100000

static void bumper(void *arg)
{
	char task[8];
	snprintf(task, sizeof task, "t%d", (int)(intptr_t)arg % 2);
	for (int i = 0; i < BUMPS; i++) {
		tb_metric_inc(&m_enum, "red", "s");
		tb_metric_inc(&m_free, task, "l");
		tb_metric_observe(&m_hist, 0.5, "l");
	}
}

/* Bumps from several threads at once lose nothing (relaxed atomics, the free-tuple mutex). */
static void test_threads(void)
{
	CHECK_INT(tb_metric_register(&m_enum), 0);
	CHECK_INT(tb_metric_register(&m_free), 0);
	CHECK_INT(tb_metric_register(&m_hist), 0);
	uv_thread_t th[THREADS];
	for (intptr_t i = 0; i < THREADS; i++)
		CHECK_INT(uv_thread_create(&th[i], bumper, (void *)i), 0);
	for (int i = 0; i < THREADS; i++)
		uv_thread_join(&th[i]);
	char *t = render();
	char want[128];
	snprintf(want, sizeof want, "t_enum_total{color=\"red\",size=\"s\"} %d", THREADS * BUMPS);
	CHECK(has_line(t, want));
	snprintf(want, sizeof want, "t_free_total{task=\"t0\",size=\"l\"} %d", THREADS / 2 * BUMPS);
	CHECK(has_line(t, want));
	snprintf(want, sizeof want, "t_latency_seconds_count{size=\"l\"} %d", THREADS * BUMPS);
	CHECK(has_line(t, want));
	snprintf(want, sizeof want, "t_latency_seconds_sum{size=\"l\"} %d", THREADS * BUMPS / 2);
	CHECK(has_line(t, want));
	free(t);

	/* what a bump costs on one thread, for the record */
	uint64_t t0 = uv_hrtime();
	for (int i = 0; i < 1000000; i++)
		tb_metric_inc(&m_enum, "green", "l");
	uint64_t t1 = uv_hrtime();
	for (int i = 0; i < 1000000; i++)
		tb_metric_inc(&m_free, "t1", "s");
	uint64_t t2 = uv_hrtime();
	unsigned idx[2] = { 1, 1 };
	for (int i = 0; i < 1000000; i++)
		tb_metric_add_at(&m_enum, 1, idx);
	uint64_t t3 = uv_hrtime();
	fprintf(stderr, "bump: %.1f ns (two enumerations), %.1f ns (a free label), %.1f ns (by index)\n",
		(double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6, (double)(t3 - t2) / 1e6);
	tb_metrics_reset();
}

int main(void)
{
	test_enums();
	tb_metrics_reset();
	test_free_cap();
	test_histogram();
	test_hooks_json();
	test_unregistered();
	test_threads();
	return tb_test_result("metrics");
}
