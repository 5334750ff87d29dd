// fedns's batched UDP transport: moves datagrams between a non-blocking socket and buffers owned
// by JavaScript, nothing else. It never reads a datagram's contents: everything that parses DNS is
// TypeScript (src/dns/). Linux only (recvmmsg/sendmmsg).
//
// The socket is polled by Node's own event loop (libuv uv_poll_t). When it is readable, up to
// `batch` datagrams are read with one recvmmsg into fixed slots of the JS-owned `recv` buffer,
// JavaScript is called once for the whole batch, it writes the replies into the matching slots of
// `send` and their lengths into `meta`, and they leave with one sendmmsg. Replies the kernel does
// not take (EAGAIN) wait in a bounded queue (copied into fixed slots allocated at bind time) and are
// sent when the socket becomes writable; when the queue is full further replies are dropped and
// counted. Nothing is allocated per datagram; every length and index from the kernel or from
// JavaScript is checked before use.
//
// Buffers shared with JavaScript (all allocated by the caller, checked at bind, pinned by references):
//   recv:  batch * slot bytes; datagram i is written at i * slot
//   send:  batch * slot bytes; the reply to datagram i is read from i * slot
//   meta:  Int32Array(batch * META_FIELDS), per datagram i at i * META_FIELDS:
//            [META_LENGTH]  datagram length, or -1: skip it (truncated, unknown address family)
//            [META_PORT]    source port
//            [META_FAMILY]  4 or 6
//            [META_ADDRLEN] length of the source address text in `addr`
//            [META_REPLY]   written by JavaScript: reply length, 0 = no reply
//            [META_V4]      IPv4 source: its 32 bits (a cache key for the address text); else 0
//   addr:  batch * ADDR_TEXT bytes; the source address as text (inet_ntop) at i * ADDR_TEXT
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define MAX_BATCH 256
#define MIN_SLOT 512
#define MAX_SLOT 65536
#define MAX_QUEUE 4096
// Batches read per readable event at most, so timers and other I/O are not starved under load.
#define MAX_BATCHES_PER_WAKE 32

#define META_LENGTH 0
#define META_PORT 1
#define META_FAMILY 2
#define META_ADDRLEN 3
#define META_REPLY 4
#define META_V4 5
#define META_FIELDS 6
#define ADDR_TEXT 48  // >= INET6_ADDRSTRLEN (46)

typedef struct {
  struct sockaddr_storage addr;
  socklen_t addrlen;
  uint32_t length;
} queued_t;

typedef struct {
  napi_env env;
  int fd;
  uv_poll_t poll;
  int poll_events;  // events the poll handle is started with now
  int batch;
  size_t slot;
  char *recv_base;
  char *send_base;
  int32_t *meta;
  char *addr_text;
  napi_ref recv_ref, send_ref, meta_ref, addr_ref, cb_ref, self_ref;
  napi_async_context async_ctx;
  napi_async_cleanup_hook_handle cleanup;
  int closed;          // no more I/O: poll stopped, fd closed
  int handle_closed;   // uv_close finished: libuv no longer touches `poll`
  int finalized;       // the JS handle is gone: nothing calls in any more
  int in_callback;     // inside onBatch (close() from it is deferred to after it)
  int sends_blocked;   // fault injection for tests: every send behaves as if the socket were full
  struct mmsghdr rmsgs[MAX_BATCH], smsgs[MAX_BATCH];
  struct iovec riov[MAX_BATCH], siov[MAX_BATCH];
  struct sockaddr_storage raddr[MAX_BATCH];
  // Send queue: a ring of `queue_cap` entries, entry j's bytes at queue_data + j * slot.
  queued_t *queue;
  char *queue_data;
  int queue_cap, queue_head, queue_count;
  // Stats.
  uint64_t received, sent, batches, truncated, dropped, send_errors, receive_errors;
} udp_t;

static void free_if_done(udp_t *s) {
  if (s->handle_closed && s->finalized) {
    free(s->queue);
    free(s->queue_data);
    free(s);
  }
}

static void on_handle_closed(uv_handle_t *h) {
  udp_t *s = (udp_t *)h->data;
  s->handle_closed = 1;
  if (s->cleanup != NULL) {
    napi_async_cleanup_hook_handle cleanup = s->cleanup;
    s->cleanup = NULL;
    napi_remove_async_cleanup_hook(cleanup);
  }
  free_if_done(s);
}

