/*
** rcgc-snap -- reports on rcgc snapshot files (rcgc_snapshot_dump): a
** summary, the top allocation sites by line, file, traceback, type or tag,
** the diff of two snapshots, and a self-contained HTML flame graph.
** Uses only the public API (include/rcgc.h); the file reader is the
** library's own (src/snapfile.c).
**
** Exit status: 0 success, 1 a snapshot could not be read or an output
** could not be written, 2 usage error.
*/
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rcgc.h"

#define PROG "rcgc-snap"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: " PROG " summary FILE\n"
            "       " PROG " top [--by KEY] [--cumulative] [-n N] FILE\n"
            "       " PROG " diff [--by KEY] [--cumulative] [-n N] OLD NEW\n"
            "       " PROG " flame [-o OUT.html] [--title TEXT] FILE\n"
            "       " PROG " --help | --version\n"
            "\n"
            "Reports on snapshot files written by rcgc_snapshot_dump().\n"
            "  summary  traces, traced bytes, domains, the 10 largest lines\n"
            "  top      the largest groups (tracemalloc's Snapshot.statistics)\n"
            "  diff     NEW compared to OLD (Snapshot.compare_to), largest change first\n"
            "  flame    an HTML flame graph of traced bytes by traceback (stdout or -o)\n"
            "\n"
            "KEY is lineno (default), filename, traceback, type or tag; -n 0 shows all\n"
            "(default 10). --cumulative counts every frame of a traceback (lineno and\n"
            "filename only). Sampled snapshots report estimates.\n"
            "Exit status: 0 ok, 1 unreadable or invalid snapshot, 2 usage error.\n");
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, PROG ": ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry '" PROG " --help' for more information.\n");
    return 2;
}

static rcgc_snapshot *load(const char *path)
{
    rcgc_snapshot *s = NULL;
    char err[512];
    rcgc_status st = rcgc_snapshot_load(path, &s, err, sizeof err);
    if (st != RCGC_OK) {
        fprintf(stderr, PROG ": %s\n", err[0] ? err : rcgc_strerror(st));
        return NULL;
    }
    return s;
}

static const char *key_name(rcgc_stat_key k)
{
    static const char names[5][10] = {"filename", "lineno", "traceback", "type", "tag"};
    return names[k];
}

static int parse_key(const char *s, rcgc_stat_key *out)
{
    for (int k = RCGC_STAT_FILENAME; k <= RCGC_STAT_TAG; k++) {
        if (strcmp(s, key_name((rcgc_stat_key)k)) == 0) {
            *out = (rcgc_stat_key)k;
            return 0;
        }
    }
    if (strcmp(s, "file") == 0 || strcmp(s, "line") == 0) {
        *out = s[0] == 'f' ? RCGC_STAT_FILENAME : RCGC_STAT_LINENO;
        return 0;
    }
    return -1;
}

static void print_traceback(const rcgc_traceback *tb)
{
    unsigned n = rcgc_traceback_nframe(tb);
    for (unsigned i = 0; i < n; i++) {
        rcgc_frame f = rcgc_traceback_frame(tb, i);
        printf("    %s:%u in %s\n", f.filename, f.lineno, f.function);
    }
}

static void print_stats(const rcgc_stats *st, rcgc_stat_key key, bool diff, size_t limit)
{
    size_t n = rcgc_stats_count(st);
    if (limit && n > limit)
        n = limit;
    char line[1024];
    for (size_t i = 0; i < n; i++) {
        const rcgc_stat *x = rcgc_stats_get(st, i);
        rcgc_stat_format(x, diff, line, sizeof line);
        printf("#%zu: %s\n", i + 1, line);
        if (key == RCGC_STAT_TRACEBACK && x->traceback)
            print_traceback(x->traceback);
    }
    size_t rest = rcgc_stats_count(st) - n;
    if (rest) {
        uint64_t size = 0, count = 0;
        for (size_t i = n; i < rcgc_stats_count(st); i++) {
            size += rcgc_stats_get(st, i)->size;
            count += rcgc_stats_get(st, i)->count;
        }
        printf("%zu other: size=%llu B, count=%llu\n", rest, (unsigned long long)size,
               (unsigned long long)count);
    }
}

/* ---- summary ------------------------------------------------------------ */

struct dom {
    unsigned domain;
    double size, count;
};

