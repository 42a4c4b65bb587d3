/* The store: migrations, group commit, durability callbacks, failing jobs, reopen. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/store.h"
#include "tb_test.h"

static const struct tb_migration migs_v1[] = {
	{ 1, "CREATE TABLE t_items (id INTEGER PRIMARY KEY, v TEXT NOT NULL)" },
	{ 0, NULL },
};
static const struct tb_migration migs_v2[] = {
	{ 1, "CREATE TABLE t_items (id INTEGER PRIMARY KEY, v TEXT NOT NULL)" },
	{ 2, "ALTER TABLE t_items ADD COLUMN extra INTEGER DEFAULT 7" },
	{ 0, NULL },
};
static const struct tb_migration migs_bad[] = {
	{ 1, "CREATE TABLE t_other (x)" },
	{ 2, "THIS IS NOT SQL" },
	{ 0, NULL },
};

struct insert {
	int id;
	int done_status;
	int done_called;
	int visible_at_done; /* was the row readable through the reader when done ran? */
	sqlite3 *reader;
};

static int count_rows(sqlite3 *db, int id)
{
	sqlite3_stmt *s;
	sqlite3_prepare_v2(db, "SELECT count(*) FROM t_items WHERE id=?", -1, &s, NULL);
	sqlite3_bind_int(s, 1, id);
	int n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
	sqlite3_finalize(s);
	return n;
}

static int insert_job(sqlite3 *db, void *arg)
{
	struct insert *in = arg;
	char sql[128];
	snprintf(sql, sizeof sql, "INSERT INTO t_items(id, v) VALUES(%d, 'x')", in->id);
	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : TB_ERR_STORE;
}

static void insert_done(int status, void *arg)
{
	struct insert *in = arg;
	in->done_called++;
	in->done_status = status;
	in->visible_at_done = count_rows(in->reader, in->id);
}

static int failing_job(sqlite3 *db, void *arg)
{
	/* Writes, then fails: the write must be rolled back alone. */
	sqlite3_exec(db, "INSERT INTO t_items(id, v) VALUES(999, 'partial')", NULL, NULL, NULL);
	return TB_ERR_INVALID;
}

/* Holds the writer so that the jobs queued meanwhile commit as one group. */
static int slow_job(sqlite3 *db, void *arg)
{
	usleep(200 * 1000);
	return 0;
}

/* What SQLite does after an I/O error in the middle of a group: the whole
 * transaction is rolled back and the connection is back in autocommit mode. */
static int lose_txn_job(sqlite3 *db, void *arg)
{
	sqlite3_exec(db, "INSERT INTO t_items(id, v) VALUES(2001, 'x')", NULL, NULL, NULL);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return TB_ERR_STORE;
}

static void count_done(int status, void *arg)
{
	int *p = arg;
	p[0]++;
	p[1] = status;
}

