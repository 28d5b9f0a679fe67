/*
** router.c -- Django-like URL patterns with typed parameters.
**
** A pattern is literal segments and converters: "/items/<int:id>",
** "/hello/<str:name>", "/files/<path:rest>". Converters, as Django's:
**   int   one or more decimal digits (a value beyond long long is a 400)
**   str   any non-empty text without '/'
**   slug  letters, digits, '-' and '_'
**   path  the rest of the path, '/' included
** The table is filled before fork, so a route's index names the same view
** in every worker (the shared statistics are indexed by it).
*/
#include "views.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static route routes[VIEWS_MAX_ROUTES];
static int nroutes;

int router_add(const char *pattern, unsigned methods, const char *name, view_fn fn)
{
    if (nroutes >= VIEWS_MAX_ROUTES || strlen(pattern) >= sizeof routes[0].pattern)
        return -1;
    route *r = &routes[nroutes];
    snprintf(r->pattern, sizeof r->pattern, "%s", pattern);
    snprintf(r->name, sizeof r->name, "%s", name);
    r->methods = methods;
    r->fn = fn;
    r->internal = strncmp(pattern, "/debug", 6) == 0 || strcmp(pattern, "/metrics") == 0;
    return nroutes++;
}

int router_count(void) { return nroutes; }
const route *router_get(int i) { return i >= 0 && i < nroutes ? &routes[i] : NULL; }

unsigned method_bit(const char *m)
{
    if (!strcmp(m, "GET") || !strcmp(m, "HEAD"))
        return M_GET;
    if (!strcmp(m, "POST"))
        return M_POST;
    if (!strcmp(m, "PUT"))
        return M_PUT;
    if (!strcmp(m, "DELETE"))
        return M_DELETE;
    if (!strcmp(m, "PATCH"))
        return M_PATCH;
    return 0;
}

void methods_str(unsigned methods, char *out, size_t size)
{
    static const char *const names[] = {"GET, HEAD", "POST", "PUT", "DELETE", "PATCH"};
    size_t used = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < 5; i++)
        if (methods & (1u << i)) {
            int n = snprintf(out + used, size - used, "%s%s", used ? ", " : "", names[i]);
            if (n < 0 || (size_t)n >= size - used)
                return;
            used += (size_t)n;
        }
}

enum { MATCH = 0, NOMATCH = 1, TYPEMISMATCH = 2, OUTOFRANGE = 3 };

/* Match one pattern against a path; fills r->params on MATCH. */
static int match(const char *pat, const char *path, view_request *r, char *why, size_t whysize)
{
    int np = 0;
    bool typed_fail = false;
    while (*pat && *path) {
        if (*pat != '<') {
            if (*pat != *path)
                return typed_fail ? TYPEMISMATCH : NOMATCH;
            pat++;
            path++;
            continue;
        }
        /* <conv:name> */
        const char *colon = strchr(pat, ':');
        const char *close = strchr(pat, '>');
        if (!colon || !close || colon > close || np >= VIEWS_MAX_PARAMS)
            return NOMATCH;
        size_t clen = (size_t)(colon - pat - 1);
        const char *conv = pat + 1;
        char name[32];
        size_t nlen = (size_t)(close - colon - 1);
        if (nlen >= sizeof name)
            nlen = sizeof name - 1;
        memcpy(name, colon + 1, nlen);
        name[nlen] = '\0';
        pat = close + 1;
        const char *end = path;
        bool is_path = clen == 4 && !strncmp(conv, "path", 4);
        while (*end && (is_path || *end != '/'))
            end++;
        size_t vlen = (size_t)(end - path);
        view_param *p = &r->params[np];
        p->name = NULL;
        p->is_int = false;
        bool ok = vlen > 0 && vlen < sizeof p->s;
        if (ok && clen == 3 && !strncmp(conv, "int", 3)) {
            for (size_t i = 0; i < vlen; i++)
                ok = ok && path[i] >= '0' && path[i] <= '9';
            if (ok) {
                char tmp[32];
                if (vlen >= sizeof tmp) {
                    snprintf(why, whysize, "parameter '%s' is out of range", name);
                    return OUTOFRANGE;
                }
                memcpy(tmp, path, vlen);
                tmp[vlen] = '\0';
                errno = 0;
                p->i = strtoll(tmp, NULL, 10);
                if (errno) {
                    snprintf(why, whysize, "parameter '%s' is out of range", name);
                    return OUTOFRANGE;
                }
                p->is_int = true;
            }
        } else if (ok && clen == 4 && !strncmp(conv, "slug", 4)) {
            for (size_t i = 0; i < vlen; i++) {
                char c = path[i];
                ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '_');
            }
        } else if (ok && !(clen == 3 && !strncmp(conv, "str", 3)) && !is_path) {
            ok = false;
        }
        if (!ok) {
            if (vlen > 0 && !typed_fail) {
                snprintf(why, whysize, "'%.*s' is not a valid <%.*s:%s>", (int)(vlen > 40 ? 40 : vlen),
                         path, (int)clen, conv, name);
                typed_fail = true;
            }
            path = end;
            continue;
        }
        memcpy(p->s, path, vlen);
        p->s[vlen] = '\0';
        /* The name must outlive the request: point into the pattern. */
        p->name = colon + 1;
        np++;
        path = end;
    }
    if (*pat || *path)
        return typed_fail ? TYPEMISMATCH : NOMATCH;
    if (typed_fail)
        return TYPEMISMATCH;
    r->nparams = np;
    return MATCH;
}