// Stops all I/O; the fd is closed now (so the port is free when close() returns).
static void stop_io(udp_t *s) {
  if (s->closed) return;
  s->closed = 1;
  uv_poll_stop(&s->poll);
  // uv_close takes the fd out of the epoll set at once: only then may the fd (and its number) go.
  uv_close((uv_handle_t *)&s->poll, on_handle_closed);
  close(s->fd);
  s->fd = -1;
}

// Environment teardown with the socket still open (the process exits without close()).
static void on_env_cleanup(napi_async_cleanup_hook_handle handle, void *arg) {
  udp_t *s = (udp_t *)arg;
  if (s->closed) {
    // close() ran; its uv_close will remove the hook, but the loop may not run again: remove it now.
    s->cleanup = NULL;
    napi_remove_async_cleanup_hook(handle);
    return;
  }
  stop_io(s);  // on_handle_closed removes the hook
}

static void on_poll(uv_poll_t *handle, int status, int events);

static void update_poll(udp_t *s) {
  if (s->closed) return;
  int want = UV_READABLE;
  if (s->queue_count > 0 && !s->sends_blocked) want |= UV_WRITABLE;
  if (want != s->poll_events) {
    s->poll_events = want;
    uv_poll_start(&s->poll, want, on_poll);
  }
}

static int is_full(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS; }

// Copies one reply into the queue; false (and counted as dropped) when the queue is full.
static void enqueue(udp_t *s, const struct sockaddr_storage *addr, socklen_t addrlen, const char *data,
                    size_t length) {
  if (s->queue_count >= s->queue_cap || length > s->slot || addrlen > sizeof(struct sockaddr_storage)) {
    s->dropped++;
    return;
  }
  int j = (s->queue_head + s->queue_count) % s->queue_cap;
  memcpy(&s->queue[j].addr, addr, addrlen);
  s->queue[j].addrlen = addrlen;
  s->queue[j].length = (uint32_t)length;
  memcpy(s->queue_data + (size_t)j * s->slot, data, length);
  s->queue_count++;
}

// Sends msgs[0..m); returns how many were dealt with (sent or failed for good) before the socket
// was full. A message that fails for another reason is skipped and counted.
static int send_all(udp_t *s, struct mmsghdr *msgs, int m) {
  int done = 0;
  while (done < m) {
    if (s->sends_blocked) return done;
    int r = sendmmsg(s->fd, &msgs[done], (unsigned)(m - done), 0);
    if (r > 0) {
      done += r;
      s->sent += (uint64_t)r;
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && is_full(errno)) return done;
    // The first message failed (an unreachable or invalid destination, too large): skip it.
    s->send_errors++;
    done++;
  }
  return done;
}

static void set_msg(struct mmsghdr *msg, struct iovec *iov, void *name, socklen_t namelen, void *data, size_t length) {
  iov->iov_base = data;
  iov->iov_len = length;
  memset(&msg->msg_hdr, 0, sizeof msg->msg_hdr);
  msg->msg_hdr.msg_name = name;
  msg->msg_hdr.msg_namelen = namelen;
  msg->msg_hdr.msg_iov = iov;
  msg->msg_hdr.msg_iovlen = 1;
  msg->msg_len = 0;
}

// Sends queued replies, oldest first, until the queue is empty or the socket is full.
static void flush_queue(udp_t *s) {
  while (s->queue_count > 0 && !s->closed) {
    int m = s->queue_count < MAX_BATCH ? s->queue_count : MAX_BATCH;
    for (int k = 0; k < m; k++) {
      int j = (s->queue_head + k) % s->queue_cap;
      set_msg(&s->smsgs[k], &s->siov[k], &s->queue[j].addr, s->queue[j].addrlen,
              s->queue_data + (size_t)j * s->slot, s->queue[j].length);
    }
    int done = send_all(s, s->smsgs, m);
    s->queue_head = (s->queue_head + done) % s->queue_cap;
    s->queue_count -= done;
    if (done < m) break;
  }
}

