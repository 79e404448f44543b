// The suffix trie of toolkit/spec/trie.py in C++ (module toolkit.spec._ctrie), with the
// same semantics operation by operation: weights are summed in the same order, ties break
// the same way, children are kept in insertion order, so drafts and weights are identical
// to the Python trie's, bit for bit (tests/spec/test_native_trie.py checks it).
//
// Nodes live in one array; a node's children are a doubly linked list in insertion order
// (for laws, heaviest-child scans and pruning) and an open-addressing hash map from
// (node, token) to the child (for walks).

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace {

constexpr int32_t NONE = -1;

struct Node {
  double w = 0.0;
  int32_t best = NONE;  // heaviest child's token, -1 when none
  int32_t best_kid = NONE;  // and its node
  int32_t tok = NONE;
  int32_t first = NONE, last = NONE, next = NONE, prev = NONE;
  int32_t nkids = 0;
};

// (parent, token) -> child, linear probing, backward-shift deletion; key and value share a
// slot, so a probe touches one cache line.
class ChildMap {
 public:
  ChildMap() { reset(1 << 10); }

  int32_t get(int32_t node, int32_t tok) const {
    uint64_t k = key(node, tok);
    for (size_t i = mix(k) & mask_;; i = (i + 1) & mask_) {
      if (slots_[i].key == k) return slots_[i].val;
      if (slots_[i].key == EMPTY) return NONE;
    }
  }

  void put(int32_t node, int32_t tok, int32_t child) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    insert(key(node, tok), child);
    ++size_;
  }

  void erase(int32_t node, int32_t tok) {
    uint64_t k = key(node, tok);
    size_t i = mix(k) & mask_;
    while (slots_[i].key != k) {
      if (slots_[i].key == EMPTY) return;
      i = (i + 1) & mask_;
    }
    for (size_t j = (i + 1) & mask_; slots_[j].key != EMPTY; j = (j + 1) & mask_) {
      size_t home = mix(slots_[j].key) & mask_;
      if (((j - home) & mask_) >= ((j - i) & mask_)) {
        slots_[i] = slots_[j];
        i = j;
      }
    }
    slots_[i].key = EMPTY;
    --size_;
  }

 private:
  static constexpr uint64_t EMPTY = ~uint64_t{0};
  struct Slot {
    uint64_t key = EMPTY;
    int32_t val = NONE;
  };
  std::vector<Slot> slots_;
  size_t mask_ = 0, size_ = 0;

  static uint64_t key(int32_t node, int32_t tok) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(node)) << 32) | static_cast<uint32_t>(tok);
  }
  static size_t mix(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return static_cast<size_t>(k);
  }
  void reset(size_t cap) {
    slots_.assign(cap, Slot());
    mask_ = cap - 1;
    size_ = 0;
  }
  void insert(uint64_t k, int32_t v) {
    size_t i = mix(k) & mask_;
    while (slots_[i].key != EMPTY) i = (i + 1) & mask_;
    slots_[i].key = k;
    slots_[i].val = v;
  }
  void grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    size_t n = size_;
    reset(old.size() * 2);
    size_ = n;
    for (const Slot& s : old)
      if (s.key != EMPTY) insert(s.key, s.val);
  }
};

class Trie {
 public:
  explicit Trie(int depth) : depth(depth) { nodes_.emplace_back(); }

  int depth;
  long long num_tokens = 0;

  int32_t kid(int32_t node, int32_t tok) const { return map_.get(node, tok); }
  const Node& at(int32_t node) const { return nodes_[node]; }
  bool valid(long node) const {
    return node == 0 || (node > 0 && static_cast<size_t>(node) < nodes_.size() &&
                         nodes_[static_cast<size_t>(node)].tok != NONE);
  }

  // `toks` appended to a stream whose open suffixes are `ends`.
  void extend(std::vector<int32_t>& ends, const std::vector<int32_t>& toks, double weight) {
    for (int32_t t : toks) step(ends, t, weight);
    num_tokens += static_cast<long long>(toks.size());
  }

  // One token of one stream: every open suffix (and the root) gains child `tok`.
  void step(std::vector<int32_t>& ends, int32_t tok, double weight) {
    size_t keep = static_cast<size_t>(depth - 1);
    scratch_.clear();
    scratch_.push_back(bump(0, tok, weight));
    for (int32_t e : ends) scratch_.push_back(bump(e, tok, weight));
    if (scratch_.size() > keep) scratch_.resize(keep);  // the depth-long substring ends here
    ends.swap(scratch_);
  }

