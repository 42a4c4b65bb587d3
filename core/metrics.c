/*
 * The metrics registry (core/metrics.h).
 *
 * Storage. A family's series live in one array of atomic 64-bit cells,
 * allocated at registration: slot = free_tuple * E + enum_index, where E is
 * the product of its enumerations' sizes and free_tuple indexes a table of
 * at most `cap` distinct free-label tuples plus one "other" tuple (1 when the
 * family has no free label). A counter or gauge slot is one cell, a histogram
 * slot n_buckets + 2 (per-bucket counts, count, sum). Counters hold integers
 * (fetch_add), gauges and sums doubles as bits (compare-and-swap). Nothing is
 * freed while the process runs, so a bump from another thread never sees a
 * family go away; tb_metrics_reset is for tests and the end of the process.
 */
#include "core/clock.h"
#include "core/metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "core/error.h"

struct tb_metric_rt {
	struct tb_metric *m;
	struct tb_metric_rt *next;
	size_t n_labels;
	size_t n_free;                 /* free labels among them */
	size_t enum_n[TB_METRIC_MAX_LABELS]; /* 0 for a free label */
	size_t e;                      /* product of the enumerations' sizes */
	size_t cap;                    /* free tuples kept (then "other") */
	size_t stride;                 /* cells per slot */
	size_t n_slots;
	_Atomic uint64_t *cells;
	uv_mutex_t lock;               /* the free-tuple table */
	size_t n_tuples;               /* used entries of tuples */
	char (*tuples)[TB_METRIC_MAX_LABELS][TB_METRIC_MAX_VALUE_LEN + 1];
	_Atomic int other_used;        /* the overflow tuple has counted something */
};

struct hook {
	tb_metrics_hook_fn fn;
	tb_metrics_text_fn text;
	void *arg;
	struct hook *next;
};

static struct tb_metric_rt *families, **families_tail = &families;
static struct hook *hooks;
static unsigned label_cap = TB_METRIC_DEFAULT_LABEL_CAP;

static uint64_t dbits(double d)
{
	uint64_t u;
	memcpy(&u, &d, sizeof u);
	return u;
}

static double bitsd(uint64_t u)
{
	double d;
	memcpy(&d, &u, sizeof d);
	return d;
}

static void cell_add_double(_Atomic uint64_t *c, double v)
{
	uint64_t old = atomic_load_explicit(c, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(c, &old, dbits(bitsd(old) + v), memory_order_relaxed,
		memory_order_relaxed))
		;
}

void tb_metrics_set_label_cap(unsigned cap)
{
	label_cap = cap ? cap : TB_METRIC_DEFAULT_LABEL_CAP;
}

int tb_metric_register(struct tb_metric *m)
{
	if (m->rt)
		return 0;
	if (!m->name || !m->help)
		return TB_ERR_INVALID;
	if (m->type == TB_METRIC_HISTOGRAM && (!m->buckets || !m->n_buckets))
		return TB_ERR_INVALID;
	struct tb_metric_rt *rt = calloc(1, sizeof *rt);
	if (!rt)
		return TB_ERR_NOMEM;
	rt->m = m;
	rt->e = 1;
	for (size_t i = 0; i < TB_METRIC_MAX_LABELS && m->labels[i].name; i++) {
		rt->n_labels++;
		if (m->labels[i].values) {
			size_t n = 0;
			while (m->labels[i].values[n])
				n++;
			if (!n) {
				free(rt);
				return TB_ERR_INVALID;
			}
			rt->enum_n[i] = n;
			rt->e *= n;
		} else {
			rt->n_free++;
		}
	}
	rt->cap = rt->n_free ? label_cap : 0;
	rt->stride = m->type == TB_METRIC_HISTOGRAM ? m->n_buckets + 2 : 1;
	rt->n_slots = rt->e * (rt->n_free ? rt->cap + 1 : 1);
	rt->cells = calloc(rt->n_slots * rt->stride, sizeof *rt->cells);
	if (rt->n_free)
		rt->tuples = calloc(rt->cap ? rt->cap : 1, sizeof *rt->tuples);
	if (!rt->cells || (rt->n_free && !rt->tuples) || uv_mutex_init(&rt->lock)) {
		free(rt->cells);
		free(rt->tuples);
		free(rt);
		return TB_ERR_NOMEM;
	}
	if (m->type == TB_METRIC_GAUGE || m->type == TB_METRIC_HISTOGRAM)
		for (size_t s = 0; s < rt->n_slots; s++)
			atomic_init(&rt->cells[s * rt->stride + rt->stride - 1], dbits(0.0));
	m->rt = rt;
	*families_tail = rt;
	families_tail = &rt->next;
	return 0;
}

