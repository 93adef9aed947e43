/*
 * broker_client.c - drives the umqtt-native staticlib through its C ABI over
 * POSIX sockets against a real broker (tests/broker.rs starts mosquitto).
 *
 *   broker_client HOST PORT USER PASSWORD PREFIX REFUSED_CODE
 *
 * Every topic starts with PREFIX. REFUSED_CODE is the CONNACK code the broker
 * answers a wrong password with. Each check prints "ok" or "FAIL"; the exit
 * status is 0 only when all passed.
 *
 * Scenarios: auth_and_basics (refused CONNACK codes, QoS 0/1/2 round trips,
 * 1 MiB, unsubscribe, ping, clean disconnect), several_clients (clients alive
 * at once exchanging messages, keepalive PINGREQ, a Last Will after a dropped
 * connection), edges (messages queued before an acknowledgement, a refusing
 * sink, retained and empty messages, persistent sessions, takeover) and
 * qos2_resume (QoS 2 completed exactly once across reconnects) and step_api
 * (the non-blocking step calls: CONNECT to DISCONNECT, eight QoS 1 publishes
 * in flight at once, a 64 KiB payload written from the caller's buffer).
 *
 * The Last Will checks that need an outside observer (PREFIX/will/b
 * published, PREFIX/will/a and PREFIX/will/c not) are made by the paho-mqtt
 * peer that tests/broker.rs runs alongside; the program ends by publishing
 * PREFIX/will/end so that peer knows when to stop. a and c leave cleanly and
 * see the broker close their connections before that, so a will published
 * for them would reach the peer before the marker.
 */
#define _POSIX_C_SOURCE 200809L

#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "posix_env.h"
#include "umqtt_native.h"

#define TIMEOUT_MS 5000 /* bound on every wait for the broker */
#define BIG_LEN (1024 * 1024)

static const char *host, *user, *password, *prefix;
static unsigned port;
static int refused_code;
static int checks, failures;

/* ---- reporting -------------------------------------------------------- */

static int check(int ok, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    checks++;
    if (!ok) {
        failures++;
    }
    printf("%s %d - ", ok ? "ok" : "FAIL", checks);
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    va_end(ap);
    return ok;
}

typedef struct peer {
    const char *name;
    umqtt_client_t *c;
    posix_env_t pe;
    int sndbuf;         /* SO_SNDBUF if > 0: small, so that big packets go out in parts */
    int persistent;     /* connect with clean_session 0 */
    size_t await_msgs;  /* messages that arrived while awaiting an acknowledgement */
} peer_t;

/* "rc -5 (detail 5: connection refused by the broker)" for a check message. */
static const char *why(const peer_t *p, int32_t rc) {
    static char text[160];
    if (rc >= 0) {
        snprintf(text, sizeof(text), "rc %d", (int)rc);
        return text;
    }
    size_t len = 0;
    const char *msg = umqtt_error_message(p->c, &len);
    snprintf(text, sizeof(text), "rc %d (detail %d: %.*s)", (int)rc, (int)umqtt_error_detail(p->c), (int)len, msg);
    return text;
}

static const char *topic(const char *suffix) {
    static char buf[8][128];
    static int next;
    char *t = buf[next++ % 8];
    snprintf(t, sizeof(buf[0]), "%s/%s", prefix, suffix);
    return t;
}

static umqtt_bytes_t str(const char *s) {
    return (umqtt_bytes_t){ (const uint8_t *)s, s ? strlen(s) : 0 };
}

static umqtt_bytes_t mem(const void *p, size_t len) {
    return (umqtt_bytes_t){ p, len };
}

/* ---- client operations ------------------------------------------------- */

static int peer_new(peer_t *p, const char *name) {
    memset(p, 0, sizeof(*p));
    p->name = name;
    posix_env_init(&p->pe);
    p->c = posix_client_new();
    return check(p->c != NULL, "%s: client of %zu bytes allocated and initialised", name, umqtt_client_size());
}

static void peer_free(peer_t *p) {
    posix_env_free(&p->pe);
    free(p->c);
    p->c = NULL;
}

/* Opens a socket and connects; returns umqtt_connect's result. */
static int32_t peer_connect(peer_t *p, const char *pass, const char *will_topic, const char *will_msg,
    uint16_t keepalive_s) {
    int err = posix_env_connect(&p->pe, host, (uint16_t)port);
    if (err != 0) {
        check(0, "%s: TCP connection to %s:%u (errno %d)", p->name, host, port, err);
        return UMQTT_ERR_IO;
    }
    if (p->sndbuf > 0) {
        setsockopt(p->pe.fd, SOL_SOCKET, SO_SNDBUF, &p->sndbuf, sizeof(p->sndbuf));
    }
    char id[96];
    snprintf(id, sizeof(id), "%s-%s", prefix, p->name);
    for (char *s = id; *s; s++) {
        if (*s == '/') {
            *s = '-';
        }
    }
    umqtt_connect_options_t o = {
        .client_id = str(id),
        .user = str(user),
        .password = str(pass),
        .will_topic = will_topic ? str(will_topic) : (umqtt_bytes_t){ NULL, 0 },
        .will_message = will_msg ? str(will_msg) : (umqtt_bytes_t){ NULL, 0 },
        .will_qos = 1,
        .will_retain = 0,
        .clean_session = p->persistent ? 0 : 1,
        .keepalive_s = keepalive_s,
        .timeout_ms = TIMEOUT_MS,
    };
    return umqtt_connect(p->c, &p->pe.env, &o);
}

/* Keeps a delivered message, then acknowledges it as a callback that returned
 * would (PUBACK/PUBREC leave only now). */
static void peer_take(peer_t *p, const umqtt_event_t *ev) {
    posix_env_take(&p->pe, ev);
    int32_t rc = umqtt_ack(p->c, &p->pe.env, ev->packet_id);
    if (rc < 0) {
        check(0, "%s: ack of packet id %u: %d", p->name, ev->packet_id, (int)rc);
    }
}