  // Follows `path` from the root; false when a token was never inserted there.
  bool remove_path(const int32_t* path, size_t n, double weight) {
    int32_t node = 0;
    for (size_t i = 0; i < n; ++i) {
      int32_t t = path[i];
      int32_t k = kid(node, t);
      if (k == NONE) return false;
      nodes_[k].w -= weight;
      bool gone = nodes_[k].w <= 0;
      if (gone) unlink(node, k);
      if (nodes_[node].best == t || gone) set_heaviest(node);
      if (gone) return true;
      node = k;
    }
    return true;
  }

  int32_t walk(const int32_t* toks, size_t n) const {
    int32_t node = 0;
    for (size_t i = 0; i < n && node != NONE; ++i) node = kid(node, toks[i]);
    return node;
  }

  // Longest suffix of ctx[0:n] of at most max_len tokens with a continuation (the longest
  // tried first, then a binary search, as the Python trie does): its length, and its node in *out.
  int match(const int32_t* ctx, size_t n, long max_len, int32_t* out) const {
    long hi = std::min<long>(std::min<long>(max_len, static_cast<long>(n)), depth - 1);
    long lo = 0;
    *out = NONE;
    if (hi > 0) {
      int32_t node = walk(ctx + n - hi, static_cast<size_t>(hi));
      if (node != NONE && nodes_[node].nkids > 0) {
        *out = node;
        return static_cast<int>(hi);
      }
      --hi;
    }
    while (lo < hi) {
      long mid = (lo + hi + 1) / 2;
      int32_t node = walk(ctx + n - mid, static_cast<size_t>(mid));
      if (node != NONE && nodes_[node].nkids > 0) {
        lo = mid;
        *out = node;
      } else {
        hi = mid - 1;
      }
    }
    return static_cast<int>(lo);
  }

  void greedy(int32_t node, long max_tokens, double min_prob, std::vector<int32_t>& toks,
              std::vector<double>& scores) const {
    double path = 1.0;
    while (static_cast<long>(toks.size()) < max_tokens && nodes_[node].nkids > 0) {
      int32_t k = nodes_[node].best_kid;
      path *= nodes_[k].w / nodes_[node].w;
      if (path < min_prob) break;
      toks.push_back(nodes_[node].best);
      scores.push_back(path);
      node = k;
    }
  }

 private:
  std::vector<Node> nodes_;
  std::vector<int32_t> free_;
  std::vector<int32_t> scratch_;
  ChildMap map_;

  int32_t bump(int32_t node, int32_t t, double weight) {
    int32_t k = kid(node, t);
    if (k == NONE) k = add_child(node, t);
    nodes_[k].w += weight;
    Node& p = nodes_[node];
    int32_t b = p.best;
    if (b != t) {
      if (b < 0) {
        p.best = t;
        p.best_kid = k;
      } else {
        double bw = nodes_[p.best_kid].w, kw = nodes_[k].w;
        if (kw > bw || (kw == bw && t < b)) {
          p.best = t;
          p.best_kid = k;
        }
      }
    }
    return k;
  }

  int32_t add_child(int32_t node, int32_t t) {
    int32_t k;
    if (!free_.empty()) {
      k = free_.back();
      free_.pop_back();
      nodes_[k] = Node();
    } else {
      k = static_cast<int32_t>(nodes_.size());
      nodes_.emplace_back();
    }
    Node& c = nodes_[k];
    Node& p = nodes_[node];
    c.tok = t;
    c.prev = p.last;
    if (p.last != NONE) nodes_[p.last].next = k; else p.first = k;
    p.last = k;
    ++p.nkids;
    map_.put(node, t, k);
    return k;
  }

  void unlink(int32_t node, int32_t k) {
    Node& p = nodes_[node];
    Node& c = nodes_[k];
    if (c.prev != NONE) nodes_[c.prev].next = c.next; else p.first = c.next;
    if (c.next != NONE) nodes_[c.next].prev = c.prev; else p.last = c.prev;
    --p.nkids;
    map_.erase(node, c.tok);
    release(k);
  }

