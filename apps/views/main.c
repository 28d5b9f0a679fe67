/*
** main.c -- rcgc-views: flags, the master process, pre-fork and supervision.
**
** The master parses the flags, maps the shared statistics region, builds the
** application state in an rcgc heap with the collector off, collects, freezes
** it (--freeze on|immortal), then forks the workers, which inherit the heap
** copy-on-write. It keeps a bound but not listening SO_REUSEPORT socket, so
** the port stays reserved and --port 0 resolves to one port for every worker
** without the master ever taking a connection (only listening sockets join
** the kernel's reuseport group). It replaces workers that crash or recycle,
** and on SIGTERM/SIGINT asks every worker to drain, then exits.
*/
#include "views.h"

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

bool views_log_json;

#define EXIT_RECYCLE 3

static void usage(FILE *f)
{
    fputs(
        "usage: rcgc-views [options]\n"
        "  --host ADDR              listen address (default 127.0.0.1)\n"
        "  --port N                 TCP port; 0 picks a free one (default 8000)\n"
        "  --workers N              pre-forked workers (default: one per core)\n"
        "  --gc-threshold A,B,C     collector thresholds (default 2000,10,10)\n"
        "  --gc-mode M              generational | incremental\n"
        "  --freeze M               off | on | immortal: freeze the app state before fork\n"
        "  --app-records N          records in the shared app state (default 20000)\n"
        "  --max-requests N         recycle a worker after N requests (0 = never)\n"
        "  --max-requests-jitter N  add 0..N to each worker's limit\n"
        "  --max-rss MIB            recycle a worker whose RSS exceeds MIB\n"
        "  --max-body BYTES         larger request bodies get 413 (default 1048576)\n"
        "  --leak-sample N          leak-check one request in N per view (default 8, 0 = off)\n"
        "  --trace M                off | exact | sampled allocation tracing\n"
        "  --log-format F           text | json\n"
        "  --no-access-log          no line per request\n"
        "  --gc-log                 a DEBUG_STATS-style line per collection\n"
        "  --drain-seconds N        SIGTERM: time allowed for requests in flight (default 10)\n"
        "  --pidfile PATH           write the master's pid once the workers are ready\n"
        "  --help\n"
        "On readiness one line goes to stdout: 'rcgc-views ready http://HOST:PORT ...'.\n",
        f);
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return -1;
    *out = v;
    return 0;
}

