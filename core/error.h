/*
 * Error codes. Functions return 0 on success or a negative code: either
 * -errno (from the OS or libuv, which uses the same convention) or one of the
 * project codes below, which sit far below any errno. Map to protocol errors
 * (ACME problem types, DAP problems, DNS RCODEs, HTTP statuses) only at the edge.
 */
#ifndef TB_ERROR_H
#define TB_ERROR_H

enum {
	TB_OK = 0,
	TB_ERR_BASE = -10000,
	TB_ERR_INVALID = -10001,   /* malformed input */
	TB_ERR_TRUNCATED = -10002, /* input ended early */
	TB_ERR_TRAILING = -10003,  /* bytes left after a complete value */
	TB_ERR_TOO_LARGE = -10004, /* a named limit was exceeded */
	TB_ERR_NOMEM = -10005,
	TB_ERR_CRYPTO = -10006,    /* a cryptographic operation failed */
	TB_ERR_VERIFY = -10007,    /* a signature, MAC or proof did not verify */
	TB_ERR_NOT_FOUND = -10008,
	TB_ERR_EXISTS = -10009,
	TB_ERR_STATE = -10010,     /* operation not valid in the current state */
	TB_ERR_CONFIG = -10011,    /* configuration error */
	TB_ERR_STORE = -10012,     /* SQLite error */
	TB_ERR_IO = -10013,
	TB_ERR_TIMEOUT = -10014,
	TB_ERR_UNSUPPORTED = -10015,
	TB_ERR_CANCELED = -10016,
	TB_ERR_LAST = -10017,
};

/* A static, human-readable description of any code (project or -errno). */
const char *tb_strerror(int err);

#endif
