/*
 * DESIGN: the store is one SQLite file in WAL mode with two connections.
 * The loop thread reads through its own connection; one writer thread owns
 * the write connection. tb_store_write() queues a job under a mutex and wakes
 * the writer; the writer takes every queued job, opens one transaction, runs
 * each job in a SAVEPOINT (a failing job is rolled back alone), and COMMITs
 * with synchronous=FULL: one fsync for the whole group. Finished jobs go to a
 * done-queue and a uv_async_t wakes the loop, which runs their callbacks. A
 * callback therefore never runs before its data is durable.
 */
#include "core/store.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/log.h"

#define STORE_MAX_GROUP 512 /* jobs per group commit */
/*
 * Page cache per connection, in KiB (PRAGMA cache_size = -TB_STORE_CACHE_KIB):
 * SQLite's own default (2000 KiB) made explicit, so that the store's memory
 * is bounded by about twice this plus SQLite's other allocations, whatever
 * the database's size. /metrics shows both (tb_store_cache_bytes,
 * tb_store_sqlite_memory_bytes).
 */
#define TB_STORE_CACHE_KIB 2048

const double tb_store_bucket_bounds[12] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
	0.05, 0.1, 0.25, 0.5, 1, 2.5 };

struct job {
	tb_store_job_fn fn;
	tb_store_done_fn done;
	void *arg;
	int status;
	/* For tb_store_write_sync: the waiting thread's signal. */
	int sync;
	int finished;
	struct job *next;
};

struct tb_store {
	uv_loop_t *loop;
	sqlite3 *reader;
	sqlite3 *writer;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t wake;      /* writer: jobs queued or closing */
	pthread_cond_t sync_done; /* tb_store_write_sync waiters */
	struct job *queue, *queue_tail;
	struct job *done, *done_tail;
	int closing;
	int thread_started;
	uv_async_t async;
	/* Jobs queued through tb_store_write whose callbacks have not run
	 * (loop thread only). The async handle keeps the loop alive exactly
	 * while this is non-zero. */
	size_t outstanding;
	struct tb_store_stats stats;
	/* Writer connection: commits allowed (see commit_hook). */
	int allow_commit;
};

#ifdef TB_FAULT_INJECTION
/*
 * Fault injection (builds with TB_FAULT_INJECTION only; the reliability soak
 * drives it through the fault file, see core/clock.h and docs/reliability.md):
 *   store_write_error P   each write of the writer connection fails with
 *                         probability P (SQLITE_IOERR_WRITE)
 *   store_fsync_error P   each fsync fails with probability P (SQLITE_IOERR_FSYNC)
 *   store_commit_sleep_ms N   every group commit waits N ms first (a slow disk)
 * The writer connection opens through "tb_fault", a VFS that forwards every
 * call to the default VFS and fails the writes and syncs it is told to.
 */
struct fault_file {
	sqlite3_file base;
	sqlite3_file *real; /* the default VFS's file, allocated right after this struct */
};

static sqlite3_vfs *fault_real_vfs;

static int fault_hit(const char *name)
{
	double p = tb_fault_value(name, 0);
	if (p <= 0)
		return 0;
	if (p < 1 && (double)random() / RAND_MAX >= p)
		return 0;
	TB_WARN("store", "fault injection: %s", name);
	return 1;
}

#define REAL(f) (((struct fault_file *)(f))->real)
static int ff_close(sqlite3_file *f) { return REAL(f)->pMethods->xClose(REAL(f)); }
static int ff_read(sqlite3_file *f, void *b, int n, sqlite3_int64 off) { return REAL(f)->pMethods->xRead(REAL(f), b, n, off); }
static int ff_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 off)
{
	if (fault_hit("store_write_error"))
		return SQLITE_IOERR_WRITE;
	return REAL(f)->pMethods->xWrite(REAL(f), b, n, off);
}
static int ff_truncate(sqlite3_file *f, sqlite3_int64 n) { return REAL(f)->pMethods->xTruncate(REAL(f), n); }
static int ff_sync(sqlite3_file *f, int flags)
{
	if (fault_hit("store_fsync_error"))
		return SQLITE_IOERR_FSYNC;
	return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int ff_size(sqlite3_file *f, sqlite3_int64 *n) { return REAL(f)->pMethods->xFileSize(REAL(f), n); }
static int ff_lock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
static int ff_unlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }
static int ff_reserved(sqlite3_file *f, int *r) { return REAL(f)->pMethods->xCheckReservedLock(REAL(f), r); }
static int ff_control(sqlite3_file *f, int op, void *a) { return REAL(f)->pMethods->xFileControl(REAL(f), op, a); }
static int ff_sector(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int ff_devchar(sqlite3_file *f) { return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f)); }
static int ff_shm_map(sqlite3_file *f, int pg, int sz, int ext, void volatile **pp) { return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, pp); }
static int ff_shm_lock(sqlite3_file *f, int off, int n, int flags) { return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags); }
static void ff_shm_barrier(sqlite3_file *f) { REAL(f)->pMethods->xShmBarrier(REAL(f)); }
static int ff_shm_unmap(sqlite3_file *f, int del) { return REAL(f)->pMethods->xShmUnmap(REAL(f), del); }
static int ff_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp) { return REAL(f)->pMethods->xFetch(REAL(f), off, n, pp); }
static int ff_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p) { return REAL(f)->pMethods->xUnfetch(REAL(f), off, p); }

