/* pickle.c - reader for PyTorch .pth files written by torch.save >= 1.6 (a zip archive, read with
 * libzip, holding <archive>/data.pkl and <archive>/data/<key> raw storages). Implements the binary
 * pickle opcodes of protocols 2-5 that torch.save emits, as a data-only virtual machine: classes and
 * functions are recorded by name, never executed; only the tensor rebuild functions of torch._utils and
 * collections.OrderedDict are interpreted. See checkpoint.h for what is accepted. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "ckpt_internal.h"

typedef enum { PK_NONE, PK_BOOL, PK_INT, PK_FLOAT, PK_STR, PK_BYTES, PK_TUPLE, PK_LIST, PK_DICT, PK_GLOBAL,
               PK_STORAGE, PK_TENSOR, PK_OBJECT } pk_kind;

static const char *pk_kind_name[] = {"None", "bool", "int", "float", "str", "bytes", "tuple", "list", "dict",
                                     "global", "storage", "tensor", "object"};

typedef struct pk_val pk_val;
struct pk_val {
    pk_kind kind;
    int64_t i;
    double f;
    char *s; /* STR/BYTES (NUL-terminated copy), GLOBAL "module.name", OBJECT its class, STORAGE its key */
    size_t slen;
    pk_val **items; /* TUPLE/LIST/OBJECT items; DICT: key, value, key, value... */
    int n, cap;
    /* STORAGE */
    int dtype;
    int64_t numel;
    int refs;       /* tensors still to materialise from this storage */
    unsigned char *bytes; /* loaded storage data (while refs > 0) */
    size_t nbytes;
    /* TENSOR */
    pk_val *storage;
    int64_t offset;
    int ndim;
    int64_t size[CKPT_MAX_DIMS], stride[CKPT_MAX_DIMS];
};

typedef struct unpickler {
    const char *where; /* "file.pth:archive/data.pkl" for messages */
    const unsigned char *buf;
    size_t len, pos, op_pos;
    int op;
    pk_val **pool; /* every value, for freeing */
    int n_pool, cap_pool;
    pk_val **stack;
    int sp, cap_stack;
    int *marks;
    int n_marks, cap_marks;
    pk_val **memo;
    int64_t cap_memo, n_memo;
    pk_val **storages; /* distinct storages by key */
    int n_storages, cap_storages;
} unpickler;

#define MEMO_MAX (1 << 24)

static int pk_err(unpickler *u, const char *fmt, const char *detail) {
    char op[16];
    if (u->op >= 0x20 && u->op < 0x7f) snprintf(op, sizeof op, "0x%02x '%c'", u->op, u->op);
    else snprintf(op, sizeof op, "0x%02x", u->op);
    char msg[512];
    snprintf(msg, sizeof msg, fmt, detail ? detail : "");
    return err_set("%s: pickle opcode %s at offset %zu: %s", u->where, op, u->op_pos, msg);
}

static pk_val *pk_new(unpickler *u, pk_kind k) {
    if (u->n_pool == u->cap_pool) {
        u->cap_pool = u->cap_pool ? 2 * u->cap_pool : 1024;
        u->pool = xrealloc(u->pool, sizeof(pk_val *) * (size_t)u->cap_pool);
    }
    pk_val *v = xcalloc(1, sizeof *v);
    v->kind = k;
    u->pool[u->n_pool++] = v;
    return v;
}

static void pk_append(pk_val *c, pk_val *x) {
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 8;
        c->items = xrealloc(c->items, sizeof(pk_val *) * (size_t)c->cap);
    }
    c->items[c->n++] = x;
}

static void pk_push(unpickler *u, pk_val *v) {
    if (u->sp == u->cap_stack) {
        u->cap_stack = u->cap_stack ? 2 * u->cap_stack : 256;
        u->stack = xrealloc(u->stack, sizeof(pk_val *) * (size_t)u->cap_stack);
    }
    u->stack[u->sp++] = v;
}

static int mark_base(const unpickler *u) { return u->n_marks ? u->marks[u->n_marks - 1] : 0; }

static pk_val *pk_pop(unpickler *u) {
    if (u->sp <= mark_base(u)) {
        pk_err(u, "pop from an empty stack (malformed pickle)%s", NULL);
        return NULL;
    }
    return u->stack[--u->sp];
}

