/*
 * posix_env.c - see posix_env.h.
 */
#define _POSIX_C_SOURCE 200809L

#include "posix_env.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- transport ---------------------------------------------------------- */

static intptr_t io_errno(int err) {
    if (err == EAGAIN || err == EWOULDBLOCK) {
        return UMQTT_IO_WOULD_BLOCK;
    }
    return (intptr_t)UMQTT_IO_ERRNO_BASE - err;
}

static intptr_t env_read(void *ctx, uint8_t *buf, size_t len) {
    posix_env_t *pe = ctx;
    for (;;) {
        ssize_t n = recv(pe->fd, buf, len, 0);
        if (n > 0) {
            return n;
        }
        if (n == 0) {
            return len == 0 ? 0 : UMQTT_IO_CLOSED;
        }
        if (errno != EINTR) {
            return io_errno(errno);
        }
    }
}

/* Length of the MQTT packet starting at buf, or 0 if its header is incomplete or bad. */
static size_t packet_len(const uint8_t *buf, size_t len) {
    size_t rl = 0;
    for (size_t i = 1; i < len && i <= 4; i++) {
        rl |= (size_t)(buf[i] & 0x7f) << (7 * (i - 1));
        if (!(buf[i] & 0x80)) {
            return 1 + i + rl;
        }
    }
    return 0;
}

/* Checks the write contract and records what went out: a packet up to
 * UMQTT_TX_CAPACITY bytes is offered in one write; a larger one in pieces that
 * make it up exactly; the rest of a partly taken offer is offered next, whole. */
static void note_write(posix_env_t *pe, const uint8_t *buf, size_t len) {
    pe->writes++;
    if (pe->owed > 0) {
        if (len != pe->owed) {
            pe->write_violations++;
        }
        return;
    }
    if (pe->packet_left > 0) {
        if (len > pe->packet_left) {
            pe->write_violations++;
        }
        return;
    }
    size_t whole = len == 0 ? 0 : packet_len(buf, len);
    if (whole == 0 || len > whole || (whole <= UMQTT_TX_CAPACITY && len != whole)) {
        pe->write_violations++;
        return;
    }
    pe->packet_left = whole;
    pe->packets_sent++;
    if (whole > UMQTT_TX_CAPACITY) {
        pe->large_packets++;
    }
    pe->last_sent_type = buf[0];
    if (buf[0] == 0xC0) {
        pe->pingreqs_sent++;
    }
}

static intptr_t env_write(void *ctx, const uint8_t *buf, size_t len) {
    posix_env_t *pe = ctx;
    note_write(pe, buf, len);
    for (;;) {
        ssize_t n = send(pe->fd, buf, len, MSG_NOSIGNAL);
        if (n >= 0) {
            /* The rest, if any, must be offered next, whole. */
            pe->owed = len - (size_t)n;
            pe->packet_left = (size_t)n < pe->packet_left ? pe->packet_left - (size_t)n : 0;
            return n;
        }
        if (errno != EINTR) {
            /* Nothing moved: after EAGAIN the same bytes must be offered again. */
            int again = errno == EAGAIN || errno == EWOULDBLOCK;
            pe->owed = again ? len : 0;
            pe->packet_left = again ? pe->packet_left : 0;
            return io_errno(errno);
        }
    }
}

uint32_t posix_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

static uint32_t env_now_ms(void *ctx) {
    (void)ctx;
    return posix_now_ms();
}

static int32_t env_wait(void *ctx, int32_t for_write, int32_t timeout_ms) {
    posix_env_t *pe = ctx;
    uint32_t start = posix_now_ms();
    for (;;) {
        int timeout = timeout_ms;
        if (timeout_ms > 0) {
            uint32_t spent = posix_now_ms() - start;
            timeout = spent >= (uint32_t)timeout_ms ? 0 : (int)(timeout_ms - (int32_t)spent);
        }
        struct pollfd p = { .fd = pe->fd, .events = for_write ? POLLOUT : POLLIN };
        int r = poll(&p, 1, timeout < 0 ? -1 : timeout);
        if (r > 0) {
            /* Hang-ups and errors count as ready: the next read/write reports them. */
            return 1;
        }
        if (r == 0) {
            return 0;
        }
        if (errno != EINTR) {
            return (int32_t)io_errno(errno);
        }
    }
}

/* ---- sink ---------------------------------------------------------------- */