/* Awaits a ticket, keeping the messages that arrive meanwhile. */
static int32_t peer_await(peer_t *p, int32_t ticket, umqtt_event_t *done) {
    for (;;) {
        umqtt_event_t ev;
        memset(&ev, 0, sizeof(ev));
        int32_t rc = umqtt_await(p->c, &p->pe.env, ticket, &ev);
        if (rc == UMQTT_MESSAGE) {
            peer_take(p, &ev);
            p->await_msgs++;
            continue;
        }
        if (done != NULL) {
            *done = ev;
        }
        return rc;
    }
}

/* Publishes and awaits the acknowledgement (QoS 1 and 2). */
static int32_t peer_publish(peer_t *p, const char *t, const void *payload, size_t len, uint8_t qos) {
    int32_t ticket = umqtt_publish(p->c, &p->pe.env, str(t), mem(payload, len), qos, 0);
    if (ticket < 0 || qos == 0) {
        if (qos == 0 && ticket != 0) {
            check(0, "%s: QoS 0 publish returns 0, not %d", p->name, (int)ticket);
        }
        return ticket;
    }
    if (ticket != (int32_t)umqtt_last_packet_id(p->c)) {
        check(0, "%s: ticket %d is the last packet id %u", p->name, (int)ticket, umqtt_last_packet_id(p->c));
    }
    return peer_await(p, ticket, NULL);
}

static int32_t peer_subscribe(peer_t *p, const char *filter, uint8_t qos, uint8_t *granted) {
    int32_t ticket = umqtt_subscribe(p->c, &p->pe.env, str(filter), qos);
    if (ticket <= 0) {
        return ticket;
    }
    umqtt_event_t done;
    int32_t rc = peer_await(p, ticket, &done);
    *granted = done.granted_qos;
    return rc;
}

/* Waits for readable input up to ms milliseconds (for CHECK-mode loops). */
static void wait_readable(peer_t *p, int ms) {
    struct pollfd fd = { .fd = p->pe.fd, .events = POLLIN };
    poll(&fd, 1, ms);
}

/* Pumps wait_msg in mode until a message on t is recorded or limit_ms passes. */
static posix_msg_t *peer_wait_for(peer_t *p, const char *t, int32_t mode, uint32_t limit_ms, int32_t *err) {
    uint32_t start = posix_now_ms();
    *err = UMQTT_DONE;
    for (;;) {
        long i = posix_env_find(&p->pe, t);
        if (i >= 0) {
            return &p->pe.msgs[i];
        }
        uint32_t spent = posix_now_ms() - start;
        if (spent >= limit_ms) {
            return NULL;
        }
        umqtt_event_t ev;
        int32_t rc = umqtt_wait_msg(p->c, &p->pe.env, mode, &ev);
        if (rc == UMQTT_MESSAGE) {
            peer_take(p, &ev);
        } else if (rc < 0) {
            *err = rc;
            return NULL;
        } else if (rc == UMQTT_DONE) {
            /* CHECK mode, or WAIT without keepalive on a non-blocking socket: nothing yet. */
            wait_readable(p, (int)(limit_ms - spent));
        }
    }
}

static size_t count_topic(const peer_t *p, const char *t) {
    size_t n = 0;
    for (size_t i = 0; i < p->pe.n_msgs; i++) {
        n += strcmp(p->pe.msgs[i].topic, t) == 0;
    }
    return n;
}

/* After a clean DISCONNECT the broker closes the socket: read gives EOF. */
static int broker_closed(peer_t *p) {
    uint32_t start = posix_now_ms();
    while (posix_now_ms() - start < TIMEOUT_MS) {
        wait_readable(p, 100);
        char b;
        ssize_t n = recv(p->pe.fd, &b, 1, 0);
        if (n == 0) {
            return 1;
        }
        if (n > 0) {
            return 0; /* nothing may follow a DISCONNECT */
        }
    }
    return 0;
}

/* Reads exactly n bytes from p's socket behind the engine's back. */
static int read_raw(peer_t *p, uint8_t *buf, size_t n) {
    size_t got = 0;
    uint32_t start = posix_now_ms();
    while (got < n && posix_now_ms() - start < TIMEOUT_MS) {
        wait_readable(p, 100);
        ssize_t r = recv(p->pe.fd, buf + got, n - got, 0);
        if (r == 0) {
            break;
        }
        got += r > 0 ? (size_t)r : 0;
    }
    return got == n;
}

/* Pumps wait_msg until a packet with this first byte was handled (messages are kept). */
static int32_t peer_wait_packet(peer_t *p, uint8_t first_byte) {
    uint32_t start = posix_now_ms();
    while (posix_now_ms() - start < TIMEOUT_MS) {
        umqtt_event_t ev;
        int32_t rc = umqtt_wait_msg(p->c, &p->pe.env, UMQTT_WAIT_FOREVER, &ev);
        if (rc == UMQTT_MESSAGE) {
            peer_take(p, &ev);
        } else if (rc < 0 || (rc == UMQTT_PACKET && ev.packet_type == first_byte)) {
            return rc;
        }
    }
    return UMQTT_ERR_TIMEOUT;
}

static void fill_pattern(uint8_t *buf, size_t len, uint32_t seed) {
    uint32_t x = seed;
    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
}

/* ---- scenarios ---------------------------------------------------------- */

/* Wrong password: the CONNACK code comes back as UMQTT_ERR_REFUSED; the same
 * client object then connects fine with the right password. */