static pk_val *pk_top(unpickler *u) {
    if (u->sp <= mark_base(u)) {
        pk_err(u, "empty stack (malformed pickle)%s", NULL);
        return NULL;
    }
    return u->stack[u->sp - 1];
}

/* Pop everything above the last mark into a new container of kind k. */
static pk_val *pk_pop_mark(unpickler *u, pk_kind k) {
    if (!u->n_marks) {
        pk_err(u, "no MARK on the stack (malformed pickle)%s", NULL);
        return NULL;
    }
    int b = u->marks[--u->n_marks];
    pk_val *c = pk_new(u, k);
    for (int i = b; i < u->sp; i++) pk_append(c, u->stack[i]);
    u->sp = b;
    return c;
}

static int need(unpickler *u, size_t n) {
    if (n > u->len - u->pos) return pk_err(u, "truncated: the pickle ends inside this opcode%s", NULL);
    return 0;
}

static uint64_t rd_le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static pk_val *pk_str(unpickler *u, pk_kind k, size_t n) {
    if (need(u, n)) return NULL;
    pk_val *v = pk_new(u, k);
    v->s = xmalloc(n + 1);
    memcpy(v->s, u->buf + u->pos, n);
    v->s[n] = 0;
    v->slen = n;
    u->pos += n;
    return v;
}

static int memo_put(unpickler *u, int64_t idx, pk_val *v) {
    if (idx < 0 || idx >= MEMO_MAX) return pk_err(u, "memo index out of the supported range%s", NULL);
    if (idx >= u->cap_memo) {
        int64_t c = u->cap_memo ? u->cap_memo : 256;
        while (c <= idx) c *= 2;
        u->memo = xrealloc(u->memo, sizeof(pk_val *) * (size_t)c);
        memset(u->memo + u->cap_memo, 0, sizeof(pk_val *) * (size_t)(c - u->cap_memo));
        u->cap_memo = c;
    }
    if (!u->memo[idx]) u->n_memo++;
    u->memo[idx] = v;
    return 0;
}

static int memo_get(unpickler *u, int64_t idx) {
    if (idx < 0 || idx >= u->cap_memo || !u->memo[idx]) return pk_err(u, "memo key not defined (malformed pickle)%s", NULL);
    pk_push(u, u->memo[idx]);
    return 0;
}

