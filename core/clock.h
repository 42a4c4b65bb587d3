/*
 * Wall-clock time for protocol decisions (certificate validity, nonce and
 * TSIG windows, DAP report times, SCT and checkpoint timestamps).
 *
 * Every wall-clock read in core and the subsystems goes through here so that
 * a build with TB_FAULT_INJECTION can shift the clock while the process runs
 * (the reliability soak jumps it forward and back; LD_PRELOAD time fakers do
 * not mix with AddressSanitizer). Without TB_FAULT_INJECTION these are plain
 * clock_gettime(CLOCK_REALTIME) reads. Durations and timers keep using the
 * monotonic clock (uv_now, uv_hrtime), which a wall-clock jump never moves.
 */
#ifndef TB_CLOCK_H
#define TB_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Seconds since the Unix epoch (time(NULL)). */
int64_t tb_time_now(void);
/* Milliseconds since the Unix epoch. */
uint64_t tb_time_now_ms(void);
/* The wall clock as a timespec (clock_gettime(CLOCK_REALTIME)). */
void tb_time_now_ts(struct timespec *ts);

#ifdef TB_FAULT_INJECTION
/*
 * The fault file: the path in the environment variable TB_FAULT_FILE, lines
 * "name value" (see docs/reliability.md). It is re-read at most every
 * 100 ms, when its modification time changed. Returns the value of NAME, or
 * def when the file or the line is missing. Thread-safe.
 */
double tb_fault_value(const char *name, double def);
#endif

#endif