  void release(int32_t root) {
    std::vector<int32_t> stack{root};
    while (!stack.empty()) {
      int32_t n = stack.back();
      stack.pop_back();
      for (int32_t c = nodes_[n].first; c != NONE; c = nodes_[c].next) {
        map_.erase(n, nodes_[c].tok);
        stack.push_back(c);
      }
      nodes_[n] = Node();
      free_.push_back(n);
    }
  }

  void set_heaviest(int32_t node) {
    int32_t best = NONE, best_kid = NONE;
    double bw = 0.0;
    for (int32_t c = nodes_[node].first; c != NONE; c = nodes_[c].next) {
      const Node& k = nodes_[c];
      if (best == NONE || k.w > bw || (k.w == bw && k.tok < best)) {
        best = k.tok;
        best_kid = c;
        bw = k.w;
      }
    }
    nodes_[node].best = best;
    nodes_[node].best_kid = best_kid;
  }
};

// ---- Python binding ---------------------------------------------------------------------

struct PyTrie {
  PyObject_HEAD
  Trie* trie;
  PyObject* streams;  // stream -> index into ends
  std::vector<std::vector<int32_t>>* ends;
  std::vector<Py_ssize_t>* free_slots;
};

// The tokens of a Python sequence as int32s; false (with an exception set) on bad input.
// With `tail` >= 0, only the last `tail` tokens.
bool tokens_of(PyObject* seq, std::vector<int32_t>& out, Py_ssize_t tail = -1) {
  PyObject* fast = PySequence_Fast(seq, "tokens must be a sequence of ints");
  if (!fast) return false;
  Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
  PyObject** items = PySequence_Fast_ITEMS(fast);
  if (tail >= 0 && tail < n) {
    items += n - tail;
    n = tail;
  }
  out.resize(static_cast<size_t>(n));
  for (Py_ssize_t i = 0; i < n; ++i) {
    long v = PyLong_AsLong(items[i]);
    if (v == -1 && PyErr_Occurred()) {
      Py_DECREF(fast);
      return false;
    }
    if (v < 0 || v > INT32_MAX) {
      Py_DECREF(fast);
      PyErr_Format(PyExc_ValueError, "token ids must be in [0, 2**31), got %ld", v);
      return false;
    }
    out[static_cast<size_t>(i)] = static_cast<int32_t>(v);
  }
  Py_DECREF(fast);
  return true;
}

PyObject* draft_tuple(int m, const std::vector<int32_t>& toks, const std::vector<double>& scores) {
  PyObject* t = PyTuple_New(static_cast<Py_ssize_t>(toks.size()));
  PyObject* s = PyTuple_New(static_cast<Py_ssize_t>(scores.size()));
  if (!t || !s) {
    Py_XDECREF(t);
    Py_XDECREF(s);
    return nullptr;
  }
  for (size_t i = 0; i < toks.size(); ++i) {
    PyTuple_SET_ITEM(t, static_cast<Py_ssize_t>(i), PyLong_FromLong(toks[i]));
    PyTuple_SET_ITEM(s, static_cast<Py_ssize_t>(i), PyFloat_FromDouble(scores[i]));
  }
  return Py_BuildValue("(iNN)", m, t, s);
}

int PyTrie_init(PyTrie* self, PyObject* args, PyObject* kw) {
  static const char* names[] = {"depth", nullptr};
  int depth;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "i", const_cast<char**>(names), &depth)) return -1;
  if (depth < 2) {
    PyErr_Format(PyExc_ValueError, "SuffixTrie: depth must be >= 2, got %d", depth);
    return -1;
  }
  delete self->trie;
  delete self->ends;
  delete self->free_slots;
  Py_CLEAR(self->streams);
  self->trie = new Trie(depth);
  self->streams = PyDict_New();
  self->ends = new std::vector<std::vector<int32_t>>();
  self->free_slots = new std::vector<Py_ssize_t>();
  return self->streams ? 0 : -1;
}

void PyTrie_dealloc(PyTrie* self) {
  delete self->trie;
  delete self->ends;
  delete self->free_slots;
  Py_XDECREF(self->streams);
  Py_TYPE(self)->tp_free(reinterpret_cast<PyObject*>(self));
}

