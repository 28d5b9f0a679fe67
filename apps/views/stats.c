/*
** stats.c -- the statistics region shared by the master and its workers.
**
** One anonymous MAP_SHARED mapping is made by the master before the first
** fork. Each worker writes only its own slot (plain 64-bit stores, which are
** single-copy atomic on the machines we run on); any worker reads every slot
** to serve /metrics and the dashboard, so the figures are aggregated across
** workers without a round trip through the master. When a worker exits the
** master folds its counters into 'retired' before a replacement takes the
** slot, so Prometheus counters never go backwards.
*/
#include "views.h"

#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Pause histogram bounds, microseconds: 100 us to 1 s, roughly 2.5x apart. */
const unsigned views_pause_bucket_us[VIEWS_PAUSE_BUCKETS] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000};

shm_state *stats_map(void)
{
    void *p = mmap(NULL, sizeof(shm_state), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void survivors_add(type_count *rows, int n, const char *name, uint64_t count, uint64_t bytes)
{
    int i = 0;
    while (i < n && rows[i].name[0] && strcmp(rows[i].name, name) != 0)
        i++;
    if (i == n) {
        if (count <= rows[n - 1].count)
            return;
        i = n - 1;
        rows[i].count = rows[i].bytes = 0;
        rows[i].name[0] = '\0';
    }
    if (!rows[i].name[0])
        snprintf(rows[i].name, sizeof rows[i].name, "%s", name);
    rows[i].count += count;
    rows[i].bytes += bytes;
    /* Keep the rows most common first: move this one up. */
    for (; i > 0 && rows[i].count > rows[i - 1].count; i--) {
        type_count t = rows[i];
        rows[i] = rows[i - 1];
        rows[i - 1] = t;
    }
}

void stats_fold(worker_slot *into, const worker_slot *from)
{
    into->requests += from->requests;
    into->bytes_out += from->bytes_out;
    into->allocs += from->allocs;
    into->cpu_ms += from->cpu_ms;
    for (int g = 0; g < 3; g++) {
        into->gc_collections[g] += from->gc_collections[g];
        into->gc_collected[g] += from->gc_collected[g];
        into->gc_uncollectable[g] += from->gc_uncollectable[g];
    }
    for (int b = 0; b <= VIEWS_PAUSE_BUCKETS; b++)
        into->pause_bucket[b] += from->pause_bucket[b];
    into->pause_count += from->pause_count;
    into->pause_sum_ns += from->pause_sum_ns;
    if (from->pause_max_ns > into->pause_max_ns)
        into->pause_max_ns = from->pause_max_ns;
    for (int v = 0; v < VIEWS_MAX_ROUTES; v++) {
        view_stats *a = &into->views[v];
        const view_stats *b = &from->views[v];
        a->requests += b->requests;
        a->errors += b->errors;
        a->allocs += b->allocs;
        a->alloc_bytes += b->alloc_bytes;
        a->time_us += b->time_us;
        for (int i = 0; i < VIEWS_LAT_BUCKETS; i++)
            a->lat[i] += b->lat[i];
        a->live_delta += b->live_delta;
        a->traced_bytes_delta += b->traced_bytes_delta;
        if (b->peak_bytes > a->peak_bytes)
            a->peak_bytes = b->peak_bytes;
        a->sampled += b->sampled;
        a->retained += b->retained;
        a->retained_bytes += b->retained_bytes;
        a->escapes += b->escapes;
        if (b->leak) {
            a->leak = 1;
            a->slope = b->slope;
        }
        for (int k = 0; k < VIEWS_SURVIVOR_TYPES && b->survivors[k].name[0]; k++)
            survivors_add(a->survivors, VIEWS_SURVIVOR_TYPES, b->survivors[k].name,
                          b->survivors[k].count, b->survivors[k].bytes);
        if (b->escape_type[0] && (b->leak || !a->escape_type[0])) {
            memcpy(a->escape_type, b->escape_type, sizeof a->escape_type);
            memcpy(a->escape_chain, b->escape_chain, sizeof a->escape_chain);
            memcpy(a->escape_site, b->escape_site, sizeof a->escape_site);
        }
    }
}

/* "Key:   1234 kB" lines of /proc/<pid>/smaps_rollup. */
static void read_smaps(worker_slot *s, pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        unsigned long long kb;
        char key[64];
        if (sscanf(line, "%63[^:]: %llu kB", key, &kb) != 2)
            continue;
        uint64_t bytes = (uint64_t)kb * 1024u;
        if (!strcmp(key, "Rss"))
            s->rss = bytes;
        else if (!strcmp(key, "Pss"))
            s->pss = bytes;
        else if (!strcmp(key, "Shared_Clean"))
            s->shared = bytes;
        else if (!strcmp(key, "Shared_Dirty"))
            s->shared += bytes;
        else if (!strcmp(key, "Private_Dirty"))
            s->private_dirty = bytes;
        else if (!strcmp(key, "Private_Clean"))
            s->private_clean = bytes;
        else if (!strcmp(key, "Swap"))
            s->swap = bytes;
    }
    fclose(f);
}

void stats_read_proc(worker_slot *s, pid_t pid)
{
    read_smaps(s, pid);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f) {
        char buf[1024];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        fclose(f);
        /* Fields after the command name (which may hold spaces). */
        char *p = strrchr(buf, ')');
        unsigned long long ut = 0, st = 0, vsize = 0;
        if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu "
                               "%*d %*d %*d %*d %*d %*d %*u %llu",
                        &ut, &st, &vsize) == 3) {
            long hz = sysconf(_SC_CLK_TCK);
            s->cpu_ms = (ut + st) * 1000u / (unsigned long long)(hz > 0 ? hz : 100);
            s->vsize = vsize;
        }
    }
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (d) {
        uint64_t fds = 0;
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.')
                fds++;
        closedir(d);
        s->open_fds = fds > 0 ? fds - 1 : 0; /* minus the directory's own fd */
    }
}

/*
** The SO_REUSEPORT socket on --host/--port. The master binds one without
** listening (it reserves the port and resolves port 0 into cfg->port; a
** socket that does not listen takes no connections); each worker binds and
** listens on its own, so the kernel spreads connections across workers.
*/
int views_socket(views_config *cfg, bool do_listen)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->port);
    int rc = getaddrinfo(cfg->host, port, &hints, &res);
    if (rc) {
        views_log("error", "address %s: %s", cfg->host, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) ||
        bind(fd, res->ai_addr, res->ai_addrlen) || (do_listen && listen(fd, 1024))) {
        views_log("error", "cannot bind %s:%d: %s", cfg->host, cfg->port, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char serv[16];
    if (!cfg->port && getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
        getnameinfo((struct sockaddr *)&ss, sl, NULL, 0, serv, sizeof serv, NI_NUMERICSERV) == 0)
        cfg->port = atoi(serv);
    return fd;
}
