/*
 * posix_env.h - a POSIX environment for the umqtt-native C ABI: a TCP socket
 * as the transport, poll() for waits, CLOCK_MONOTONIC for the clock, and a
 * message sink that keeps every received message in malloc'd memory.
 *
 * It is also the reference example of embedding the engine in C:
 *
 *     posix_env_t pe;
 *     umqtt_client_t *c = posix_client_new();
 *     posix_env_open(&pe, "127.0.0.1", 1883);
 *     umqtt_connect(c, &pe.env, &options);
 *     ...
 *     umqtt_event_t ev;
 *     while ((r = umqtt_wait_msg(c, &pe.env, UMQTT_WAIT_FOREVER, &ev)) >= 0) {
 *         if (r == UMQTT_MESSAGE) {
 *             posix_env_take(&pe, &ev);                 // now in pe.msgs
 *             umqtt_ack(c, &pe.env, ev.packet_id);      // kept: PUBACK/PUBREC may go
 *         }
 *     }
 *
 * The env keeps its own pointer in env.ctx, so a posix_env_t must not move
 * after posix_env_open() (or posix_env_init()).
 */
#ifndef POSIX_ENV_H
#define POSIX_ENV_H

#include <stddef.h>
#include <stdint.h>

#include "umqtt_native.h"

/* A message the sink received, with the event that completed it. */
typedef struct posix_msg {
    char *topic;      /* NUL-terminated copy */
    uint8_t *payload; /* malloc'd, len bytes (plus one spare) */
    size_t len;
    umqtt_event_t event;
} posix_msg_t;

typedef struct posix_env {
    umqtt_env_t env; /* pass &pe->env to every umqtt_* call */
    int fd;

    /* The message being received: the sink's buffer until posix_env_take(). */
    char *pending_topic;
    uint8_t *pending;
    size_t pending_len;

    /* Received messages, oldest first. */
    posix_msg_t *msgs;
    size_t n_msgs, cap_msgs;

    /* What went out: the contract is one write per packet up to
     * UMQTT_TX_CAPACITY bytes, pieces that make up a larger one exactly, and
     * the rest of a partly taken offer offered again whole. Violations are counted. */
    size_t writes;            /* write() callbacks */
    size_t packets_sent;      /* packets that began in a write() */
    size_t write_violations;  /* offers that were not exactly one packet or its rest */
    size_t owed;              /* bytes of a partly taken offer still to come */
    size_t packet_left;       /* bytes of the packet begun last still to come */
    size_t large_packets;     /* packets over UMQTT_TX_CAPACITY (sent in pieces) */
    uint8_t last_sent_type;   /* first byte of the packet begun last */
    size_t pingreqs_sent;
    int sink_refuse;          /* test hook: the sink returns NULL */
} posix_env_t;

/* Sets up the callbacks with no socket (fd = -1). */
void posix_env_init(posix_env_t *pe);
/* posix_env_init(), then a TCP connection to host:port, made non-blocking.
 * Returns 0 or an errno value. */
int posix_env_open(posix_env_t *pe, const char *host, uint16_t port);
/* (Re)connects the socket of an env set up earlier, keeping its messages
 * and buffers (for a reconnect). Returns 0 or an errno value. */
int posix_env_connect(posix_env_t *pe, const char *host, uint16_t port);
/* Closes the socket abruptly (no MQTT DISCONNECT); the env stays usable. */
void posix_env_close(posix_env_t *pe);
/* Closes the socket and frees every buffer and message. */
void posix_env_free(posix_env_t *pe);

/* After UMQTT_MESSAGE: moves the sink's buffer into pe->msgs; returns it. */
posix_msg_t *posix_env_take(posix_env_t *pe, const umqtt_event_t *event);
/* Drops every recorded message. */
void posix_env_clear_msgs(posix_env_t *pe);
/* Index of the first recorded message on topic, or -1. */
long posix_env_find(const posix_env_t *pe, const char *topic);

/* The clock the env gives the engine (milliseconds, wraps). */
uint32_t posix_now_ms(void);

/* A client in malloc'd memory of the size and alignment the library asks
 * for, initialised. NULL when out of memory. Free with free(). */
umqtt_client_t *posix_client_new(void);

#endif /* POSIX_ENV_H */
