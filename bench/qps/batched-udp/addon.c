// Prototype: batched UDP (recvmmsg/sendmmsg) for Node via Node-API + uv_poll. IPv4 only.
//
// JS side owns three buffers (passed to bind, pinned by references):
//   recv:  BATCH * SLOT bytes; datagram i is written at i*SLOT
//   send:  BATCH * SLOT bytes; the reply to datagram i is written by JS at i*SLOT
//   lens:  Int32Array(2*BATCH); lens[i] = length of datagram i (C), lens[BATCH+i] = reply length (JS, 0 = none)
// Per readable event: loop { n = recvmmsg(BATCH); onBatch(n); sendmmsg(replies) } until EAGAIN or
// MAX_BATCHES_PER_WAKE batches (so timers/other I/O are not starved).
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_BATCH 256
#define MAX_BATCHES_PER_WAKE 32

typedef struct {
  napi_env env;
  int fd;
  uv_poll_t poll;
  int batch;
  size_t slot;
  char *recv_base, *send_base;
  int32_t *lens;
  napi_ref recv_ref, send_ref, lens_ref, cb_ref, self_ref;
  napi_async_context async_ctx;
  int closed;
  struct mmsghdr rmsgs[MAX_BATCH], smsgs[MAX_BATCH];
  struct iovec riov[MAX_BATCH], siov[MAX_BATCH];
  struct sockaddr_in raddr[MAX_BATCH];
  // stats
  uint64_t hist[MAX_BATCH + 1];  // recvmmsg return counts
  uint64_t wakes, batches, received, sent, truncated, send_errors, send_eagain_dropped, recv_errors;
  int last_send_errno, last_recv_errno;
} udpb_t;

#define CHECK(call)                                                                 \
  do {                                                                              \
    if ((call) != napi_ok) {                                                        \
      napi_throw_error(env, NULL, "napi call failed: " #call);                      \
      return NULL;                                                                  \
    }                                                                               \
  } while (0)

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, NULL, msg);
  return NULL;
}

// Sends the replies JS wrote for the first n datagrams: one sendmmsg, retried past partial sends.
static void send_replies(udpb_t *s, int n) {
  int m = 0;
  for (int i = 0; i < n; i++) {
    int32_t len = s->lens[s->batch + i];
    if (len <= 0 || (size_t)len > s->slot) continue;
    s->siov[m].iov_base = s->send_base + (size_t)i * s->slot;
    s->siov[m].iov_len = (size_t)len;
    struct msghdr *h = &s->smsgs[m].msg_hdr;
    h->msg_name = &s->raddr[i];
    h->msg_namelen = sizeof(struct sockaddr_in);
    h->msg_iov = &s->siov[m];
    h->msg_iovlen = 1;
    h->msg_control = NULL;
    h->msg_controllen = 0;
    h->msg_flags = 0;
    m++;
  }
  int done = 0;
  while (done < m) {
    int r = sendmmsg(s->fd, &s->smsgs[done], (unsigned)(m - done), 0);
    if (r > 0) {
      done += r;
      s->sent += (uint64_t)r;
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // Send buffer full: UDP may drop; a production version would queue and poll UV_WRITABLE.
      s->send_eagain_dropped += (uint64_t)(m - done);
      return;
    }
    // The first message failed (r < 0): skip it and go on with the rest.
    s->send_errors++;
    s->last_send_errno = r < 0 ? errno : 0;
    done++;
  }
}