static int storage_dtype(const char *cls) {
    static const struct {
        const char *name;
        int d;
    } tab[] = {{"torch.FloatStorage", DT_F32}, {"torch.HalfStorage", DT_F16},  {"torch.BFloat16Storage", DT_BF16},
               {"torch.DoubleStorage", DT_F64}, {"torch.LongStorage", DT_I64}, {"torch.IntStorage", DT_I32},
               {"torch.ShortStorage", DT_I16}, {"torch.CharStorage", DT_I8},   {"torch.ByteStorage", DT_U8},
               {"torch.BoolStorage", DT_BOOL}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (strcmp(cls, tab[i].name) == 0) return tab[i].d;
    return -1;
}

/* BINPERSID: ('storage', <storage class>, key, location, numel) -> a storage shared by key. */
static pk_val *persistent_load(unpickler *u, pk_val *pid) {
    if (pid->kind != PK_TUPLE || pid->n != 5 || pid->items[0]->kind != PK_STR || strcmp(pid->items[0]->s, "storage")) {
        pk_err(u, "persistent id is not a ('storage', type, key, location, numel) tuple%s", NULL);
        return NULL;
    }
    pk_val *cls = pid->items[1], *key = pid->items[2], *num = pid->items[4];
    if (cls->kind != PK_GLOBAL || key->kind != PK_STR || num->kind != PK_INT || num->i < 0) {
        pk_err(u, "persistent id storage tuple has unexpected member types%s", NULL);
        return NULL;
    }
    int d = storage_dtype(cls->s);
    if (d < 0) {
        pk_err(u, "storage type %s is not supported (Float, Half, BFloat16, Double, Long, Int, Short, Char, Byte, Bool)",
               cls->s);
        return NULL;
    }
    for (int i = 0; i < u->n_storages; i++)
        if (strcmp(u->storages[i]->s, key->s) == 0) {
            if (u->storages[i]->dtype != d) {
                pk_err(u, "storage '%s' is used with two different types", key->s);
                return NULL;
            }
            return u->storages[i];
        }
    pk_val *s = pk_new(u, PK_STORAGE);
    s->s = xstrdup(key->s);
    s->dtype = d;
    s->numel = num->i;
    if (u->n_storages == u->cap_storages) {
        u->cap_storages = u->cap_storages ? 2 * u->cap_storages : 64;
        u->storages = xrealloc(u->storages, sizeof(pk_val *) * (size_t)u->cap_storages);
    }
    u->storages[u->n_storages++] = s;
    return s;
}

static int int_tuple(const pk_val *t, int64_t *out, int *n) {
    if (t->kind != PK_TUPLE && t->kind != PK_LIST) return -1;
    if (t->n > CKPT_MAX_DIMS) return -1;
    for (int i = 0; i < t->n; i++) {
        if (t->items[i]->kind != PK_INT) return -1;
        out[i] = t->items[i]->i;
    }
    *n = t->n;
    return 0;
}

static pk_val *reduce(unpickler *u, pk_val *fn, pk_val *args, int depth);

/* torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks
 * [, metadata]) and _rebuild_tensor(storage, storage_offset, size, stride). */
static pk_val *rebuild_tensor(unpickler *u, pk_val *args, int v2) {
    if (args->n < 4 || (v2 && args->n > 7) || args->items[0]->kind != PK_STORAGE || args->items[1]->kind != PK_INT) {
        pk_err(u, "%s: unexpected arguments", v2 ? "_rebuild_tensor_v2" : "_rebuild_tensor");
        return NULL;
    }
    pk_val *t = pk_new(u, PK_TENSOR);
    t->storage = args->items[0];
    t->offset = args->items[1]->i;
    int ns = 0, nt = 0;
    if (int_tuple(args->items[2], t->size, &ns) || int_tuple(args->items[3], t->stride, &nt) || ns != nt) {
        pk_err(u, "tensor size/stride are not integer tuples of equal length (at most 8 dims)%s", NULL);
        return NULL;
    }
    t->ndim = ns;
    t->storage->refs++;
    return t;
}

static pk_val *reduce(unpickler *u, pk_val *fn, pk_val *args, int depth) {
    if (depth > 8) {
        pk_err(u, "_rebuild_from_type_v2 nested too deeply%s", NULL);
        return NULL;
    }
    if (fn->kind != PK_GLOBAL) {
        pk_err(u, "REDUCE on a %s, not a class or function", pk_kind_name[fn->kind]);
        return NULL;
    }
    if (args->kind != PK_TUPLE) {
        pk_err(u, "REDUCE arguments are a %s, not a tuple", pk_kind_name[args->kind]);
        return NULL;
    }
    const char *g = fn->s;
    if (strcmp(g, "torch._utils._rebuild_tensor_v2") == 0) return rebuild_tensor(u, args, 1);
    if (strcmp(g, "torch._utils._rebuild_tensor") == 0) return rebuild_tensor(u, args, 0);
    if (strcmp(g, "torch._utils._rebuild_parameter") == 0 || strcmp(g, "torch._utils._rebuild_parameter_with_state") == 0) {
        if (args->n < 1 || args->items[0]->kind != PK_TENSOR) {
            pk_err(u, "%s: the first argument is not a tensor", g);
            return NULL;
        }
        return args->items[0];
    }
    if (strcmp(g, "torch._tensor._rebuild_from_type_v2") == 0) { /* (func, new_type, args, state) */
        if (args->n != 4 || args->items[2]->kind != PK_TUPLE) {
            pk_err(u, "%s: unexpected arguments", g);
            return NULL;
        }
        return reduce(u, args->items[0], args->items[2], depth + 1);
    }
    if (strncmp(g, "torch._utils._rebuild_", 22) == 0 || strncmp(g, "torch._tensor._rebuild", 22) == 0) {
        pk_err(u, "tensor kind %s is not supported (dense CPU tensors only)", g);
        return NULL;
    }
    if (strcmp(g, "collections.OrderedDict") == 0 && args->n == 0) return pk_new(u, PK_DICT);
    /* any other class or function: an opaque object, usable only as a non-tensor entry */
    pk_val *o = pk_new(u, PK_OBJECT);
    o->s = xstrdup(g);
    return o;
}

static int add_items(unpickler *u, pk_val *c, pk_val *from, int pairs) {
    if (pairs) {
        if (c->kind != PK_DICT && c->kind != PK_OBJECT)
            return pk_err(u, "SETITEM(S) on a %s, not a dict", pk_kind_name[c->kind]);
        if (from->n % 2) return pk_err(u, "SETITEMS with an odd number of items%s", NULL);
    } else if (c->kind != PK_LIST && c->kind != PK_OBJECT)
        return pk_err(u, "APPEND(S)/ADDITEMS on a %s, not a list or set", pk_kind_name[c->kind]);
    for (int i = 0; i < from->n; i++) pk_append(c, from->items[i]);
    return 0;
}

/* Run the pickle; the result is the value STOP leaves on the stack. */
static pk_val *unpickle(unpickler *u) {
    while (u->pos < u->len) {
        u->op_pos = u->pos;
        u->op = u->buf[u->pos++];
        pk_val *v = NULL, *a, *b, *c;
        switch (u->op) {
        case 0x80: /* PROTO */
            if (need(u, 1)) return NULL;
            if (u->buf[u->pos] < 2 || u->buf[u->pos] > 5) {
                char d[16];
                snprintf(d, sizeof d, "%d", u->buf[u->pos]);
                pk_err(u, "pickle protocol %s is not supported (2-5)", d);
                return NULL;
            }
            u->pos++;
            break;
        case 0x95: /* FRAME */
            if (need(u, 8)) return NULL;
            u->pos += 8;
            break;
        case '.': /* STOP */
            return pk_pop(u);
        case '(': /* MARK */
            if (u->n_marks == u->cap_marks) {
                u->cap_marks = u->cap_marks ? 2 * u->cap_marks : 64;
                u->marks = xrealloc(u->marks, sizeof(int) * (size_t)u->cap_marks);
            }
            u->marks[u->n_marks++] = u->sp;
            break;
        case '0': /* POP */
            if (u->sp > mark_base(u)) u->sp--;
            else if (u->n_marks) u->n_marks--;
            else {
                pk_err(u, "POP on an empty stack%s", NULL);
                return NULL;
            }
            break;
        case '1': /* POP_MARK */
            if (!pk_pop_mark(u, PK_TUPLE)) return NULL;
            break;
        case '2': /* DUP */
            if (!(v = pk_top(u))) return NULL;
            pk_push(u, v);
            break;
        case 'N': pk_push(u, pk_new(u, PK_NONE)); break;
        case 0x88: /* NEWTRUE */
        case 0x89: /* NEWFALSE */
            v = pk_new(u, PK_BOOL);
            v->i = u->op == 0x88;
            pk_push(u, v);
            break;
        case 'J': /* BININT */
            if (need(u, 4)) return NULL;
            v = pk_new(u, PK_INT);
            v->i = (int32_t)(uint32_t)rd_le(u->buf + u->pos, 4);
            u->pos += 4;
            pk_push(u, v);
            break;
        case 'K': /* BININT1 */
        case 'M': { /* BININT2 */
            int w = u->op == 'K' ? 1 : 2;
            if (need(u, w)) return NULL;
            v = pk_new(u, PK_INT);
            v->i = (int64_t)rd_le(u->buf + u->pos, w);
            u->pos += w;
            pk_push(u, v);
            break;
        }
        case 0x8a: /* LONG1 */
        case 0x8b: { /* LONG4 */
            int w = u->op == 0x8a ? 1 : 4;
            if (need(u, w)) return NULL;
            uint64_t n = rd_le(u->buf + u->pos, w);
            u->pos += w;
            if (n > 8) {
                pk_err(u, "integer wider than 64 bits%s", NULL);
                return NULL;
            }
            if (need(u, n)) return NULL;
            uint64_t x = rd_le(u->buf + u->pos, (int)n);
            if (n > 0 && n < 8 && (u->buf[u->pos + n - 1] & 0x80)) x |= ~0ULL << (8 * n); /* sign-extend */
            u->pos += n;
            v = pk_new(u, PK_INT);
            v->i = (int64_t)x;
            pk_push(u, v);
            break;
        }
        case 'G': { /* BINFLOAT, big-endian double */
            if (need(u, 8)) return NULL;
            uint64_t x = 0;
            for (int i = 0; i < 8; i++) x = (x << 8) | u->buf[u->pos + i];
            u->pos += 8;
            v = pk_new(u, PK_FLOAT);
            memcpy(&v->f, &x, 8);
            pk_push(u, v);
            break;
        }
        case 'X': case 'T': case 'B': /* BINUNICODE, BINSTRING, BINBYTES: 4-byte length */
        case 0x8c: case 'U': case 'C': /* SHORT_BINUNICODE, SHORT_BINSTRING, SHORT_BINBYTES: 1-byte length */
        case 0x8d: case 0x8e: case 0x96: { /* BINUNICODE8, BINBYTES8, BYTEARRAY8: 8-byte length */
            int w = (u->op == 'X' || u->op == 'T' || u->op == 'B') ? 4 : (u->op == 0x8c || u->op == 'U' || u->op == 'C') ? 1 : 8;
            if (need(u, w)) return NULL;
            uint64_t n = rd_le(u->buf + u->pos, w);
            if (u->op == 'T' && n > 0x7fffffffULL) {
                pk_err(u, "negative string length%s", NULL);
                return NULL;
            }
            u->pos += w;
            int is_bytes = u->op == 'B' || u->op == 'C' || u->op == 0x8e || u->op == 0x96;
            if (!(v = pk_str(u, is_bytes ? PK_BYTES : PK_STR, n))) return NULL;
            pk_push(u, v);
            break;
        }
        case ')': pk_push(u, pk_new(u, PK_TUPLE)); break;
        case 't': /* TUPLE */
            if (!(v = pk_pop_mark(u, PK_TUPLE))) return NULL;
            pk_push(u, v);
            break;
        case 0x85: case 0x86: case 0x87: { /* TUPLE1..3 */
            int k = u->op - 0x84;
            if (u->sp - mark_base(u) < k) {
                pk_err(u, "not enough items on the stack%s", NULL);
                return NULL;
            }
            v = pk_new(u, PK_TUPLE);
            for (int i = u->sp - k; i < u->sp; i++) pk_append(v, u->stack[i]);
            u->sp -= k;
            pk_push(u, v);
            break;
        }
        case ']': pk_push(u, pk_new(u, PK_LIST)); break;
        case 0x8f: pk_push(u, pk_new(u, PK_LIST)); break; /* EMPTY_SET, kept as a list */
        case 'l': /* LIST */
        case 0x91: /* FROZENSET */
            if (!(v = pk_pop_mark(u, PK_LIST))) return NULL;
            pk_push(u, v);
            break;
        case '}': pk_push(u, pk_new(u, PK_DICT)); break;
        case 'd': /* DICT */
            if (!(v = pk_pop_mark(u, PK_DICT))) return NULL;
            if (v->n % 2) {
                pk_err(u, "DICT with an odd number of items%s", NULL);
                return NULL;
            }
            pk_push(u, v);
            break;
        case 'a': /* APPEND */
            if (!(a = pk_pop(u)) || !(c = pk_top(u))) return NULL;
            b = pk_new(u, PK_TUPLE);
            pk_append(b, a);
            if (add_items(u, c, b, 0)) return NULL;
            break;
        case 'e': /* APPENDS */
        case 0x90: /* ADDITEMS */
            if (!(b = pk_pop_mark(u, PK_TUPLE)) || !(c = pk_top(u))) return NULL;
            if (add_items(u, c, b, 0)) return NULL;
            break;
        case 's': /* SETITEM */
            if (!(a = pk_pop(u)) || !(b = pk_pop(u)) || !(c = pk_top(u))) return NULL;
            v = pk_new(u, PK_TUPLE);
            pk_append(v, b);
            pk_append(v, a);
            if (add_items(u, c, v, 1)) return NULL;
            break;
        case 'u': /* SETITEMS */
            if (!(b = pk_pop_mark(u, PK_TUPLE)) || !(c = pk_top(u))) return NULL;
            if (add_items(u, c, b, 1)) return NULL;
            break;
        case 'c': { /* GLOBAL "module\nname\n" */
            const unsigned char *s = u->buf + u->pos, *end = u->buf + u->len;
            const unsigned char *nl1 = memchr(s, '\n', (size_t)(end - s));
            const unsigned char *nl2 = nl1 ? memchr(nl1 + 1, '\n', (size_t)(end - nl1 - 1)) : NULL;
            if (!nl2) {
                pk_err(u, "truncated GLOBAL%s", NULL);
                return NULL;
            }
            v = pk_new(u, PK_GLOBAL);
            v->slen = (size_t)(nl2 - s);
            v->s = xmalloc(v->slen + 1);
            memcpy(v->s, s, v->slen);
            v->s[v->slen] = 0;
            v->s[nl1 - s] = '.';
            u->pos += v->slen + 1;
            pk_push(u, v);
            break;
        }
        case 0x93: /* STACK_GLOBAL */
            if (!(a = pk_pop(u)) || !(b = pk_pop(u))) return NULL;
            if (a->kind != PK_STR || b->kind != PK_STR) {
                pk_err(u, "STACK_GLOBAL needs two strings%s", NULL);
                return NULL;
            }
            v = pk_new(u, PK_GLOBAL);
            v->slen = a->slen + b->slen + 1;
            v->s = xmalloc(v->slen + 1);
            snprintf(v->s, v->slen + 1, "%s.%s", b->s, a->s);
            pk_push(u, v);
            break;
        case 'R': /* REDUCE */
            if (!(a = pk_pop(u)) || !(b = pk_pop(u))) return NULL;
            if (!(v = reduce(u, b, a, 0))) return NULL;
            pk_push(u, v);
            break;
        case 0x81: /* NEWOBJ cls args */
            if (!(a = pk_pop(u)) || !(b = pk_pop(u))) return NULL;
            v = pk_new(u, PK_OBJECT);
            v->s = xstrdup(b->kind == PK_GLOBAL ? b->s : "?");
            pk_push(u, v);
            break;
        case 0x92: /* NEWOBJ_EX cls args kwargs */
            if (!(a = pk_pop(u)) || !(a = pk_pop(u)) || !(b = pk_pop(u))) return NULL;
            v = pk_new(u, PK_OBJECT);
            v->s = xstrdup(b->kind == PK_GLOBAL ? b->s : "?");
            pk_push(u, v);
            break;
        case 'b': /* BUILD: object state (e.g. OrderedDict _metadata); recorded nowhere */
            if (!pk_pop(u) || !pk_top(u)) return NULL;
            break;
        case 'Q': /* BINPERSID */
            if (!(a = pk_pop(u))) return NULL;
            if (!(v = persistent_load(u, a))) return NULL;
            pk_push(u, v);
            break;
        case 'q': /* BINPUT */
            if (need(u, 1) || !(v = pk_top(u))) return NULL;
            if (memo_put(u, u->buf[u->pos++], v)) return NULL;
            break;
        case 'r': /* LONG_BINPUT */
            if (need(u, 4) || !(v = pk_top(u))) return NULL;
            if (memo_put(u, (int64_t)rd_le(u->buf + u->pos, 4), v)) return NULL;
            u->pos += 4;
            break;
        case 0x94: /* MEMOIZE */
            if (!(v = pk_top(u))) return NULL;
            if (memo_put(u, u->n_memo, v)) return NULL;
            break;
        case 'h': /* BINGET */
            if (need(u, 1)) return NULL;
            if (memo_get(u, u->buf[u->pos++])) return NULL;
            break;
        case 'j': /* LONG_BINGET */
            if (need(u, 4)) return NULL;
            if (memo_get(u, (int64_t)rd_le(u->buf + u->pos, 4))) return NULL;
            u->pos += 4;
            break;
        default:
            pk_err(u, "opcode not supported (torch.save writes binary pickles of protocol 2-5; text-mode, "
                      "extension-registry and out-of-band-buffer opcodes are not read)%s", NULL);
            return NULL;
        }
    }
    u->op_pos = u->pos;
    u->op = 0;
    err_set("%s: truncated pickle: no STOP opcode before the end (%zu bytes)", u->where, u->len);
    return NULL;
}

static void unpickler_free(unpickler *u) {
    for (int i = 0; i < u->n_pool; i++) {
        free(u->pool[i]->s);
        free(u->pool[i]->items);
        free(u->pool[i]->bytes);
        free(u->pool[i]);
    }
    free(u->pool);
    free(u->stack);
    free(u->marks);
    free(u->memo);
    free(u->storages);
}

/* Read a whole zip entry. */
static unsigned char *zip_read_entry(zip_t *z, const char *path, const char *name, size_t *n) {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat(z, name, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE)) {
        err_set("%s: archive entry %s is missing", path, name);
        return NULL;
    }
    zip_file_t *f = zip_fopen(z, name, 0);
    if (!f) {
        err_set("%s: cannot open archive entry %s: %s", path, name, zip_strerror(z));
        return NULL;
    }
    unsigned char *buf = xmalloc(st.size ? st.size : 1);
    zip_int64_t got = 0;
    while ((zip_uint64_t)got < st.size) {
        zip_int64_t k = zip_fread(f, buf + got, st.size - (zip_uint64_t)got);
        if (k <= 0) break;
        got += k;
    }
    if ((zip_uint64_t)got != st.size) {
        err_set("%s: archive entry %s: read %lld of %llu bytes (%s): truncated or corrupt file", path, name,
                (long long)got, (unsigned long long)st.size, zip_file_strerror(f));
        zip_fclose(f);
        free(buf);
        return NULL;
    }
    zip_fclose(f);
    *n = (size_t)st.size;
    return buf;
}

