/* Fuzzes the configuration loader: arbitrary bytes as a user's Lua file over the default config. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

static const struct tb_option child_opts[] = {
	{ "name", TB_OPT_STRING, NULL, "", 0, 0, NULL, NULL, 1 },
	{ "n", TB_OPT_INT, "1", "", 0, 10 },
	TB_OPTIONS_END
};
static const struct tb_option opts[] = {
	{ "b", TB_OPT_BOOL, "true", "" },
	{ "i", TB_OPT_INT, "5", "", 0, 100 },
	{ "x", TB_OPT_NUMBER, "0.5", "" },
	{ "e", TB_OPT_ENUM, "\"a\"", "", 0, 0, "a|b" },
	{ "s", TB_OPT_STRINGS, "[]", "" },
	{ "t", TB_OPT_TABLE, "{}", "", 0, 0, NULL, child_opts + 1 },
	{ "l", TB_OPT_TABLES, "[]", "", 0, 0, NULL, child_opts },
	{ "m", TB_OPT_MAP, "{}", "" },
	{ "f", TB_OPT_FUNCTION, NULL, "" },
	TB_OPTIONS_END
};
static const struct tb_section_def sec = { "demo", opts, 0, "" };
static const struct tb_section_def rep = { "many", child_opts, 1, "" };
static const struct tb_section_def *const secs[] = { &sec, &rep };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tb_config *cfg = tb_config_new(secs, 2);
	if (!cfg)
		return 0;
	tb_config_set_limits(cfg, 16u << 20, 2000000);
	char *src = malloc(size + 1);
	memcpy(src, data, size);
	src[size] = 0;
	char err[256];
	if (tb_config_run_string(cfg, "=default", tb_default_config, err, sizeof err) == 0 &&
		tb_config_run_string(cfg, "=fuzz", src, err, sizeof err) == 0 &&
		tb_config_finish(cfg, err, sizeof err) == 0) {
		char *d = tb_config_dump(cfg);
		free(d);
	}
	free(src);
	tb_config_free(cfg);
	return 0;
}