static void call_js(udpb_t *s, int n) {
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, argv[1], result;
  napi_get_reference_value(env, s->cb_ref, &cb);
  napi_get_reference_value(env, s->recv_ref, &recv);
  napi_create_int32(env, n, &argv[0]);
  // make_callback: runs process.nextTick queue and microtasks afterwards, like node's own I/O callbacks.
  napi_status st = napi_make_callback(env, s->async_ctx, recv, cb, 1, argv, &result);
  if (st == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);  // -> process 'uncaughtException'
    // Replies are not trusted after a throw.
    for (int i = 0; i < n; i++) s->lens[s->batch + i] = 0;
  }
  napi_close_handle_scope(env, scope);
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  udpb_t *s = (udpb_t *)handle->data;
  if (s->closed) return;
  if (status < 0) {
    s->recv_errors++;
    s->last_recv_errno = -status;
    return;
  }
  if (!(events & UV_READABLE)) return;
  s->wakes++;
  for (int round = 0; round < MAX_BATCHES_PER_WAKE && !s->closed; round++) {
    for (int i = 0; i < s->batch; i++) {
      s->rmsgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
      s->rmsgs[i].msg_hdr.msg_flags = 0;
      s->rmsgs[i].msg_len = 0;
    }
    int n = recvmmsg(s->fd, s->rmsgs, (unsigned)s->batch, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        s->recv_errors++;
        s->last_recv_errno = errno;
      }
      return;
    }
    if (n == 0) return;
    s->hist[n]++;
    s->batches++;
    s->received += (uint64_t)n;
    for (int i = 0; i < n; i++) {
      int trunc = (s->rmsgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
      if (trunc) s->truncated++;
      s->lens[i] = trunc ? -1 : (int32_t)s->rmsgs[i].msg_len;  // -1: JS skips it
      s->lens[s->batch + i] = 0;
    }
    call_js(s, n);
    if (s->closed) return;
    send_replies(s, n);
    if (n < s->batch) return;  // drained (a short batch means the queue was empty)
  }
}

static void on_closed(uv_handle_t *h) {
  udpb_t *s = (udpb_t *)h->data;
  napi_env env = s->env;
  close(s->fd);
  napi_delete_reference(env, s->recv_ref);
  napi_delete_reference(env, s->send_ref);
  napi_delete_reference(env, s->lens_ref);
  napi_delete_reference(env, s->cb_ref);
  napi_async_destroy(env, s->async_ctx);
  // self_ref is released by the finalizer; the struct lives until then.
  napi_reference_unref(env, s->self_ref, NULL);
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  udpb_t *s = (udpb_t *)data;
  if (!s->closed) {
    // Not closed by JS: cannot be collected while polling, since self_ref is strong. Nothing to do.
  }
  free(s);
}

static udpb_t *unwrap(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, NULL, "not a socket handle");
    return NULL;
  }
  return (udpb_t *)p;
}