static void auth_and_basics(void) {
    peer_t a;
    if (!peer_new(&a, "a")) {
        return;
    }
    int32_t rc = peer_connect(&a, "wrong-password", NULL, NULL, 5);
    check(rc == UMQTT_ERR_REFUSED && umqtt_error_detail(a.c) == refused_code,
        "a: wrong password refused with CONNACK code %d: %s", refused_code, why(&a, rc));
    check(!umqtt_is_connected(a.c), "a: not connected after refusal");
    const char *saved_user = user;
    user = NULL; /* anonymous: refused the same way on this listener */
    rc = peer_connect(&a, NULL, NULL, NULL, 5);
    user = saved_user;
    check(rc == UMQTT_ERR_REFUSED && umqtt_error_detail(a.c) == refused_code,
        "a: anonymous connect refused with CONNACK code %d: %s", refused_code, why(&a, rc));
    rc = umqtt_publish(a.c, &a.pe.env, str(topic("x")), str("x"), 0, 0);
    check(rc == UMQTT_ERR_NOT_CONNECTED, "a: publish after refusal gives NOT_CONNECTED: %s", why(&a, rc));

    const char *will_a = topic("will/a");
    a.sndbuf = 16 * 1024;
    rc = peer_connect(&a, password, will_a, "a-gone", 5);
    if (!check(rc == 0, "a: connect with user/password and Last Will, session present 0: %s", why(&a, rc))) {
        peer_free(&a);
        return;
    }
    check(umqtt_is_connected(a.c), "a: connected");

    uint8_t granted = 0xff;
    rc = peer_subscribe(&a, topic("a/#"), 2, &granted);
    check(rc == UMQTT_DONE && granted == 2, "a: subscribe a/# at QoS 2, granted %u: %s", granted, why(&a, rc));
    rc = peer_subscribe(&a, topic("marker/a"), 0, &granted);
    check(rc == UMQTT_DONE && granted == 0, "a: subscribe marker/a at QoS 0, granted %u: %s", granted, why(&a, rc));

    /* QoS 0, 1, 2: publish to our own subscription and get it back. */
    for (uint8_t qos = 0; qos <= 2; qos++) {
        uint8_t payload[300];
        for (size_t i = 0; i < sizeof(payload); i++) {
            payload[i] = (uint8_t)(i * 7 + qos); /* every byte value, including 0 */
        }
        char suffix[16];
        snprintf(suffix, sizeof(suffix), "a/qos%u", qos);
        const char *t = topic(suffix);
        rc = peer_publish(&a, t, payload, sizeof(payload), qos);
        check(rc == UMQTT_DONE, "a: publish at QoS %u acknowledged: %s", qos, why(&a, rc));
        int32_t err;
        posix_msg_t *m = peer_wait_for(&a, t, UMQTT_WAIT_FOREVER, TIMEOUT_MS, &err);
        if (!check(m != NULL, "a: QoS %u message received: %s", qos, why(&a, err))) {
            continue;
        }
        check(m->len == sizeof(payload) && memcmp(m->payload, payload, sizeof(payload)) == 0,
            "a: QoS %u payload intact (%zu bytes)", qos, m->len);
        check(m->event.qos == qos && m->event.packet_type == (0x30 | (qos << 1)) && !m->event.retain && !m->event.dup,
            "a: QoS %u event: qos %u, first byte 0x%02x, retain %u, dup %u", qos, m->event.qos,
            m->event.packet_type, m->event.retain, m->event.dup);
        check((qos == 0) == (m->event.packet_id == 0), "a: QoS %u packet id %u", qos, m->event.packet_id);
    }

    /* 1 MiB out as header + payload straight from the caller's buffer, back in
     * through the sink without blocking, where partial packets must be kept
     * between calls. */
    uint8_t *big = malloc(BIG_LEN);
    fill_pattern(big, BIG_LEN, 0x5eed);
    const char *big_t = topic("a/big");
    size_t large_before = a.pe.large_packets;
    rc = peer_publish(&a, big_t, big, BIG_LEN, 1);
    check(rc == UMQTT_DONE, "a: 1 MiB publish at QoS 1 acknowledged: %s", why(&a, rc));
    check(a.pe.large_packets == large_before + 1, "a: 1 MiB packet went out in pieces (%zu large packets)",
        a.pe.large_packets - large_before);
    int32_t err;
    posix_msg_t *m = peer_wait_for(&a, big_t, 0 /* never block */, TIMEOUT_MS, &err);
    if (check(m != NULL, "a: 1 MiB message received: %s", why(&a, err))) {
        check(m->len == BIG_LEN && memcmp(m->payload, big, BIG_LEN) == 0, "a: 1 MiB payload intact (%zu bytes)",
            m->len);
    }
    free(big);

    for (uint8_t qos = 0; qos <= 2; qos++) {
        char suffix[16];
        snprintf(suffix, sizeof(suffix), "a/qos%u", qos);
        size_t n = count_topic(&a, topic(suffix));
        check(n == 1, "a: QoS %u message delivered exactly once (%zu)", qos, n);
    }

    /* Unsubscribe: a later publish on a/ is not delivered. The marker, published
     * after it on a topic still subscribed, shows the broker got that far. */
    int32_t ticket = umqtt_unsubscribe(a.c, &a.pe.env, str(topic("a/#")));
    rc = ticket > 0 ? peer_await(&a, ticket, NULL) : ticket;
    check(rc == UMQTT_DONE, "a: unsubscribe a/# acknowledged: %s", why(&a, rc));
    const char *after = topic("a/after-unsubscribe");
    rc = peer_publish(&a, after, "late", 4, 1);
    check(rc == UMQTT_DONE, "a: publish after unsubscribe acknowledged: %s", why(&a, rc));
    rc = peer_publish(&a, topic("marker/a"), "marker", 6, 0);
    check(rc == UMQTT_DONE, "a: marker published: %s", why(&a, rc));
    m = peer_wait_for(&a, topic("marker/a"), 0 /* never block */, TIMEOUT_MS, &err);
    check(m != NULL, "a: marker received: %s", why(&a, err));
    peer_wait_for(&a, after, 0 /* never block */, 300, &err); /* bounded linger */
    check(err == UMQTT_DONE && posix_env_find(&a.pe, after) < 0,
        "a: nothing delivered after unsubscribe (%zu messages in all): %s", a.pe.n_msgs, why(&a, err));

    /* Ping: PINGREQ goes out; PINGRESP is handled as a packet 0xD0. */
    size_t pings = a.pe.pingreqs_sent;
    rc = umqtt_ping(a.c, &a.pe.env);
    check(rc == UMQTT_DONE && a.pe.pingreqs_sent == pings + 1, "a: ping sends one PINGREQ: %s", why(&a, rc));
    umqtt_event_t ev;
    uint32_t start = posix_now_ms();
    do {
        memset(&ev, 0, sizeof(ev));
        rc = umqtt_wait_msg(a.c, &a.pe.env, UMQTT_WAIT_FOREVER, &ev);
        if (rc == UMQTT_MESSAGE) {
            peer_take(&a, &ev);
        }
    } while (rc == UMQTT_MESSAGE && posix_now_ms() - start < TIMEOUT_MS);
    check(rc == UMQTT_PACKET && ev.packet_type == 0xD0, "a: PINGRESP handled by wait_msg as packet 0x%02x: %s",
        ev.packet_type, why(&a, rc));

    /* Clean disconnect: DISCONNECT goes out, the broker closes, no will. */
    rc = umqtt_disconnect(a.c, &a.pe.env);
    check(rc == UMQTT_DONE && a.pe.last_sent_type == 0xE0, "a: disconnect sends DISCONNECT (last packet 0x%02x): %s",
        a.pe.last_sent_type, why(&a, rc));
    check(!umqtt_is_connected(a.c), "a: not connected after disconnect");
    check(broker_closed(&a), "a: broker closed the connection after DISCONNECT");
    rc = umqtt_publish(a.c, &a.pe.env, str(topic("x")), str("x"), 1, 0);
    check(rc == UMQTT_ERR_NOT_CONNECTED, "a: publish after disconnect gives NOT_CONNECTED: %s", why(&a, rc));
    check(a.pe.write_violations == 0, "a: every packet up to the transmit buffer offered in one write (%zu packets, %zu writes, %zu bad)",
        a.pe.packets_sent, a.pe.writes, a.pe.write_violations);
    peer_free(&a);
}

