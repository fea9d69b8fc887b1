/*
 * sockloop: the transport floor softfm is measured against — N client
 * threads, each with its own server thread, exchanging a small request and
 * reply over a Unix stream socket with plain blocking reads, as a minimal
 * daemon would. Prints "sockloop ops_per_second".
 *
 *   sockloop [--threads N] [--seconds S]
 */
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
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
    static const struct option opts[] = {
        { "threads", required_argument, NULL, 't' },
        { "seconds", required_argument, NULL, 'S' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "t:S:", opts, NULL)) != -1) {
        if (c == 't')
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
        pthread_create(&st[i], NULL, server, &pairs[i]);
        pthread_create(&ct[i], NULL, client, &pairs[i]);
    }
    struct timespec ts = { (time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9) };
    nanosleep(&ts, NULL);
    atomic_store(&stop, true);
    unsigned long total = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(ct[i], NULL);
        pthread_join(st[i], NULL);
        total += pairs[i].count;
        close(pairs[i].fd[0]);
        close(pairs[i].fd[1]);
    }
    printf("sockloop %.0f\n", (double)total / seconds);
    return 0;
}
