/*
 * DESIGN: blocks are chained; the current block is the head. Allocations are
 * bumped from the head block; one that does not fit in the rest of the head
 * gets a new block (a dedicated one when it is larger than a quarter block,
 * so a large body does not waste a fresh standard block). Cleanups are kept
 * in a singly linked list allocated from the arena itself and run LIFO.
 */
#include "core/arena.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define ALIGN alignof(max_align_t)

struct block {
	struct block *next;
	size_t size; /* usable bytes after the header */
	size_t used;
	alignas(max_align_t) unsigned char data[];
};

struct cleanup {
	struct cleanup *next;
	tb_arena_cleanup_fn fn;
	void *arg;
};

struct tb_arena {
	struct block *head;
	struct cleanup *cleanups;
	size_t used;  /* bytes handed out */
	size_t max;
};

static size_t align_up(size_t n)
{
	return (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
}

struct tb_arena *tb_arena_new(size_t max_bytes)
{
	struct tb_arena *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	a->max = max_bytes ? max_bytes : TB_ARENA_DEFAULT_MAX;
	return a;
}

static struct block *new_block(size_t size)
{
	struct block *b = malloc(sizeof *b + size);
	if (!b)
		return NULL;
	b->next = NULL;
	b->size = size;
	b->used = 0;
	return b;
}

void *tb_arena_alloc(struct tb_arena *a, size_t n)
{
	if (!a)
		return NULL;
	size_t need = align_up(n ? n : 1);
	if (need < n || need > a->max || a->used > a->max - need)
		return NULL;
	struct block *h = a->head;
	if (h && h->size - h->used >= need) {
		void *p = h->data + h->used;
		h->used += need;
		a->used += need;
		return p;
	}
	struct block *b;
	if (need > TB_ARENA_BLOCK / 4) {
		/* Dedicated block, linked behind the head so the head keeps its free space. */
		b = new_block(need);
		if (!b)
			return NULL;
		b->used = need;
		if (h) {
			b->next = h->next;
			h->next = b;
		} else {
			a->head = b;
		}
	} else {
		b = new_block(TB_ARENA_BLOCK);
		if (!b)
			return NULL;
		b->used = need;
		b->next = h;
		a->head = b;
	}
	a->used += need;
	return b->data;
}

void *tb_arena_calloc(struct tb_arena *a, size_t n)
{
	void *p = tb_arena_alloc(a, n);
	if (p)
		memset(p, 0, n);
	return p;
}

void *tb_arena_memdup(struct tb_arena *a, const void *p, size_t n)
{
	void *q = tb_arena_alloc(a, n);
	if (q && n)
		memcpy(q, p, n);
	return q;
}

char *tb_arena_strndup(struct tb_arena *a, const char *s, size_t n)
{
	if (n == SIZE_MAX)
		return NULL;
	char *q = tb_arena_alloc(a, n + 1);
	if (!q)
		return NULL;
	if (n)
		memcpy(q, s, n);
	q[n] = 0;
	return q;
}

char *tb_arena_strdup(struct tb_arena *a, const char *s)
{
	if (!s)
		return NULL;
	return tb_arena_strndup(a, s, strlen(s));
}

char *tb_arena_vprintf(struct tb_arena *a, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return NULL;
	char *q = tb_arena_alloc(a, (size_t)n + 1);
	if (!q)
		return NULL;
	vsnprintf(q, (size_t)n + 1, fmt, ap);
	return q;
}

char *tb_arena_printf(struct tb_arena *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *q = tb_arena_vprintf(a, fmt, ap);
	va_end(ap);
	return q;
}

int tb_arena_add_cleanup(struct tb_arena *a, tb_arena_cleanup_fn fn, void *arg)
{
	struct cleanup *c = tb_arena_alloc(a, sizeof *c);
	if (!c)
		return TB_ERR_NOMEM;
	c->fn = fn;
	c->arg = arg;
	c->next = a->cleanups;
	a->cleanups = c;
	return 0;
}

size_t tb_arena_used(const struct tb_arena *a)
{
	return a ? a->used : 0;
}

static void run_cleanups(struct tb_arena *a)
{
	/* A cleanup may register another (it lands at the head): loop until empty. */
	while (a->cleanups) {
		struct cleanup *c = a->cleanups;
		a->cleanups = c->next;
		c->fn(c->arg);
	}
}

void tb_arena_reset(struct tb_arena *a)
{
	if (!a)
		return;
	run_cleanups(a);
	/* Keep one standard block (the first such found) for reuse. */
	struct block *keep = NULL;
	for (struct block *b = a->head, *next; b; b = next) {
		next = b->next;
		if (!keep && b->size == TB_ARENA_BLOCK) {
			keep = b;
			continue;
		}
		free(b);
	}
	if (keep) {
		keep->next = NULL;
		keep->used = 0;
	}
	a->head = keep;
	a->used = 0;
}

void tb_arena_free(struct tb_arena *a)
{
	if (!a)
		return;
	run_cleanups(a);
	for (struct block *b = a->head, *next; b; b = next) {
		next = b->next;
		free(b);
	}
	free(a);
}
