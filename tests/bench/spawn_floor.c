/* The floor of tests/bench/overhead: posix_spawn + wait of a no-op program,
 * N times, with up to K in flight (K = 1 for the chain, --jobs for the fan).
 * Prints the total wall time in microseconds on stdout.
 *
 *     spawn_floor PROGRAM N K */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static long long now_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: spawn_floor PROGRAM N K\n");
        return 2;
    }
    char *prog = argv[1];
    long n = atol(argv[2]), k = atol(argv[3]);
    char *args[] = {prog, NULL};
    long started = 0, done = 0, inflight = 0;
    long long t0 = now_usec();

    if (n <= 0 || k <= 0) {
        return 2;
    }
    while (done < n) {
        while (started < n && inflight < k) {
            pid_t pid;
            if (posix_spawn(&pid, prog, NULL, NULL, args, environ) != 0) {
                perror("posix_spawn");
                return 1;
            }
            started++;
            inflight++;
        }
        int status;
        if (wait(&status) < 0) {
            perror("wait");
            return 1;
        }
        inflight--;
        done++;
    }
    printf("%lld\n", now_usec() - t0);
    return 0;
}