/* Several clients alive at once: c and d exchange messages; b has a Last Will
 * and is dropped without DISCONNECT; c sees the will. */
static void several_clients(void) {
    peer_t b, c, d;
    if (!peer_new(&b, "b") || !peer_new(&c, "c") || !peer_new(&d, "d")) {
        return;
    }
    /* c's CONNECT carries a 2000-byte will: more than the client's transmit
     * buffer, so it leaves in pieces, the will straight from its string. c
     * leaves cleanly: no will. */
    char big_will[2001];
    for (int i = 0; i < 2000; i++) {
        big_will[i] = (char)('a' + i % 26);
    }
    big_will[2000] = '\0';
    int32_t rc = peer_connect(&c, password, topic("will/c"), big_will, 5);
    check(rc == 0 && c.pe.large_packets == 1, "c: connect with a 2000-byte will (%zu large packets): %s",
        c.pe.large_packets, why(&c, rc));
    rc = peer_connect(&d, password, NULL, NULL, 2);
    check(rc == 0, "d: connect with keepalive 2 s: %s", why(&d, rc));
    rc = peer_connect(&b, password, topic("will/b"), "b-gone", 5);
    check(rc == 0, "b: connect with Last Will: %s", why(&b, rc));

    uint8_t granted;
    rc = peer_subscribe(&c, topic("will/#"), 1, &granted);
    check(rc == UMQTT_DONE && granted == 1, "c: subscribe will/# at QoS 1: %s", why(&c, rc));
    rc = peer_subscribe(&c, topic("to-c"), 2, &granted);
    check(rc == UMQTT_DONE && granted == 2, "c: subscribe to-c at QoS 2: %s", why(&c, rc));
    rc = peer_subscribe(&d, topic("to-d"), 1, &granted);
    check(rc == UMQTT_DONE && granted == 1, "d: subscribe to-d at QoS 1: %s", why(&d, rc));

    /* c -> d at QoS 1, d -> c at QoS 2, then each receives. */
    rc = peer_publish(&c, topic("to-d"), "hello d", 7, 1);
    check(rc == UMQTT_DONE, "c: publish to d acknowledged: %s", why(&c, rc));
    rc = peer_publish(&d, topic("to-c"), "hello c", 7, 2);
    check(rc == UMQTT_DONE, "d: publish to c acknowledged: %s", why(&d, rc));
    rc = peer_publish(&b, topic("to-c"), "from b", 6, 0);
    check(rc == UMQTT_DONE, "b: publish to c at QoS 0: %s", why(&b, rc));
    int32_t err;
    posix_msg_t *m = peer_wait_for(&d, topic("to-d"), UMQTT_WAIT_FOREVER, TIMEOUT_MS, &err);
    check(m && m->len == 7 && !memcmp(m->payload, "hello d", 7) && m->event.qos == 1, "d: got c's message at QoS 1: %s",
        why(&d, err));
    m = peer_wait_for(&c, topic("to-c"), UMQTT_WAIT_FOREVER, TIMEOUT_MS, &err);
    check(m && m->len == 7 && !memcmp(m->payload, "hello c", 7) && m->event.qos == 2, "c: got d's message at QoS 2: %s",
        why(&c, err));
    /* b's QoS 0 message follows d's on the same topic. */
    uint32_t start = posix_now_ms();
    while (count_topic(&c, topic("to-c")) < 2 && posix_now_ms() - start < TIMEOUT_MS) {
        umqtt_event_t ev;
        rc = umqtt_wait_msg(c.c, &c.pe.env, UMQTT_WAIT_FOREVER, &ev);
        if (rc == UMQTT_MESSAGE) {
            peer_take(&c, &ev);
        } else if (rc < 0) {
            break;
        }
    }
    check(count_topic(&c, topic("to-c")) == 2, "c: got b's message too (%zu on to-c)", count_topic(&c, topic("to-c")));

    /* Keepalive: idle in wait_msg, d sends PINGREQ on its own after half the interval. */
    size_t pings = d.pe.pingreqs_sent;
    umqtt_event_t ev;
    memset(&ev, 0, sizeof(ev));
    start = posix_now_ms();
    rc = umqtt_wait_msg(d.c, &d.pe.env, UMQTT_WAIT_FOREVER, &ev);
    uint32_t idle = posix_now_ms() - start;
    check(rc == UMQTT_PACKET && ev.packet_type == 0xD0 && d.pe.pingreqs_sent == pings + 1,
        "d: idle wait_msg sent PINGREQ by itself and returned its PINGRESP after %u ms: %s", idle, why(&d, rc));

    /* Drop b: close the socket, no DISCONNECT. The broker publishes its will. */
    posix_env_close(&b.pe);
    umqtt_reset(b.c);
    check(!umqtt_is_connected(b.c), "b: dropped without DISCONNECT (reset)");
    m = peer_wait_for(&c, topic("will/b"), UMQTT_WAIT_FOREVER, TIMEOUT_MS, &err);
    check(m && m->len == 6 && !memcmp(m->payload, "b-gone", 6) && m->event.qos == 1 && !m->event.retain,
        "c: received b's Last Will: %s", why(&c, err));


    /* c leaves cleanly; once the broker has closed its side, c's will can no
     * longer be published: the outside observer must never see it. */
    rc = umqtt_disconnect(c.c, &c.pe.env);
    check(rc == UMQTT_DONE, "c: disconnect: %s", why(&c, rc));
    check(broker_closed(&c), "c: broker closed the connection after DISCONNECT");
    rc = umqtt_disconnect(d.c, &d.pe.env);
    check(rc == UMQTT_DONE, "d: disconnect: %s", why(&d, rc));
    size_t bad = b.pe.write_violations + c.pe.write_violations + d.pe.write_violations;
    check(bad == 0, "b, c, d: every packet offered in one write (%zu bad)", bad);
    peer_free(&b);
    peer_free(&c);
    peer_free(&d);
}

