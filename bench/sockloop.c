/*
 * sockloop: the transport floor softfm is measured against — N client
 * threads, each with its own server thread, exchanging a small request and
 * reply over a Unix stream socket with plain blocking reads, as a minimal
 * daemon would. Prints "sockloop ops_per_second". With --processes the
 * server threads live in a forked process, as a daemon's do, and the line
 * says "sockloop-2proc".
 *
 *   sockloop [--threads N] [--seconds S] [--processes]
 */
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

static atomic_bool stop;

typedef struct pair {
    int fd[2];
    unsigned long count;
} pair_t;

static int exact(int fd, void *buf, size_t n, bool rd)
{
    char *p = buf;
    while (n) {
        ssize_t r = rd ? read(fd, p, n) : write(fd, p, n);
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static void *server(void *arg)
{
    pair_t *pr = arg;
    char buf[48];
    while (exact(pr->fd[1], buf, 40, true) == 0)
        if (exact(pr->fd[1], buf, 48, false))
            break;
    return NULL;
}

static void *client(void *arg)
{
    pair_t *pr = arg;
    char req[40] = { 1 }, rep[48];
    while (!atomic_load(&stop)) {
        if (exact(pr->fd[0], req, sizeof req, false) || exact(pr->fd[0], rep, sizeof rep, true))
            break;
        pr->count++;
    }
    shutdown(pr->fd[0], SHUT_WR);
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = 2;
    double seconds = 2;
    bool fork_server = false;
    static const struct option opts[] = {
        { "threads", required_argument, NULL, 't' },
        { "seconds", required_argument, NULL, 'S' },
        { "processes", no_argument, NULL, 'p' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "t:S:p", opts, NULL)) != -1) {
        if (c == 'p')
            fork_server = true;
        else if (c == 't')
            threads = atoi(optarg);
        else if (c == 'S')
            seconds = atof(optarg);
        else
            return 2;
    }
    if (threads < 1 || threads > 64)
        return 2;
    pair_t pairs[64];
    pthread_t st[64], ct[64];
    for (int i = 0; i < threads; i++) {
        pairs[i].count = 0;
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, pairs[i].fd))
            return 1;
    }
    pid_t kid = -1;
    if (fork_server && (kid = fork()) == 0) {
        /* The answering side in a process of its own, as a daemon is. */
        for (int i = 0; i < threads; i++) {
            close(pairs[i].fd[0]);
            pthread_create(&st[i], NULL, server, &pairs[i]);
        }
        for (int i = 0; i < threads; i++)
            pthread_join(st[i], NULL);
        _exit(0);
    }
    for (int i = 0; i < threads; i++) {
        if (fork_server)
            close(pairs[i].fd[1]);
        else
            pthread_create(&st[i], NULL, server, &pairs[i]);
        pthread_create(&ct[i], NULL, client, &pairs[i]);
    }
    struct timespec ts = { (time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9) };
    nanosleep(&ts, NULL);
    atomic_store(&stop, true);
    unsigned long total = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(ct[i], NULL);
        if (!fork_server) {
            pthread_join(st[i], NULL);
            close(pairs[i].fd[1]);
        }
        total += pairs[i].count;
        close(pairs[i].fd[0]);
    }
    if (kid > 0)
        waitpid(kid, NULL, 0);
    printf("%s %.0f\n", fork_server ? "sockloop-2proc" : "sockloop", (double)total / seconds);
    return 0;
}