static int parse_flags(int argc, char **argv, views_config *cfg)
{
    enum {
        O_HOST = 256, O_PORT, O_WORKERS, O_THRESH, O_MODE, O_FREEZE, O_MAXREQ, O_JITTER,
        O_MAXRSS, O_TRACE, O_LOGFMT, O_NOACCESS, O_GCLOG, O_MAXBODY, O_PIDFILE, O_RECORDS,
        O_LEAK, O_DRAIN, O_HELP
    };
    static const struct option opts[] = {
        {"host", required_argument, 0, O_HOST},
        {"port", required_argument, 0, O_PORT},
        {"workers", required_argument, 0, O_WORKERS},
        {"gc-threshold", required_argument, 0, O_THRESH},
        {"gc-mode", required_argument, 0, O_MODE},
        {"freeze", required_argument, 0, O_FREEZE},
        {"max-requests", required_argument, 0, O_MAXREQ},
        {"max-requests-jitter", required_argument, 0, O_JITTER},
        {"max-rss", required_argument, 0, O_MAXRSS},
        {"trace", required_argument, 0, O_TRACE},
        {"log-format", required_argument, 0, O_LOGFMT},
        {"no-access-log", no_argument, 0, O_NOACCESS},
        {"gc-log", no_argument, 0, O_GCLOG},
        {"max-body", required_argument, 0, O_MAXBODY},
        {"pidfile", required_argument, 0, O_PIDFILE},
        {"app-records", required_argument, 0, O_RECORDS},
        {"leak-sample", required_argument, 0, O_LEAK},
        {"drain-seconds", required_argument, 0, O_DRAIN},
        {"help", no_argument, 0, O_HELP},
        {0, 0, 0, 0}};
    int c;
    uint64_t v;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        const char *a = optarg;
        switch (c) {
        case O_HOST: cfg->host = a; break;
        case O_PORT:
            if (parse_u64(a, &v) || v > 65535)
                goto bad;
            cfg->port = (int)v;
            break;
        case O_WORKERS:
            if (parse_u64(a, &v) || v < 1 || v > VIEWS_MAX_WORKERS)
                goto bad;
            cfg->workers = (int)v;
            break;
        case O_THRESH:
            if (sscanf(a, "%u,%u,%u", &cfg->threshold[0], &cfg->threshold[1],
                       &cfg->threshold[2]) != 3)
                goto bad;
            cfg->threshold_set = true;
            break;
        case O_MODE:
            if (!strcmp(a, "generational"))
                cfg->gc_mode = RCGC_GC_GENERATIONAL;
            else if (!strcmp(a, "incremental"))
                cfg->gc_mode = RCGC_GC_INCREMENTAL;
            else
                goto bad;
            break;
        case O_FREEZE:
            if (!strcmp(a, "off"))
                cfg->freeze = FREEZE_OFF;
            else if (!strcmp(a, "on"))
                cfg->freeze = FREEZE_ON;
            else if (!strcmp(a, "immortal"))
                cfg->freeze = FREEZE_IMMORTAL;
            else
                goto bad;
            break;
        case O_MAXREQ:
            if (parse_u64(a, &cfg->max_requests))
                goto bad;
            break;
        case O_JITTER:
            if (parse_u64(a, &cfg->max_requests_jitter))
                goto bad;
            break;
        case O_MAXRSS:
            if (parse_u64(a, &v))
                goto bad;
            cfg->max_rss_bytes = v * 1024u * 1024u;
            break;
        case O_TRACE:
            if (!strcmp(a, "off"))
                cfg->trace = TRACE_OFF;
            else if (!strcmp(a, "exact"))
                cfg->trace = TRACE_EXACT;
            else if (!strcmp(a, "sampled"))
                cfg->trace = TRACE_SAMPLED;
            else
                goto bad;
            break;
        case O_LOGFMT:
            if (!strcmp(a, "json"))
                cfg->log_json = true;
            else if (!strcmp(a, "text"))
                cfg->log_json = false;
            else
                goto bad;
            break;
        case O_NOACCESS: cfg->access_log = false; break;
        case O_GCLOG: cfg->gc_log = true; break;
        case O_MAXBODY:
            if (parse_u64(a, &v))
                goto bad;
            cfg->max_body_bytes = (size_t)v;
            break;
        case O_PIDFILE: cfg->pidfile = a; break;
        case O_RECORDS:
            if (parse_u64(a, &v) || v > 10000000)
                goto bad;
            cfg->app_records = (unsigned)v;
            break;
        case O_LEAK:
            if (parse_u64(a, &v) || v > 1000000)
                goto bad;
            cfg->leak_sample = (unsigned)v;
            break;
        case O_DRAIN:
            if (parse_u64(a, &v) || v > 3600)
                goto bad;
            cfg->drain_seconds = (unsigned)v;
            break;
        case O_HELP: usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
        continue;
    bad:
        fprintf(stderr, "rcgc-views: bad value '%s' for --%s\n", a, opts[c - O_HOST].name);
        return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "rcgc-views: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

/* ===================================================================== */
/* Supervision                                                           */
/* ===================================================================== */

typedef struct master {
    views_config *cfg;
    shm_state *shm;
    rcgc_heap *heap;
    vobj *app_state;
    int reserved_fd, sigfd;
    pid_t pids[VIEWS_MAX_WORKERS];
    uint64_t spawned_ms[VIEWS_MAX_WORKERS];
    uint64_t respawn_at_ms[VIEWS_MAX_WORKERS]; /* 0 = not waiting */
    bool stopping;
} master;

static pid_t spawn(master *m, int i)
{
    worker_slot *s = &m->shm->slots[i];
    uint32_t inc = s->incarnation + 1;
    memset(s, 0, sizeof *s);
    m->shm->timelines[i].next = 0;
    s->incarnation = inc;
    s->state = SLOT_STARTING;
    s->start_ms = now_ms();
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(m->reserved_fd);
        close(m->sigfd);
        s->pid = (int32_t)getpid();
        int code = worker_main(m->cfg, m->shm, i, m->heap, m->app_state);
        rcgc_heap_free(m->heap);
        fflush(stderr);
        _exit(code);
    }
    if (pid > 0) {
        s->pid = (int32_t)pid;
        m->pids[i] = pid;
        m->spawned_ms[i] = now_ms();
    } else {
        views_log("error", "fork: %s", strerror(errno));
    }
    return pid;
}

static void reap(master *m)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        int i;
        for (i = 0; i < m->cfg->workers; i++)
            if (m->pids[i] == pid)
                break;
        if (i == m->cfg->workers)
            continue;
        m->pids[i] = 0;
        worker_slot *s = &m->shm->slots[i];
        stats_fold(&m->shm->retired, s);
        uint64_t reqs = s->requests;
        memset(s->views, 0, sizeof s->views);
        s->requests = 0;
        s->state = SLOT_EMPTY;
        if (m->stopping) {
            views_log("worker-exit", "worker=%d pid=%d requests=%llu", i, (int)pid,
                      (unsigned long long)reqs);
            continue;
        }
        bool recycled = WIFEXITED(status) && WEXITSTATUS(status) == EXIT_RECYCLE;
        if (recycled) {
            m->shm->recycles++;
            views_log("worker-recycled", "worker=%d pid=%d requests=%llu (leak report above)",
                      i, (int)pid, (unsigned long long)reqs);
        } else {
            m->shm->crashes++;
            if (WIFSIGNALED(status))
                views_log("worker-crashed", "worker=%d pid=%d signal=%d (%s) requests=%llu; "
                                            "replacing it",
                          i, (int)pid, WTERMSIG(status), strsignal(WTERMSIG(status)),
                          (unsigned long long)reqs);
            else
                views_log("worker-crashed", "worker=%d pid=%d exit=%d requests=%llu; replacing it",
                          i, (int)pid, WEXITSTATUS(status), (unsigned long long)reqs);
        }
        m->shm->restarts++;
        /* A worker that dies within a second of starting is restarted after a
        ** second's pause, so a crash loop does not spin the CPU. */
        uint64_t t = now_ms();
        m->respawn_at_ms[i] = (!recycled && t - m->spawned_ms[i] < 1000) ? t + 1000 : t;
    }
}

