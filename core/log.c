#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static enum tb_log_level min_level = TB_LOG_INFO;
static int json_lines;

static const char *const names[] = { "debug", "info", "warn", "error", "off" };

void tb_log_set_level(enum tb_log_level min) { min_level = min; }
void tb_log_set_json(int json) { json_lines = json; }
int tb_log_enabled(enum tb_log_level level) { return level >= min_level; }

int tb_log_level_parse(const char *s)
{
	for (int i = 0; i <= TB_LOG_OFF; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

static void json_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
}

void tb_log(enum tb_log_level level, const char *tag, const char *fmt, ...)
{
	if (level < min_level || level >= TB_LOG_OFF)
		return;
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);

	struct timeval tv;
	gettimeofday(&tv, NULL);
	struct tm tm;
	gmtime_r(&tv.tv_sec, &tm);
	char ts[40];
	size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof ts - n, ".%03dZ", (int)(tv.tv_usec / 1000));

	flockfile(stderr);
	if (json_lines) {
		fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"tag\":\"", ts, names[level]);
		json_escape(stderr, tag ? tag : "core");
		fputs("\",\"msg\":\"", stderr);
		json_escape(stderr, msg);
		fputs("\"}\n", stderr);
	} else {
		fprintf(stderr, "%s %-5s [%s] %s\n", ts, names[level], tag ? tag : "core", msg);
	}
	funlockfile(stderr);
}