static int cmd_summary(const char *path)
{
    rcgc_snapshot *s = load(path);
    if (!s)
        return 1;
    size_t n = rcgc_snapshot_count(s);
    double size = 0, count = 0;
    struct dom doms[16];
    size_t ndoms = 0, other = 0;
    rcgc_trace t;
    for (size_t i = 0; rcgc_snapshot_get(s, i, &t); i++) {
        size += (double)t.size * t.weight;
        count += t.weight;
        size_t k = 0;
        while (k < ndoms && doms[k].domain != t.domain)
            k++;
        if (k == ndoms) {
            if (ndoms == 16) {
                other++;
                continue;
            }
            doms[ndoms++] = (struct dom){t.domain, 0, 0};
        }
        doms[k].size += (double)t.size * t.weight;
        doms[k].count += t.weight;
    }
    uint64_t mean = rcgc_snapshot_sample_mean(s);
    printf("snapshot: %s\n", path);
    printf("traces: %zu, traceback limit %u\n", n, rcgc_snapshot_traceback_limit(s));
    if (mean)
        printf("mode: sampled, mean interval %llu B (figures are estimates)\n",
               (unsigned long long)mean);
    else
        printf("mode: exact\n");
    printf("traced: %.0f B in %.0f blocks\n", size, count);
    for (size_t k = 0; k < ndoms; k++)
        printf("  domain %u: %.0f B in %.0f blocks\n", doms[k].domain, doms[k].size,
               doms[k].count);
    if (other)
        printf("  (%zu traces in further domains)\n", other);
    rcgc_stats *st;
    if (rcgc_snapshot_statistics(s, RCGC_STAT_LINENO, false, &st) != RCGC_OK) {
        fprintf(stderr, PROG ": out of memory\n");
        rcgc_snapshot_free(s);
        return 1;
    }
    printf("top lines:\n");
    print_stats(st, RCGC_STAT_LINENO, false, 10);
    rcgc_stats_free(st);
    rcgc_snapshot_free(s);
    return 0;
}

/* ---- top and diff --------------------------------------------------------- */

static int cmd_stats(const char *oldp, const char *newp, rcgc_stat_key key, bool cumulative,
                     size_t limit)
{
    rcgc_snapshot *old = NULL, *s = load(newp);
    if (!s)
        return 1;
    if (oldp && !(old = load(oldp))) {
        rcgc_snapshot_free(s);
        return 1;
    }
    rcgc_stats *st;
    rcgc_status rc = old ? rcgc_snapshot_compare_to(s, old, key, cumulative, &st)
                         : rcgc_snapshot_statistics(s, key, cumulative, &st);
    int status = 0;
    if (rc != RCGC_OK) {
        fprintf(stderr, PROG ": %s\n", rc == RCGC_ENOMEM ? "out of memory"
                                                         : "cannot group by this key cumulatively");
        status = rc == RCGC_ENOMEM ? 1 : 2;
    } else {
        if (old)
            printf("%s -> %s, by %s%s:\n", oldp, newp, key_name(key),
                   cumulative ? " (cumulative)" : "");
        else
            printf("%s, by %s%s:\n", newp, key_name(key), cumulative ? " (cumulative)" : "");
        print_stats(st, key, old != NULL, limit);
        rcgc_stats_free(st);
    }
    rcgc_snapshot_free(s);
    rcgc_snapshot_free(old);
    return status;
}

/* ---- flame graph ------------------------------------------------------------ */

/* A call tree: children in first-seen order, weight = traced bytes. */
struct node {
    const char *label;
    double bytes, count;
    struct node *child, *next;
};

static struct node *child_of(struct node *p, const char *label)
{
    struct node **link = &p->child;
    for (struct node *c = p->child; c; c = c->next) {
        if (strcmp(c->label, label) == 0)
            return c;
        link = &c->next;
    }
    struct node *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->label = strdup(label);
    if (!c->label) {
        free(c);
        return NULL;
    }
    *link = c;
    return c;
}

static void free_tree(struct node *n)
{
    while (n) {
        struct node *next = n->next;
        free_tree(n->child);
        free((char *)n->label);
        free(n);
        n = next;
    }
}

static void json_str(FILE *o, const char *s)
{
    fputc('"', o);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(o, "\\%c", c);
        else if (c == '<' || c == '>' || c == '&' || c < 0x20)
            fprintf(o, "\\u%04x", c); /* also keeps </script> out of the page */
        else
            fputc(c, o);
    }
    fputc('"', o);
}

static void json_tree(FILE *o, const struct node *n)
{
    fputs("{\"n\":", o);
    json_str(o, n->label);
    fprintf(o, ",\"v\":%.0f,\"c\":%.0f", n->bytes, n->count);
    if (n->child) {
        fputs(",\"k\":[", o);
        for (const struct node *c = n->child; c; c = c->next) {
            json_tree(o, c);
            if (c->next)
                fputc(',', o);
        }
        fputc(']', o);
    }
    fputc('}', o);
}

static const char FLAME_HEAD_A[] =
    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n<title>";