int tb_metrics_register_all(struct tb_metric *const *list)
{
	int first = 0;
	for (; *list; list++) {
		int err = tb_metric_register(*list);
		if (err && !first)
			first = err;
	}
	return first;
}

/* The slot of one label-value tuple, or -1 (a value outside an enumeration without "other"). */
static long slot_of(struct tb_metric_rt *rt, va_list ap)
{
	const char *free_vals[TB_METRIC_MAX_LABELS];
	size_t e = 0, nf = 0;
	const struct tb_metric *m = rt->m;
	for (size_t i = 0; i < rt->n_labels; i++) {
		const char *v = va_arg(ap, const char *);
		if (!v)
			v = "";
		if (!rt->enum_n[i]) {
			free_vals[nf++] = v;
			continue;
		}
		size_t k, other = (size_t)-1;
		for (k = 0; k < rt->enum_n[i]; k++) {
			if (strcmp(m->labels[i].values[k], v) == 0)
				break;
			if (strcmp(m->labels[i].values[k], "other") == 0)
				other = k;
		}
		if (k == rt->enum_n[i]) {
			if (other == (size_t)-1)
				return -1;
			k = other;
		}
		e = e * rt->enum_n[i] + k;
	}
	if (!nf)
		return (long)e;
	size_t t;
	uv_mutex_lock(&rt->lock);
	for (t = 0; t < rt->n_tuples; t++) {
		size_t j;
		for (j = 0; j < nf; j++)
			if (strncmp(rt->tuples[t][j], free_vals[j], TB_METRIC_MAX_VALUE_LEN) != 0)
				break;
		if (j == nf)
			break;
	}
	if (t == rt->n_tuples) {
		if (rt->n_tuples < rt->cap) {
			for (size_t j = 0; j < nf; j++)
				snprintf(rt->tuples[t][j], sizeof rt->tuples[t][j], "%s", free_vals[j]);
			rt->n_tuples++;
		} else {
			t = rt->cap; /* the "other" tuple */
			atomic_store_explicit(&rt->other_used, 1, memory_order_relaxed);
		}
	}
	uv_mutex_unlock(&rt->lock);
	return (long)(t * rt->e + e);
}

static _Atomic uint64_t *cell(struct tb_metric *m, va_list ap)
{
	struct tb_metric_rt *rt = m->rt;
	if (!rt)
		return NULL;
	long s = slot_of(rt, ap);
	return s < 0 ? NULL : &rt->cells[(size_t)s * rt->stride];
}

static void add(struct tb_metric *m, double v, va_list ap)
{
	_Atomic uint64_t *c = cell(m, ap);
	if (!c)
		return;
	if (m->type == TB_METRIC_COUNTER)
		atomic_fetch_add_explicit(c, v > 0 ? (uint64_t)llround(v) : 0, memory_order_relaxed);
	else if (m->type == TB_METRIC_GAUGE)
		cell_add_double(c, v);
}

void tb_metric_inc(struct tb_metric *m, ...)
{
	va_list ap;
	va_start(ap, m);
	add(m, 1, ap);
	va_end(ap);
}

void tb_metric_add(struct tb_metric *m, double v, ...)
{
	va_list ap;
	va_start(ap, v);
	add(m, v, ap);
	va_end(ap);
}

void tb_metric_add_at(struct tb_metric *m, double v, const unsigned *idx)
{
	struct tb_metric_rt *rt = m->rt;
	if (!rt || rt->n_free || m->type == TB_METRIC_HISTOGRAM)
		return;
	size_t e = 0;
	for (size_t i = 0; i < rt->n_labels; i++) {
		if (idx[i] >= rt->enum_n[i])
			return;
		e = e * rt->enum_n[i] + idx[i];
	}
	_Atomic uint64_t *c = &rt->cells[e * rt->stride];
	if (m->type == TB_METRIC_COUNTER) /* rounded half up, as llround for v > 0, without the call */
		atomic_fetch_add_explicit(c, v > 0 ? (uint64_t)(v + 0.5) : 0, memory_order_relaxed);
	else
		cell_add_double(c, v);
}

