# umqtt.aio - an asyncio MQTT 3.1.1 client on the umqtt-native engine.
#
# The engine (umqtt.Engine, c_glue/umqtt_engine.c) keeps the protocol: packets, packet ids,
# the in-flight window, keepalive deadlines, unfinished publishes and their resending. This
# file only schedules it: per connection one task reads, one writes and one ticks keepalive;
# each waits on the socket through asyncio's poller (MP_STREAM_POLL, so a socket without a file
# descriptor works too) and nothing here blocks. Operations queue packets and return at once
# (QoS 0) or when acknowledged (QoS 1/2, subscribe, unsubscribe): several in flight pipeline.
import asyncio
from asyncio import core
import errno
from umqtt import Engine, MQTTException

_WOULD_BLOCK = Engine.WOULD_BLOCK  # the output is full: let the writer drain it
_BUSY = Engine.BUSY  # every slot of the in-flight window awaits an acknowledgement
_CONNACK = 0x20
_PINGRESP = 0xD0
_TICK_MAX_MS = 1000  # keepalive is looked at least this often (its deadlines move with traffic)
_BACKOFF_MS = (500, 30000)  # reconnect delay: first, and the cap it doubles up to


# The hot paths wait without allocating: a coroutine costs heap at every call (Event.wait(), a
# helper generator), so they park the task where asyncio would and `yield` themselves, as
# asyncio's own Event.wait() and stream code do: `yield core._io_queue.queue_read(s)` for a
# socket, `if _park(event): yield` for an event.


def _park(event):
    # Parks the current task on event as Event.wait() does; False (do not yield) if it is set.
    if event.state:
        return False
    event.waiting.push(core.cur_task)
    core.cur_task.data = event.waiting  # (cancel() takes it off the queue)
    return True


def _pulse(event):
    # Wakes the tasks waiting on event now, and no later ones: each waiter checks its condition
    # before waiting, with no await in between, so none misses a change.
    event.set()
    event.clear()


class _Waiters:
    # Operations waiting for their ticket's acknowledgement, parked the way asyncio parks a
    # task on an Event (cancel() calls remove()) and woken one by one: an acknowledgement
    # wakes the operation it completed, not every one in flight.
    def __init__(self):
        self.tasks = {}  # ticket -> task
        self.results = {}  # ticket -> what status() said once done (or raised)

    def remove(self, task):
        for ticket in self.tasks:
            if self.tasks[ticket] is task:
                del self.tasks[ticket]
                return

    def forget(self, eng, ticket):
        # The operation waiting for ticket ended without its result (cancelled, say): the
        # engine frees the ticket's slot once acknowledged, and a ticket issued again later
        # finds no stale result.
        self.tasks.pop(ticket, None)
        self.results.pop(ticket, None)
        eng.abandon(ticket)

    def settle(self, eng):
        # After an acknowledgement on an open connection: the parked ticket it completed (one
        # at most) gets its result and its task runs; the search stops there. (While one
        # opens, tickets not sent again yet are unknown to status(): wake_all() follows.)
        for ticket in self.tasks:
            try:
                r = eng.status(ticket)
            except Exception as e:
                r = e
            if r is not None:
                self.results[ticket] = r
                core._task_queue.push(self.tasks.pop(ticket))  # (push() clears task.data)
                return

    def wake_all(self):
        for ticket in self.tasks:
            core._task_queue.push(self.tasks[ticket])
        self.tasks.clear()


class _Lost(Exception):
    # An operation's ticket ended with its connection before it was acknowledged.
    pass


class _Messages:
    # What client.messages() returns: an async iterator (MicroPython has no async generators).
    def __init__(self, client):
        self._client = client

    def __aiter__(self):
        return self

    async def __anext__(self):
        # Acknowledges the message handed out last (the loop's body is done with it), then
        # hands out the next.
        c = self._client
        if c._handed_pid:
            if c._handed_gen == c._gen and c._sock is not None and c._eng.ack(c._handed_pid) == 0:
                c._handed_pid = 0  # queued at once (the common case)
                c._kick.set()
            else:
                await c._ack_handed()
        q = c._queue
        while not q:
            if c._sock is None and (c._closing or c._keeper is None):
                raise c._error or OSError(errno.ENOTCONN)
            if _park(c._arrived):
                yield
        m = q.pop(0)
        _pulse(c._room)
        if type(m) is not tuple:
            raise m
        if m[3]:
            c._handed_pid = m[4]
            c._handed_gen = c._gen
        return m[:4]