static const sqlite3_io_methods fault_io = {
	3, ff_close, ff_read, ff_write, ff_truncate, ff_sync, ff_size, ff_lock, ff_unlock, ff_reserved,
	ff_control, ff_sector, ff_devchar, ff_shm_map, ff_shm_lock, ff_shm_barrier, ff_shm_unmap,
	ff_fetch, ff_unfetch,
};

static int fault_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
	struct fault_file *ff = (struct fault_file *)f;
	ff->real = (sqlite3_file *)(ff + 1);
	int rc = fault_real_vfs->xOpen(fault_real_vfs, name, ff->real, flags, out_flags);
	/* SQLite calls xClose only when pMethods is set: mirror the real file. */
	ff->base.pMethods = ff->real->pMethods ? &fault_io : NULL;
	return rc;
}

static sqlite3_vfs fault_vfs;
static int fault_vfs_ok;

static void fault_vfs_init(void)
{
	fault_real_vfs = sqlite3_vfs_find(NULL);
	if (!fault_real_vfs)
		return;
	/* Every other method of the default VFS works unchanged on the copy. */
	fault_vfs = *fault_real_vfs;
	fault_vfs.zName = "tb_fault";
	fault_vfs.szOsFile = (int)sizeof(struct fault_file) + fault_real_vfs->szOsFile;
	fault_vfs.xOpen = fault_open;
	fault_vfs_ok = sqlite3_vfs_register(&fault_vfs, 0) == SQLITE_OK;
}

/* Registers "tb_fault" once; returns its name, or NULL (the default VFS) on failure. */
static const char *fault_vfs_name(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, fault_vfs_init);
	return fault_vfs_ok ? "tb_fault" : NULL;
}

/* A slow disk: the writer waits before each group commit. */
static void fault_commit_sleep(void)
{
	double ms = tb_fault_value("store_commit_sleep_ms", 0);
	if (ms <= 0)
		return;
	struct timespec ts = { (time_t)(ms / 1000), (long)((ms - 1000 * (double)(time_t)(ms / 1000)) * 1e6) };
	nanosleep(&ts, NULL);
}
#endif

static int exec_sql(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		TB_ERROR("store", "%s: %s", sql, msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return TB_ERR_STORE;
	}
	return 0;
}