/* Edges a real broker produces: messages queued before an acknowledgement,
 * several packets in one read, a refusing sink, retained and empty messages,
 * a persistent session whose queued message follows CONNACK at once. */
static void edges(void) {
    peer_t e, f;
    if (!peer_new(&e, "e") || !peer_new(&f, "f")) {
        return;
    }
    e.persistent = 1;
    int32_t rc = peer_connect(&e, password, NULL, NULL, 0);
    check(rc == 0 || rc == 1, "e: connect with clean_session 0, no keepalive: %s", why(&e, rc));
    rc = peer_connect(&f, password, NULL, NULL, 5);
    check(rc == 0, "f: connect: %s", why(&f, rc));
    uint8_t granted;
    rc = peer_subscribe(&e, topic("e/#"), 1, &granted);
    check(rc == UMQTT_DONE && granted == 1, "e: subscribe e/# at QoS 1: %s", why(&e, rc));

    /* An idle wait_msg with a limit returns UMQTT_DONE once it has passed, not before. */
    umqtt_event_t ev;
    uint32_t start = posix_now_ms();
    rc = umqtt_wait_msg(e.c, &e.pe.env, 200, &ev);
    uint32_t spent = posix_now_ms() - start;
    check(rc == UMQTT_DONE && spent >= 199, "e: idle wait_msg of 200 ms returns after it (%u ms): %s", spent, why(&e, rc));

    /* Five messages reach e's socket before the SUBACK it then awaits: all
     * come out of umqtt_await as messages, in order, before DONE. */
    for (int i = 0; i < 5; i++) {
        char payload[24];
        snprintf(payload, sizeof(payload), "burst-%d", i);
        rc = peer_publish(&f, topic("e/burst"), payload, strlen(payload), 1);
        check(rc == UMQTT_DONE, "f: burst message %d acknowledged: %s", i, why(&f, rc));
    }
    e.await_msgs = 0;
    rc = peer_subscribe(&e, topic("other"), 0, &granted);
    check(rc == UMQTT_DONE && e.await_msgs == 5, "e: the 5 messages queued before SUBACK came out of await (%zu): %s",
        e.await_msgs, why(&e, rc));
    int in_order = e.pe.n_msgs == 5;
    for (size_t i = 0; in_order && i < 5; i++) {
        char payload[24];
        snprintf(payload, sizeof(payload), "burst-%zu", i);
        in_order = e.pe.msgs[i].len == strlen(payload) && !memcmp(e.pe.msgs[i].payload, payload, strlen(payload));
    }
    check(in_order, "e: burst delivered complete and in order");

    /* A sink that refuses: the call fails with UMQTT_ERR_CALLBACK, the
     * connection stays usable and the next message arrives intact. */
    posix_env_clear_msgs(&e.pe);
    e.pe.sink_refuse = 1;
    rc = peer_publish(&f, topic("e/refused"), "refused", 7, 0);
    check(rc == UMQTT_DONE, "f: publish for a refusing sink: %s", why(&f, rc));
    int32_t err;
    peer_wait_for(&e, topic("e/refused"), 0 /* never block */, TIMEOUT_MS, &err);
    check(err == UMQTT_ERR_CALLBACK && umqtt_is_connected(e.c), "e: refused message gives UMQTT_ERR_CALLBACK, still connected: %s",
        why(&e, err));
    e.pe.sink_refuse = 0;
    rc = peer_publish(&f, topic("e/accepted"), "accepted", 8, 1);
    check(rc == UMQTT_DONE, "f: publish after the refusal: %s", why(&f, rc));
    posix_msg_t *m = peer_wait_for(&e, topic("e/accepted"), 0 /* never block */, TIMEOUT_MS, &err);
    check(m && m->len == 8 && !memcmp(m->payload, "accepted", 8), "e: next message intact after the refusal: %s",
        why(&e, err));

    /* Retained message: a new subscription gets it with the retain flag; an
     * empty retained publish clears it and arrives with no payload. */
    rc = umqtt_publish(f.c, &f.pe.env, str(topic("e/retained")), str("kept"), 0, 1);
    check(rc == 0, "f: retained publish: %s", why(&f, rc));
    rc = peer_subscribe(&f, topic("e/retained"), 1, &granted);
    check(rc == UMQTT_DONE, "f: subscribe e/retained: %s", why(&f, rc));
    m = peer_wait_for(&f, topic("e/retained"), UMQTT_WAIT_FOREVER, TIMEOUT_MS, &err);
    check(m && m->event.retain && m->len == 4 && !memcmp(m->payload, "kept", 4), "f: retained message with retain flag: %s",
        why(&f, err));
    posix_env_clear_msgs(&f.pe);
    rc = peer_publish(&f, topic("e/retained"), "", 0, 1);
    check(rc == UMQTT_DONE, "f: empty payload publish: %s", why(&f, rc));
    m = peer_wait_for(&f, topic("e/retained"), UMQTT_WAIT_FOREVER, TIMEOUT_MS, &err);
    check(m && m->len == 0 && m->event.payload_len == 0, "f: empty payload received: %s", why(&f, err));

    /* Persistent session: e leaves, f publishes to it, e comes back and the
     * broker resumes the session and sends the queued message after CONNACK. */
    rc = umqtt_disconnect(e.c, &e.pe.env);
    check(rc == UMQTT_DONE, "e: disconnect: %s", why(&e, rc));
    posix_env_close(&e.pe);
    posix_env_clear_msgs(&e.pe);
    rc = peer_publish(&f, topic("e/queued"), "while away", 10, 1);
    check(rc == UMQTT_DONE, "f: publish while e is away: %s", why(&f, rc));
    rc = peer_connect(&e, password, NULL, NULL, 0);
    check(rc == 1, "e: reconnect reports session present: %s", why(&e, rc));
    m = peer_wait_for(&e, topic("e/queued"), 0 /* never block */, TIMEOUT_MS, &err);
    check(m && m->len == 10 && !memcmp(m->payload, "while away", 10) && m->event.qos == 1,
        "e: message queued while away delivered: %s", why(&e, err));
    /* Leave no session behind. */
    e.persistent = 0;
    rc = peer_connect(&e, password, NULL, NULL, 0);
    check(rc == 0, "e: clean reconnect discards the session: %s", why(&e, rc));
    rc = umqtt_disconnect(e.c, &e.pe.env);
    check(rc == UMQTT_DONE, "e: disconnect: %s", why(&e, rc));
    /* Session takeover: a second connection with f's client id makes the broker
     * close the first; f's next wait reports UMQTT_ERR_CLOSED, not a crash or a hang. */
    peer_t f2;
    if (peer_new(&f2, "f")) {
        rc = peer_connect(&f2, password, NULL, NULL, 5);
        check(rc == 0, "f2: connect with f's client id: %s", why(&f2, rc));
        start = posix_now_ms();
        do {
            rc = umqtt_wait_msg(f.c, &f.pe.env, UMQTT_WAIT_FOREVER, &ev);
        } while ((rc == UMQTT_PACKET || rc == UMQTT_MESSAGE) && posix_now_ms() - start < TIMEOUT_MS);
        check(rc == UMQTT_ERR_CLOSED && !umqtt_is_connected(f.c), "f: taken over, wait_msg reports the close: %s",
            why(&f, rc));
        rc = umqtt_disconnect(f2.c, &f2.pe.env);
        check(rc == UMQTT_DONE, "f2: disconnect: %s", why(&f2, rc));
        peer_free(&f2);
    }
    size_t bad = e.pe.write_violations + f.pe.write_violations;
    check(bad == 0, "e, f: every packet offered in one write (%zu bad)", bad);
    peer_free(&e);
    peer_free(&f);
}