void tb_metric_set(struct tb_metric *m, double v, ...)
{
	va_list ap;
	va_start(ap, v);
	_Atomic uint64_t *c = cell(m, ap);
	va_end(ap);
	if (!c)
		return;
	if (m->type == TB_METRIC_COUNTER)
		atomic_store_explicit(c, v > 0 ? (uint64_t)llround(v) : 0, memory_order_relaxed);
	else if (m->type == TB_METRIC_GAUGE)
		atomic_store_explicit(c, dbits(v), memory_order_relaxed);
}

void tb_metric_observe(struct tb_metric *m, double v, ...)
{
	va_list ap;
	va_start(ap, v);
	_Atomic uint64_t *c = m->type == TB_METRIC_HISTOGRAM && !isnan(v) ? cell(m, ap) : NULL;
	va_end(ap);
	if (!c)
		return; /* (a NaN would poison the sum for good) */
	size_t nb = m->n_buckets, i = 0;
	while (i < nb && v > m->buckets[i])
		i++;
	if (i < nb)
		atomic_fetch_add_explicit(&c[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&c[nb], 1, memory_order_relaxed);
	cell_add_double(&c[nb + 1], v);
}

double tb_metrics_now(void)
{
	return (double)uv_hrtime() / 1e9;
}

/* ---- hooks ------------------------------------------------------------------ */

static int hook_add(tb_metrics_hook_fn fn, tb_metrics_text_fn text, void *arg)
{
	struct hook **pp = &hooks;
	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->fn == fn && (*pp)->text == text && (*pp)->arg == arg)
			return 0;
	struct hook *h = calloc(1, sizeof *h);
	if (!h)
		return TB_ERR_NOMEM;
	h->fn = fn;
	h->text = text;
	h->arg = arg;
	*pp = h; /* in the order added: text sources render in that order */
	return 0;
}

static void hook_remove(tb_metrics_hook_fn fn, tb_metrics_text_fn text, void *arg)
{
	for (struct hook **pp = &hooks; *pp; pp = &(*pp)->next) {
		if ((*pp)->fn == fn && (*pp)->text == text && (*pp)->arg == arg) {
			struct hook *h = *pp;
			*pp = h->next;
			free(h);
			return;
		}
	}
}

int tb_metrics_hook(tb_metrics_hook_fn fn, void *arg)
{
	return hook_add(fn, NULL, arg);
}

void tb_metrics_unhook(tb_metrics_hook_fn fn, void *arg)
{
	hook_remove(fn, NULL, arg);
}

int tb_metrics_add_text(tb_metrics_text_fn fn, void *arg)
{
	return hook_add(NULL, fn, arg);
}

void tb_metrics_remove_text(tb_metrics_text_fn fn, void *arg)
{
	hook_remove(NULL, fn, arg);
}

void tb_metrics_reset(void)
{
	while (hooks) {
		struct hook *h = hooks;
		hooks = h->next;
		free(h);
	}
	while (families) {
		struct tb_metric_rt *rt = families;
		families = rt->next;
		rt->m->rt = NULL;
		uv_mutex_destroy(&rt->lock);
		free(rt->cells);
		free(rt->tuples);
		free(rt);
	}
	families_tail = &families;
	label_cap = TB_METRIC_DEFAULT_LABEL_CAP;
}

/* ---- the text exposition ---------------------------------------------------- */

static void put_escaped(struct tb_bytes *out, const char *s, int help)
{
	for (; *s; s++) {
		if (*s == '\\')
			tb_bytes_append(out, "\\\\", 2);
		else if (*s == '\n')
			tb_bytes_append(out, "\\n", 2);
		else if (*s == '"' && !help)
			tb_bytes_append(out, "\\\"", 2);
		else
			tb_bytes_append(out, s, 1);
	}
}