// Sends the replies JavaScript wrote for datagrams [0, n): queued ones first, so replies keep their order.
static void send_replies(udp_t *s, int n) {
  flush_queue(s);
  int m = 0;
  int slot_of[MAX_BATCH];
  for (int i = 0; i < n; i++) {
    int32_t length = s->meta[i * META_FIELDS + META_REPLY];
    if (length <= 0) continue;
    if ((size_t)length > s->slot || s->meta[i * META_FIELDS + META_LENGTH] < 0) {
      s->send_errors++;  // JavaScript checks this too; never read past the slot
      continue;
    }
    set_msg(&s->smsgs[m], &s->siov[m], &s->raddr[i], s->rmsgs[i].msg_hdr.msg_namelen,
            s->send_base + (size_t)i * s->slot, (size_t)length);
    slot_of[m] = i;
    m++;
  }
  int done = s->queue_count > 0 ? 0 : send_all(s, s->smsgs, m);
  for (int k = done; k < m; k++) {
    int i = slot_of[k];
    enqueue(s, &s->raddr[i], s->rmsgs[i].msg_hdr.msg_namelen, s->send_base + (size_t)i * s->slot,
            s->siov[k].iov_len);
  }
  update_poll(s);
}

// Fills meta/addr for datagram i; false when it must be skipped.
static int describe(udp_t *s, int i) {
  int32_t *meta = &s->meta[i * META_FIELDS];
  char *text = s->addr_text + (size_t)i * ADDR_TEXT;
  struct msghdr *h = &s->rmsgs[i].msg_hdr;
  meta[META_REPLY] = 0;
  meta[META_ADDRLEN] = 0;
  meta[META_LENGTH] = -1;
  meta[META_V4] = 0;
  if (h->msg_flags & MSG_TRUNC || s->rmsgs[i].msg_len > s->slot) {
    s->truncated++;
    return 0;
  }
  const struct sockaddr_storage *a = &s->raddr[i];
  const void *bytes;
  if (a->ss_family == AF_INET && h->msg_namelen >= sizeof(struct sockaddr_in)) {
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)a;
    bytes = &v4->sin_addr;
    meta[META_PORT] = ntohs(v4->sin_port);
    meta[META_FAMILY] = 4;
    meta[META_V4] = (int32_t)ntohl(v4->sin_addr.s_addr);
  } else if (a->ss_family == AF_INET6 && h->msg_namelen >= sizeof(struct sockaddr_in6)) {
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)a;
    bytes = &v6->sin6_addr;
    meta[META_PORT] = ntohs(v6->sin6_port);
    meta[META_FAMILY] = 6;
  } else {
    s->receive_errors++;
    return 0;
  }
  if (inet_ntop(a->ss_family, bytes, text, ADDR_TEXT) == NULL) {
    s->receive_errors++;
    return 0;
  }
  size_t len = strnlen(text, ADDR_TEXT);
  meta[META_ADDRLEN] = (int32_t)len;
  meta[META_LENGTH] = (int32_t)s->rmsgs[i].msg_len;
  return 1;
}

static void delete_ref(napi_env env, napi_ref *ref) {
  if (*ref != NULL) napi_delete_reference(env, *ref);
  *ref = NULL;
}

static void release_refs(udp_t *s);

static void call_js(udp_t *s, int n) {
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, arg, result;
  if (napi_get_reference_value(env, s->cb_ref, &cb) == napi_ok &&
      napi_get_reference_value(env, s->recv_ref, &recv) == napi_ok && napi_create_int32(env, n, &arg) == napi_ok) {
    s->in_callback = 1;
    // Like Node's own I/O callbacks: process.nextTick callbacks and microtasks run afterwards.
    napi_status status = napi_make_callback(env, s->async_ctx, recv, cb, 1, &arg, &result);
    s->in_callback = 0;
    if (s->closed) release_refs(s);  // close() was called from onBatch
    if (status != napi_ok) {
      // Replies are not trusted after a throw; the exception goes to 'uncaughtException'.
      for (int i = 0; i < n; i++) s->meta[i * META_FIELDS + META_REPLY] = 0;
      bool pending = false;
      if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
        napi_value err;
        if (napi_get_and_clear_last_exception(env, &err) == napi_ok) napi_fatal_exception(env, err);
      }
    }
  }
  napi_close_handle_scope(env, scope);
}

static void receive(udp_t *s) {
  for (int round = 0; round < MAX_BATCHES_PER_WAKE && !s->closed; round++) {
    for (int i = 0; i < s->batch; i++) {
      s->rmsgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
      s->rmsgs[i].msg_hdr.msg_flags = 0;
      s->rmsgs[i].msg_len = 0;
    }
    int n = recvmmsg(s->fd, s->rmsgs, (unsigned)s->batch, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (!is_full(errno)) s->receive_errors++;
      return;
    }
    if (n == 0 || n > s->batch) return;
    s->batches++;
    s->received += (uint64_t)n;
    for (int i = 0; i < n; i++) describe(s, i);
    call_js(s, n);
    if (s->closed) return;
    send_replies(s, n);
    if (n < s->batch) return;  // a short batch: the socket is drained
  }
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  udp_t *s = (udp_t *)handle->data;
  if (s->closed) return;
  if (status < 0) {
    s->receive_errors++;
    return;
  }
  if (events & UV_WRITABLE) {
    flush_queue(s);
    update_poll(s);
  }
  if (events & UV_READABLE) receive(s);
}