/* QoS 2 across a reconnect with a persistent session: the broker resends
 * what it did not see acknowledged, and the engine completes it exactly once. */
static void qos2_resume(void) {
    peer_t g, h;
    if (!peer_new(&g, "g") || !peer_new(&h, "h")) {
        return;
    }
    g.persistent = 1;
    int32_t rc = peer_connect(&g, password, NULL, NULL, 5);
    check(rc == 0, "g: connect with clean_session 0: %s", why(&g, rc));
    rc = peer_connect(&h, password, NULL, NULL, 5);
    check(rc == 0, "h: connect: %s", why(&h, rc));
    uint8_t granted;
    rc = peer_subscribe(&g, topic("g/#"), 2, &granted);
    check(rc == UMQTT_DONE && granted == 2, "g: subscribe g/# at QoS 2: %s", why(&g, rc));

    /* 1. g takes the message and sends PUBREC, then the PUBREL is read past the
     * engine and the connection dropped: after the reconnect the broker sends
     * PUBREL again (not the message), and the engine answers PUBCOMP. */
    const char *one = topic("g/one");
    rc = peer_publish(&h, one, "one", 3, 2);
    check(rc == UMQTT_DONE, "h: QoS 2 publish: %s", why(&h, rc));
    int32_t err;
    posix_msg_t *m = peer_wait_for(&g, one, 0 /* never block */, TIMEOUT_MS, &err);
    uint16_t pid = m ? m->event.packet_id : 0;
    check(m && m->event.qos == 2 && g.pe.last_sent_type == 0x50, "g: QoS 2 message taken, PUBREC sent (last 0x%02x): %s",
        g.pe.last_sent_type, why(&g, err));
    uint8_t raw[64] = { 0 };
    int got = read_raw(&g, raw, 4);
    check(got && raw[0] == 0x62 && raw[1] == 2 && raw[2] == (pid >> 8) && raw[3] == (pid & 0xff),
        "g: the broker's PUBREL for packet %u read past the engine", pid);
    posix_env_close(&g.pe);
    umqtt_reset(g.c);
    rc = peer_connect(&g, password, NULL, NULL, 5);
    check(rc == 1, "g: reconnect, session present: %s", why(&g, rc));
    rc = peer_wait_packet(&g, 0x62);
    check(rc == UMQTT_PACKET && g.pe.last_sent_type == 0x70, "g: resent PUBREL answered with PUBCOMP: %s", why(&g, rc));
    check(count_topic(&g, one) == 1, "g: message not delivered again (%zu)", count_topic(&g, one));

    /* 2. The PUBLISH reaches g's socket but the engine never sees it: after the
     * reconnect the broker resends it with DUP set; it is delivered once. */
    const char *two = topic("g/two");
    rc = peer_publish(&h, two, "two", 3, 2);
    check(rc == UMQTT_DONE, "h: second QoS 2 publish: %s", why(&h, rc));
    size_t len = 2 + 2 + strlen(two) + 2 + 3; /* fixed header, topic, packet id, payload */
    got = len <= sizeof(raw) && read_raw(&g, raw, len);
    check(got && raw[0] == 0x34 && raw[1] == len - 2,
        "g: the broker's PUBLISH read past the engine (first byte 0x%02x)", raw[0]);
    posix_env_close(&g.pe);
    umqtt_reset(g.c);
    rc = peer_connect(&g, password, NULL, NULL, 5);
    check(rc == 1, "g: reconnect, session present: %s", why(&g, rc));
    m = peer_wait_for(&g, two, UMQTT_WAIT_FOREVER, TIMEOUT_MS, &err);
    check(m && m->len == 3 && !memcmp(m->payload, "two", 3) && m->event.dup && m->event.qos == 2 &&
            m->event.packet_type == 0x3c,
        "g: resent message delivered with DUP (first byte 0x%02x): %s", m ? m->event.packet_type : 0, why(&g, err));
    rc = peer_wait_packet(&g, 0x62);
    check(rc == UMQTT_PACKET && g.pe.last_sent_type == 0x70, "g: its PUBREL answered with PUBCOMP: %s", why(&g, rc));
    check(count_topic(&g, two) == 1, "g: delivered exactly once (%zu)", count_topic(&g, two));

    /* Leave no session behind. */
    g.persistent = 0;
    rc = peer_connect(&g, password, NULL, NULL, 5);
    check(rc == 0, "g: clean reconnect discards the session: %s", why(&g, rc));
    rc = umqtt_disconnect(g.c, &g.pe.env);
    check(rc == UMQTT_DONE, "g: disconnect: %s", why(&g, rc));
    rc = umqtt_disconnect(h.c, &h.pe.env);
    check(rc == UMQTT_DONE, "h: disconnect: %s", why(&h, rc));
    size_t bad = g.pe.write_violations + h.pe.write_violations;
    check(bad == 0, "g, h: every packet offered in one write (%zu bad)", bad);
    peer_free(&g);
    peer_free(&h);
}