int router_match(const char *path, const char *method, view_request *r, unsigned *allowed)
{
    unsigned m = method_bit(method);
    char why[160] = "";
    int status = 404;
    *allowed = 0;
    r->route = -1;
    for (int i = 0; i < nroutes; i++) {
        char w[160] = "";
        int rc = match(routes[i].pattern, path, r, w, sizeof w);
        if (rc == MATCH) {
            *allowed |= routes[i].methods;
            if ((routes[i].methods & m) && r->route < 0) {
                r->route = i;
                /* Keep the parameters of this route (a later pattern may
                ** overwrite them): stop here. */
                return 0;
            }
        } else if (rc == OUTOFRANGE && status == 404) {
            status = 400;
            snprintf(why, sizeof why, "%.150s", w);
        } else if (rc == TYPEMISMATCH && !why[0]) {
            snprintf(why, sizeof why, "%.100s (route %.50s)", w, routes[i].pattern);
        }
    }
    if (*allowed) {
        snprintf(r->error, sizeof r->error, "method %.20s not allowed on %.200s", method, path);
        return 405;
    }
    if (status == 400)
        snprintf(r->error, sizeof r->error, "%.200s", why);
    else if (why[0])
        snprintf(r->error, sizeof r->error, "no route for %.80s: %.160s", path, why);
    else
        snprintf(r->error, sizeof r->error, "no route for %.200s", path);
    return status;
}

/* Parameter names point into the pattern: "name>..." */
static bool name_is(const view_param *p, const char *name)
{
    size_t n = strlen(name);
    return p->name && !strncmp(p->name, name, n) && p->name[n] == '>';
}

long long req_int(view_request *r, const char *name)
{
    for (int i = 0; i < r->nparams; i++)
        if (name_is(&r->params[i], name))
            return r->params[i].i;
    return 0;
}

const char *req_str(view_request *r, const char *name)
{
    for (int i = 0; i < r->nparams; i++)
        if (name_is(&r->params[i], name))
            return r->params[i].s;
    return "";
}

const char *req_query(view_request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

long long req_query_int(view_request *r, const char *name, long long dflt, long long lo, long long hi)
{
    const char *v = req_query(r, name);
    if (!v || !*v)
        return dflt;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || *end || x < lo || x > hi) {
        view_fail(r, 400, "query parameter '%s' must be an integer in [%lld, %lld]", name, lo, hi);
        return dflt;
    }
    return x;
}

vobj *view_fail(view_request *r, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof r->error, fmt, ap);
    va_end(ap);
    r->status = status;
    return NULL;
}