static bool all_ready(master *m)
{
    for (int i = 0; i < m->cfg->workers; i++)
        if (m->shm->slots[i].state != SLOT_READY)
            return false;
    return true;
}

static int alive(master *m)
{
    int n = 0;
    for (int i = 0; i < m->cfg->workers; i++)
        n += m->pids[i] > 0;
    return n;
}

static int run_master(master *m)
{
    views_config *cfg = m->cfg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGPIPE);
    sigprocmask(SIG_BLOCK, &set, NULL);
    m->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (m->sigfd < 0)
        return 1;

    for (int i = 0; i < cfg->workers; i++)
        if (spawn(m, i) < 0)
            return 1;

    bool announced = false;
    uint64_t start = now_ms(), stop_deadline = 0;
    for (;;) {
        struct pollfd pfd = {.fd = m->sigfd, .events = POLLIN};
        poll(&pfd, 1, announced ? 500 : 20);
        struct signalfd_siginfo si;
        while (read(m->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
            if ((si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) && !m->stopping) {
                m->stopping = true;
                stop_deadline = now_ms() + (uint64_t)cfg->drain_seconds * 1000u + 2000u;
                views_log("stop", "signal=%d: draining %d workers", (int)si.ssi_signo, alive(m));
                for (int i = 0; i < cfg->workers; i++)
                    if (m->pids[i] > 0)
                        kill(m->pids[i], SIGTERM);
            }
        }
        reap(m);
        uint64_t t = now_ms();
        if (m->stopping) {
            if (!alive(m))
                break;
            if (t > stop_deadline) {
                for (int i = 0; i < cfg->workers; i++)
                    if (m->pids[i] > 0) {
                        views_log("stop", "worker=%d pid=%d did not drain: SIGKILL", i,
                                  (int)m->pids[i]);
                        kill(m->pids[i], SIGKILL);
                    }
                stop_deadline = t + 5000;
            }
            continue;
        }
        for (int i = 0; i < cfg->workers; i++)
            if (!m->pids[i] && m->respawn_at_ms[i] && t >= m->respawn_at_ms[i]) {
                m->respawn_at_ms[i] = 0;
                pid_t pid = spawn(m, i);
                views_log("worker-start", "worker=%d pid=%d incarnation=%u", i, (int)pid,
                          m->shm->slots[i].incarnation);
            }
        if (!announced && all_ready(m)) {
            announced = true;
            if (cfg->pidfile) {
                FILE *f = fopen(cfg->pidfile, "w");
                if (f) {
                    fprintf(f, "%d\n", (int)getpid());
                    fclose(f);
                }
            }
            printf("rcgc-views ready http://%s:%d workers=%d master=%d freeze=%s\n", cfg->host,
                   cfg->port, cfg->workers, (int)getpid(),
                   cfg->freeze == FREEZE_OFF ? "off" : cfg->freeze == FREEZE_ON ? "on" : "immortal");
            fflush(stdout);
            views_log("ready", "http://%s:%d workers=%d", cfg->host, cfg->port, cfg->workers);
        }
        if (!announced && t - start > 30000) {
            views_log("error", "workers did not become ready in 30 s");
            m->stopping = true;
            for (int i = 0; i < cfg->workers; i++)
                if (m->pids[i] > 0)
                    kill(m->pids[i], SIGTERM);
            stop_deadline = t + 5000;
        }
    }
    if (cfg->pidfile)
        unlink(cfg->pidfile);
    views_log("exit", "stopped cleanly: restarts=%llu crashes=%llu recycles=%llu",
              (unsigned long long)m->shm->restarts, (unsigned long long)m->shm->crashes,
              (unsigned long long)m->shm->recycles);
    return announced ? 0 : 1;
}