PyObject* PyTrie_append(PyTrie* self, PyObject* args, PyObject* kw) {
  static const char* names[] = {"stream", "tokens", "weight", nullptr};
  PyObject *stream, *seq;
  double weight = 1.0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|d", const_cast<char**>(names), &stream, &seq,
                                   &weight))
    return nullptr;
  std::vector<int32_t> toks;
  if (!tokens_of(seq, toks)) return nullptr;
  PyObject* slot = PyDict_GetItemWithError(self->streams, stream);
  Py_ssize_t i;
  if (slot) {
    i = PyLong_AsSsize_t(slot);
  } else {
    if (PyErr_Occurred()) return nullptr;
    if (!self->free_slots->empty()) {
      i = self->free_slots->back();
      self->free_slots->pop_back();
    } else {
      i = static_cast<Py_ssize_t>(self->ends->size());
      self->ends->emplace_back();
    }
    PyObject* idx = PyLong_FromSsize_t(i);
    if (!idx || PyDict_SetItem(self->streams, stream, idx) < 0) {
      Py_XDECREF(idx);
      self->free_slots->push_back(i);
      return nullptr;
    }
    Py_DECREF(idx);
  }
  self->trie->extend((*self->ends)[static_cast<size_t>(i)], toks, weight);
  Py_RETURN_NONE;
}

PyObject* PyTrie_close(PyTrie* self, PyObject* stream) {
  PyObject* slot = PyDict_GetItemWithError(self->streams, stream);
  if (!slot) {
    if (PyErr_Occurred()) return nullptr;
    Py_RETURN_NONE;
  }
  Py_ssize_t i = PyLong_AsSsize_t(slot);
  (*self->ends)[static_cast<size_t>(i)].clear();
  self->free_slots->push_back(i);
  if (PyDict_DelItem(self->streams, stream) < 0) return nullptr;
  Py_RETURN_NONE;
}

PyObject* PyTrie_close_all(PyTrie* self, PyObject*) {
  PyDict_Clear(self->streams);
  self->ends->clear();
  self->free_slots->clear();
  Py_RETURN_NONE;
}

// The arguments (tokens, weight=1.0) of insert and remove.
bool tokens_and_weight(PyObject* args, PyObject* kw, std::vector<int32_t>& toks, double* weight) {
  static const char* names[] = {"tokens", "weight", nullptr};
  PyObject* seq;
  *weight = 1.0;
  return PyArg_ParseTupleAndKeywords(args, kw, "O|d", const_cast<char**>(names), &seq, weight) &&
         tokens_of(seq, toks);
}

PyObject* PyTrie_insert(PyTrie* self, PyObject* args, PyObject* kw) {
  std::vector<int32_t> toks, ends;
  double weight;
  if (!tokens_and_weight(args, kw, toks, &weight)) return nullptr;
  self->trie->extend(ends, toks, weight);
  Py_RETURN_NONE;
}

PyObject* PyTrie_remove(PyTrie* self, PyObject* args, PyObject* kw) {
  std::vector<int32_t> toks;
  double weight;
  if (!tokens_and_weight(args, kw, toks, &weight)) return nullptr;
  size_t n = toks.size(), d = static_cast<size_t>(self->trie->depth);
  for (size_t i = 0; i < n; ++i) {
    size_t len = std::min(d, n - i);
    if (!self->trie->remove_path(toks.data() + i, len, weight)) {
      PyObject* path = PyList_New(0);
      for (size_t j = 0; path && j < len; ++j) {
        PyObject* v = PyLong_FromLong(toks[i + j]);
        PyList_Append(path, v);
        Py_XDECREF(v);
      }
      PyErr_Format(PyExc_KeyError, "SuffixTrie.remove: %R was never inserted", path);
      Py_XDECREF(path);
      return nullptr;
    }
  }
  self->trie->num_tokens -= static_cast<long long>(n);
  Py_RETURN_NONE;
}

PyObject* node_or_none(int32_t node) {
  if (node == NONE) Py_RETURN_NONE;
  return PyLong_FromLong(node);
}

PyObject* PyTrie_walk(PyTrie* self, PyObject* seq) {
  std::vector<int32_t> toks;
  if (!tokens_of(seq, toks)) return nullptr;
  return node_or_none(self->trie->walk(toks.data(), toks.size()));
}

