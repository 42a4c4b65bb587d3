#include "core/error.h"

#include <string.h>

static const char *const messages[] = {
	[0] = "success",
	[-(TB_ERR_INVALID - TB_ERR_BASE)] = "invalid input",
	[-(TB_ERR_TRUNCATED - TB_ERR_BASE)] = "input truncated",
	[-(TB_ERR_TRAILING - TB_ERR_BASE)] = "trailing data",
	[-(TB_ERR_TOO_LARGE - TB_ERR_BASE)] = "limit exceeded",
	[-(TB_ERR_NOMEM - TB_ERR_BASE)] = "out of memory",
	[-(TB_ERR_CRYPTO - TB_ERR_BASE)] = "cryptographic operation failed",
	[-(TB_ERR_VERIFY - TB_ERR_BASE)] = "verification failed",
	[-(TB_ERR_NOT_FOUND - TB_ERR_BASE)] = "not found",
	[-(TB_ERR_EXISTS - TB_ERR_BASE)] = "already exists",
	[-(TB_ERR_STATE - TB_ERR_BASE)] = "invalid state",
	[-(TB_ERR_CONFIG - TB_ERR_BASE)] = "configuration error",
	[-(TB_ERR_STORE - TB_ERR_BASE)] = "store error",
	[-(TB_ERR_IO - TB_ERR_BASE)] = "I/O error",
	[-(TB_ERR_TIMEOUT - TB_ERR_BASE)] = "timed out",
	[-(TB_ERR_UNSUPPORTED - TB_ERR_BASE)] = "unsupported",
	[-(TB_ERR_CANCELED - TB_ERR_BASE)] = "canceled",
};

const char *tb_strerror(int err)
{
	if (err == 0)
		return messages[0];
	if (err < TB_ERR_BASE && err > TB_ERR_LAST) {
		const char *m = messages[-(err - TB_ERR_BASE)];
		return m ? m : "unknown error";
	}
	if (err < 0 && err > TB_ERR_BASE)
		return strerror(-err);
	return "unknown error";
}
