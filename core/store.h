/*
 * The store: one SQLite file in WAL mode.
 *
 * The loop thread owns a read connection (WAL readers never block on the
 * writer). Every write goes to one writer thread as a job; the writer runs
 * queued jobs back to back inside one transaction (each in its own SAVEPOINT,
 * so a failing job rolls back alone) and commits the group with
 * synchronous=FULL: one fsync for many jobs. Only after that commit returns
 * does each job's done callback run, on the loop thread, with the job's own
 * result. That is the moment a subsystem may promise something to a client.
 *
 * Each subsystem owns tables prefixed with its name and an ordered list of
 * migrations; schema_version(subsystem, version) records what ran.
 */
#ifndef TB_STORE_H
#define TB_STORE_H

#include <sqlite3.h>
#include <stdint.h>
#include <uv.h>

struct tb_store;

/* Runs on the writer thread inside the group transaction. Returns 0 or an error (job rolled back). */
typedef int (*tb_store_job_fn)(sqlite3 *db, void *arg);
/* Runs on the loop thread once the group is durable (status 0) or failed. */
typedef void (*tb_store_done_fn)(int status, void *arg);

struct tb_migration {
	int version;       /* 1, 2, 3... in order */
	const char *sql;   /* one or more statements */
};

struct tb_store_stats {
	uint64_t commits;          /* group commits */
	uint64_t jobs;             /* jobs committed */
	uint64_t failed_jobs;
	double commit_seconds_sum; /* time spent in COMMIT (fsync) */
	uint64_t commit_buckets[12]; /* latency histogram, see tb_store_bucket_bounds */
	uint64_t writer_cache_bytes; /* page cache of the writer connection, after the last commit */
	uint64_t reader_cache_bytes; /* page cache of the loop thread's reader connection, now */
	uint64_t sqlite_memory_bytes; /* sqlite3_memory_used(): all of SQLite's heap, now */
};
extern const double tb_store_bucket_bounds[12];

/* Opens (creating directories as needed) and starts the writer thread. */
int tb_store_open(struct tb_store **out, uv_loop_t *loop, const char *path);
/* Applies the subsystem's pending migrations, synchronously (start-up only). */
int tb_store_migrate(struct tb_store *st, const char *subsystem, const struct tb_migration *m);
/* Queues a write job. done may be NULL. Returns an error only if the store is closing. */
int tb_store_write(struct tb_store *st, tb_store_job_fn job, tb_store_done_fn done, void *arg);
/* Runs a write job and waits for its commit (start-up and CLI only, never on a live loop). */
int tb_store_write_sync(struct tb_store *st, tb_store_job_fn job, void *arg);
/* The loop thread's read connection. */
sqlite3 *tb_store_reader(struct tb_store *st);
/* Loop thread only (it reads the reader connection's status). */
void tb_store_get_stats(struct tb_store *st, struct tb_store_stats *out);
/* Waits for queued jobs to commit, stops the writer, closes both connections. */
void tb_store_close(struct tb_store *st);

/* Convenience for key/value state owned by core and subsystems (table kv). */
int tb_store_kv_get(sqlite3 *db, const char *key, void **val, size_t *len);
int tb_store_kv_put(sqlite3 *db, const char *key, const void *val, size_t len);

#endif