static int mkdirs(const char *path)
{
	char tmp[4096];
	if (strlen(path) >= sizeof tmp)
		return TB_ERR_TOO_LARGE;
	strcpy(tmp, path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

static int open_conn(const char *path, int flags, sqlite3 **out)
{
	const char *vfs = NULL;
#ifdef TB_FAULT_INJECTION
	/* Only the writer's writes and syncs fail; reads keep working. */
	if (!(flags & SQLITE_OPEN_READONLY))
		vfs = fault_vfs_name();
#endif
	int rc = sqlite3_open_v2(path, out, flags | SQLITE_OPEN_NOMUTEX, vfs);
	if (rc != SQLITE_OK) {
		TB_ERROR("store", "cannot open %s: %s", path, *out ? sqlite3_errmsg(*out) : sqlite3_errstr(rc));
		sqlite3_close(*out);
		*out = NULL;
		return TB_ERR_STORE;
	}
	char sql[48];
	snprintf(sql, sizeof sql, "PRAGMA cache_size=-%d", TB_STORE_CACHE_KIB);
	sqlite3_exec(*out, sql, NULL, NULL, NULL);
	sqlite3_busy_timeout(*out, 5000);
	sqlite3_extended_result_codes(*out, 1);
	return 0;
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Only run_group's own COMMIT may commit on the writer connection. An I/O
 * error (a full disk, a failed write) can make SQLite roll the whole group
 * transaction back in the middle of a job; every statement after that would
 * run in autocommit mode and be durable at once, while the job is reported
 * failed. The hook turns such a commit into a rollback (the statement fails).
 */
static int commit_hook(void *arg)
{
	struct tb_store *st = arg;
	return !st->allow_commit;
}

static void run_group(struct tb_store *st, struct job *jobs)
{
	int began = exec_sql(st->writer, "BEGIN IMMEDIATE") == 0;
	st->allow_commit = 0;
	for (struct job *j = jobs; j; j = j->next) {
		/* The transaction is gone (rolled back by SQLite after an error): so is the group. */
		if (!began || sqlite3_get_autocommit(st->writer)) {
			j->status = TB_ERR_STORE;
			continue;
		}
		exec_sql(st->writer, "SAVEPOINT job");
		j->status = j->fn(st->writer, j->arg);
		if (j->status != 0) {
			exec_sql(st->writer, "ROLLBACK TO job");
			TB_DEBUG("store", "write job failed: %s", tb_strerror(j->status));
		}
		exec_sql(st->writer, "RELEASE job");
	}
	st->allow_commit = 1;
	if (began && sqlite3_get_autocommit(st->writer)) {
		size_t n = 0;
		for (struct job *j = jobs; j; j = j->next, n++)
			j->status = TB_ERR_STORE;
		TB_ERROR("store", "the group transaction was rolled back: %zu job(s) failed", n);
		pthread_mutex_lock(&st->mu);
		st->stats.failed_jobs += n;
		pthread_mutex_unlock(&st->mu);
		began = 0;
	}
	if (began) {
#ifdef TB_FAULT_INJECTION
		fault_commit_sleep();
#endif
		double t0 = now_seconds();
		if (exec_sql(st->writer, "COMMIT") != 0) {
			exec_sql(st->writer, "ROLLBACK");
			for (struct job *j = jobs; j; j = j->next)
				j->status = TB_ERR_STORE;
		}
		double dt = now_seconds() - t0;
		/* The writer's page cache, read on its own thread (the connection is NOMUTEX). */
		int cache = 0, hi = 0;
		sqlite3_db_status(st->writer, SQLITE_DBSTATUS_CACHE_USED, &cache, &hi, 0);
		pthread_mutex_lock(&st->mu);
		st->stats.writer_cache_bytes = (uint64_t)cache;
		st->stats.commits++;
		st->stats.commit_seconds_sum += dt;
		for (int b = 0; b < 12; b++)
			if (dt <= tb_store_bucket_bounds[b])
				st->stats.commit_buckets[b]++;
		for (struct job *j = jobs; j; j = j->next) {
			if (j->status)
				st->stats.failed_jobs++;
			else
				st->stats.jobs++;
		}
		pthread_mutex_unlock(&st->mu);
	}
}

static void *writer_main(void *arg)
{
	struct tb_store *st = arg;
	pthread_mutex_lock(&st->mu);
	for (;;) {
		while (!st->queue && !st->closing)
			pthread_cond_wait(&st->wake, &st->mu);
		if (!st->queue && st->closing)
			break;
		/* Take up to STORE_MAX_GROUP jobs. */
		struct job *group = st->queue, *last = group;
		size_t n = 1;
		while (last->next && n < STORE_MAX_GROUP) {
			last = last->next;
			n++;
		}
		st->queue = last->next;
		if (!st->queue)
			st->queue_tail = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&st->mu);

		run_group(st, group);

		pthread_mutex_lock(&st->mu);
		int any_async = 0;
		for (struct job *j = group, *next; j; j = next) {
			next = j->next;
			j->next = NULL;
			if (j->sync) {
				j->finished = 1;
				continue;
			}
			if (st->done_tail)
				st->done_tail->next = j;
			else
				st->done = j;
			st->done_tail = j;
			any_async = 1;
		}
		pthread_cond_broadcast(&st->sync_done);
		if (any_async)
			uv_async_send(&st->async);
	}
	pthread_mutex_unlock(&st->mu);
	return NULL;
}

static void on_async(uv_async_t *a)
{
	struct tb_store *st = a->data;
	pthread_mutex_lock(&st->mu);
	struct job *list = st->done;
	st->done = st->done_tail = NULL;
	pthread_mutex_unlock(&st->mu);
	while (list) {
		struct job *j = list;
		list = j->next;
		if (j->done)
			j->done(j->status, j->arg);
		free(j);
		if (st->outstanding && --st->outstanding == 0)
			uv_unref((uv_handle_t *)&st->async);
	}
}

static void free_on_close(uv_handle_t *h)
{
	free(h->data);
}

int tb_store_open(struct tb_store **out, uv_loop_t *loop, const char *path)
{
	*out = NULL;
	int err = mkdirs(path);
	if (err) {
		TB_ERROR("store", "cannot create the directory of %s: %s", path, tb_strerror(err));
		return err;
	}
	struct tb_store *st = calloc(1, sizeof *st);
	if (!st)
		return TB_ERR_NOMEM;
	st->loop = loop;
	st->allow_commit = 1;
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->wake, NULL);
	pthread_cond_init(&st->sync_done, NULL);

	err = open_conn(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &st->writer);
	if (!err)
		sqlite3_commit_hook(st->writer, commit_hook, st);
	if (!err)
		err = exec_sql(st->writer, "PRAGMA journal_mode=WAL");
	if (!err)
		err = exec_sql(st->writer, "PRAGMA synchronous=FULL");
	if (!err)
		err = exec_sql(st->writer, "PRAGMA foreign_keys=ON");
	if (!err)
		err = exec_sql(st->writer,
			"CREATE TABLE IF NOT EXISTS schema_version ("
			" subsystem TEXT PRIMARY KEY, version INTEGER NOT NULL);"
			"CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL);");
	if (!err)
		err = open_conn(path, SQLITE_OPEN_READONLY, &st->reader);
	if (err) {
		sqlite3_close(st->writer);
		sqlite3_close(st->reader);
		free(st);
		return err;
	}
	if (loop) {
		uv_async_init(loop, &st->async, on_async);
		st->async.data = st;
		/* Idle, the store does not keep the loop running (see outstanding). */
		uv_unref((uv_handle_t *)&st->async);
	}
	if (pthread_create(&st->thread, NULL, writer_main, st) != 0) {
		sqlite3_close(st->writer);
		sqlite3_close(st->reader);
		if (loop)
			uv_close((uv_handle_t *)&st->async, NULL);
		free(st);
		return TB_ERR_IO;
	}
	st->thread_started = 1;
	*out = st;
	return 0;
}

int tb_store_migrate(struct tb_store *st, const char *subsystem, const struct tb_migration *m)
{
	if (!m)
		return 0;
	sqlite3 *db = st->writer;
	/* Start-up only: the writer thread is idle until the loop runs, so take the
	 * mutex to keep it off the connection while we use it directly. */
	pthread_mutex_lock(&st->mu);
	int current = 0, err = 0;
	sqlite3_stmt *s = NULL;
	sqlite3_prepare_v2(db, "SELECT version FROM schema_version WHERE subsystem=?", -1, &s, NULL);
	sqlite3_bind_text(s, 1, subsystem, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		current = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	for (; m->sql && !err; m++) {
		if (m->version <= current)
			continue;
		err = exec_sql(db, "BEGIN IMMEDIATE");
		if (!err)
			err = exec_sql(db, m->sql);
		if (!err) {
			sqlite3_prepare_v2(db,
				"INSERT INTO schema_version(subsystem, version) VALUES(?, ?) "
				"ON CONFLICT(subsystem) DO UPDATE SET version=excluded.version",
				-1, &s, NULL);
			sqlite3_bind_text(s, 1, subsystem, -1, SQLITE_STATIC);
			sqlite3_bind_int(s, 2, m->version);
			err = sqlite3_step(s) == SQLITE_DONE ? 0 : TB_ERR_STORE;
			sqlite3_finalize(s);
		}
		if (!err)
			err = exec_sql(db, "COMMIT");
		if (err) {
			exec_sql(db, "ROLLBACK");
			TB_ERROR("store", "migration %s/%d failed", subsystem, m->version);
		} else {
			TB_DEBUG("store", "migrated %s to version %d", subsystem, m->version);
		}
	}
	pthread_mutex_unlock(&st->mu);
	return err;
}

static int enqueue(struct tb_store *st, struct job *j)
{
	pthread_mutex_lock(&st->mu);
	if (st->closing) {
		pthread_mutex_unlock(&st->mu);
		return TB_ERR_STATE;
	}
	if (st->queue_tail)
		st->queue_tail->next = j;
	else
		st->queue = j;
	st->queue_tail = j;
	pthread_cond_signal(&st->wake);
	pthread_mutex_unlock(&st->mu);
	return 0;
}

int tb_store_write(struct tb_store *st, tb_store_job_fn fn, tb_store_done_fn done, void *arg)
{
	if (!st->loop)
		return TB_ERR_STATE;
	struct job *j = calloc(1, sizeof *j);
	if (!j)
		return TB_ERR_NOMEM;
	j->fn = fn;
	j->done = done;
	j->arg = arg;
	int err = enqueue(st, j);
	if (err) {
		free(j);
		return err;
	}
	if (st->outstanding++ == 0)
		uv_ref((uv_handle_t *)&st->async);
	return 0;
}

int tb_store_write_sync(struct tb_store *st, tb_store_job_fn fn, void *arg)
{
	struct job j = { .fn = fn, .arg = arg, .sync = 1 };
	int err = enqueue(st, &j);
	if (err)
		return err;
	pthread_mutex_lock(&st->mu);
	while (!j.finished)
		pthread_cond_wait(&st->sync_done, &st->mu);
	pthread_mutex_unlock(&st->mu);
	return j.status;
}

sqlite3 *tb_store_reader(struct tb_store *st)
{
	return st->reader;
}

void tb_store_get_stats(struct tb_store *st, struct tb_store_stats *out)
{
	pthread_mutex_lock(&st->mu);
	*out = st->stats;
	pthread_mutex_unlock(&st->mu);
	/* The reader is the loop thread's, as is this call. */
	int cache = 0, hi = 0;
	if (st->reader)
		sqlite3_db_status(st->reader, SQLITE_DBSTATUS_CACHE_USED, &cache, &hi, 0);
	out->reader_cache_bytes = (uint64_t)cache;
	out->sqlite_memory_bytes = (uint64_t)sqlite3_memory_used();
}

void tb_store_close(struct tb_store *st)
{
	if (!st)
		return;
	pthread_mutex_lock(&st->mu);
	st->closing = 1;
	pthread_cond_signal(&st->wake);
	pthread_mutex_unlock(&st->mu);
	if (st->thread_started)
		pthread_join(st->thread, NULL);
	/* Jobs that committed but whose callbacks have not run yet: run them now. */
	if (st->loop) {
		on_async(&st->async);
		/* st is freed by the close callback, once the loop runs again. */
		uv_close((uv_handle_t *)&st->async, free_on_close);
	}
	sqlite3_close(st->reader);
	exec_sql(st->writer, "PRAGMA wal_checkpoint(TRUNCATE)");
	sqlite3_close(st->writer);
	pthread_mutex_destroy(&st->mu);
	pthread_cond_destroy(&st->wake);
	pthread_cond_destroy(&st->sync_done);
	if (!st->loop)
		free(st);
}

int tb_store_kv_get(sqlite3 *db, const char *key, void **val, size_t *len)
{
	sqlite3_stmt *s = NULL;
	*val = NULL;
	*len = 0;
	if (sqlite3_prepare_v2(db, "SELECT value FROM kv WHERE key=?", -1, &s, NULL) != SQLITE_OK)
		return TB_ERR_STORE;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s), err = 0;
	if (rc == SQLITE_ROW) {
		int n = sqlite3_column_bytes(s, 0);
		const void *p = sqlite3_column_blob(s, 0);
		*val = malloc((size_t)n + 1);
		if (!*val) {
			err = TB_ERR_NOMEM;
		} else {
			if (n)
				memcpy(*val, p, (size_t)n);
			((char *)*val)[n] = 0;
			*len = (size_t)n;
		}
	} else {
		err = rc == SQLITE_DONE ? TB_ERR_NOT_FOUND : TB_ERR_STORE;
	}
	sqlite3_finalize(s);
	return err;
}

int tb_store_kv_put(sqlite3 *db, const char *key, const void *val, size_t len)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(db, "INSERT INTO kv(key, value) VALUES(?, ?) "
			"ON CONFLICT(key) DO UPDATE SET value=excluded.value", -1, &s, NULL) != SQLITE_OK)
		return TB_ERR_STORE;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 2, val, (int)len, SQLITE_STATIC);
	int err = sqlite3_step(s) == SQLITE_DONE ? 0 : TB_ERR_STORE;
	sqlite3_finalize(s);
	return err;
}