PyObject* PyTrie_match(PyTrie* self, PyObject* args) {
  PyObject* seq;
  long max_len;
  if (!PyArg_ParseTuple(args, "Ol", &seq, &max_len)) return nullptr;
  std::vector<int32_t> ctx;
  if (!tokens_of(seq, ctx)) return nullptr;
  int32_t node;
  int m = self->trie->match(ctx.data(), ctx.size(), max_len, &node);
  return Py_BuildValue("(iN)", m, node_or_none(node));
}

// draft(context, max_match, max_tokens, min_prob, factor): greedy from the longest match;
// factor < 0 means none. Returns (match length, tokens, path probabilities).
PyObject* PyTrie_draft(PyTrie* self, PyObject* args) {
  PyObject* seq;
  long max_match, max_tokens;
  double min_prob, factor;
  if (!PyArg_ParseTuple(args, "Olldd", &seq, &max_match, &max_tokens, &min_prob, &factor))
    return nullptr;
  std::vector<int32_t> ctx, toks;
  std::vector<double> scores;
  Py_ssize_t tail = std::max<long>(0, std::min<long>(max_match, self->trie->depth - 1));
  if (!tokens_of(seq, ctx, tail)) return nullptr;
  int32_t node;
  int m = self->trie->match(ctx.data(), ctx.size(), max_match, &node);
  if (node == NONE) return draft_tuple(0, toks, scores);
  if (factor >= 0) max_tokens = std::min<long>(max_tokens, static_cast<long>(std::floor(factor * m)));
  self->trie->greedy(node, max_tokens, min_prob, toks, scores);
  return draft_tuple(m, toks, scores);
}

// best_draft(context, max_tokens, min_prob, factor): SuffixDecoding's search over every
// match length (see toolkit/spec/trie.py: SuffixTrie.best_draft).
PyObject* PyTrie_best_draft(PyTrie* self, PyObject* args) {
  PyObject* seq;
  long max_tokens;
  double min_prob, factor;
  if (!PyArg_ParseTuple(args, "Oldd", &seq, &max_tokens, &min_prob, &factor)) return nullptr;
  std::vector<int32_t> ctx, toks, best_toks;
  std::vector<double> scores, best_scores;
  if (!tokens_of(seq, ctx, self->trie->depth - 1)) return nullptr;
  const Trie& tr = *self->trie;
  long n = static_cast<long>(ctx.size());
  long top = std::min<long>(n, tr.depth - 1);
  double best_score = -1.0;
  int best_m = 0;
  int32_t node = 0;
  for (long m = 1; m <= top; ++m) {
    node = tr.walk(ctx.data() + n - m, static_cast<size_t>(m));
    if (node == NONE) break;
    toks.clear();
    scores.clear();
    tr.greedy(node, std::min<long>(max_tokens, static_cast<long>(std::floor(factor * m))),
              min_prob, toks, scores);
    double score = 0.0;
    for (double s : scores) score += s;
    if (score >= best_score) {
      best_score = score;
      best_m = static_cast<int>(m);
      best_toks = toks;
      best_scores = scores;
    }
  }
  if (best_toks.empty()) best_m = 0;
  return draft_tuple(best_m, best_toks, best_scores);
}

bool node_arg(PyTrie* self, PyObject* arg, int32_t* node) {
  long v = PyLong_AsLong(arg);
  if (v == -1 && PyErr_Occurred()) return false;
  if (!self->trie->valid(v)) {
    PyErr_Format(PyExc_KeyError, "SuffixTrie: no node %ld", v);
    return false;
  }
  *node = static_cast<int32_t>(v);
  return true;
}

// children(node): [(token, weight, child)] in insertion order.
PyObject* PyTrie_children(PyTrie* self, PyObject* arg) {
  int32_t node;
  if (!node_arg(self, arg, &node)) return nullptr;
  const Trie& tr = *self->trie;
  PyObject* out = PyList_New(0);
  for (int32_t c = tr.at(node).first; out && c != NONE; c = tr.at(c).next) {
    PyObject* item = Py_BuildValue("(idi)", tr.at(c).tok, tr.at(c).w, c);
    if (!item || PyList_Append(out, item) < 0) {
      Py_XDECREF(item);
      Py_DECREF(out);
      return nullptr;
    }
    Py_DECREF(item);
  }
  return out;
}

PyObject* PyTrie_weight(PyTrie* self, PyObject* arg) {
  int32_t node;
  if (!node_arg(self, arg, &node)) return nullptr;
  return PyFloat_FromDouble(self->trie->at(node).w);
}

