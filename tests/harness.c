/* harness.c -- see harness.h. */
#include "harness.h"

#include <stdarg.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TH_MAX 512
static struct {
    const char *name;
    th_fn fn;
} th_tests[TH_MAX];
static int th_ntests;
int th_failures;
char th_output[1 << 16];
static size_t th_output_len;
static int th_panic_fd = -1;

void th_register(const char *name, th_fn fn)
{
    if (th_ntests < TH_MAX) {
        th_tests[th_ntests].name = name;
        th_tests[th_ntests].fn = fn;
        th_ntests++;
    }
}

void th_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    th_failures++;
}

void th_output_clear(void)
{
    th_output_len = 0;
    th_output[0] = 0;
}

static void th_out(void *ctx, const char *text)
{
    (void)ctx;
    size_t n = strlen(text);
    if (th_output_len + n >= sizeof th_output)
        n = sizeof th_output - 1 - th_output_len;
    memcpy(th_output + th_output_len, text, n);
    th_output_len += n;
    th_output[th_output_len] = 0;
    if (getenv("RCGC_TEST_VERBOSE"))
        fputs(text, stderr);
}

static void th_panic(void *ctx, const char *msg)
{
    (void)ctx;
    if (th_panic_fd >= 0) {
        ssize_t w = write(th_panic_fd, msg, strlen(msg));
        (void)w;
        _exit(77);
    }
    fprintf(stderr, "unexpected panic: %s\n", msg);
    abort();
}

rcgc_heap *th_heap_new_cfg(rcgc_config *cfg)
{
    th_output_clear();
    cfg->output = th_out;
    cfg->panic = th_panic;
    return rcgc_heap_new(cfg);
}

rcgc_heap *th_heap_new(void)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = false;
    return th_heap_new_cfg(&cfg);
}

const char *th_expect_panic(void (*fn)(void *), void *arg, const char *substr,
                            const char *file, int line)
{
    static char msg[8192];
    int fds[2];
    msg[0] = 0;
    if (pipe(fds) != 0) {
        th_fail(file, line, "pipe failed");
        return msg;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        th_panic_fd = fds[1];
        fn(arg);
        _exit(0); /* no panic */
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t r;
    while ((r = read(fds[0], msg + len, sizeof msg - 1 - len)) > 0)
        len += (size_t)r;
    msg[len] = 0;
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 77)
        th_fail(file, line, "expected a panic containing \"%s\"; child status %d",
                substr, status);
    else if (!strstr(msg, substr))
        th_fail(file, line, "panic message \"%s\" lacks \"%s\"", msg, substr);
    return msg;
}

uint64_t th_seed(void)
{
    const char *s = getenv("RCGC_TEST_SEED");
    uint64_t seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL) * 2654435761u;
    fprintf(stderr, "seed: RCGC_TEST_SEED=%" PRIu64 "\n", seed);
    return seed ? seed : 1;
}

uint64_t th_rand(uint64_t *state)
{
    /* splitmix64 */
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int th_run(int i)
{
    th_failures = 0;
    th_tests[i].fn();
    fprintf(stderr, "%s %s\n", th_failures ? "FAIL" : "ok  ", th_tests[i].name);
    return th_failures == 0;
}

int main(int argc, char **argv)
{
    int passed = 0, failed = 0;
    for (int i = 0; i < th_ntests; i++) {
        bool want = argc < 2;
        for (int a = 1; a < argc; a++)
            if (strcmp(argv[a], th_tests[i].name) == 0)
                want = true;
        if (!want)
            continue;
        if (th_run(i))
            passed++;
        else
            failed++;
    }
    if (passed + failed == 0) {
        fprintf(stderr, "no such test\n");
        return 2;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
