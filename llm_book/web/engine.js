/* LLM Book engine: the tiny GPT's forward pass and the exact ToyLanguage, in the reader's browser.
 *
 * No dependencies, plain ES2017, one IIFE.  It works inlined into a notebook output and loaded by
 * <script src=".../engine.js" data-llm-book-model=".../toy-gpt.json"> on the website (then it fetches the
 * model file itself; a relative address is resolved against the script's own address).  A second copy on
 * the same page leaves the first one in charge.
 *
 * The model file is written by `python -m llm_book.web OUT_DIR` (llm_book/web.py) from the shipped
 * checkpoint: never edit it by hand.  All arithmetic runs in float64; Python's float32 results agree to
 * about 1e-6 (tests/test_web_parity.py measures it).
 *
 * API (window.llmBook):
 *   ready                          Promise resolving to llmBook once a model is loaded (rejects if the
 *                                  model file cannot be fetched); exists before load() is called.
 *   load(payload)                  install toyGPT and toyLanguage from the payload; again: a no-op.
 *   loaded                         true once load() succeeded.
 *   loadError                      the Error of a failed fetch of the model file, else null.
 *   toyLanguage.vocab, .eos        the language's words; "<eos>".
 *   toyLanguage.nextTokenProbs(words)     {word: P} exact, like ToyLanguage.next_token_probs.
 *   toyLanguage.conditionalProbs(words)   [P(w_1 | w_0), ...], like ToyLanguage.conditional_probs.
 *   toyLanguage.sentenceProbability(words) product of the conditionals (0 if impossible).
 *   toyGPT.vocab, .config          tokenizer vocabulary; {n_layer, n_head, n_embd, block_size, vocab_size}.
 *   toyGPT.logits(words)           number[vocab_size], the last position's logits.
 *   toyGPT.nextTokenProbs(words)   {word: P} over the whole vocabulary (softmax of logits).
 *   toyGPT.attention(words)        number[layer][head][query][key], after softmax (0 above the diagonal).
 *   toyGPT.conditionalProbs(words) [P(w_t | w_<t) for t >= 1] (empty for one word).
 *   sampling.filterProbs(logits, {temperature, topK, topP})  softmax(filter_logits(...)) as number[].
 *   sampling.sample(prefixWords, {temperature, topK, topP, seed, maxWords})  the continuation (string[];
 *                                  ends with "<eos>" when the model drew it; prefix + continuation never
 *                                  exceeds block_size words; same seed, same words).
 *   format(value)                  Python's repr of a string / list of strings (used in the messages).
 * Errors are thrown as Error (TypeError for a wrong kind of argument) with a message that names the
 * argument, the value and what is allowed, worded like the Python package's.
 */