static void put_number(struct tb_bytes *out, double v)
{
	if (isnan(v))
		tb_bytes_printf(out, "NaN");
	else if (isinf(v))
		tb_bytes_printf(out, v > 0 ? "+Inf" : "-Inf");
	else if (fabs(v) < 9e15 && v == (double)(int64_t)v) /* (the cast only once v fits) */
		tb_bytes_printf(out, "%lld", (long long)v);
	else {
		/* the shortest of 15 or 17 digits that reads back as the same double */
		char buf[40];
		snprintf(buf, sizeof buf, "%.15g", v);
		if (strtod(buf, NULL) != v)
			snprintf(buf, sizeof buf, "%.17g", v);
		tb_bytes_printf(out, "%s", buf);
	}
}

/*
 * One sample line: name+suffix{labels[,le="x"]} value. t: the free tuple
 * (cap = "other"), e: the enumeration index.
 */
static void put_sample(struct tb_bytes *out, const struct tb_metric_rt *rt, const char *suffix, size_t t,
	size_t e, const char *le, double v)
{
	const struct tb_metric *m = rt->m;
	tb_bytes_printf(out, "%s%s", m->name, suffix);
	if (rt->n_labels || le) {
		tb_bytes_append(out, "{", 1);
		size_t idx[TB_METRIC_MAX_LABELS] = { 0 };
		for (size_t i = rt->n_labels; i-- > 0;) {
			if (rt->enum_n[i]) {
				idx[i] = e % rt->enum_n[i];
				e /= rt->enum_n[i];
			}
		}
		size_t nf = 0;
		for (size_t i = 0; i < rt->n_labels; i++) {
			const char *v2 = rt->enum_n[i] ? m->labels[i].values[idx[i]]
						       : t == rt->cap ? "other" : rt->tuples[t][nf];
			if (!rt->enum_n[i])
				nf++;
			tb_bytes_printf(out, "%s%s=\"", i ? "," : "", m->labels[i].name);
			put_escaped(out, v2, 0);
			tb_bytes_append(out, "\"", 1);
		}
		if (le)
			tb_bytes_printf(out, "%sle=\"%s\"", rt->n_labels ? "," : "", le);
		tb_bytes_append(out, "}", 1);
	}
	tb_bytes_append(out, " ", 1);
	put_number(out, v);
	tb_bytes_append(out, "\n", 1);
}

static void write_family(struct tb_bytes *out, struct tb_metric_rt *rt)
{
	const struct tb_metric *m = rt->m;
	static const char *const types[] = { "counter", "gauge", "histogram" };
	tb_bytes_printf(out, "# HELP %s ", m->name);
	put_escaped(out, m->help, 1);
	tb_bytes_printf(out, "\n# TYPE %s %s\n", m->name, types[m->type]);
	size_t n_tuples = 1;
	if (rt->n_free) {
		uv_mutex_lock(&rt->lock);
		n_tuples = rt->n_tuples;
		uv_mutex_unlock(&rt->lock);
	}
	int other = rt->n_free && atomic_load_explicit(&rt->other_used, memory_order_relaxed);
	for (size_t k = 0; k < n_tuples + (size_t)other; k++) {
		size_t t = k < n_tuples ? k : rt->cap;
		for (size_t e = 0; e < rt->e; e++) {
			_Atomic uint64_t *c = &rt->cells[(t * rt->e + e) * rt->stride];
			if (m->type == TB_METRIC_COUNTER) {
				put_sample(out, rt, "", t, e, NULL,
					(double)atomic_load_explicit(c, memory_order_relaxed));
			} else if (m->type == TB_METRIC_GAUGE) {
				put_sample(out, rt, "", t, e, NULL, bitsd(atomic_load_explicit(c, memory_order_relaxed)));
			} else {
				uint64_t cum = 0;
				size_t nb = m->n_buckets;
				for (size_t b = 0; b < nb; b++) {
					char le[32];
					snprintf(le, sizeof le, "%g", m->buckets[b]);
					cum += atomic_load_explicit(&c[b], memory_order_relaxed);
					put_sample(out, rt, "_bucket", t, e, le, (double)cum);
				}
				uint64_t count = atomic_load_explicit(&c[nb], memory_order_relaxed);
				/* a bump between the loads above must not make +Inf smaller than a bucket */
				if (count < cum)
					count = cum;
				put_sample(out, rt, "_bucket", t, e, "+Inf", (double)count);
				put_sample(out, rt, "_sum", t, e, NULL,
					bitsd(atomic_load_explicit(&c[nb + 1], memory_order_relaxed)));
				put_sample(out, rt, "_count", t, e, NULL, (double)count);
			}
		}
	}
}