class MQTTClient:
    def __init__(self, client_id, server, port=0, user=None, password=None, keepalive=60, ssl=None,
                 ssl_params={}, clean_session=True, will=None, reconnect=True, queue_len=8):
        if queue_len < 1:
            raise ValueError("queue_len must be at least 1")
        if will is not None and len(will) != 4:
            raise ValueError("will must be (topic, msg, retain, qos)")
        self.client_id = client_id
        self.server = server
        self.port = port or (8883 if ssl else 1883)
        self.user = user
        self.password = password
        self.keepalive = keepalive
        self.ssl = ssl
        self.ssl_params = ssl_params
        self.clean_session = clean_session
        self.will = will
        self.reconnect = reconnect
        self.up = asyncio.Event()  # set while connected
        self.down = asyncio.Event()  # set once a connection ended, until the next one is up
        self._eng = Engine()
        self._queue_len = queue_len
        self._addr = None
        self._sock = None
        self._gen = 0  # counts connections: a message is acknowledged on the one it came on
        self._tasks = ()
        self._keeper = None
        self._closing = False
        self._error = None  # why the last connection ended
        self._timeout = 30
        self._session = None  # CONNACK's session-present flag of the connection being opened
        self._subs = {}  # filter -> qos, for resubscribing on a new session
        self._queue = []  # messages read and not yet handed out (or an error to raise there)
        self._handed_pid = 0  # packet id of the QoS 1/2 message handed out last (0: none)
        self._handed_gen = 0  # and the connection it came on
        self._kick = asyncio.Event()  # output queued: wakes the writer
        self._drained = asyncio.Event()  # pulsed when the writer wrote all queued output
        self._acked = asyncio.Event()  # pulsed at each acknowledgement and connection change
        self._arrived = asyncio.Event()  # pulsed when a message was queued
        self._room = asyncio.Event()  # pulsed when a message was taken from the queue
        self._window = asyncio.Lock()  # held by the one operation waiting for a free slot
        self._waiters = _Waiters()

    # ---- connections --------------------------------------------------------------------------

    async def connect(self, timeout=30):
        # Opens the connection (at most timeout seconds for TCP, TLS and CONNACK) and returns
        # whether the broker kept a session. Raises what failed; with reconnect=True a
        # connection lost later is opened again with back-off.
        self._closing = False
        self._timeout = timeout
        present = await self._open()
        if self.reconnect and self._keeper is None:
            self._keeper = asyncio.create_task(self._keep_up())
        return present

    async def disconnect(self):
        # Acknowledges the message messages() handed out last, sends DISCONNECT and closes.
        # Operations still waiting raise OSError(ENOTCONN).
        self._closing = True
        if self._keeper is not None:
            self._keeper.cancel()
            self._keeper = None
        eng = self._eng
        gen = self._gen
        if self._sock is not None and eng.isconnected():
            try:
                await self._ack_handed()  # closing: the loop is done with the last message
                while eng.disconnect() == _WOULD_BLOCK:
                    await self._drain(gen)
                await self._drain(gen)
            except (OSError, _Lost):
                pass
        self._lost(gen, OSError(errno.ENOTCONN))

    def isconnected(self):
        return self.up.is_set()

    def _socket(self):
        import socket  # looked up at each connect, as the blocking client does

        if self._addr is None:
            # A blocking name lookup, once: MicroPython has no other. A numeric address is instant.
            self._addr = socket.getaddrinfo(self.server, self.port)[0][-1]
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(self._addr)
        except OSError as e:
            if e.args[0] != errno.EINPROGRESS:
                s.close()
                raise
        try:
            s.setsockopt(6, 1, 1)  # IPPROTO_TCP, TCP_NODELAY: packets leave whole, no Nagle wait
        except (OSError, AttributeError):
            pass
        if self.ssl is True:
            import ssl

            s = ssl.wrap_socket(s, do_handshake=False, **self.ssl_params)
        elif self.ssl:
            s = self.ssl.wrap_socket(s, server_hostname=self.server, do_handshake_on_connect=False)
        s.setblocking(False)
        return s

    async def _open(self):
        eng = self._eng
        self._lost(self._gen, None)
        self._gen += 1
        gen = self._gen
        self._session = None
        self._error = None
        self._sock = s = self._socket()
        try:
            eng.connect(self.client_id, keepalive=self.keepalive, clean_session=self.clean_session,
                        timeout=self._timeout, user=self.user, password=self.password, will=self.will)
        except Exception as e:
            self._lost(gen, e)
            raise
        self._tasks = (asyncio.create_task(self._reader(s, gen)), asyncio.create_task(self._writer(s, gen)),
                       asyncio.create_task(self._ticker(gen)))
        self._kick.set()
        while self._session is None and self._sock is s:
            await self._acked.wait()
        if self._sock is not s:
            raise self._error
        present = self._session
        try:
            # Unfinished publishes of earlier connections first (their callers wait on): the
            # engine forgets those not sent again by its next new operation.
            while await self._queue_op(gen, eng.resend):
                pass
            if not present:
                for topic, qos in self._subs.items():
                    await self._queue_op(gen, eng.subscribe, topic, qos)
        except _Lost:
            raise self._error
        self.down.clear()
        self.up.set()
        _pulse(self._acked)
        self._waiters.wake_all()
        return bool(present)

    def _lost(self, gen, exc):
        # The connection gen ended (exc: why; None: replaced by a new one). Its tasks stop, its
        # socket closes, the engine forgets it; unfinished publishes stay for the next one.
        s = self._sock
        if gen != self._gen or s is None:
            return
        self._sock = None
        for t in self._tasks:
            if t is not core.cur_task:
                t.cancel()
        self._tasks = ()
        try:
            s.close()
        except OSError:
            pass
        self._eng.reset()
        # Messages not handed out yet: the broker delivers the acknowledged kinds again.
        q = self._queue  # (in place: the loops hold it)
        i = 0
        while i < len(q):
            if type(q[i]) is tuple and q[i][3]:
                q.pop(i)
            else:
                i += 1
        self._error = exc or OSError(errno.ENOTCONN)
        self.up.clear()
        self.down.set()
        for event in (self._acked, self._drained, self._arrived, self._room):
            _pulse(event)
        self._waiters.wake_all()

    async def _keep_up(self):
        delay = _BACKOFF_MS[0]
        while not self._closing:
            await self.down.wait()
            await asyncio.sleep_ms(delay)
            if self._closing:
                return
            try:
                await self._open()
                delay = _BACKOFF_MS[0]
            except (OSError, MQTTException):
                delay = min(delay * 2, _BACKOFF_MS[1])

    # ---- the connection's tasks ---------------------------------------------------------------

    async def _reader(self, s, gen):
        eng = self._eng
        q = self._queue
        try:
            while True:
                n = eng.read(s)
                if n is None:
                    yield core._io_queue.queue_read(s)
                    continue
                while True:
                    while len(q) >= self._queue_len:
                        # Back-pressure: the broker waits while nobody takes messages.
                        if _park(self._room):
                            yield
                        if gen != self._gen:
                            return
                    if not self._handle():
                        break
                if eng.pending():
                    self._kick.set()
                if n == 0 and _park(self._drained):
                    yield  # no input fits until replies are written
        except Exception as e:
            self._lost(gen, e)

    def _handle(self):
        # Handles one packet read: False when none is whole.
        eng = self._eng
        try:
            ev = eng.event()
        except MemoryError as e:
            self._queue.append(e)  # that message was skipped; the connection goes on
            _pulse(self._arrived)
            return True
        if ev is None:
            return False
        if type(ev) is tuple:
            self._queue.append(ev)
            _pulse(self._arrived)
        elif ev & 0xF0 == _CONNACK:
            self._session = ev & 1
            _pulse(self._acked)
        elif ev != _PINGRESP:
            if self.up.state:
                self._waiters.settle(eng)
            _pulse(self._acked)
        return True

    async def _writer(self, s, gen):
        eng = self._eng
        kick = self._kick
        try:
            yield core._io_queue.queue_write(s)  # TCP (and TLS) connected, or failed: write tells
            while True:
                if eng.write(s):
                    _pulse(self._drained)
                    if _park(kick):
                        yield
                    kick.clear()
                else:
                    yield core._io_queue.queue_write(s)
        except Exception as e:
            self._lost(gen, e)

    async def _ticker(self, gen):
        eng = self._eng
        try:
            while True:
                ms = eng.tick()
                if eng.pending():
                    self._kick.set()
                await asyncio.sleep_ms(_TICK_MAX_MS if ms < 0 else min(ms, _TICK_MAX_MS))
        except Exception as e:
            self._lost(gen, e)

    # ---- operations ---------------------------------------------------------------------------

    async def _ready(self):
        # The connection operations go on: waits through a reconnect, raises when none comes.
        while not self.up.is_set():
            if self._closing or self._keeper is None:
                raise self._error or OSError(errno.ENOTCONN)
            await self.up.wait()
        return self._gen

    async def _drain(self, gen):
        self._kick.set()
        await self._drained.wait()
        if gen != self._gen or self._sock is None:
            raise _Lost()

    async def _queue_op(self, gen, op, *args):
        # Queues op on connection gen: its ticket (0: none). Waits while the output or the
        # in-flight window is full.
        while True:
            if gen != self._gen or self._sock is None:
                raise _Lost()
            t = op(*args)
            if t == _BUSY:
                # Wait in line for a slot: one waiter at a time waits for acknowledgements,
                # so each one wakes one operation, not all that wait.
                async with self._window:
                    while t == _BUSY and gen == self._gen and self._sock is not None:
                        await self._acked.wait()
                        if gen == self._gen and self._sock is not None:
                            t = op(*args)
            if t >= 0:
                self._kick.set()
                return t
            if t == _WOULD_BLOCK:
                await self._drain(gen)

    def _result(self, ticket, publish):
        # The result of ticket once acknowledged (raises what failed it), across reconnects while
        # reconnect is on (the engine sends an unfinished publish again itself). None while it
        # waits: the current task is then parked (settle() or wake_all() push it back) and the
        # caller yields. A ticket that ended with its connection raises _Lost, for a publish
        # OSError(ENOTCONN).
        waiters = self._waiters
        r = waiters.results.pop(ticket, None)
        if r is None and self._sock is not None:
            try:
                r = self._eng.status(ticket)
            except ValueError:
                r = _Lost  # a new session forgot it (a subscribe, say)
            except OSError:
                if self.up.is_set():
                    raise  # (while a connection opens, the ticket waits for it)
        elif r is None and (self._closing or not self.reconnect):
            raise self._error or OSError(errno.ENOTCONN)
        if r is None:
            waiters.tasks[ticket] = core.cur_task
            core.cur_task.data = waiters
            return None
        if r is _Lost or isinstance(r, ValueError):
            raise OSError(errno.ENOTCONN) if publish else _Lost()
        if isinstance(r, Exception):
            raise r
        return r

    async def _operation(self, op, *args):
        # Queues op and waits for its acknowledgement; once more on the next connection if it
        # ended with the last one (subscribe, unsubscribe).
        while True:
            gen = await self._ready()
            try:
                t = await self._queue_op(gen, op, *args)
            except _Lost:
                continue
            try:
                while t:
                    r = self._result(t, False)
                    if r is not None:
                        return r
                    yield
                return None
            except _Lost:
                continue
            except BaseException:
                self._waiters.forget(self._eng, t)
                raise

    async def publish(self, topic, msg, retain=False, qos=0):
        # QoS 0 returns once queued; QoS 1/2 once acknowledged (the packets of concurrent
        # publishes go out without waiting for each other's acknowledgements).
        t = self._eng.publish(topic, msg, qos, retain) if self.up.state else -1
        if t >= 0:
            self._kick.set()  # queued at once (the common case: one coroutine, no other await)
        else:
            t = await self._queue_publish(topic, msg, qos, retain)
        try:
            while t and self._result(t, True) is None:
                yield
        except BaseException:
            self._waiters.forget(self._eng, t)  # (cancelled, or failed: nobody waits for t)
            raise

    async def _queue_publish(self, topic, msg, qos, retain):
        # Queues a publish once a connection is up and there is room: its ticket.
        while True:
            gen = await self._ready()
            try:
                return await self._queue_op(gen, self._eng.publish, topic, msg, qos, retain)
            except _Lost:
                continue

    async def subscribe(self, topic, qos=0):
        # Returns the QoS the broker granted; MQTTException when it refused.
        granted = await self._operation(self._eng.subscribe, topic, qos)
        self._subs[topic] = qos
        return granted

    async def unsubscribe(self, topic):
        await self._operation(self._eng.unsubscribe, topic)
        self._subs.pop(topic, None)

    async def ping(self):
        gen = await self._ready()
        await self._queue_op(gen, self._eng.ping)

    # ---- incoming messages --------------------------------------------------------------------

    def messages(self):
        # async for topic, msg, retained, qos in client.messages(): a QoS 1/2 message is
        # acknowledged when the loop asks for the next one (its body returned normally);
        # left unacknowledged, the broker delivers it again after a reconnect.
        return _Messages(self)

    async def _ack_handed(self):
        pid = self._handed_pid
        self._handed_pid = 0
        if not pid or self._handed_gen != self._gen:
            return
        try:
            await self._queue_op(self._handed_gen, self._eng.ack, pid)
        except _Lost:
            pass  # the broker delivers it again on a kept session