// bind(host, port, recvBuf, sendBuf, lens Int32Array, batch, slot, bufBytes, onBatch) -> handle
static napi_value Bind(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 9) {
    napi_throw_type_error(env, NULL, "bind(host, port, recv, send, lens, batch, slot, bufBytes, onBatch)");
    return NULL;
  }
  char host[64];
  size_t hostlen;
  int32_t port, batch, slot, bufbytes;
  CHECK(napi_get_value_string_utf8(env, argv[0], host, sizeof host, &hostlen));
  CHECK(napi_get_value_int32(env, argv[1], &port));
  CHECK(napi_get_value_int32(env, argv[5], &batch));
  CHECK(napi_get_value_int32(env, argv[6], &slot));
  CHECK(napi_get_value_int32(env, argv[7], &bufbytes));
  if (batch < 1 || batch > MAX_BATCH || slot < 512) {
    napi_throw_range_error(env, NULL, "bad batch or slot");
    return NULL;
  }
  void *recv_data, *send_data, *lens_data;
  size_t recv_len, send_len, lens_count;
  napi_typedarray_type tatype;
  napi_value ab;
  size_t aboff;
  CHECK(napi_get_buffer_info(env, argv[2], &recv_data, &recv_len));
  CHECK(napi_get_buffer_info(env, argv[3], &send_data, &send_len));
  CHECK(napi_get_typedarray_info(env, argv[4], &tatype, &lens_count, &lens_data, &ab, &aboff));
  if (recv_len < (size_t)batch * slot || send_len < (size_t)batch * slot || tatype != napi_int32_array ||
      lens_count < (size_t)batch * 2) {
    napi_throw_range_error(env, NULL, "buffers too small");
    return NULL;
  }
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
    napi_throw_type_error(env, NULL, "host must be an IPv4 literal");
    return NULL;
  }
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  if (bufbytes > 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufbytes, sizeof bufbytes);  // best effort, capped by rmem_max
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufbytes, sizeof bufbytes);
  }
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "bind", e);
  }
  udpb_t *s = calloc(1, sizeof *s);
  s->env = env;
  s->fd = fd;
  s->batch = batch;
  s->slot = (size_t)slot;
  s->recv_base = recv_data;
  s->send_base = send_data;
  s->lens = lens_data;
  for (int i = 0; i < batch; i++) {
    s->riov[i].iov_base = s->recv_base + (size_t)i * s->slot;
    s->riov[i].iov_len = s->slot;
    s->rmsgs[i].msg_hdr.msg_name = &s->raddr[i];
    s->rmsgs[i].msg_hdr.msg_iov = &s->riov[i];
    s->rmsgs[i].msg_hdr.msg_iovlen = 1;
  }
  napi_create_reference(env, argv[2], 1, &s->recv_ref);
  napi_create_reference(env, argv[3], 1, &s->send_ref);
  napi_create_reference(env, argv[4], 1, &s->lens_ref);
  napi_create_reference(env, argv[8], 1, &s->cb_ref);
  napi_value name;
  napi_create_string_utf8(env, "UDPBATCH", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &s->async_ctx);

  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  int r = uv_poll_init(loop, &s->poll, fd);
  if (r < 0) {
    close(fd);
    free(s);
    return throw_errno(env, "uv_poll_init", -r);
  }
  s->poll.data = s;
  uv_poll_start(&s->poll, UV_READABLE, on_poll);

  napi_value handle;
  CHECK(napi_create_external(env, s, finalize, NULL, &handle));
  napi_create_reference(env, handle, 1, &s->self_ref);  // strong while open
  return handle;
}

static napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  udpb_t *s = unwrap(env, argv[0]);
  if (s == NULL) return NULL;
  if (!s->closed) {
    s->closed = 1;
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, on_closed);
  }
  return NULL;
}

static napi_value Port(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  udpb_t *s = unwrap(env, argv[0]);
  if (s == NULL) return NULL;
  struct sockaddr_in a;
  socklen_t l = sizeof a;
  if (getsockname(s->fd, (struct sockaddr *)&a, &l) < 0) return throw_errno(env, "getsockname", errno);
  CHECK(napi_create_int32(env, ntohs(a.sin_port), &out));
  return out;
}

static void set_num(napi_env env, napi_value obj, const char *key, double v) {
  napi_value n;
  napi_create_double(env, v, &n);
  napi_set_named_property(env, obj, key, n);
}

static napi_value Stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out, hist;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  udpb_t *s = unwrap(env, argv[0]);
  if (s == NULL) return NULL;
  CHECK(napi_create_object(env, &out));
  set_num(env, out, "wakes", (double)s->wakes);
  set_num(env, out, "batches", (double)s->batches);
  set_num(env, out, "received", (double)s->received);
  set_num(env, out, "sent", (double)s->sent);
  set_num(env, out, "truncated", (double)s->truncated);
  set_num(env, out, "sendErrors", (double)s->send_errors);
  set_num(env, out, "sendEagainDropped", (double)s->send_eagain_dropped);
  set_num(env, out, "recvErrors", (double)s->recv_errors);
  set_num(env, out, "lastSendErrno", (double)s->last_send_errno);
  set_num(env, out, "lastRecvErrno", (double)s->last_recv_errno);
  CHECK(napi_create_array_with_length(env, (size_t)s->batch + 1, &hist));
  for (int i = 0; i <= s->batch; i++) {
    napi_value n;
    napi_create_double(env, (double)s->hist[i], &n);
    napi_set_element(env, hist, (uint32_t)i, n);
  }
  napi_set_named_property(env, out, "hist", hist);
  return out;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"bind", NULL, Bind, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, Close, NULL, NULL, NULL, napi_default, NULL},
      {"port", NULL, Port, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, Stats, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