void tb_metrics_write_text(struct tb_bytes *out)
{
	for (struct hook *h = hooks, *next; h; h = next) {
		next = h->next; /* a hook may remove itself */
		if (h->fn)
			h->fn(h->arg);
	}
	for (struct hook *h = hooks; h; h = h->next)
		if (h->text)
			h->text(h->arg, out);
	for (struct tb_metric_rt *rt = families; rt; rt = rt->next)
		write_family(out, rt);
}

/* ---- the JSON snapshot -------------------------------------------------------- */

/* Reads one label value after the opening quote; *p ends after the closing quote. */
static int read_quoted(const char **p, const char *end, struct tb_bytes *v)
{
	const char *s = *p;
	while (s < end && *s != '"') {
		if (*s == '\\' && s + 1 < end) {
			s++;
			char c = *s == 'n' ? '\n' : *s;
			tb_bytes_append(v, &c, 1);
		} else {
			tb_bytes_append(v, s, 1);
		}
		s++;
	}
	if (s >= end)
		return TB_ERR_INVALID;
	*p = s + 1;
	return tb_bytes_u8(v, 0);
}

static cJSON *sample_json(const char *s, const char *end)
{
	const char *p = s;
	while (p < end && *p != '{' && *p != ' ')
		p++;
	cJSON *o = cJSON_CreateObject();
	cJSON *labels = cJSON_CreateObject();
	if (!o || !labels) {
		cJSON_Delete(o);
		cJSON_Delete(labels);
		return NULL;
	}
	char *name = strndup(s, (size_t)(p - s));
	cJSON_AddStringToObject(o, "name", name ? name : "");
	free(name);
	cJSON_AddItemToObject(o, "labels", labels);
	if (p < end && *p == '{') {
		p++;
		while (p < end && *p != '}') {
			const char *k = p;
			while (p < end && *p != '=')
				p++;
			if (p + 1 >= end || p[1] != '"')
				goto bad;
			char *key = strndup(k, (size_t)(p - k));
			p += 2;
			struct tb_bytes v = { 0 };
			int err = read_quoted(&p, end, &v);
			if (!err && key)
				cJSON_AddStringToObject(labels, key, (const char *)v.p);
			free(key);
			tb_bytes_free(&v);
			if (err)
				goto bad;
			if (p < end && *p == ',')
				p++;
		}
		if (p >= end)
			goto bad;
		p++;
	}
	while (p < end && *p == ' ')
		p++;
	char num[64];
	size_t n = 0;
	while (p < end && *p != ' ' && n + 1 < sizeof num)
		num[n++] = *p++;
	num[n] = 0;
	char *ep;
	double v = strtod(num, &ep);
	if (!n || *ep)
		goto bad;
	if (isfinite(v))
		cJSON_AddNumberToObject(o, "value", v);
	else
		cJSON_AddStringToObject(o, "value", num); /* JSON has no NaN or infinity */
	return o;
bad:
	cJSON_Delete(o);
	return NULL;
}

int tb_metrics_text_to_json(const char *text, size_t len, int64_t unix_time, cJSON **out)
{
	*out = NULL;
	cJSON *root = cJSON_CreateObject();
	if (!root)
		return TB_ERR_NOMEM;
	char ts[32];
	time_t t = (time_t)unix_time;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
	cJSON_AddStringToObject(root, "time", ts);
	cJSON *series = cJSON_AddArrayToObject(root, "series");
	if (!series) {
		cJSON_Delete(root);
		return TB_ERR_NOMEM;
	}
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		if (le > p && *p != '#') {
			cJSON *o = sample_json(p, le);
			if (o)
				cJSON_AddItemToArray(series, o);
		}
		p = nl ? nl + 1 : end;
	}
	*out = root;
	return 0;
}

int tb_metrics_write_json(cJSON **out)
{
	*out = NULL;
	struct tb_bytes b = { 0 };
	tb_metrics_write_text(&b);
	int err = b.err ? TB_ERR_NOMEM : tb_metrics_text_to_json((const char *)b.p, b.len, (int64_t)tb_time_now(), out);
	tb_bytes_free(&b);
	return err;
}