/* The heap's text (DEBUG_STATS lines with --gc-log, reports) goes into the
** server's log, one log line per line of text. */
static void heap_output(void *ctx, const char *text)
{
    (void)ctx;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        int n = nl ? (int)(nl - p) : (int)strlen(p);
        if (n)
            views_log("rcgc", "%.*s", n, p);
        p += n + (nl != NULL);
    }
}

int main(int argc, char **argv)
{
    views_config cfg = {
        .host = "127.0.0.1",
        .port = 8000,
        .workers = 0,
        .threshold = {2000, 10, 10},
        .gc_mode = RCGC_GC_GENERATIONAL,
        .freeze = FREEZE_OFF,
        .trace = TRACE_OFF,
        .access_log = true,
        .max_body_bytes = 1u << 20,
        .app_records = 20000,
        .leak_sample = 8,
        .drain_seconds = 10,
    };
    if (parse_flags(argc, argv, &cfg))
        return 2;
    views_log_json = cfg.log_json;
    if (!cfg.workers) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg.workers = n < 1 ? 1 : n > VIEWS_MAX_WORKERS ? VIEWS_MAX_WORKERS : (int)n;
    }
    setvbuf(stderr, NULL, _IOLBF, 0);

    master m;
    memset(&m, 0, sizeof m);
    m.cfg = &cfg;
    m.shm = stats_map();
    if (!m.shm) {
        perror("rcgc-views: mmap");
        return 1;
    }
    m.shm->nworkers = (uint32_t)cfg.workers;
    m.shm->master_pid = (int32_t)getpid();
    m.shm->start_ms = now_ms();
    m.shm->freeze = cfg.freeze;

    m.reserved_fd = views_socket(&cfg, false);
    if (m.reserved_fd < 0)
        return 1;

    rcgc_config hc;
    rcgc_config_init(&hc);
    hc.output = heap_output;
    hc.gc_trigger = RCGC_TRIGGER_SAFEPOINT;
    hc.gc_mode = cfg.gc_mode;
    hc.leak_report = false;
    for (int g = 0; g < 3; g++)
        hc.gc_threshold[g] = cfg.threshold[g];
    m.heap = rcgc_heap_new(&hc);
    if (!m.heap || value_init(m.heap)) {
        fprintf(stderr, "rcgc-views: cannot create the heap\n");
        return 1;
    }
    app_register();
    debug_register();

    /* Instagram's recipe: no collection while the state is built, one full
    ** collection, then freeze so the workers' collectors never touch it. */
    rcgc_gc_disable(m.heap);
    m.app_state = app_state_build(m.heap, cfg.app_records);
    if (!m.app_state) {
        fprintf(stderr, "rcgc-views: out of memory building the app state\n");
        return 1;
    }
    rcgc_gc_collect(m.heap, 2);
    size_t immortal = 0;
    if (cfg.freeze == FREEZE_IMMORTAL)
        immortal = v_make_immortal(m.heap, m.app_state);
    if (cfg.freeze != FREEZE_OFF)
        rcgc_gc_freeze(m.heap);
    m.shm->app_objects = (uint32_t)(rcgc_gc_generation_size(m.heap, -1) +
                                    rcgc_gc_get_freeze_count(m.heap) + immortal);
    views_log("app-state", "records=%u tracked=%zu frozen=%zu immortal=%zu freeze=%s", cfg.app_records,
              rcgc_gc_generation_size(m.heap, -1), rcgc_gc_get_freeze_count(m.heap), immortal,
              cfg.freeze == FREEZE_OFF ? "off" : cfg.freeze == FREEZE_ON ? "on" : "immortal");

    int rc = run_master(&m);
    rcgc_heap_free(m.heap);
    close(m.reserved_fd);
    return rc;
}