(function (root) {
  'use strict';
  var doc = root.document;
  var script = doc && doc.currentScript ? doc.currentScript : null;

  if (root.llmBook && root.llmBook.engineVersion) {  // a second copy: keep the first, maybe start loading
    if (script && root.llmBook._autoload) root.llmBook._autoload(script);
    return;
  }

  // ---------------------------------------------------------------- helpers
  function reprString(s) {  // Python's repr of a str (the ASCII cases the book meets)
    var quote = s.indexOf("'") >= 0 && s.indexOf('"') < 0 ? '"' : "'";
    var body = s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\t/g, '\\t');
    if (quote === "'") body = body.replace(/'/g, "\\'");
    return quote + body + quote;
  }
  function format(value) {  // Python's repr for strings, numbers, booleans, null and lists of them
    if (typeof value === 'string') return reprString(value);
    if (Array.isArray(value)) return '[' + value.map(format).join(', ') + ']';
    if (value === null || value === undefined) return 'None';
    if (value === true) return 'True';
    if (value === false) return 'False';
    if (typeof value === 'number') {
      if (value !== value) return 'nan';
      if (value === Infinity) return 'inf';
      if (value === -Infinity) return '-inf';
      return String(value);
    }
    try { return JSON.stringify(value); } catch (e) { return String(value); }
  }
  function checkWords(words, argument) {
    if (typeof words === 'string') {
      throw new TypeError('`' + argument + '` has to be a list of words, got the string ' + format(words) +
                          "; split it first, e.g. " + format(words) + ".split(' ')");
    }
    if (!Array.isArray(words)) {
      throw new TypeError('`' + argument + '` has to be a list of words, got ' + format(words));
    }
    for (var i = 0; i < words.length; i++) {
      if (typeof words[i] !== 'string') {
        throw new TypeError('`' + argument + '` has to be a list of words (strings), got ' + format(words[i]) +
                            ' at position ' + i);
      }
    }
    return words;
  }

  function decodeFloat32(b64) {  // base64 of little-endian float32 -> Float64Array
    var bin = atob(b64);
    var n = bin.length;
    var bytes = new Uint8Array(n);
    for (var i = 0; i < n; i++) bytes[i] = bin.charCodeAt(i);
    var view = new DataView(bytes.buffer);
    var out = new Float64Array(n / 4);
    for (var j = 0; j < out.length; j++) out[j] = view.getFloat32(4 * j, true);
    return out;
  }

  // ---------------------------------------------------------------- the exact language
  function makeLanguage(spec) {
    var vocab = spec.vocab.slice();
    var known = Object.create(null);
    vocab.forEach(function (w) { known[w] = true; });
    var states = spec.states;  // states[i] = [[word, probability, next state], ...]
    var eos = '<eos>';

    // Follow the prefix; {state, ok, stop}: stop = how many words were followed before falling off.
    function walk(words, argument) {
      checkWords(words, argument);
      for (var i = 0; i < words.length; i++) {
        if (!known[words[i]]) {
          throw new Error('`' + argument + '` contains the unknown word ' + format(words[i]) +
                          "; the language's vocabulary is " + format(vocab));
        }
      }
      var state = spec.start, prob = 1;
      for (var t = 0; t < words.length; t++) {
        var row = states[state], found = null;
        for (var k = 0; k < row.length; k++) if (row[k][0] === words[t]) { found = row[k]; break; }
        if (!found) return {state: state, prob: 0, stop: t};
        prob *= found[1];
        state = found[2];
      }
      return {state: state, prob: prob, stop: words.length};
    }

    function nextTokenProbs(prefix) {
      var w = walk(prefix, 'prefix');
      if (w.prob === 0) {
        var allowed = states[w.state].map(function (r) { return r[0]; }).sort();
        throw new Error('`prefix` ' + format(prefix) + ' is impossible in this language (probability 0): ' +
                        'after ' + format(prefix.slice(0, w.stop)) + ' the word ' + format(prefix[w.stop]) +
                        ' cannot follow; possible next words are ' + format(allowed));
      }
      var row = states[w.state];
      if (!row.length) {
        throw new Error('`prefix` ' + format(prefix) + ' already ends with the end token ' + format(eos) +
                        '; nothing can follow it');
      }
      var out = {};
      row.forEach(function (r) { out[r[0]] = r[1]; });  // (its words are all known: no prototype clash)
      return out;
    }

    function conditionalProbs(words) {
      checkWords(words, 'words');
      if (!words.length || words[0] !== 'The') {
        throw new Error("`words` has to start with 'The', got " + format(words.slice(0, 1)));
      }
      walk(words, 'words');  // an unknown word throws here, naming it
      var out = [];
      for (var t = 1; t < words.length; t++) {  // as Python: stop at the first impossible word
        var p = nextTokenProbs(words.slice(0, t))[words[t]];
        out.push(p === undefined ? 0 : p);
        if (!out[out.length - 1]) break;
      }
      while (out.length < words.length - 1) out.push(0);
      return out;
    }

    function sentenceProbability(words) { return walk(words, 'words').prob; }

    return {
      vocab: vocab, eos: eos, states: states, names: spec.names || null, start: spec.start,
      nextTokenProbs: nextTokenProbs, conditionalProbs: conditionalProbs,
      sentenceProbability: sentenceProbability,
    };
  }

  // ---------------------------------------------------------------- the tiny GPT
  function makeGPT(payload) {
    var c = payload.config;
    var problems = [];
    if ((c.position || 'learned') !== 'learned') problems.push('position=' + format(c.position));
    if ((c.norm || 'layernorm') !== 'layernorm') problems.push('norm=' + format(c.norm));
    if ((c.mlp || 'gelu') !== 'gelu') problems.push('mlp=' + format(c.mlp));
    if (c.n_kv_head !== null && c.n_kv_head !== undefined && c.n_kv_head !== c.n_head) {
      problems.push('n_kv_head=' + c.n_kv_head);
    }
    if (c.causal === false) problems.push('causal=False');
    if (problems.length) {
      throw new Error('the web engine runs GPT-2-style models (learned positions, LayerNorm, GELU, causal ' +
                      'multi-head attention); this model has ' + problems.join(', '));
    }
    var vocab = payload.vocab.slice();
    var ids = Object.create(null);
    vocab.forEach(function (w, i) { ids[w] = i; });
    var V = c.vocab_size, C = c.n_embd, H = c.n_head, L = c.n_layer, B = c.block_size;
    var hs = C / H;
    var eps = c.norm_eps === undefined ? 1e-5 : c.norm_eps;
    var Fw = c.mlp_hidden || 4 * C;
    if (vocab.length !== V) {
      throw new Error('the model file has ' + vocab.length + ' words but config.vocab_size is ' + V);
    }
    var W = {};
    Object.keys(payload.weights).forEach(function (name) {
      var entry = payload.weights[name];
      var data = decodeFloat32(entry.data);
      var size = entry.shape.reduce(function (a, b) { return a * b; }, 1);
      if (size !== data.length) {
        throw new Error('the model file is damaged: ' + name + ' has shape ' + format(entry.shape) +
                        ' but ' + data.length + ' numbers');
      }
      W[name] = data;
    });
    function w(name, optional) {
      if (!(name in W)) {
        if (optional) return null;
        throw new Error('the model file has no weight ' + format(name));
      }
      return W[name];
    }
    var wte = w('wte.weight'), wpe = w('wpe.weight'), head = W['lm_head.weight'] || wte;
    var layers = [];
    for (var l = 0; l < L; l++) {
      var p = 'blocks.' + l + '.';
      layers.push({
        ln1w: w(p + 'ln_1.weight'), ln1b: w(p + 'ln_1.bias', true),
        qw: w(p + 'attn.query.weight'), qb: w(p + 'attn.query.bias', true),
        kw: w(p + 'attn.key.weight'), kb: w(p + 'attn.key.bias', true),
        vw: w(p + 'attn.value.weight'), vb: w(p + 'attn.value.bias', true),
        ow: w(p + 'attn.out.weight'), ob: w(p + 'attn.out.bias', true),
        ln2w: w(p + 'ln_2.weight'), ln2b: w(p + 'ln_2.bias', true),
        fw: w(p + 'mlp.fc.weight'), fb: w(p + 'mlp.fc.bias', true),
        pw: w(p + 'mlp.proj.weight'), pb: w(p + 'mlp.proj.bias', true),
      });
    }
    var lnfw = w('ln_f.weight'), lnfb = w('ln_f.bias', true);

    // y (T, out) = x (T, in) W^T + b, W stored (out, in) as nn.Linear does.
    function linear(x, T, nIn, weight, bias, nOut) {
      var y = new Float64Array(T * nOut);
      for (var t = 0; t < T; t++) {
        var xo = t * nIn, yo = t * nOut;
        for (var o = 0; o < nOut; o++) {
          var s = bias ? bias[o] : 0, wo = o * nIn;
          for (var i = 0; i < nIn; i++) s += x[xo + i] * weight[wo + i];
          y[yo + o] = s;
        }
      }
      return y;
    }
    function layerNorm(x, T, weight, bias) {
      var y = new Float64Array(T * C);
      for (var t = 0; t < T; t++) {
        var o = t * C, mean = 0, v = 0, i;
        for (i = 0; i < C; i++) mean += x[o + i];
        mean /= C;
        for (i = 0; i < C; i++) { var d = x[o + i] - mean; v += d * d; }
        var inv = 1 / Math.sqrt(v / C + eps);
        for (i = 0; i < C; i++) y[o + i] = (x[o + i] - mean) * inv * weight[i] + (bias ? bias[i] : 0);
      }
      return y;
    }
    var GELU_K = Math.sqrt(2 / Math.PI);
    function gelu(x) {  // GPT-2's tanh approximation, as nn.GELU(approximate="tanh")
      for (var i = 0; i < x.length; i++) {
        var u = x[i];
        x[i] = 0.5 * u * (1 + Math.tanh(GELU_K * (u + 0.044715 * u * u * u)));
      }
      return x;
    }

    function encode(words) {
      checkWords(words, 'words');
      var out = [];
      for (var i = 0; i < words.length; i++) {
        if (!(words[i] in ids)) {
          throw new Error('unknown word ' + format(words[i]) + ' in `words`; the vocabulary has ' +
                          vocab.length + ' words: ' + format(vocab));
        }
        out.push(ids[words[i]]);
      }
      if (!out.length) {
        throw new Error('`words` has to be a non-empty list of words (the model predicts what follows at ' +
                        "least one word, e.g. ['The']), got []");
      }
      if (out.length > B) {
        throw new Error('`words` is ' + out.length + " words long but the model's `block_size` is " + B +
                        '; use at most ' + B + ' words (e.g. the last ' + B + ')');
      }
      return out;
    }

    var cache = [];  // the last few forward passes: the UI asks again for the same words
    function forward(words) {
      var idx = encode(words);
      var key = idx.join(',');
      for (var ci = 0; ci < cache.length; ci++) if (cache[ci].key === key) return cache[ci];
      var T = idx.length, t, i;
      var x = new Float64Array(T * C);
      for (t = 0; t < T; t++) {
        for (i = 0; i < C; i++) x[t * C + i] = wte[idx[t] * C + i] + wpe[t * C + i];
      }
      var attentions = [];
      var scale = 1 / Math.sqrt(hs);
      for (var l = 0; l < L; l++) {
        var ly = layers[l];
        var h = layerNorm(x, T, ly.ln1w, ly.ln1b);
        var q = linear(h, T, C, ly.qw, ly.qb, C);
        var k = linear(h, T, C, ly.kw, ly.kb, C);
        var v = linear(h, T, C, ly.vw, ly.vb, C);
        var y = new Float64Array(T * C);
        var heads = [];
        for (var hd = 0; hd < H; hd++) {
          var off = hd * hs, rows = [];
          for (var a = 0; a < T; a++) {  // query a sees keys 0..a (causal)
            var row = new Array(T).fill(0), max = -Infinity, b, d, s;
            for (b = 0; b <= a; b++) {
              s = 0;
              for (d = 0; d < hs; d++) s += q[a * C + off + d] * k[b * C + off + d];
              row[b] = s * scale;
              if (row[b] > max) max = row[b];
            }
            var sum = 0;
            for (b = 0; b <= a; b++) { row[b] = Math.exp(row[b] - max); sum += row[b]; }
            for (b = 0; b <= a; b++) row[b] /= sum;
            for (d = 0; d < hs; d++) {
              s = 0;
              for (b = 0; b <= a; b++) s += row[b] * v[b * C + off + d];
              y[a * C + off + d] = s;
            }
            rows.push(row);
          }
          heads.push(rows);
        }
        attentions.push(heads);
        var attnOut = linear(y, T, C, ly.ow, ly.ob, C);
        for (i = 0; i < x.length; i++) x[i] += attnOut[i];
        var h2 = layerNorm(x, T, ly.ln2w, ly.ln2b);
        var mlpOut = linear(gelu(linear(h2, T, C, ly.fw, ly.fb, Fw)), T, Fw, ly.pw, ly.pb, C);
        for (i = 0; i < x.length; i++) x[i] += mlpOut[i];
      }
      var logits = linear(layerNorm(x, T, lnfw, lnfb), T, C, head, null, V);  // (T, V)
      var result = {key: key, idx: idx, logits: logits, attentions: attentions};
      cache.unshift(result);
      if (cache.length > 8) cache.pop();
      return result;
    }

    function rowLogits(f, t) { return Array.prototype.slice.call(f.logits, t * V, (t + 1) * V); }

    function logSoftmax(row) {
      var max = -Infinity, i;
      for (i = 0; i < row.length; i++) if (row[i] > max) max = row[i];
      var sum = 0;
      for (i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
      var lse = max + Math.log(sum);
      return row.map(function (z) { return z - lse; });
    }

    return {
      vocab: vocab,
      config: {n_layer: L, n_head: H, n_embd: C, block_size: B, vocab_size: V},
      encode: encode,
      logits: function (words) { var f = forward(words); return rowLogits(f, f.idx.length - 1); },
      nextTokenProbs: function (words) {
        var f = forward(words);
        var lp = logSoftmax(rowLogits(f, f.idx.length - 1)), out = {};
        vocab.forEach(function (word, i) { out[word] = Math.exp(lp[i]); });
        return out;
      },
      attention: function (words) {
        return forward(words).attentions.map(function (layer) {
          return layer.map(function (rows) { return rows.map(function (r) { return r.slice(); }); });
        });
      },
      conditionalProbs: function (words) {
        var f = forward(words), out = [];
        for (var t = 1; t < f.idx.length; t++) out.push(Math.exp(logSoftmax(rowLogits(f, t - 1))[f.idx[t]]));
        return out;
      },
    };
  }

  // ---------------------------------------------------------------- sampling
  function isNumber(x) { return typeof x === 'number'; }
  function checkSettings(options) {
    options = options || {};
    var temperature = options.temperature === undefined || options.temperature === null ? 1 : options.temperature;
    var topK = options.topK, topP = options.topP;
    if (!isNumber(temperature)) {
      throw new TypeError('`temperature` (=' + format(temperature) + ') has to be a strictly positive, finite ' +
                          'float; got ' + typeof temperature);
    }
    if (!(temperature > 0) || !isFinite(temperature)) {
      throw new Error('`temperature` (=' + format(temperature) + ') has to be a strictly positive, finite ' +
                      'float; for greedy decoding (the limit of temperature -> 0) use `greedy`');
    }
    if (topK === undefined || topK === null || topK === 0) {
      topK = null;
    } else if (!isNumber(topK) || !Number.isInteger(topK) || topK < 1) {
      throw new Error('`topK` (=' + format(topK) + ') has to be an integer >= 1 (the number of tokens kept), ' +
                      'or 0 / null to keep every token');
    }
    if (topP === undefined || topP === null || topP === 1) {
      topP = null;
    } else if (!isNumber(topP) || !(topP > 0 && topP <= 1)) {
      throw new Error('`topP` (=' + format(topP) + ') has to be a float in (0, 1]: greater than 0, at most 1 ' +
                      '(1 keeps every token)');
    }
    return {temperature: temperature, topK: topK, topP: topP};
  }

  // softmax(filter_logits(logits, temperature, top_k, top_p)) of llm_book.sampling, in float64.
  // Like PyTorch, logits / temperature is computed in float32 before the filters.
  function filterProbs(logits, options) {
    if (!logits || typeof logits.length !== 'number' || !logits.length) {
      throw new Error('`logits` has to be a non-empty list of numbers, got ' + format(logits));
    }
    var s = checkSettings(options);
    var n = logits.length, i, max = -Infinity;
    for (i = 0; i < n; i++) {
      if (typeof logits[i] !== 'number' || logits[i] !== logits[i] || logits[i] === Infinity) {
        throw new Error('`logits` holds ' + format(logits[i]) + ' at position ' + i +
                        '; logits have to be finite, or -inf for a removed token');
      }
      if (logits[i] > max) max = logits[i];
    }
    if (max === -Infinity) throw new Error('`logits` is -inf everywhere: it keeps no token to choose');
    var z = new Array(n), overflow = false, t32 = Math.fround(s.temperature);
    for (i = 0; i < n; i++) {
      z[i] = Math.fround(logits[i] / t32);  // PyTorch divides float32 logits by float32(temperature)
      if (logits[i] !== -Infinity && !isFinite(z[i])) overflow = true;
    }
    if (overflow) {  // a tiny temperature: shift the largest logit to 0 first (softmax ignores the shift)
      for (i = 0; i < n; i++) z[i] = Math.fround((logits[i] - max) / s.temperature);
    }
    if (s.topK !== null) {
      var k = Math.min(s.topK, n);
      var kth = z.slice().sort(function (a, b) { return b - a; })[k - 1];
      for (i = 0; i < n; i++) if (z[i] < kth) z[i] = -Infinity;  // ties at the k-th value are kept
    }
    if (s.topP !== null && s.topP < 1) {
      var order = z.map(function (_, j) { return j; });
      order.sort(function (a, b) { return z[b] - z[a] || a - b; });
      var probs = softmax(order.map(function (j) { return z[j]; }));
      var before = 0;
      var remove = [];
      for (i = 0; i < n; i++) {  // cumulative mass of the tokens ranked above, as Python computes it
        var cum = before + probs[i];
        remove.push(i > 0 && cum - probs[i] >= s.topP - 1e-6);
        before = cum;
      }
      for (i = 0; i < n; i++) if (remove[i]) z[order[i]] = -Infinity;
    }
    return softmax(z);
  }
  function softmax(z) {
    var max = -Infinity, i, sum = 0;
    for (i = 0; i < z.length; i++) if (z[i] > max) max = z[i];
    var e = z.map(function (x) { return x === -Infinity ? 0 : Math.exp(x - max); });
    for (i = 0; i < e.length; i++) sum += e[i];
    return e.map(function (x) { return x / sum; });
  }

  function mulberry32(seed) {  // a small seeded PRNG: uniform numbers in [0, 1)
    var a = seed >>> 0;
    return function () {
      a = (a + 0x6D2B79F5) >>> 0;
      var t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  function sample(prefixWords, options) {
    var gpt = api.toyGPT;
    if (!gpt) throw new Error('the model is not loaded yet; wait for `llmBook.ready`');
    options = options || {};
    var seed = options.seed === undefined || options.seed === null ? 0 : options.seed;
    if (!isNumber(seed) || !Number.isInteger(seed) || seed < 0 || seed > 4294967295) {
      throw new Error('`seed` (=' + format(seed) + ') has to be an integer from 0 to 4294967295');
    }
    var settings = checkSettings(options);
    gpt.encode(prefixWords);  // unknown word, empty, too long: the model's messages
    var room = gpt.config.block_size - prefixWords.length;
    var maxWords = options.maxWords === undefined || options.maxWords === null ? room : options.maxWords;
    if (!isNumber(maxWords) || !Number.isInteger(maxWords) || maxWords < 0) {
      throw new Error('`maxWords` (=' + format(maxWords) + ') has to be a non-negative integer');
    }
    maxWords = Math.min(maxWords, room);
    var rng = mulberry32(seed), words = prefixWords.slice(), out = [];
    if (words[words.length - 1] === '<eos>') return out;  // the text has ended
    for (var step = 0; step < maxWords; step++) {
      var probs = filterProbs(gpt.logits(words), settings);
      var u = rng(), cum = 0, pick = -1, last = -1;
      for (var i = 0; i < probs.length; i++) {
        if (probs[i] > 0) last = i;
        cum += probs[i];
        if (pick < 0 && probs[i] > 0 && u < cum) pick = i;
      }
      if (pick < 0) pick = last;  // rounding: the cumulative sum ended just below u
      var word = gpt.vocab[pick];
      words.push(word);
      out.push(word);
      if (word === '<eos>') break;
    }
    return out;
  }

  // ---------------------------------------------------------------- loading
  var resolveReady, rejectReady;
  var api = {
    engineVersion: 1,
    loaded: false,
    loadError: null,
    toyGPT: null,
    toyLanguage: null,
    format: format,
    sampling: {filterProbs: filterProbs, sample: sample, mulberry32: mulberry32},
  };
  api.ready = new Promise(function (resolve, reject) { resolveReady = resolve; rejectReady = reject; });
  api.ready.catch(function () {});  // a failed fetch is reported through loadError and the explorers

  var loadedKey = null;
  api.load = function (payload) {
    if (typeof payload === 'string') payload = JSON.parse(payload);
    if (!payload || payload.format !== 1) {
      throw new Error('not an LLM Book model file (format ' + format(payload && payload.format) +
                      ', expected 1); write it with `python -m llm_book.web OUT_DIR`');
    }
    var key = JSON.stringify(payload.source || null) + ':' + JSON.stringify(payload.config);
    if (api.loaded && key === loadedKey) return api.ready;  // the same model again: nothing to do
    if (api.loadError) api.ready = Promise.resolve(api);   // a fetch failed earlier; this load succeeds
    var gpt = makeGPT(payload);
    var language = payload.language ? makeLanguage(payload.language) : null;
    api.toyGPT = gpt;
    api.toyLanguage = language;
    api.source = payload.source || null;
    api.loaded = true;
    api.loadError = null;
    loadedKey = key;
    resolveReady(api);
    return api.ready;
  };

  function loadFromScriptTag(url) {  // file:// pages cannot fetch: toy-gpt.js beside toy-gpt.json instead
    return new Promise(function (resolve, reject) {
      var tag = doc.createElement('script');
      tag.src = url.replace(/\.json(\?|#|$)/, '.js$1');
      tag.onload = function () {
        if (root.llmBookModelPayload) resolve(root.llmBookModelPayload);
        else reject(new Error('the model script ' + tag.src + ' defined no model'));
      };
      tag.onerror = function () { reject(new Error('could not load the model from ' + tag.src)); };
      doc.head.appendChild(tag);
    });
  }

  var autoloading = false;
  api._autoload = function (tag) {
    var attr = tag && tag.getAttribute && tag.getAttribute('data-llm-book-model');
    if (!attr || autoloading || api.loaded) return;
    autoloading = true;
    var url = new URL(attr, tag.src || root.location.href).href;
    var fromFile = url.indexOf('file:') === 0;
    var got = fromFile ? loadFromScriptTag(url) : fetch(url).then(function (r) {
      if (!r.ok) throw new Error('could not fetch the model ' + url + ' (HTTP ' + r.status + ')');
      return r.json();
    });
    got.then(function (payload) { api.load(payload); }).catch(function (err) {
      autoloading = false;
      api.loadError = err instanceof Error ? err : new Error(String(err));
      rejectReady(api.loadError);
    });
  };

  root.llmBook = api;
  if (script) api._autoload(script);
})(typeof window !== 'undefined' ? window : this);
