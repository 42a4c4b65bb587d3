/*
 * Per-request arena: a bump allocator with cleanup handlers, in the style of
 * nginx's pools. Everything a request allocates lives in its arena and goes
 * away with it; resources that are not arena memory (a malloc'd buffer, a
 * cJSON tree, a pending store job) register a cleanup handler, which runs,
 * last registered first, when the arena is reset or freed.
 *
 * Memory comes in blocks of TB_ARENA_BLOCK bytes; an allocation larger than a
 * quarter block gets a block of its own. The total an arena hands out is
 * capped (max_bytes at creation), so input-driven allocations fail with NULL
 * instead of growing without bound.
 */
#ifndef TB_ARENA_H
#define TB_ARENA_H

#include <stdarg.h>
#include <stddef.h>

#define TB_ARENA_BLOCK 4096u
#define TB_ARENA_DEFAULT_MAX (64u << 20) /* 64 MiB per arena unless told otherwise */

struct tb_arena;

typedef void (*tb_arena_cleanup_fn)(void *arg);

/* max_bytes: cap on the memory the arena hands out (0 = TB_ARENA_DEFAULT_MAX). NULL on ENOMEM. */
struct tb_arena *tb_arena_new(size_t max_bytes);
/* Aligned for any type (max_align_t). NULL when out of memory or over the cap. */
void *tb_arena_alloc(struct tb_arena *a, size_t n);
/* Zeroed. */
void *tb_arena_calloc(struct tb_arena *a, size_t n);
void *tb_arena_memdup(struct tb_arena *a, const void *p, size_t n);
char *tb_arena_strdup(struct tb_arena *a, const char *s);
/* Copies n bytes and NUL-terminates. */
char *tb_arena_strndup(struct tb_arena *a, const char *s, size_t n);
char *tb_arena_printf(struct tb_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *tb_arena_vprintf(struct tb_arena *a, const char *fmt, va_list ap);
/* Registers fn(arg) to run at reset/free (LIFO). 0 or TB_ERR_NOMEM (fn is then NOT called). */
int tb_arena_add_cleanup(struct tb_arena *a, tb_arena_cleanup_fn fn, void *arg);
/* Bytes handed out since creation or the last reset. */
size_t tb_arena_used(const struct tb_arena *a);
/* Runs the cleanups and forgets every allocation; keeps one block for reuse. */
void tb_arena_reset(struct tb_arena *a);
/* Runs the cleanups and frees everything. NULL is fine. */
void tb_arena_free(struct tb_arena *a);

#endif