/* Materialise tensor t (row-major copy honouring offset and strides) as float32. */
static int tensor_out(const char *path, const char *prefix, zip_t *z, pk_val *t, const char *key, ckpt_tensors *out) {
    pk_val *s = t->storage;
    int es = ckpt_dtype_size((ckpt_dtype)s->dtype);
    if (!s->bytes) {
        char name[1024];
        snprintf(name, sizeof name, "%sdata/%s", prefix, s->s);
        s->bytes = zip_read_entry(z, path, name, &s->nbytes);
        if (!s->bytes) return -1;
        if (s->numel > (int64_t)(s->nbytes / (size_t)es))
            return err_set("%s: storage %s holds %zu bytes, %lld elements of %d bytes are declared (tensor '%s')",
                           path, name, s->nbytes, (long long)s->numel, es, key);
    }
    int64_t n = 1, maxi = t->offset;
    for (int d = 0; d < t->ndim; d++) {
        if (t->size[d] < 0 || t->stride[d] < 0)
            return err_set("%s: tensor '%s': negative size or stride in dimension %d", path, key, d);
        if (t->size[d] && n > INT64_MAX / 16 / t->size[d]) return err_set("%s: tensor '%s': size overflows", path, key);
        n *= t->size[d];
        if (t->size[d] > 0 && t->stride[d] > (INT64_MAX / 16) / t->size[d])
            return err_set("%s: tensor '%s': stride overflows", path, key);
        maxi += (t->size[d] - 1) * t->stride[d];
    }
    if (n > 0 && (t->offset < 0 || maxi >= s->numel))
        return err_set("%s: tensor '%s': offset %lld and strides reach element %lld of a storage of %lld", path, key,
                       (long long)t->offset, (long long)maxi, (long long)s->numel);
    float *data = n ? xmalloc_aligned(sizeof(float) * (size_t)n) : NULL;
    int contiguous = 1;
    int64_t expect = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->size[d] != 1 && t->stride[d] != expect) contiguous = 0;
        expect *= t->size[d];
    }
    if (n && contiguous) ckpt_convert((ckpt_dtype)s->dtype, s->bytes + (size_t)t->offset * es, data, n);
    else if (n) {
        int64_t idx[CKPT_MAX_DIMS] = {0};
        int64_t last = t->ndim ? t->size[t->ndim - 1] : 1, lstride = t->ndim ? t->stride[t->ndim - 1] : 1;
        for (int64_t o = 0; o < n; o += last) {
            int64_t base = t->offset;
            for (int d = 0; d < t->ndim - 1; d++) base += idx[d] * t->stride[d];
            for (int64_t k = 0; k < last; k++)
                ckpt_convert((ckpt_dtype)s->dtype, s->bytes + (size_t)(base + k * lstride) * es, data + o + k, 1);
            for (int d = t->ndim - 2; d >= 0; d--) {
                if (++idx[d] < t->size[d]) break;
                idx[d] = 0;
            }
        }
    }
    ckpt_tensors_push(out, key, (ckpt_dtype)s->dtype, t->ndim, t->size, data);
    if (--s->refs <= 0) { /* the last tensor of this storage: drop the raw bytes */
        free(s->bytes);
        s->bytes = NULL;
    }
    return 0;
}