static void drop_pending(posix_env_t *pe) {
    free(pe->pending);
    free(pe->pending_topic);
    pe->pending = NULL;
    pe->pending_topic = NULL;
    pe->pending_len = 0;
}

static uint8_t *env_sink(void *ctx, const uint8_t *topic, size_t topic_len, size_t payload_len) {
    posix_env_t *pe = ctx;
    /* A message begun earlier but never completed (its call failed) is dropped. */
    drop_pending(pe);
    if (pe->sink_refuse) {
        return NULL;
    }
    pe->pending = malloc(payload_len + 1);
    pe->pending_topic = malloc(topic_len + 1);
    if (pe->pending == NULL || pe->pending_topic == NULL) {
        drop_pending(pe);
        return NULL;
    }
    memcpy(pe->pending_topic, topic, topic_len);
    pe->pending_topic[topic_len] = '\0';
    pe->pending_len = payload_len;
    return pe->pending;
}

/* ---- the env ---------------------------------------------------------- */

void posix_env_init(posix_env_t *pe) {
    memset(pe, 0, sizeof(*pe));
    pe->fd = -1;
    pe->env.ctx = pe;
    pe->env.read = env_read;
    pe->env.write = env_write;
    pe->env.wait = env_wait;
    pe->env.now_ms = env_now_ms;
    pe->env.sink = env_sink;
}

int posix_env_open(posix_env_t *pe, const char *host, uint16_t port) {
    posix_env_init(pe);
    return posix_env_connect(pe, host, port);
}

int posix_env_connect(posix_env_t *pe, const char *host, uint16_t port) {
    posix_env_close(pe);
    char service[8];
    snprintf(service, sizeof(service), "%u", (unsigned)port);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    struct addrinfo *res;
    if (getaddrinfo(host, service, &hints, &res) != 0) {
        return EHOSTUNREACH;
    }
    int err = ECONNREFUSED;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
            pe->fd = fd;
            err = 0;
            break;
        }
        err = errno;
        close(fd);
    }
    freeaddrinfo(res);
    return err;
}

void posix_env_close(posix_env_t *pe) {
    if (pe->fd >= 0) {
        close(pe->fd);
        pe->fd = -1;
    }
    pe->owed = 0;
    pe->packet_left = 0;
}

void posix_env_clear_msgs(posix_env_t *pe) {
    for (size_t i = 0; i < pe->n_msgs; i++) {
        free(pe->msgs[i].topic);
        free(pe->msgs[i].payload);
    }
    pe->n_msgs = 0;
}

void posix_env_free(posix_env_t *pe) {
    posix_env_close(pe);
    drop_pending(pe);
    posix_env_clear_msgs(pe);
    free(pe->msgs);
    pe->msgs = NULL;
    pe->cap_msgs = 0;
}

posix_msg_t *posix_env_take(posix_env_t *pe, const umqtt_event_t *event) {
    if (pe->pending == NULL) {
        return NULL;
    }
    if (pe->n_msgs == pe->cap_msgs) {
        size_t cap = pe->cap_msgs ? pe->cap_msgs * 2 : 8;
        posix_msg_t *m = realloc(pe->msgs, cap * sizeof(*m));
        if (m == NULL) {
            return NULL;
        }
        pe->msgs = m;
        pe->cap_msgs = cap;
    }
    posix_msg_t *m = &pe->msgs[pe->n_msgs++];
    m->topic = pe->pending_topic;
    m->payload = pe->pending;
    m->len = event->payload_len;
    m->event = *event;
    pe->pending = NULL;
    pe->pending_topic = NULL;
    pe->pending_len = 0;
    return m;
}

long posix_env_find(const posix_env_t *pe, const char *topic) {
    for (size_t i = 0; i < pe->n_msgs; i++) {
        if (strcmp(pe->msgs[i].topic, topic) == 0) {
            return (long)i;
        }
    }
    return -1;
}

umqtt_client_t *posix_client_new(void) {
    size_t align = umqtt_client_align();
    size_t size = umqtt_client_size();
    if (align < sizeof(void *)) {
        align = sizeof(void *);
    }
    size_t rounded = (size + align - 1) / align * align;
    void *mem = NULL;
    if (posix_memalign(&mem, align, rounded) != 0) {
        return NULL;
    }
    if (umqtt_client_init(mem, rounded) != UMQTT_DONE) {
        free(mem);
        return NULL;
    }
    return mem;
}