static const char FLAME_HEAD_B[] =
    "</title>\n<style>\n"
    "body{font:13px system-ui,sans-serif;margin:16px;color:#222;background:#fdfdfb}\n"
    "h1{font-size:17px;margin:0 0 4px}#info{color:#555;margin-bottom:8px}\n"
    "#bar{margin:6px 0}input{font:inherit;padding:2px 6px;width:22em}\n"
    "button{font:inherit;margin-left:6px}\n"
    "#fg{position:relative;width:100%;border-top:1px solid #ccc}\n"
    ".f{position:absolute;height:17px;box-sizing:border-box;border:1px solid #fdfdfb;"
    "overflow:hidden;white-space:nowrap;font-size:11px;line-height:15px;padding:0 3px;"
    "cursor:pointer;border-radius:2px}\n"
    ".f:hover{border-color:#333}.m{outline:2px solid #a0f}\n"
    "#tip{position:fixed;pointer-events:none;background:#333;color:#fff;padding:4px 8px;"
    "border-radius:3px;font-size:12px;display:none;max-width:60em}\n"
    "</style></head><body>\n<h1>";
static const char FLAME_HEAD_C[] =
    "</h1>\n<div id=\"info\"></div>\n"
    "<div id=\"bar\"><input id=\"q\" placeholder=\"search (regexp): file, function, "
    "type\"><button id=\"reset\">reset zoom</button> "
    "<span id=\"found\"></span></div>\n"
    "<div id=\"fg\"></div><div id=\"tip\"></div>\n<script>\nconst DATA=";

static const char FLAME_TAIL[] =
    ";\n"
    "const fg=document.getElementById('fg'),tip=document.getElementById('tip');\n"
    "const H=18;let focus=DATA,q=null;\n"
    "function fmt(b){const u=['B','KiB','MiB','GiB'];let i=0;while(b>=10240&&i<3){b/=1024;i++}"
    "return (i?b.toFixed(1):Math.round(b))+' '+u[i]}\n"
    "function depth(n){let d=0;for(const k of n.k||[])d=Math.max(d,depth(k));return d+1}\n"
    "function hue(s){let h=0;for(const c of s)h=(h*31+c.charCodeAt(0))>>>0;return h}\n"
    "function color(n){const h=hue(n.n.split(' ')[0]);return 'hsl('+(10+h%45)+','+"
    "(60+h%30)+'%,'+(62+h%16)+'%)'}\n"
    "function draw(){fg.innerHTML='';const total=focus.v||1,d=depth(focus);"
    "fg.style.height=(d*H+4)+'px';let hits=0;\n"
    " function put(n,x,lvl,path){const w=n.v/total*100;if(w<0.05)return;"
    "const e=document.createElement('div');e.className='f';"
    "e.style.left=x+'%';e.style.width=w+'%';e.style.bottom=(lvl*H)+'px';"
    "e.style.background=color(n);e.textContent=n.n;"
    "if(q&&q.test(n.n)){e.classList.add('m');hits+=n.v}"
    "e.onmousemove=ev=>{tip.style.display='block';tip.style.left=(ev.clientX+12)+'px';"
    "tip.style.top=(ev.clientY+12)+'px';tip.textContent=n.n+' \\u2014 '+fmt(n.v)+' in '+"
    "n.c+' blocks ('+(n.v/DATA.v*100).toFixed(1)+'% of all)'};"
    "e.onmouseleave=()=>tip.style.display='none';e.onclick=()=>{focus=n;draw()};"
    "fg.appendChild(e);let cx=x;for(const k of n.k||[]){put(k,cx,lvl+1);cx+=k.v/total*100}}\n"
    " put(focus,0,0);document.getElementById('found').textContent=q?('matched: '+fmt(hits)):'';}\n"
    "document.getElementById('info').textContent=INFO;\n"
    "document.getElementById('reset').onclick=()=>{focus=DATA;draw()};\n"
    "document.getElementById('q').oninput=ev=>{try{q=ev.target.value?new RegExp(ev.target.value):null}"
    "catch(e){q=null}draw()};\n"
    "draw();\n</script></body></html>\n";

static void html_text(FILE *o, const char *s)
{
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", o);
        else if (*s == '>')
            fputs("&gt;", o);
        else if (*s == '&')
            fputs("&amp;", o);
        else
            fputc(*s, o);
    }
}