static napi_value throw_errno(napi_env env, const char *what, int err) {
  /* As node:dgram words it ("bind EADDRINUSE: ..."), so callers and logs read both the same way. */
  const char *name = err == EADDRINUSE ? "EADDRINUSE" : err == EACCES ? "EACCES" : "ESYSCALL";
  char msg[160];
  snprintf(msg, sizeof msg, "%s %s: %s", what, name, strerror(err));
  napi_value code, message, error;
  if (napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message) == napi_ok &&
      napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code) == napi_ok &&
      napi_create_error(env, code, message, &error) == napi_ok) {
    napi_set_named_property(env, error, "code", code);
    napi_throw(env, error);
  } else {
    napi_throw_error(env, NULL, msg);
  }
  return NULL;
}

#define CHECK(call)                                             \
  do {                                                          \
    if ((call) != napi_ok) {                                    \
      napi_throw_error(env, NULL, "Node-API call failed: " #call); \
      return NULL;                                              \
    }                                                           \
  } while (0)

static int get_int(napi_env env, napi_value v, int32_t min, int32_t max, int32_t *out) {
  return napi_get_value_int32(env, v, out) == napi_ok && *out >= min && *out <= max;
}

static int get_bytes(napi_env env, napi_value v, size_t need, void **data) {
  bool is_buffer = false;
  size_t length = 0;
  if (napi_is_buffer(env, v, &is_buffer) != napi_ok || !is_buffer) return 0;
  if (napi_get_buffer_info(env, v, data, &length) != napi_ok) return 0;
  return length >= need && *data != NULL;
}

static udp_t *unwrap(napi_env env, napi_value v) {
  void *p = NULL;
  napi_valuetype type;
  if (napi_typeof(env, v, &type) != napi_ok || type != napi_external || napi_get_value_external(env, v, &p) != napi_ok ||
      p == NULL) {
    napi_throw_type_error(env, NULL, "not a fedns UDP socket handle");
    return NULL;
  }
  return (udp_t *)p;
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  udp_t *s = (udp_t *)data;
  s->finalized = 1;
  free_if_done(s);
}

// bind(host, port, reusePort, bufferBytes, batch, slot, queueSlots, recv, send, meta, addr, onBatch) -> handle
static napi_value Bind(napi_env env, napi_callback_info info) {
  size_t argc = 12;
  napi_value argv[12];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 12) {
    napi_throw_type_error(env, NULL,
                          "bind(host, port, reusePort, bufferBytes, batch, slot, queueSlots, recv, send, meta, addr, onBatch)");
    return NULL;
  }
  char host[64];
  size_t host_len = 0;
  bool reuse_port = false;
  int32_t port, buffer_bytes, batch, slot, queue_slots;
  if (napi_get_value_string_utf8(env, argv[0], host, sizeof host, &host_len) != napi_ok || host_len >= sizeof host - 1 ||
      !get_int(env, argv[1], 0, 65535, &port) || napi_get_value_bool(env, argv[2], &reuse_port) != napi_ok ||
      !get_int(env, argv[3], 0, 1 << 30, &buffer_bytes) || !get_int(env, argv[4], 1, MAX_BATCH, &batch) ||
      !get_int(env, argv[5], MIN_SLOT, MAX_SLOT, &slot) || !get_int(env, argv[6], 1, MAX_QUEUE, &queue_slots)) {
    napi_throw_range_error(env, NULL, "bad host, port, reusePort, bufferBytes, batch, slot or queueSlots");
    return NULL;
  }
  void *recv_data, *send_data, *meta_data, *addr_data;
  size_t ring = (size_t)batch * (size_t)slot;
  napi_typedarray_type meta_type;
  size_t meta_count = 0, meta_offset = 0;
  napi_value meta_ab;
  bool is_typedarray = false;
  if (!get_bytes(env, argv[7], ring, &recv_data) || !get_bytes(env, argv[8], ring, &send_data) ||
      !get_bytes(env, argv[10], (size_t)batch * ADDR_TEXT, &addr_data) ||
      napi_is_typedarray(env, argv[9], &is_typedarray) != napi_ok || !is_typedarray ||
      napi_get_typedarray_info(env, argv[9], &meta_type, &meta_count, &meta_data, &meta_ab, &meta_offset) != napi_ok ||
      meta_type != napi_int32_array || meta_count < (size_t)batch * META_FIELDS || meta_data == NULL) {
    napi_throw_range_error(env, NULL, "recv, send, meta or addr buffer missing or too small");
    return NULL;
  }
  napi_valuetype cb_type;
  CHECK(napi_typeof(env, argv[11], &cb_type));
  if (cb_type != napi_function) {
    napi_throw_type_error(env, NULL, "onBatch must be a function");
    return NULL;
  }

  struct sockaddr_storage addr;
  socklen_t addrlen;
  memset(&addr, 0, sizeof addr);
  struct sockaddr_in *v4 = (struct sockaddr_in *)&addr;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&addr;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    addrlen = sizeof *v4;
  } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    addrlen = sizeof *v6;
  } else {
    napi_throw_type_error(env, NULL, "host must be an IPv4 or IPv6 literal");
    return NULL;
  }
  int fd = socket(addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  int one = 1;
  if (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "setsockopt(SO_REUSEPORT)", e);
  }
  if (buffer_bytes > 0) {
    // Best effort: the kernel caps them at net.core.rmem_max / wmem_max.
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer_bytes, sizeof buffer_bytes);
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer_bytes, sizeof buffer_bytes);
  }
  if (bind(fd, (struct sockaddr *)&addr, addrlen) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "bind", e);
  }

  udp_t *s = calloc(1, sizeof *s);
  queued_t *queue = calloc((size_t)queue_slots, sizeof *queue);
  char *queue_data = malloc((size_t)queue_slots * (size_t)slot);
  if (s == NULL || queue == NULL || queue_data == NULL) {
    free(s);
    free(queue);
    free(queue_data);
    close(fd);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  s->env = env;
  s->fd = fd;
  s->batch = batch;
  s->slot = (size_t)slot;
  s->recv_base = recv_data;
  s->send_base = send_data;
  s->meta = meta_data;
  s->addr_text = addr_data;
  s->queue = queue;
  s->queue_data = queue_data;
  s->queue_cap = queue_slots;
  for (int i = 0; i < batch; i++) {
    s->riov[i].iov_base = s->recv_base + (size_t)i * s->slot;
    s->riov[i].iov_len = s->slot;
    s->rmsgs[i].msg_hdr.msg_name = &s->raddr[i];
    s->rmsgs[i].msg_hdr.msg_iov = &s->riov[i];
    s->rmsgs[i].msg_hdr.msg_iovlen = 1;
  }
  uv_loop_t *loop = NULL;
  int r = napi_get_uv_event_loop(env, &loop) == napi_ok ? uv_poll_init(loop, &s->poll, fd) : UV_EINVAL;
  if (r < 0) {
    close(fd);
    free(queue);
    free(queue_data);
    free(s);
    return throw_errno(env, "uv_poll_init", -r);
  }
  s->poll.data = s;
  napi_value name, handle;
  if (napi_create_reference(env, argv[7], 1, &s->recv_ref) != napi_ok ||
      napi_create_reference(env, argv[8], 1, &s->send_ref) != napi_ok ||
      napi_create_reference(env, argv[9], 1, &s->meta_ref) != napi_ok ||
      napi_create_reference(env, argv[10], 1, &s->addr_ref) != napi_ok ||
      napi_create_reference(env, argv[11], 1, &s->cb_ref) != napi_ok ||
      napi_create_string_utf8(env, "FEDNS_UDP", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, NULL, name, &s->async_ctx) != napi_ok ||
      napi_create_external(env, s, finalize, NULL, &handle) != napi_ok ||
      napi_create_reference(env, handle, 1, &s->self_ref) != napi_ok ||
      napi_add_async_cleanup_hook(env, on_env_cleanup, s, &s->cleanup) != napi_ok) {
    // Unreachable short of running out of memory; leak the little created so far rather than risk a double free.
    uv_close((uv_handle_t *)&s->poll, NULL);
    close(fd);
    napi_throw_error(env, NULL, "could not set up the UDP socket handle");
    return NULL;
  }
  s->poll_events = UV_READABLE;
  r = uv_poll_start(&s->poll, UV_READABLE, on_poll);
  if (r < 0) {
    stop_io(s);
    return throw_errno(env, "uv_poll_start", -r);
  }
  return handle;
}