/* The end marker for the outside observer, from a fresh client once every
 * will (published or wrongly published) would have gone out. */
/* ---- the step calls: the same engine driven by an event loop ------------ */

/* Writes what the engine queued, piece by piece, as an event loop would.
 * Counts the write() calls; a piece of the caller's memory is checked to
 * come from there (borrowed, not copied) when from_caller is given. */
static int step_flush(peer_t *p, size_t *writes, const uint8_t *from_caller, int *borrowed) {
    const uint8_t *data;
    size_t len;
    while (umqtt_step_output(p->c, &data, &len) == 1) {
        if (from_caller != NULL && data == from_caller) {
            *borrowed = 1;
        }
        ssize_t n = send(p->pe.fd, data, len, MSG_NOSIGNAL);
        if (n < 0) {
            struct pollfd fd = { .fd = p->pe.fd, .events = POLLOUT };
            if (poll(&fd, 1, TIMEOUT_MS) <= 0) {
                return 0;
            }
            continue;
        }
        *writes += 1;
        umqtt_step_written(p->c, (size_t)n, posix_now_ms());
    }
    return 1;
}

/* Reads and handles input until done() holds or the time runs out; messages
 * are kept and acknowledged as a callback that returned would. */
static int32_t step_pump(peer_t *p, int (*done)(peer_t *, void *), void *arg) {
    uint32_t start = posix_now_ms();
    size_t writes = 0;
    while (!done(p, arg)) {
        if (posix_now_ms() - start > TIMEOUT_MS) {
            return UMQTT_ERR_TIMEOUT;
        }
        umqtt_event_t ev;
        memset(&ev, 0, sizeof(ev));
        int32_t rc = umqtt_step_event(p->c, &p->pe.env, &ev);
        if (rc < 0) {
            return rc;
        }
        if (rc == UMQTT_MESSAGE) {
            posix_env_take(&p->pe, &ev);
            umqtt_step_ack(p->c, ev.packet_id);
        }
        if (rc == UMQTT_CONNECTED) {
            p->persistent = 10 + ev.session_present; /* seen: 10 or 11 */
        }
        if (rc == UMQTT_PACKET) {
            p->pe.last_sent_type = ev.packet_type; /* the step test's record of what came */
        }
        if (!step_flush(p, &writes, NULL, NULL)) {
            return UMQTT_ERR_IO;
        }
        if (rc != UMQTT_DONE) {
            continue;
        }
        int32_t tick = umqtt_step_tick(p->c, posix_now_ms());
        if (tick < 0) {
            return tick;
        }
        struct pollfd fd = { .fd = p->pe.fd, .events = POLLIN };
        poll(&fd, 1, tick == UMQTT_WAIT_FOREVER || tick > 100 ? 100 : tick);
        uint8_t *buf;
        size_t room;
        if (umqtt_step_input(p->c, &buf, &room) != 1) {
            continue;
        }
        ssize_t n = recv(p->pe.fd, buf, room, 0);
        if (n == 0) {
            return UMQTT_ERR_CLOSED;
        }
        if (n > 0) {
            umqtt_step_received(p->c, (size_t)n);
        }
    }
    return UMQTT_DONE;
}

static int step_connected(peer_t *p, void *arg) {
    (void)arg;
    return p->persistent >= 10;
}

static int step_ticket_done(peer_t *p, void *arg) {
    umqtt_event_t *ev = arg;
    int32_t rc = umqtt_step_status(p->c, (int32_t)ev->packet_id, ev);
    return rc != UMQTT_PENDING;
}

static int step_pingresp(peer_t *p, void *arg) {
    (void)arg;
    return p->pe.last_sent_type == 0xd0;
}

static int step_has_msgs(peer_t *p, void *arg) {
    return p->pe.n_msgs >= *(size_t *)arg;
}

#define STEP_PIPELINE 8
#define STEP_BIG (64 * 1024)