static int cmd_flame(const char *path, const char *out, const char *title)
{
    rcgc_snapshot *s = load(path);
    if (!s)
        return 1;
    struct node root = {"all", 0, 0, NULL, NULL};
    rcgc_trace t;
    char label[1024];
    int status = 0;
    for (size_t i = 0; rcgc_snapshot_get(s, i, &t) && !status; i++) {
        double bytes = (double)t.size * t.weight;
        struct node *n = &root;
        n->bytes += bytes;
        n->count += t.weight;
        unsigned nf = rcgc_traceback_nframe(t.traceback);
        for (unsigned k = 0; k <= nf && n; k++) {
            if (k < nf) {
                rcgc_frame f = rcgc_traceback_frame(t.traceback, k);
                if (f.lineno)
                    snprintf(label, sizeof label, "%s %s:%u", f.function, f.filename, f.lineno);
                else
                    snprintf(label, sizeof label, "%s %s", f.function, f.filename);
            } else if (t.type) {
                snprintf(label, sizeof label, "[%s]", t.type);
            } else {
                break;
            }
            n = child_of(n, label);
            if (n) {
                n->bytes += bytes;
                n->count += t.weight;
            }
        }
        if (!n) {
            fprintf(stderr, PROG ": out of memory\n");
            status = 1;
        }
    }
    FILE *o = stdout;
    if (!status && out && !(o = fopen(out, "w"))) {
        fprintf(stderr, PROG ": %s: %s\n", out, strerror(errno));
        status = 1;
    }
    if (!status) {
        char ttl[512];
        snprintf(ttl, sizeof ttl, "%s", title ? title : path);
        fputs("<!-- rcgc-snap flame graph: self-contained, no external assets -->\n", o);
        fputs(FLAME_HEAD_A, o);
        html_text(o, ttl);
        fputs(FLAME_HEAD_B, o);
        html_text(o, ttl);
        fputs(FLAME_HEAD_C, o);
        json_tree(o, &root);
        fputs(";\nconst INFO=", o);
        uint64_t mean = rcgc_snapshot_sample_mean(s);
        snprintf(label, sizeof label,
                 "%zu traces, %.0f bytes traced%s. Width = bytes. Click a frame to zoom.",
                 rcgc_snapshot_count(s), root.bytes, mean ? " (sampled: estimates)" : "");
        json_str(o, label);
        fputs(FLAME_TAIL, o);
        if (o != stdout && fclose(o) != 0) {
            fprintf(stderr, PROG ": %s: %s\n", out, strerror(errno));
            status = 1;
        }
        if (o == stdout && fflush(stdout) != 0)
            status = 1;
    }
    free_tree(root.child);
    rcgc_snapshot_free(s);
    return status;
}

/* ---- main ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage_error("missing command (summary, top, diff, flame)%s", "");
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf(PROG " %d.%d.%d (snapshot format 1)\n", RCGC_VERSION_MAJOR, RCGC_VERSION_MINOR,
               RCGC_VERSION_PATCH);
        return 0;
    }
    static const struct option opts[] = {{"by", required_argument, NULL, 'b'},
                                         {"cumulative", no_argument, NULL, 'c'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"title", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    rcgc_stat_key key = RCGC_STAT_LINENO;
    bool cumulative = false;
    long limit = 10;
    const char *out = NULL, *title = NULL;
    int c;
    optind = 2;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":b:cn:o:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'b':
            if (parse_key(optarg, &key) != 0)
                return usage_error("unknown key '%s' (lineno, filename, traceback, type, tag)",
                                   optarg);
            break;
        case 'c':
            cumulative = true;
            break;
        case 'n': {
            char *end;
            errno = 0;
            limit = strtol(optarg, &end, 10);
            if (errno || *end || limit < 0)
                return usage_error("-n wants a count >= 0, not '%s'", optarg);
            break;
        }
        case 'o':
            out = optarg;
            break;
        case 't':
            title = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case ':':
            return usage_error("option '%s' needs an argument", argv[optind - 1]);
        default:
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    int nargs = argc - optind;
    char **args = argv + optind;
    if (strcmp(cmd, "summary") == 0) {
        if (nargs != 1)
            return usage_error("summary takes one snapshot file%s", "");
        return cmd_summary(args[0]);
    }
    if (strcmp(cmd, "top") == 0) {
        if (nargs != 1)
            return usage_error("top takes one snapshot file%s", "");
        if (cumulative && key != RCGC_STAT_LINENO && key != RCGC_STAT_FILENAME)
            return usage_error("--cumulative works with --by lineno or filename, not %s",
                               key_name(key));
        return cmd_stats(NULL, args[0], key, cumulative, (size_t)limit);
    }
    if (strcmp(cmd, "diff") == 0) {
        if (nargs != 2)
            return usage_error("diff takes two snapshot files: OLD NEW%s", "");
        if (cumulative && key != RCGC_STAT_LINENO && key != RCGC_STAT_FILENAME)
            return usage_error("--cumulative works with --by lineno or filename, not %s",
                               key_name(key));
        return cmd_stats(args[0], args[1], key, cumulative, (size_t)limit);
    }
    if (strcmp(cmd, "flame") == 0) {
        if (nargs != 1)
            return usage_error("flame takes one snapshot file%s", "");
        return cmd_flame(args[0], out, title);
    }
    return usage_error("unknown command '%s' (summary, top, diff, flame)", cmd);
}