// Drops what pinned the JS objects; after this nothing in C touches them.
static void release_refs(udp_t *s) {
  napi_env env = s->env;
  delete_ref(env, &s->recv_ref);
  delete_ref(env, &s->send_ref);
  delete_ref(env, &s->meta_ref);
  delete_ref(env, &s->addr_ref);
  delete_ref(env, &s->cb_ref);
  if (s->async_ctx != NULL) napi_async_destroy(env, s->async_ctx);
  s->async_ctx = NULL;
  delete_ref(env, &s->self_ref);  // the handle may now be collected; finalize() frees once uv_close is done
}

static napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  udp_t *s = argc == 1 ? unwrap(env, argv[0]) : NULL;
  if (s == NULL) return NULL;
  if (s->closed) return NULL;
  // Queued replies are dropped: counted, like any reply the socket could not take.
  s->dropped += (uint64_t)s->queue_count;
  s->queue_count = 0;
  stop_io(s);
  if (!s->in_callback) release_refs(s);  // else call_js releases them when onBatch returns
  return NULL;
}

static napi_value Port(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  udp_t *s = argc == 1 ? unwrap(env, argv[0]) : NULL;
  if (s == NULL) return NULL;
  if (s->closed) {
    napi_throw_error(env, NULL, "socket closed");
    return NULL;
  }
  struct sockaddr_storage a;
  socklen_t l = sizeof a;
  if (getsockname(s->fd, (struct sockaddr *)&a, &l) < 0) return throw_errno(env, "getsockname", errno);
  int port = a.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&a)->sin6_port)
                                     : ntohs(((struct sockaddr_in *)&a)->sin_port);
  CHECK(napi_create_int32(env, port, &out));
  return out;
}

