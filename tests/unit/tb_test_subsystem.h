/*
 * One subsystem run in a unit test the way trustbox runs it, on the test's
 * own loop and core (whose store the test opened): its configuration
 * sections and core's HTTP server, then configure, migrations and start;
 * and the way back, running the loop until the subsystem and the server say
 * they stopped.
 */
#ifndef TB_TEST_SUBSYSTEM_H
#define TB_TEST_SUBSYSTEM_H

#include <uv.h>

#include "core/config.h"
#include "core/http.h"
#include "core/store.h"
#include "core/subsystem.h"

/* Runs lua against sub's sections into core->config and makes core->http (not listening yet). */
static int tb_test_configure(const struct tb_subsystem *sub, struct tb_core *core, uv_loop_t *loop,
			     const char *lua, char *err, size_t errlen)
{
	const struct tb_section_def *secs[8];
	size_t n = 0;
	for (const struct tb_section_def *const *d = sub->sections; d && *d; d++)
		secs[n++] = *d;
	core->config = tb_config_new(secs, n);
	int rc = tb_config_run_string(core->config, "test", lua, err, errlen);
	if (!rc)
		rc = tb_config_finish(core->config, err, errlen);
	if (!rc)
		rc = tb_http_server_new(&core->http, loop, NULL);
	return rc;
}

/* Configures sub on core, migrates its tables and starts it. */
static int tb_test_start(const struct tb_subsystem *sub, struct tb_core *core, void **state, char *err,
			 size_t errlen)
{
	int rc = sub->configure(core, state, err, errlen);
	if (!rc)
		rc = tb_store_migrate(core->store, sub->name, sub->migrations);
	if (!rc)
		rc = sub->start(*state);
	return rc;
}

static void tb_test_stopped(void *arg)
{
	*(int *)arg = 1;
}

/*
 * Stops sub and core's HTTP server, each within turns turns of the loop,
 * and frees them and core->config. Returns whether sub said it stopped.
 */
static int tb_test_stop(const struct tb_subsystem *sub, struct tb_core *core, uv_loop_t *loop,
			void **state, int turns)
{
	int done = 0, hdone = 0;
	sub->stop(*state, tb_test_stopped, &done);
	for (int i = 0; i < turns && !done; i++)
		uv_run(loop, UV_RUN_ONCE);
	tb_http_server_stop(core->http, tb_test_stopped, &hdone);
	for (int i = 0; i < turns && !hdone; i++)
		uv_run(loop, UV_RUN_ONCE);
	sub->free(*state);
	*state = NULL;
	tb_http_server_free(core->http);
	core->http = NULL;
	tb_config_free(core->config);
	core->config = NULL;
	return done;
}

#endif