PyObject* PyTrie_best(PyTrie* self, PyObject* arg) {
  int32_t node;
  if (!node_arg(self, arg, &node)) return nullptr;
  return PyLong_FromLong(self->trie->at(node).best);
}

PyObject* PyTrie_get_root(PyTrie*, void*) { return PyLong_FromLong(0); }
PyObject* PyTrie_get_depth(PyTrie* self, void*) { return PyLong_FromLong(self->trie->depth); }
PyObject* PyTrie_get_num_tokens(PyTrie* self, void*) {
  return PyLong_FromLongLong(self->trie->num_tokens);
}

PyMethodDef methods[] = {
    {"append", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(PyTrie_append)),
     METH_VARARGS | METH_KEYWORDS, "append(stream, tokens, weight=1.0)"},
    {"close", reinterpret_cast<PyCFunction>(PyTrie_close), METH_O, "close(stream)"},
    {"close_all", reinterpret_cast<PyCFunction>(PyTrie_close_all), METH_NOARGS, "close_all()"},
    {"insert", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(PyTrie_insert)),
     METH_VARARGS | METH_KEYWORDS, "insert(tokens, weight=1.0)"},
    {"remove", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(PyTrie_remove)),
     METH_VARARGS | METH_KEYWORDS, "remove(tokens, weight=1.0)"},
    {"walk", reinterpret_cast<PyCFunction>(PyTrie_walk), METH_O, "walk(tokens) -> node or None"},
    {"match", reinterpret_cast<PyCFunction>(PyTrie_match), METH_VARARGS,
     "match(context, max_len) -> (length, node or None)"},
    {"draft", reinterpret_cast<PyCFunction>(PyTrie_draft), METH_VARARGS,
     "draft(context, max_match, max_tokens, min_prob, factor) -> (m, tokens, scores)"},
    {"best_draft", reinterpret_cast<PyCFunction>(PyTrie_best_draft), METH_VARARGS,
     "best_draft(context, max_tokens, min_prob, factor) -> (m, tokens, scores)"},
    {"children", reinterpret_cast<PyCFunction>(PyTrie_children), METH_O,
     "children(node) -> [(token, weight, child)]"},
    {"weight", reinterpret_cast<PyCFunction>(PyTrie_weight), METH_O, "weight(node)"},
    {"best", reinterpret_cast<PyCFunction>(PyTrie_best), METH_O, "best(node): heaviest child"},
    {nullptr, nullptr, 0, nullptr}};

PyGetSetDef getset[] = {
    {"root", reinterpret_cast<getter>(PyTrie_get_root), nullptr, "the root's node", nullptr},
    {"depth", reinterpret_cast<getter>(PyTrie_get_depth), nullptr, "depth", nullptr},
    {"num_tokens", reinterpret_cast<getter>(PyTrie_get_num_tokens), nullptr, "tokens added", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyTypeObject TrieType = {PyVarObject_HEAD_INIT(nullptr, 0)};

PyModuleDef module = {PyModuleDef_HEAD_INIT, "_ctrie",
                      "The suffix trie of toolkit.spec.trie in C++.", -1, nullptr};

}  // namespace

PyMODINIT_FUNC PyInit__ctrie(void) {
  TrieType.tp_name = "toolkit.spec._ctrie.SuffixTrie";
  TrieType.tp_basicsize = sizeof(PyTrie);
  TrieType.tp_flags = Py_TPFLAGS_DEFAULT;
  TrieType.tp_doc = "All substrings of length <= depth of the streams appended to it, weighted.";
  TrieType.tp_new = PyType_GenericNew;
  TrieType.tp_init = reinterpret_cast<initproc>(PyTrie_init);
  TrieType.tp_dealloc = reinterpret_cast<destructor>(PyTrie_dealloc);
  TrieType.tp_methods = methods;
  TrieType.tp_getset = getset;
  if (PyType_Ready(&TrieType) < 0) return nullptr;
  PyObject* m = PyModule_Create(&module);
  if (!m) return nullptr;
  Py_INCREF(&TrieType);
  if (PyModule_AddObject(m, "SuffixTrie", reinterpret_cast<PyObject*>(&TrieType)) < 0) {
    Py_DECREF(&TrieType);
    Py_DECREF(m);
    return nullptr;
  }
  return m;
}