static void set_number(napi_env env, napi_value obj, const char *key, double v) {
  napi_value n;
  if (napi_create_double(env, v, &n) == napi_ok) napi_set_named_property(env, obj, key, n);
}

static napi_value Stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  udp_t *s = argc == 1 ? unwrap(env, argv[0]) : NULL;
  if (s == NULL) return NULL;
  CHECK(napi_create_object(env, &out));
  set_number(env, out, "received", (double)s->received);
  set_number(env, out, "sent", (double)s->sent);
  set_number(env, out, "batches", (double)s->batches);
  set_number(env, out, "truncated", (double)s->truncated);
  set_number(env, out, "dropped", (double)s->dropped);
  set_number(env, out, "queued", (double)s->queue_count);
  set_number(env, out, "sendErrors", (double)s->send_errors);
  set_number(env, out, "receiveErrors", (double)s->receive_errors);
  return out;
}

// blockSends(handle, blocked): fault injection for tests. While blocked every send behaves as if the
// socket buffer were full (replies queue, then drop); unblocking flushes the queue.
static napi_value BlockSends(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  bool blocked = false;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  udp_t *s = argc == 2 ? unwrap(env, argv[0]) : NULL;
  if (s == NULL) return NULL;
  CHECK(napi_get_value_bool(env, argv[1], &blocked));
  s->sends_blocked = blocked;
  if (!s->closed && !blocked && !s->in_callback) flush_queue(s);
  update_poll(s);
  return NULL;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"bind", NULL, Bind, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, Close, NULL, NULL, NULL, napi_default, NULL},
      {"port", NULL, Port, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, Stats, NULL, NULL, NULL, napi_default, NULL},
      {"blockSends", NULL, BlockSends, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value constants, v;
  const struct {
    const char *name;
    int value;
  } consts[] = {{"maxBatch", MAX_BATCH},       {"minSlot", MIN_SLOT},         {"maxSlot", MAX_SLOT},
                {"maxQueue", MAX_QUEUE},       {"metaFields", META_FIELDS},   {"metaLength", META_LENGTH},
                {"metaPort", META_PORT},       {"metaFamily", META_FAMILY},   {"metaAddressLength", META_ADDRLEN},
                {"metaReply", META_REPLY},     {"metaV4", META_V4},
                {"addressText", ADDR_TEXT}};
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok ||
      napi_create_object(env, &constants) != napi_ok)
    return NULL;
  for (size_t i = 0; i < sizeof consts / sizeof consts[0]; i++) {
    if (napi_create_int32(env, consts[i].value, &v) != napi_ok ||
        napi_set_named_property(env, constants, consts[i].name, v) != napi_ok)
      return NULL;
  }
  napi_set_named_property(env, exports, "constants", constants);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