static pk_val *dict_get(const pk_val *d, const char *key) {
    for (int i = 0; i + 1 < d->n; i += 2)
        if (d->items[i]->kind == PK_STR && strcmp(d->items[i]->s, key) == 0) return d->items[i + 1];
    return NULL;
}

int ckpt_read_pth(const char *path, ckpt_tensors *out) {
    ckpt_tensors_init(out);
    FILE *fp = fopen(path, "rb");
    if (!fp) return err_set("%s: cannot open: %s", path, strerror(errno));
    unsigned char head[4] = {0};
    size_t hn = fread(head, 1, 4, fp);
    fclose(fp);
    if (hn >= 2 && head[0] == 0x80 && head[1] <= 5)
        return err_set("%s: a legacy (pre-1.6, non-zip) torch.save file; not supported: re-save it with "
                       "torch.save(obj, path) under torch >= 1.6 (or convert it to .safetensors)", path);
    if (hn < 4 || memcmp(head, "PK\x03\x04", 4) != 0)
        return err_set("%s: not a torch.save zip archive (no zip signature at offset 0)", path);
    int zerr = 0;
    zip_t *z = zip_open(path, ZIP_RDONLY, &zerr);
    if (!z) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, zerr);
        err_set("%s: cannot open as a zip archive: %s (truncated or corrupt file?)", path, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return -1;
    }
    /* find <prefix>data.pkl */
    char prefix[512] = "";
    int found = 0;
    zip_int64_t ne = zip_get_num_entries(z, 0);
    for (zip_int64_t i = 0; i < ne; i++) {
        const char *nm = zip_get_name(z, (zip_uint64_t)i, 0);
        if (!nm) continue;
        size_t l = strlen(nm);
        const char *slash = strchr(nm, '/');
        if (l >= 9 && strcmp(nm + l - 9, "/data.pkl") == 0 && slash == nm + l - 9 && l - 8 < sizeof prefix) {
            memcpy(prefix, nm, l - 8);
            prefix[l - 8] = 0;
            found = 1;
            break;
        }
    }
    if (!found) {
        zip_close(z);
        return err_set("%s: zip archive without <archive>/data.pkl: not written by torch.save", path);
    }
    int rc = -1;
    unpickler u;
    memset(&u, 0, sizeof u);
    char where[1200], name[1024];
    snprintf(name, sizeof name, "%sdata.pkl", prefix);
    snprintf(where, sizeof where, "%s:%s", path, name);
    u.where = where;
    size_t plen = 0;
    unsigned char *pkl = NULL;
    {
        char bo[1024];
        snprintf(bo, sizeof bo, "%sbyteorder", prefix);
        if (zip_name_locate(z, bo, 0) >= 0) {
            size_t bn = 0;
            unsigned char *b = zip_read_entry(z, path, bo, &bn);
            if (!b) goto done;
            int little = bn == 6 && memcmp(b, "little", 6) == 0;
            free(b);
            if (!little) {
                err_set("%s: %s says the storages are big-endian; only little-endian files are supported", path, bo);
                goto done;
            }
        }
    }
    pkl = zip_read_entry(z, path, name, &plen);
    if (!pkl) goto done;
    u.buf = pkl;
    u.len = plen;
    pk_val *root = unpickle(&u);
    if (!root) goto done;
    if (root->kind != PK_DICT) {
        err_set("%s: the pickled object is a %s%s%s, not a dict of tensors", where, pk_kind_name[root->kind],
                root->kind == PK_OBJECT ? " " : "", root->kind == PK_OBJECT ? root->s : "");
        goto done;
    }
    pk_val *sd = root, *x;
    if ((x = dict_get(root, "state_dict")) && x->kind == PK_DICT) sd = x;
    else if ((x = dict_get(root, "model")) && x->kind == PK_DICT) sd = x;
    /* tensors outside the chosen dict do not count towards their storage's uses */
    for (int i = 0; i < u.n_pool; i++)
        if (u.pool[i]->kind == PK_STORAGE) u.pool[i]->refs = 0;
    for (int i = 0; i + 1 < sd->n; i += 2)
        if (sd->items[i]->kind == PK_STR && sd->items[i + 1]->kind == PK_TENSOR) sd->items[i + 1]->storage->refs++;
    for (int i = 0; i + 1 < sd->n; i += 2) {
        pk_val *k = sd->items[i], *t = sd->items[i + 1];
        if (k->kind != PK_STR || t->kind != PK_TENSOR) {
            out->n_skipped++;
            continue;
        }
        if (tensor_out(path, prefix, z, t, k->s, out)) goto done;
    }
    rc = 0;
done:
    free(pkl);
    unpickler_free(&u);
    zip_close(z);
    if (rc) ckpt_tensors_free(out);
    return rc;
}
