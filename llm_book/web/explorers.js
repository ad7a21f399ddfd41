/* LLM Book explorers: the next-token / sampling, chain-rule and attention explorers, in the reader's browser.
 *
 * Plain ES2017, no dependencies, one IIFE.  Needs engine.js (window.llmBook) on the page; works inlined
 * into a notebook output (Jupyter, JupyterLab, VS Code, Colab, nbconvert HTML) and loaded by
 * <script src=".../explorers.js"> on the website.  A second copy on the same page leaves the first in charge
 * and only mounts what is new.  llm_book/explorers.py writes the markup this file mounts:
 *
 *   <div class="llm-book-explorer" data-explorer="sampling|chain-rule|attention" data-config='{...}'>
 *     <figure class="llm-book-fallback"><img src="data:image/png;base64,..."></figure>   (no JS, print)
 *   </div>
 *
 * window.llmBookExplorers.mountAll(root = document) mounts every such div not yet mounted (call it again
 * after adding one).  A mounted div gets data-mounted="loading", then "ready" (or "failed") and the class
 * llm-book-live, which hides the fallback figure (explorers.css shows it again in print).
 *
 * data-role attributes (the tests drive the explorers with exactly these; numbers shown also sit on the
 * elements as data-value, in full precision):
 * Word positions in every message count from 1 ("word 1" is the first word; data-index counts from 0).
 *   every explorer   status (loading / failure line), message (a clear message when the input cannot be used;
 *                    hidden when empty; while it shows, the results below it are hidden), live (the live view),
 *                    results (everything below the controls and the message), scroll-hint (under a chart that
 *                    is wider than the screen: "scroll sideways")
 *   sampling         prefix (text input), examples (select), temperature, top-k, top-p (range inputs; the
 *                    temperature and top-p sliders step through fixed values: 0.75, 1.5, 3 ... exactly),
 *                    temperature-value, top-k-value, top-p-value (their readouts; data-value: the setting
 *                    used, top-k 0 and top-p 1 mean off), seed (number input), sample (button: draws with the
 *                    next seed), bars (the chart), row (one per word shown, data-word), bar-model (the
 *                    model's distribution at T = 1, no filter), bar-sampled (the distribution actually sampled
 *                    from), bar-true (ToyLanguage's exact one), value-sampled, value-model, value-true (the
 *                    numbers printed beside those bars), append-word (button: add the word to the prefix),
 *                    true-note (why no exact distribution is shown), samples (list; data-pending while the
 *                    samples for the latest setting are still being drawn, a moment after the bars),
 *                    sample-text (one continuation, data-grammatical "true"/"false"), samples-note (shown
 *                    instead of samples when the text has ended with <eos> or the seed is invalid),
 *                    samples-caption (the line above the samples)
 *   chain-rule       sentence (text input), examples (select), factor (one row per predicted word,
 *                    data-word), exact, model (P(w_t | w_<t) in that row; exact is 0 at the first impossible
 *                    word, a word after <eos> included, and "" after it), exact-bar, model-bar (their bars),
 *                    running-exact, running-model, product-exact, product-model, log-likelihood-exact,
 *                    log-likelihood-model, perplexity-exact, perplexity-model (-Infinity / Infinity when the
 *                    sentence is impossible)
 *   attention        sentence (text input), layer, head (selects), words (the sentence as focusable words),
 *                    word (one of them, data-index), map (the table), key-label, query-label (data-index),
 *                    cell (data-query, data-key, data-value; masked cells have data-masked), readout (what the
 *                    hovered / focused / tapped word looks at: the weights of at least 0.01), note (shown,
 *                    without hiding the map, when the sentence is impossible in the toy language)
 */
