/*
 * Leveled logging: text lines (`2026-11-25T21:00:00Z info  [acme] message`) or
 * JSON lines ({"ts":...,"level":...,"tag":...,"msg":...}), to stderr.
 * Every line carries the subsystem tag of whoever logged it.
 */
#ifndef TB_LOG_H
#define TB_LOG_H

enum tb_log_level { TB_LOG_DEBUG, TB_LOG_INFO, TB_LOG_WARN, TB_LOG_ERROR, TB_LOG_OFF };

void tb_log_set_level(enum tb_log_level min);
void tb_log_set_json(int json);
/* Parses "debug", "info", "warn", "error", "off"; -1 when unknown. */
int tb_log_level_parse(const char *s);
int tb_log_enabled(enum tb_log_level level);
void tb_log(enum tb_log_level level, const char *tag, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define TB_DEBUG(tag, ...) (tb_log_enabled(TB_LOG_DEBUG) ? tb_log(TB_LOG_DEBUG, tag, __VA_ARGS__) : (void)0)
#define TB_INFO(tag, ...) tb_log(TB_LOG_INFO, tag, __VA_ARGS__)
#define TB_WARN(tag, ...) tb_log(TB_LOG_WARN, tag, __VA_ARGS__)
#define TB_ERROR(tag, ...) tb_log(TB_LOG_ERROR, tag, __VA_ARGS__)

#endif