int main(void)
{
	char dir[] = "/tmp/tb-store-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[256];
	snprintf(path, sizeof path, "%s/sub/dir/test.db", dir);

	uv_loop_t loop;
	uv_loop_init(&loop);
	struct tb_store *st = NULL;
	CHECK_INT(tb_store_open(&st, &loop, path), 0);
	CHECK_INT(tb_store_migrate(st, "test", migs_v1), 0);
	CHECK_INT(tb_store_migrate(st, "test", migs_v1), 0); /* idempotent */

	/* Many jobs queued at once commit in groups; each done runs after its row is durable. */
	enum { N = 300 };
	struct insert *ins = calloc(N, sizeof *ins);
	for (int i = 0; i < N; i++) {
		ins[i].id = i + 1;
		ins[i].reader = tb_store_reader(st);
		CHECK_INT(tb_store_write(st, insert_job, insert_done, &ins[i]), 0);
	}
	int fail_state[2] = { 0, 0 };
	CHECK_INT(tb_store_write(st, failing_job, count_done, fail_state), 0);
	/* A duplicate primary key fails only its own job. */
	struct insert dup = { .id = 1, .reader = tb_store_reader(st) };
	CHECK_INT(tb_store_write(st, insert_job, insert_done, &dup), 0);
	while (fail_state[0] == 0 || dup.done_called == 0 || ins[N - 1].done_called == 0)
		uv_run(&loop, UV_RUN_ONCE);
	int all_ok = 1;
	for (int i = 0; i < N; i++)
		all_ok &= ins[i].done_called == 1 && ins[i].done_status == 0 && ins[i].visible_at_done == 1;
	CHECK(all_ok);
	CHECK_INT(fail_state[1], TB_ERR_INVALID);
	CHECK_INT(count_rows(tb_store_reader(st), 999), 0);
	CHECK(dup.done_status != 0);
	CHECK_INT(count_rows(tb_store_reader(st), 1), 1);

	struct tb_store_stats stats;
	tb_store_get_stats(st, &stats);
	CHECK_INT(stats.jobs, N);
	CHECK_INT(stats.failed_jobs, 2);
	/* Group commit: fewer commits than jobs (jobs were queued faster than fsync). */
	CHECK(stats.commits >= 1 && stats.commits < (uint64_t)N);
	printf("group commit: %llu jobs in %llu commits\n", (unsigned long long)stats.jobs,
		(unsigned long long)stats.commits);

	/* The group transaction rolled back under a job: every job of the group
	 * reports failure and none of their rows is there; a job after it must not
	 * write in autocommit mode (durable, yet reported failed). */
	{
		int slow[2] = { 0, 0 }, lost[2] = { 0, 0 };
		struct insert before = { .id = 2000, .reader = tb_store_reader(st) };
		struct insert after = { .id = 2002, .reader = tb_store_reader(st) };
		struct insert next = { .id = 2003, .reader = tb_store_reader(st) };
		CHECK_INT(tb_store_write(st, slow_job, count_done, slow), 0);
		usleep(50 * 1000); /* the writer is in slow_job: the next three wait as one group */
		CHECK_INT(tb_store_write(st, insert_job, insert_done, &before), 0);
		CHECK_INT(tb_store_write(st, lose_txn_job, count_done, lost), 0);
		CHECK_INT(tb_store_write(st, insert_job, insert_done, &after), 0);
		while (!slow[0] || !before.done_called || !lost[0] || !after.done_called)
			uv_run(&loop, UV_RUN_ONCE);
		CHECK(before.done_status != 0);
		CHECK_INT(count_rows(tb_store_reader(st), 2000), 0);
		CHECK_INT(count_rows(tb_store_reader(st), 2001), 0);
		/* Either outcome is honest for the job after; a row without success is not. */
		CHECK_INT(count_rows(tb_store_reader(st), 2002), after.done_status == 0 ? 1 : 0);
		CHECK(after.done_status != 0);
		/* The store goes on: the next group commits. */
		CHECK_INT(tb_store_write(st, insert_job, insert_done, &next), 0);
		while (!next.done_called)
			uv_run(&loop, UV_RUN_ONCE);
		CHECK_INT(next.done_status, 0);
		CHECK_INT(count_rows(tb_store_reader(st), 2003), 1);
	}

	/* kv */
	void *v;
	size_t vl;
	CHECK_INT(tb_store_kv_get(tb_store_reader(st), "nope", &v, &vl), TB_ERR_NOT_FOUND);

	/* A failing migration leaves earlier steps applied and reports an error. */
	CHECK(tb_store_migrate(st, "bad", migs_bad) != 0);
	tb_store_close(st);
	uv_run(&loop, UV_RUN_DEFAULT);

	/* Reopen: data survived, migration continues from version 1 to 2. */
	CHECK_INT(tb_store_open(&st, &loop, path), 0);
	CHECK_INT(count_rows(tb_store_reader(st), N), 1);
	CHECK_INT(tb_store_migrate(st, "test", migs_v2), 0);
	sqlite3_stmt *s;
	sqlite3_prepare_v2(tb_store_reader(st), "SELECT extra FROM t_items WHERE id=5", -1, &s, NULL);
	CHECK_INT(sqlite3_step(s), SQLITE_ROW);
	CHECK_INT(sqlite3_column_int(s, 0), 7);
	sqlite3_finalize(s);
	sqlite3_prepare_v2(tb_store_reader(st), "SELECT version FROM schema_version WHERE subsystem='bad'", -1, &s,
		NULL);
	CHECK_INT(sqlite3_step(s), SQLITE_ROW);
	CHECK_INT(sqlite3_column_int(s, 0), 1);
	sqlite3_finalize(s);
	tb_store_close(st);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	free(ins);

	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
	return tb_test_result("store");
}