(function (root) {
  'use strict';
  var doc = root.document;
  if (!doc) return;
  if (root.llmBookExplorers) {  // a second copy (another notebook output): mount what is new
    root.llmBookExplorers.mountAll(doc);
    return;
  }

  // ------------------------------------------------------------------ small helpers
  function el(tag, attrs, children) {
    var node = doc.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === 'text') node.textContent = v;
      else if (k === 'class') node.className = v;
      else node.setAttribute(k, v === true ? '' : String(v));
    });
    (children || []).forEach(function (c) {
      if (c !== null && c !== undefined) node.appendChild(typeof c === 'string' ? doc.createTextNode(c) : c);
    });
    return node;
  }

  var uid = 0;
  function nextId(kind) { uid += 1; return 'llm-book-' + kind + '-' + uid; }

  function labelled(text, control, extra) {
    control.id = control.id || nextId('input');
    return el('div', {class: 'lbx-field'}, [el('label', {for: control.id, text: text}), control].concat(extra || []));
  }

  // a text field with a short hint under it (the label stays one short word)
  function textField(text, control, hintText) {
    var hint = el('span', {class: 'lbx-hint', id: nextId('hint'), text: hintText});
    control.setAttribute('aria-describedby', hint.id);
    return labelled(text, control, [hint]);
  }

  function words(text) {
    var t = String(text).trim();
    return t ? t.split(/\s+/) : [];
  }

  function fmtP(p) {  // a probability: 0.200, 0.0384, 5.40e-4
    if (p === 0) return '0';
    if (!isFinite(p)) return String(p);
    if (p >= 0.1) return p.toFixed(3);
    if (p >= 0.001) return p.toPrecision(3);
    return p.toExponential(2);
  }

  function fmtNumber(x, digits) {
    if (x === -Infinity) return '\u2212\u221e';
    if (x === Infinity) return '\u221e';
    return x.toFixed(digits).replace('-', '\u2212');
  }

  function errorText(err) {  // an engine message, for the rare error the checks below do not catch first
    var m = err && err.message ? err.message : String(err);
    return m.replace(/^`(prefix|words|prefixWords)` /, 'the words ');
  }

  function quote(w) { return '\u201c' + w + '\u201d'; }

  // node.textContent = text (hidden when empty), plus an optional smaller second line (e.g. the vocabulary)
  function setMessage(node, text, detail) {
    node.textContent = text || '';
    if (text && detail) node.appendChild(el('span', {class: 'lbx-detail', text: detail}));
    node.hidden = !text;
  }

  // The words a reader typed, checked before the model sees them: '' if fine, else {text, detail} for
  // setMessage.  what: 'prefix' / 'sentence'; low, high: how many words it may have.
  function checkWords(ws, vocab, what, low, high, example) {
    var known = {};
    vocab.forEach(function (w) { known[w] = true; });
    if (ws.length < low) {
      return {text: ws.length ? 'Type at least ' + low + ' words, e.g. ' + quote(example) +
                                ': the first word is given, the chain rule scores the words after it.'
                              : 'Type a ' + what + ': ' + (low > 1 ? low + ' or more words' : 'one or more words') +
                                ' of the toy language, e.g. ' + quote(example) + '.'};
    }
    if (ws.length > high) {
      var extra = ws.length - high;
      return {text: 'That ' + what + ' has ' + ws.length + ' words; the tiny GPT reads at most 16 words at a ' +
              'time (its block size)' + (high < 16 ? ' and a prefix needs room for the next word, so a prefix ' +
              'may have at most ' + high : '') + ': remove ' + extra + ' word' + (extra === 1 ? '' : 's') + '.'};
    }
    for (var i = 0; i < ws.length; i++) {
      if (known[ws[i]]) continue;
      var w = ws[i], lower = w.toLowerCase(), cap = lower.charAt(0).toUpperCase() + lower.slice(1);
      var guess = [lower, cap, '<' + lower + '>'].filter(function (g) { return g !== w && known[g]; })[0];
      return {text: quote(w) + ' is not a word of the toy language' +
                    (guess ? ' (did you mean ' + quote(guess) + '?)' : '') + '.',
              detail: 'Its ' + vocab.length + ' words: ' + vocab.join(', ') + '.'};
    }
    return '';
  }

  // Exact P(w_t | w_<t), t >= 1, up to and including the first impossible word (probability 0: a word that
  // cannot follow, or any word after the end token), and what made it impossible.
  function exactFactors(lang, ws) {
    var exact = [];
    if (ws[0] !== 'The') {
      return {exact: exact, problem: 'every sentence of the toy language starts with ' + quote('The') +
              (ws[0] === 'the' ? ' (capital T)' : '') + ', so this one has probability 0'};
    }
    for (var t = 1; t < ws.length; t++) {
      if (ws[t - 1] === lang.eos) {
        exact.push(0);
        return {exact: exact, problem: 'the sentence already ended with ' + quote(lang.eos) + ' (word ' + t +
                '), and no word follows the end token: ' + quote(ws[t]) + ' there has probability 0, and so has the ' +
                'sentence'};
      }
      var probs = lang.nextTokenProbs(ws.slice(0, t)), p = probs[ws[t]] || 0;
      exact.push(p);
      if (p === 0) {
        return {exact: exact, problem: quote(ws[t]) + ' cannot follow ' + quote(ws.slice(0, t).join(' ')) +
                ' in the toy language (possible next words: ' + Object.keys(probs).sort().join(', ') + '), so the ' +
                'sentence has probability 0'};
      }
    }
    return {exact: exact, problem: ''};
  }

  // A wide chart in a box that scrolls sideways; a fade on the right and a hint line while more is hidden.
  function scroller(content, label) {
    var box = el('div', {class: 'lbx-scroll', tabindex: 0, 'aria-label': label}, [content]);
    var wrap = el('div', {class: 'lbx-scroll-wrap'}, [box]);
    var hint = el('p', {class: 'lbx-scroll-hint', 'data-role': 'scroll-hint', hidden: true,
                        text: 'Scroll sideways to see the rest \u2192'});
    function check() {
      var more = box.scrollWidth - box.clientWidth > 8;  // a pixel or two is no reason to scroll
      wrap.classList.toggle('lbx-more-right', more && box.scrollLeft + box.clientWidth < box.scrollWidth - 8);
      hint.hidden = !more;
    }
    box.addEventListener('scroll', check, {passive: true});
    root.addEventListener('resize', check);
    if (root.ResizeObserver) new root.ResizeObserver(check).observe(box);
    return {node: el('div', {}, [wrap, hint]), check: function () {
      check();
      if (root.requestAnimationFrame) root.requestAnimationFrame(check);
    }};
  }

  // A range input stepping through fixed values (the configured one added), so every value shown is
  // exactly the value used: {input, value()}.
  function stopSlider(role, stops, chosen) {
    stops = stops.slice();
    if (stops.indexOf(chosen) < 0) stops.push(chosen);
    stops.sort(function (a, b) { return a - b; });
    var input = el('input', {type: 'range', min: 0, max: stops.length - 1, step: 1, 'data-role': role,
                             value: stops.indexOf(chosen)});
    return {input: input, value: function () { return stops[parseInt(input.value, 10)]; }};
  }

  function fmtSetting(x) { return String(Math.round(x * 1e4) / 1e4); }

  function bar(role, value, cls, label, full) {  // full: the probability drawn as the whole width
    var pct = Math.max(0, Math.min(1, value / (full || 1))) * 100;
    return el('span', {class: 'lbx-bar ' + cls, 'data-role': role, 'data-value': value,
                       title: label + ': ' + fmtP(value)},
              [el('span', {class: 'lbx-bar-fill', style: 'width: ' + pct.toFixed(2) + '%'})]);
  }

  function config(node) {
    try { return JSON.parse(node.getAttribute('data-config') || '{}'); } catch (e) { return {}; }
  }

  function options(select, values, chosen) {
    values.forEach(function (v) {
      var o = el('option', {value: v.value, text: v.label});
      if (String(v.value) === String(chosen)) o.selected = true;
      select.appendChild(o);
    });
    return select;
  }

  // ------------------------------------------------------------------ waiting for the model
  function whenEngine() {  // engine.js may run after this file (a page that orders them otherwise)
    return new Promise(function (resolve, reject) {
      var waited = 0;
      (function poll() {
        if (root.llmBook && root.llmBook.ready) return resolve(root.llmBook);
        waited += 50;
        if (waited > 30000) return reject(new Error('engine.js (window.llmBook) never loaded'));
        setTimeout(poll, 50);
      })();
    });
  }

  function mountAll(scope) {
    scope = scope || doc;
    var nodes = scope.querySelectorAll('div.llm-book-explorer[data-explorer]');
    Array.prototype.forEach.call(nodes, function (node) {
      if (!node.hasAttribute('data-mounted')) mount(node);
    });
  }

  var BUILDERS = {};

  function mount(node) {
    var kind = node.getAttribute('data-explorer');
    node.setAttribute('data-mounted', 'loading');
    var status = el('p', {class: 'lbx-status', 'data-role': 'status', role: 'status',
                          text: 'Loading the tiny GPT into your browser\u2026'});
    node.appendChild(status);
    if (!BUILDERS[kind]) {
      status.textContent = 'Unknown explorer "' + kind + '".';
      node.setAttribute('data-mounted', 'failed');
      return;
    }
    whenEngine().then(function (lb) { return lb.ready; }).then(function (lb) {
      var live = el('div', {class: 'lbx-live', 'data-role': 'live'});
      BUILDERS[kind](live, config(node), lb);
      node.appendChild(live);
      node.removeChild(status);
      node.classList.add('llm-book-live');
      node.setAttribute('data-mounted', 'ready');
    }).catch(function (err) {
      status.textContent = 'The interactive explorer could not start (' + errorText(err) +
        '); the figure shows its first setting.';
      status.classList.add('lbx-failed');
      node.setAttribute('data-mounted', 'failed');
    });
  }

  // ------------------------------------------------------------------ 1. next token and sampling
  var PREFIXES = ['The', 'The cat', 'The cat sat on the', 'The cats that', 'The cats that the dog chased',
                  'The cat that the dogs chased', 'The bird sat on the'];
  // the temperature slider's values (0.5, 0.75, 1.5, 2, 3 ... as in Section 5.7, exactly) and top-p's
  var TEMPERATURES = [0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 1, 1.1, 1.25, 1.5, 1.75, 2, 2.5,
                      3, 4, 5, 7.5, 10];
  var TOP_PS = [];
  for (var tp = 1; tp <= 20; tp++) TOP_PS.push(tp / 20);

  BUILDERS.sampling = function (live, cfg, lb) {
    var gpt = lb.toyGPT, lang = lb.toyLanguage, V = gpt.vocab.length, block = gpt.config.block_size;
    var nSamples = cfg.nSamples || 5;
    var prefix = el('input', {type: 'text', 'data-role': 'prefix', value: cfg.prefix || 'The',
                              autocomplete: 'off', spellcheck: 'false'});
    var examples = el('select', {'data-role': 'examples'});
    options(examples, [{value: '', label: 'pick a prefix\u2026'}].concat(
      PREFIXES.map(function (p) { return {value: p, label: p}; })), '');
    var temperature = stopSlider('temperature', TEMPERATURES, cfg.temperature || 1);
    var topK = el('input', {type: 'range', min: 0, max: V, step: 1, 'data-role': 'top-k', value: cfg.topK || 0});
    var topP = stopSlider('top-p', TOP_PS, cfg.topP || 1);
    var tOut = el('output', {'data-role': 'temperature-value'});
    var kOut = el('output', {'data-role': 'top-k-value'});
    var pOut = el('output', {'data-role': 'top-p-value'});
    var seed = el('input', {type: 'number', min: 0, max: 4294967295, step: 1, 'data-role': 'seed',
                            value: cfg.seed || 0, inputmode: 'numeric'});
    var sampleButton = el('button', {type: 'button', class: 'lbx-button', 'data-role': 'sample',
                                     text: 'Sample again (next seed)'});
    var message = el('p', {class: 'lbx-message', 'data-role': 'message', role: 'alert', hidden: true});
    var bars = el('div', {class: 'lbx-bars', 'data-role': 'bars'});
    var trueNote = el('p', {class: 'lbx-note', 'data-role': 'true-note', hidden: true});
    var samples = el('ol', {class: 'lbx-samples', 'data-role': 'samples'});
    var samplesNote = el('p', {class: 'lbx-note', 'data-role': 'samples-note', hidden: true});
    var samplesCaption = el('p', {class: 'lbx-caption', 'data-role': 'samples-caption', text: nSamples + ' continuations drawn with these ' +
      'settings (the same seed gives the same ones; \u2713: the toy language can produce it, \u2717: it cannot):'});
    var legend = el('div', {class: 'lbx-legend', 'aria-hidden': 'true'}, [
      el('span', {}, [el('span', {class: 'lbx-key lbx-sampled'}), 'sampled from (after the settings)']),
      el('span', {}, [el('span', {class: 'lbx-key lbx-model'}), 'tiny GPT (T = 1, no filter)']),
      el('span', {class: 'lbx-legend-true'}, [el('span', {class: 'lbx-key lbx-true'}), 'true (ToyLanguage)'])]);
    var results = el('div', {'data-role': 'results'});
    var pending = null;

    function settings() {
      var k = parseInt(topK.value, 10), p = topP.value();
      return {temperature: temperature.value(), topK: k > 0 ? k : null, topP: p < 1 ? p : null};
    }

    function drawSamples(ws, s) {
      pending = null;
      samples.removeAttribute('data-pending');
      samples.textContent = '';
      var ended = ws[ws.length - 1] === lang.eos;
      setMessage(samplesNote, ended ? 'The text has ended: nothing is sampled after the end token ' +
                 quote(lang.eos) + '. Remove it to draw continuations.' : '');
      samples.hidden = samplesCaption.hidden = ended;
      if (ended) return;
      var base = parseInt(seed.value, 10);
      if (!(base >= 0 && base <= 4294967295)) {
        setMessage(samplesNote, 'The seed has to be a whole number from 0 to 4294967295.');
        samples.hidden = samplesCaption.hidden = true;
        return;
      }
      for (var i = 0; i < nSamples; i++) {
        // one seed per sample, derived from the seed field: the same seed always gives the same list
        var sub = (Math.imul(base ^ 0x9e3779b9, 2654435761) + Math.imul(i + 1, 0x85ebca6b)) >>> 0;
        var cont = lb.sampling.sample(ws, {temperature: s.temperature, topK: s.topK, topP: s.topP, seed: sub});
        var all = ws.concat(cont), ok = null;
        try { ok = lang.sentenceProbability(all) > 0; } catch (e) { ok = false; }
        var complete = cont[cont.length - 1] === lang.eos;
        samples.appendChild(el('li', {'data-role': 'sample-text', 'data-grammatical': String(ok),
                                      'data-words': JSON.stringify(all)}, [
          el('span', {class: 'lbx-prefix-words', text: ws.join(' ')}), ' ',
          el('span', {class: 'lbx-continuation', text: cont.join(' ')}),
          el('span', {class: ok ? 'lbx-ok' : 'lbx-bad',
                      title: ok ? (complete ? 'a sentence of the toy language' : 'possible so far')
                                : 'impossible in the toy language',
                      text: ok ? ' \u2713' : ' \u2717 impossible'})]));
      }
    }

    function track(role, value, cls, label, full, text) {
      return el('span', {class: 'lbx-track'}, [
        bar('bar-' + role, value, cls, label, full),
        el('span', {class: 'lbx-val lbx-val-' + role, 'data-role': 'value-' + role, text: text})]);
    }

    function update() {
      var s = settings();
      tOut.textContent = fmtSetting(s.temperature);
      tOut.setAttribute('data-value', s.temperature);
      kOut.textContent = s.topK ? String(s.topK) : 'off';
      kOut.setAttribute('data-value', s.topK || 0);
      pOut.textContent = s.topP ? fmtSetting(s.topP) : 'off';
      pOut.setAttribute('data-value', s.topP || 1);
      if (pending !== null) { clearTimeout(pending); pending = null; }
      var ws = words(prefix.value);
      var problem = checkWords(ws, gpt.vocab, 'prefix', 1, block - 1, 'The'), logits;
      if (!problem) {
        try { logits = gpt.logits(ws); } catch (err) { problem = {text: 'Cannot use that prefix: ' + errorText(err)}; }
      }
      if (problem) {
        setMessage(message, problem.text, problem.detail);
        results.hidden = true;
        bars.textContent = '';
        samples.textContent = '';
        samples.removeAttribute('data-pending');
        return;
      }
      setMessage(message, '');
      results.hidden = false;
      var before = lb.sampling.filterProbs(logits, {temperature: 1});
      var after = lb.sampling.filterProbs(logits, s);
      var exact = null, check = exactFactors(lang, ws);
      if (check.problem) {
        setMessage(trueNote, 'No true distribution after this prefix: ' + check.problem + '. The bars show ' +
                   'the tiny GPT\u2019s guesses all the same.');
      } else if (ws[ws.length - 1] === lang.eos) {
        setMessage(trueNote, 'No true distribution: the text already ends with the end token ' + quote(lang.eos) +
                   ', and nothing follows it in the toy language. The bars show the tiny GPT\u2019s guesses.');
      } else {
        exact = lang.nextTokenProbs(ws);
        setMessage(trueNote, '');
      }
      legend.querySelector('.lbx-legend-true').hidden = !exact;
      var order = gpt.vocab.map(function (_, i) { return i; });
      order.sort(function (a, b) { return after[b] - after[a] || before[b] - before[a] || a - b; });
      var shown = order.filter(function (i, rank) {
        var t = exact ? (exact[gpt.vocab[i]] || 0) : 0;
        return rank < 5 || Math.max(after[i], before[i], t) >= 0.005;
      }).slice(0, 16);
      // the bars' scale: a round number just above the largest probability shown
      var top = Math.max.apply(null, shown.map(function (i) {
        return Math.max(after[i], before[i], exact ? (exact[gpt.vocab[i]] || 0) : 0);
      }));
      var full = [0.1, 0.2, 0.25, 0.4, 0.5, 0.6, 0.8, 1].filter(function (f) { return f >= top - 1e-12; })[0] || 1;
      bars.textContent = '';
      bars.appendChild(el('div', {class: 'lbx-row lbx-scale', 'aria-hidden': 'true'}, [
        el('span'), el('span', {class: 'lbx-track'}, [
          el('span', {class: 'lbx-scale-line'}, [el('span', {text: '0'}), el('span', {text: String(full)})]),
          el('span')])]));
      shown.forEach(function (i) {
        var w = gpt.vocab[i], t = exact ? (exact[w] || 0) : null, removed = after[i] === 0;
        var add = el('button', {type: 'button', class: 'lbx-word', 'data-role': 'append-word', 'data-word': w,
                                title: 'add \u201c' + w + '\u201d to the prefix', text: w});
        add.addEventListener('click', function () {
          prefix.value = ws.concat([w]).join(' ');
          examples.value = '';
          update();
        });
        var tracks = [track('sampled', after[i], 'lbx-sampled', 'sampled from', full,
                            removed ? 'removed' : fmtP(after[i])),
                      track('model', before[i], 'lbx-model', 'tiny GPT', full, fmtP(before[i]))];
        if (t !== null) tracks.push(track('true', t, 'lbx-true', 'true', full, fmtP(t)));
        bars.appendChild(el('div', {class: 'lbx-row' + (removed ? ' lbx-removed' : ''), 'data-role': 'row',
                                    'data-word': w}, [add, el('span', {class: 'lbx-tracks'}, tracks)]));
      });
      var hidden = order.filter(function (i) { return shown.indexOf(i) < 0; });
      if (hidden.length) {
        var most = Math.max.apply(null, hidden.map(function (i) {
          return Math.max(after[i], before[i], exact ? (exact[gpt.vocab[i]] || 0) : 0);
        }));
        bars.appendChild(el('p', {class: 'lbx-note', text: hidden.length + ' more words, none above ' + fmtP(most) +
                                  ' in any of the three distributions, are not drawn.'}));
      }
      // the samples a moment later (up to 5 x 15 forward passes): the bars answer each keystroke at once
      samples.setAttribute('data-pending', 'true');
      pending = setTimeout(function () { drawSamples(ws, s); }, 40);
    }

    examples.addEventListener('change', function () {
      if (examples.value) prefix.value = examples.value;
      update();
    });
    prefix.addEventListener('input', function () { examples.value = ''; });   // the list no longer says what is typed
    [prefix, temperature.input, topK, topP.input, seed].forEach(function (c) { c.addEventListener('input', update); });
    sampleButton.addEventListener('click', function () {
      var v = parseInt(seed.value, 10);
      seed.value = String(v >= 0 && v < 4294967295 ? v + 1 : 0);
      update();
    });

    live.appendChild(el('div', {class: 'lbx-controls'}, [
      textField('Prefix', prefix, 'words of the toy language, separated by spaces'),
      labelled('or pick one', examples)]));
    live.appendChild(el('div', {class: 'lbx-sliders'}, [
      labelled('Temperature', temperature.input, [tOut]),
      labelled('Top-k (0: off)', topK, [kOut]),
      labelled('Top-p (1: off)', topP.input, [pOut])]));
    live.appendChild(message);
    results.appendChild(el('p', {class: 'lbx-caption', text: 'Next word: the tiny GPT\u2019s distribution ' +
                              'beside the true one. Click a word to add it to the prefix.'}));
    results.appendChild(legend);
    results.appendChild(bars);
    results.appendChild(trueNote);
    results.appendChild(el('div', {class: 'lbx-controls lbx-sample-controls'}, [
      labelled('Seed', seed), sampleButton]));
    results.appendChild(samplesCaption);
    results.appendChild(samples);
    results.appendChild(samplesNote);
    live.appendChild(results);
    update();
  };

  // ------------------------------------------------------------------ 2. the chain rule
  BUILDERS['chain-rule'] = function (live, cfg, lb) {
    var gpt = lb.toyGPT, lang = lb.toyLanguage;
    var sentence = el('input', {type: 'text', 'data-role': 'sentence', value: cfg.sentence || 'The cat sat on the',
                                autocomplete: 'off', spellcheck: 'false'});
    var examples = el('select', {'data-role': 'examples'});
    options(examples, [{value: '', label: 'pick a sentence\u2026'}].concat(
      (cfg.examples || []).map(function (p) { return {value: p, label: p}; })), '');
    var message = el('p', {class: 'lbx-message', 'data-role': 'message', role: 'alert', hidden: true});
    var summary = el('div', {class: 'lbx-summary'});
    var table = el('table', {class: 'lbx-chain'});
    var scroll = scroller(table, 'the factors of the chain rule');
    var results = el('div', {'data-role': 'results'});

    function cell(role, value, text) {
      return el('td', {class: 'lbx-num', 'data-role': role, 'data-value': value, text: text});
    }

    function update() {
      var ws = words(sentence.value), model;
      table.textContent = '';
      summary.textContent = '';
      var problem = checkWords(ws, gpt.vocab, 'sentence', 2, gpt.config.block_size, 'The cat');
      if (!problem) {
        try { model = gpt.conditionalProbs(ws); } catch (err) {
          problem = {text: 'Cannot score that sentence: ' + errorText(err) + '.'};
        }
      }
      if (problem) {
        setMessage(message, problem.text, problem.detail);
        results.hidden = true;
        return;
      }
      results.hidden = false;
      // exact factors, up to and including the first impossible word (0)
      var check = exactFactors(lang, ws), exact = check.exact;
      setMessage(message, check.problem ? 'Impossible in the toy language: ' + check.problem + '. The tiny ' +
                 'GPT\u2019s estimates are still shown.' : '');
      var head = el('tr', {}, [el('th', {scope: 'col', text: 'factor'}),
                               el('th', {scope: 'col', text: 'exact'}),
                               el('th', {scope: 'col', text: 'tiny GPT'}),
                               el('th', {scope: 'col', class: 'lbx-running', text: 'running product (exact)'}),
                               el('th', {scope: 'col', class: 'lbx-running', text: 'running product (GPT)'})]);
      table.appendChild(el('thead', {}, [head]));
      var body = el('tbody');
      var runE = 1, runM = 1, llE = 0, llM = 0;
      for (var i = 1; i < ws.length; i++) {
        var e = i - 1 < exact.length ? exact[i - 1] : null, m = model[i - 1];
        if (e !== null) { runE *= e; llE += Math.log(e); }
        runM *= m;
        llM += Math.log(m);
        var ctx = ws.slice(0, i).join(' ');
        var undef = 'undefined: the words before it are already impossible';
        body.appendChild(el('tr', {'data-role': 'factor', 'data-word': ws[i], class: e === 0 ? 'lbx-zero' : null}, [
          el('th', {scope: 'row', class: 'lbx-factor'}, [
            'P(', el('b', {text: ws[i]}), ' | ', el('span', {class: 'lbx-context', text: ctx}), ')']),
          el('td', {class: 'lbx-num', 'data-role': 'exact', 'data-value': e === null ? '' : e},
             e === null ? [el('span', {class: 'lbx-dash', title: undef, text: '\u2013'})]
                        : [bar('exact-bar', e, 'lbx-true', 'exact'),
                           el(e === 0 ? 'strong' : 'span', {text: fmtP(e)})]),
          el('td', {class: 'lbx-num', 'data-role': 'model', 'data-value': m},
             [bar('model-bar', m, 'lbx-sampled', 'tiny GPT'), el('span', {text: fmtP(m)})]),
          e === null ? el('td', {class: 'lbx-num lbx-running', 'data-role': 'running-exact', 'data-value': '',
                                 title: undef, text: '\u2013'})
                     : cell('running-exact', runE, fmtP(runE)),
          cell('running-model', runM, fmtP(runM))]));
      }
      table.appendChild(body);
      var n = ws.length - 1;
      var complete = !check.problem;
      var pE = complete ? runE : 0, llExact = complete ? llE : -Infinity;
      var pplE = complete ? Math.exp(-llE / n) : Infinity, pplM = Math.exp(-llM / n);
      function stat(label, role, valueE, textE, valueM, textM) {
        return el('div', {class: 'lbx-stat'}, [
          el('span', {class: 'lbx-stat-label', text: label}),
          el('span', {class: 'lbx-stat-exact', 'data-role': role + '-exact', 'data-value': valueE, text: textE}),
          el('span', {class: 'lbx-stat-model', 'data-role': role + '-model', 'data-value': valueM, text: textM})]);
      }
      summary.appendChild(el('div', {class: 'lbx-stat lbx-stat-head'}, [
        el('span', {}), el('span', {text: 'exact'}), el('span', {text: 'tiny GPT'})]));
      summary.appendChild(stat('P(sentence) = product', 'product', pE, fmtP(pE), runM, fmtP(runM)));
      summary.appendChild(stat('log-likelihood (nats)', 'log-likelihood', llExact, fmtNumber(llExact, 4),
                               llM, fmtNumber(llM, 4)));
      summary.appendChild(stat('perplexity (' + n + ' predicted token' + (n === 1 ? '' : 's') + ')', 'perplexity',
                               pplE, fmtNumber(pplE, 3), pplM, fmtNumber(pplM, 3)));
      scroll.check();
    }

    examples.addEventListener('change', function () {
      if (examples.value) sentence.value = examples.value;
      update();
    });
    sentence.addEventListener('input', function () { examples.value = ''; update(); });
    live.appendChild(el('div', {class: 'lbx-controls'}, [
      textField('Sentence', sentence, 'words of the toy language, separated by spaces'),
      cfg.examples && cfg.examples.length ? labelled('or pick one', examples) : null]));
    live.appendChild(message);
    results.appendChild(summary);
    results.appendChild(scroll.node);
    results.appendChild(el('p', {class: 'lbx-caption', text: 'Each row is one factor P(word | the words before it): ' +
      'exact (ToyLanguage) and the tiny GPT\u2019s estimate; the running product multiplies them from the top. ' +
      'The first word is given, as in sequence_log_probs, so the perplexity averages over the words after it.'}));
    live.appendChild(results);
    update();
  };

  // ------------------------------------------------------------------ 3. attention
  // ColorBrewer "Blues" (also the fallback figure's colour map): one hue, lightness falling with the
  // weight, so it reads in greyscale and for colour-blind readers
  var BLUES = [[247, 251, 255], [222, 235, 247], [198, 219, 239], [158, 202, 225], [107, 174, 214],
               [66, 146, 198], [33, 113, 181], [8, 81, 156], [8, 48, 107]];
  function colour(w) {
    var x = Math.max(0, Math.min(1, w)) * (BLUES.length - 1), i = Math.min(BLUES.length - 2, Math.floor(x));
    var f = x - i, c = BLUES[i].map(function (v, j) { return Math.round(v + (BLUES[i + 1][j] - v) * f); });
    return 'rgb(' + c.join(',') + ')';
  }
  function cellText(w) {  // two decimals, short: .06, .94, 1 (a word that looks only at one word)
    var t = w.toFixed(2);
    return t === '1.00' ? '1' : t.replace(/^0\./, '.');
  }
  function inkOn(w) { return w > 0.55 ? '#fff' : '#1d2330'; }   // the cells' colours are the same in every theme

  BUILDERS.attention = function (live, cfg, lb) {
    var gpt = lb.toyGPT, C = gpt.config;
    var sentence = el('input', {type: 'text', 'data-role': 'sentence', autocomplete: 'off', spellcheck: 'false',
                                value: cfg.sentence || 'The cat sat on the mat <eos>'});
    var range = function (n) { var a = []; for (var i = 0; i < n; i++) a.push({value: i, label: String(i)}); return a; };
    var layer = options(el('select', {'data-role': 'layer'}), range(C.n_layer), cfg.layer || 0);
    var head = options(el('select', {'data-role': 'head'}), range(C.n_head), cfg.head || 0);
    var message = el('p', {class: 'lbx-message', 'data-role': 'message', role: 'alert', hidden: true});
    var note = el('p', {class: 'lbx-note lbx-impossible', 'data-role': 'note', hidden: true});
    var wordsBox = el('div', {class: 'lbx-words', 'data-role': 'words'});
    var readout = el('p', {class: 'lbx-readout', 'data-role': 'readout', 'aria-live': 'polite'});
    var table = el('table', {class: 'lbx-map', 'data-role': 'map'});
    var scroll = scroller(table, 'attention map');
    var results = el('div', {'data-role': 'results'});
    var current = null, pinned = null;

    function highlight(q) {
      Array.prototype.forEach.call(table.querySelectorAll('tr[data-query]'), function (tr) {
        tr.classList.toggle('lbx-active', q !== null && tr.getAttribute('data-query') === String(q));
      });
      Array.prototype.forEach.call(wordsBox.children, function (chip, k) {
        var w = q === null || !current ? null : current.weights[q][k];
        chip.classList.toggle('lbx-looker', k === q);
        chip.style.background = w === null ? '' : colour(w);
        chip.style.color = w === null ? '' : inkOn(w);
        chip.setAttribute('data-value', w === null ? '' : w);
      });
      if (q === null || !current) {
        readout.textContent = 'Hover over, focus or tap a word to see where it looks.';
        return;
      }
      var row = current.weights[q], ranked = row.map(function (w, k) { return k; })
        .filter(function (k) { return k <= q && row[k] >= 0.01; }).sort(function (a, b) { return row[b] - row[a]; });
      readout.textContent = '';
      readout.appendChild(el('b', {text: '\u201c' + current.words[q] + '\u201d'}));
      readout.appendChild(doc.createTextNode(' (word ' + (q + 1) + ') looks at: ' + ranked.slice(0, 4).map(function (k) {
        return current.words[k] + (current.words.indexOf(current.words[k]) !== k ? ' (word ' + (k + 1) + ')' : '') +
          ' ' + row[k].toFixed(2);
      }).join(', ') + (ranked.length > 4 ? ', \u2026' : '')));
    }

    function hoverable(node, q) {
      node.addEventListener('mouseenter', function () { highlight(q); });
      node.addEventListener('mouseleave', function () { highlight(pinned); });
      node.addEventListener('focus', function () { highlight(q); });
      node.addEventListener('blur', function () { highlight(pinned); });
      node.addEventListener('click', function () { pinned = pinned === q ? null : q; highlight(pinned); });
    }

    // keepPin: only the layer or head changed, so a tapped word stays selected
    function update(keepPin) {
      var ws = words(sentence.value), att;
      table.textContent = '';
      wordsBox.textContent = '';
      current = null;
      if (keepPin !== true || pinned === null || pinned >= ws.length) pinned = null;
      var problem = checkWords(ws, gpt.vocab, 'sentence', 1, C.block_size, 'The cat sat');
      if (!problem) {
        try { att = gpt.attention(ws); } catch (err) {
          problem = {text: 'Cannot show that sentence: ' + errorText(err) + '.'};
        }
      }
      if (problem) {
        setMessage(message, problem.text, problem.detail);
        setMessage(note, '');
        results.hidden = true;
        readout.textContent = '';
        pinned = null;
        return;
      }
      setMessage(message, '');
      var check = exactFactors(lb.toyLanguage, ws);
      setMessage(note, !check.problem ? '' : ws[0] !== 'The'
        ? 'Not a sentence of the toy language (its sentences start with \u201cThe\u201d); the map is shown anyway.'
        : 'Not a sentence of the toy language (' + check.problem.replace(/, so (this one|the sentence) has probability 0$/, '') +
          '); the map is shown anyway.');
      results.hidden = false;
      var L = parseInt(layer.value, 10), H = parseInt(head.value, 10);
      current = {words: ws, weights: att[L][H]};
      ws.forEach(function (w, k) {
        var chip = el('button', {type: 'button', class: 'lbx-chip', 'data-role': 'word', 'data-index': k, text: w,
                                 'aria-label': 'where \u201c' + w + '\u201d (word ' + (k + 1) + ') looks'});
        hoverable(chip, k);
        wordsBox.appendChild(chip);
      });
      var headRow = el('tr', {}, [el('th', {class: 'lbx-corner', scope: 'col'}, [
        el('span', {text: 'query \u2193 key \u2192'})])]);
      ws.forEach(function (w, k) {
        headRow.appendChild(el('th', {scope: 'col', class: 'lbx-key-label', 'data-role': 'key-label',
                                      'data-index': k}, [el('span', {text: w})]));
      });
      table.appendChild(el('thead', {}, [headRow]));
      var body = el('tbody');
      ws.forEach(function (w, q) {
        var label = el('th', {scope: 'row', class: 'lbx-query-label', 'data-role': 'query-label', 'data-index': q,
                              tabindex: 0, text: w});
        hoverable(label, q);
        var tr = el('tr', {'data-query': q}, [label]);
        ws.forEach(function (_, k) {
          var v = current.weights[q][k], masked = k > q;
          var td = el('td', {class: 'lbx-cell' + (masked ? ' lbx-masked' : ''), 'data-role': 'cell',
                             'data-query': q, 'data-key': k, 'data-value': v, 'data-masked': masked || null,
                             title: masked ? 'masked: \u201c' + w + '\u201d cannot see a later word'
                                           : '\u201c' + w + '\u201d \u2192 \u201c' + ws[k] + '\u201d: ' + v.toFixed(3),
                             text: masked ? '' : cellText(v)});
          if (!masked) {
            td.style.background = colour(v);
            td.style.color = inkOn(v);
            td.addEventListener('mouseenter', function () { highlight(q); });
            td.addEventListener('mouseleave', function () { highlight(pinned); });
          }
          tr.appendChild(td);
        });
        body.appendChild(tr);
      });
      table.appendChild(body);
      highlight(pinned);
      scroll.check();
    }

    [layer, head].forEach(function (c) { c.addEventListener('change', function () { update(true); }); });
    sentence.addEventListener('input', update);
    live.appendChild(el('div', {class: 'lbx-controls'}, [
      textField('Sentence', sentence, 'words of the toy language, separated by spaces'),
      el('div', {class: 'lbx-pair'}, [labelled('Layer', layer), labelled('Head', head)])]));
    live.appendChild(message);
    results.appendChild(note);
    results.appendChild(wordsBox);
    results.appendChild(readout);
    results.appendChild(scroll.node);
    results.appendChild(el('p', {class: 'lbx-caption', text: 'Row: the word that looks (query); column: the word ' +
      'it looks at (key). Each row adds up to 1; the empty upper triangle is the future, hidden by the ' +
      'causal mask.'}));
    live.appendChild(results);
    update();
  };

  // ------------------------------------------------------------------ start
  root.llmBookExplorers = {mountAll: mountAll, version: 1};
  if (doc.readyState === 'loading') doc.addEventListener('DOMContentLoaded', function () { mountAll(doc); });
  else mountAll(doc);
})(typeof window !== 'undefined' ? window : this);
