/* err.c: the first-error-wins error record (see err.h). */
#include "base.h"
#include "err.h"

#include <stdarg.h>
#include <string.h>

void err_clear(struct smol_err *e)
{
    if (!e)
        return;
    e->code = 0;
    e->msg[0] = '\0';
}

int err_set(struct smol_err *e, int code, const char *fmt, ...)
{
    if (!e || e->code != 0)
        return code;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return code;
}

const char *err_str(int code)
{
    switch (code) {
    case SMOL_OK: return "ok";
    case SMOL_EINVAL: return "invalid argument";
    case SMOL_ENOMEM: return "out of memory";
    case SMOL_EIO: return "i/o error";
    case SMOL_EFORMAT: return "format error";
    case SMOL_ERANGE: return "value out of range";
    case SMOL_EUNSUPPORTED: return "unsupported";
    case SMOL_ENOTFOUND: return "not found";
    case SMOL_ECANCELED: return "canceled";
    case SMOL_EFULL: return "full";
    default: return "unknown error";
    }
}