static void step_api(void) {
    peer_t s;
    if (!peer_new(&s, "s")) {
        return;
    }
    int err = posix_env_connect(&s.pe, host, (uint16_t)port);
    check(err == 0, "s: TCP connection (errno %d)", err);
    char id[96];
    snprintf(id, sizeof(id), "%s-s", prefix);
    for (char *c = id; *c; c++) {
        *c = *c == '/' ? '-' : *c;
    }
    umqtt_connect_options_t o = {
        .client_id = str(id), .user = str(user), .password = str(password),
        .clean_session = 1, .keepalive_s = 30, .timeout_ms = TIMEOUT_MS,
    };
    size_t writes = 0;
    int32_t rc = umqtt_step_connect(s.c, &o, posix_now_ms());
    check(rc == UMQTT_DONE && step_flush(&s, &writes, NULL, NULL), "s: CONNECT queued and written: %s", why(&s, rc));
    rc = step_pump(&s, step_connected, NULL);
    check(rc == UMQTT_DONE && s.persistent == 10, "s: CONNACK seen as UMQTT_CONNECTED (new session): %s", why(&s, rc));
    int32_t tick = umqtt_step_tick(s.c, posix_now_ms());
    check(tick > 0 && tick <= 15000, "s: next deadline within half the keepalive: %d ms", (int)tick);

    int32_t sub = umqtt_step_subscribe(s.c, str(topic("step/#")), 1);
    check(sub > 0 && step_flush(&s, &writes, NULL, NULL), "s: SUBSCRIBE queued: %s", why(&s, sub));
    umqtt_event_t ev = { .packet_id = (uint16_t)sub };
    rc = step_pump(&s, step_ticket_done, &ev);
    check(rc == UMQTT_DONE && umqtt_step_status(s.c, sub, &ev) == UMQTT_ERR_INVALID_ARG,
        "s: SUBACK completes the ticket (then forgotten): %s", why(&s, rc));

    /* Eight QoS 1 publishes in flight at once: queued without waiting for any
     * PUBACK, they leave together. */
    int32_t tickets[STEP_PIPELINE];
    char bodies[STEP_PIPELINE][16];
    int queued = 1;
    for (int i = 0; i < STEP_PIPELINE; i++) {
        snprintf(bodies[i], sizeof(bodies[i]), "piped-%d", i);
        umqtt_message_t m = { .topic = str(topic("step/pipe")), .payload = str(bodies[i]), .qos = 1 };
        tickets[i] = umqtt_step_publish(s.c, &s.pe.env, &m);
        queued &= tickets[i] > 0;
    }
    writes = 0;
    int flushed = step_flush(&s, &writes, NULL, NULL);
    check(queued && flushed && writes == 1,
        "s: %d QoS 1 publishes queued before any PUBACK go out in %zu write", STEP_PIPELINE, writes);
    size_t want = STEP_PIPELINE;
    rc = step_pump(&s, step_has_msgs, &want);
    int in_order = s.pe.n_msgs == STEP_PIPELINE;
    for (size_t i = 0; in_order && i < s.pe.n_msgs; i++) {
        in_order = s.pe.msgs[i].len == strlen(bodies[i]) && memcmp(s.pe.msgs[i].payload, bodies[i], s.pe.msgs[i].len) == 0;
    }
    check(rc == UMQTT_DONE && in_order, "s: the broker delivered all %d back, in order: %s", STEP_PIPELINE, why(&s, rc));
    int acked = 1;
    for (int i = 0; i < STEP_PIPELINE; i++) {
        umqtt_event_t done = { .packet_id = (uint16_t)tickets[i] };
        step_pump(&s, step_ticket_done, &done);
        acked &= umqtt_step_status(s.c, tickets[i], &done) != UMQTT_PENDING;
    }
    check(acked, "s: every pipelined ticket completed by its PUBACK");
    posix_env_clear_msgs(&s.pe);

    /* A payload past the transmit buffer leaves from the caller's memory. */
    uint8_t *big = malloc(STEP_BIG);
    fill_pattern(big, STEP_BIG, 77);
    umqtt_message_t m = { .topic = str(topic("step/big")), .payload = mem(big, STEP_BIG), .qos = 1 };
    int32_t t = umqtt_step_publish(s.c, &s.pe.env, &m);
    int32_t second = umqtt_step_publish(s.c, &s.pe.env, &m);
    check(t > 0 && second == UMQTT_ERR_WOULD_BLOCK,
        "s: while a large payload waits to be written, another says UMQTT_ERR_WOULD_BLOCK: %s", why(&s, second));
    int borrowed = 0;
    writes = 0;
    check(step_flush(&s, &writes, big, &borrowed) && borrowed, "s: the 64 KiB payload was written from the caller's buffer");
    want = 1;
    rc = step_pump(&s, step_has_msgs, &want);
    check(rc == UMQTT_DONE && s.pe.n_msgs == 1 && s.pe.msgs[0].len == STEP_BIG && memcmp(s.pe.msgs[0].payload, big, STEP_BIG) == 0,
        "s: the broker delivered the 64 KiB message intact: %s", why(&s, rc));
    free(big);

    rc = umqtt_step_ping(s.c, posix_now_ms());
    check(rc == UMQTT_DONE && step_flush(&s, &writes, NULL, NULL), "s: PINGREQ queued");
    s.pe.last_sent_type = 0;
    rc = step_pump(&s, step_pingresp, NULL);
    check(rc == UMQTT_DONE, "s: PINGRESP handled as UMQTT_PACKET 0xd0: %s", why(&s, rc));
    rc = umqtt_step_disconnect(s.c);
    check(rc == UMQTT_DONE && step_flush(&s, &writes, NULL, NULL) && broker_closed(&s),
        "s: DISCONNECT written, the broker closes: %s", why(&s, rc));
    umqtt_reset(s.c);
    peer_free(&s);
}

static void end_marker(void) {
    peer_t z;
    if (!peer_new(&z, "z")) {
        return;
    }
    int32_t rc = peer_connect(&z, password, NULL, NULL, 5);
    check(rc == 0, "z: connect: %s", why(&z, rc));
    rc = peer_publish(&z, topic("will/end"), "end", 3, 1);
    check(rc == UMQTT_DONE, "z: end marker for the outside observer published: %s", why(&z, rc));
    rc = umqtt_disconnect(z.c, &z.pe.env);
    check(rc == UMQTT_DONE, "z: disconnect: %s", why(&z, rc));
    peer_free(&z);
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: %s HOST PORT USER PASSWORD PREFIX REFUSED_CODE\n", argv[0]);
        return 2;
    }
    host = argv[1];
    port = (unsigned)atoi(argv[2]);
    user = argv[3];
    password = argv[4];
    prefix = argv[5];
    refused_code = atoi(argv[6]);
    setvbuf(stdout, NULL, _IOLBF, 0);

    auth_and_basics();
    several_clients();
    edges();
    qos2_resume();
    step_api();
    end_marker();

    printf("%d checks, %d failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
