/* kb help center: search suggestions, the local index (when the API cannot be reached), feedback,
   the remembered language, popular articles. search.js draws the results page with what is here
   (window.KB). Everything is an enhancement: pages are complete and usable without JavaScript. */
(function () {
  "use strict";
  var configEl = document.getElementById("kb-config");
  if (!configEl) return;
  var cfg = JSON.parse(configEl.textContent);
  var S = cfg.strings;
  var TIMEOUT_MS = 4000;
  var LANG_COOKIE = "kb_lang";  /* read by `kb serve` on / (kb/web/landing.py) */

  function fmt(template, values) {
    return template.replace(/\{(\w+)\}/g, function (m, key) { return key in values ? values[key] : m; });
  }

  function fetchJSON(url, options) {
    var ctrl = typeof AbortController === "function" ? new AbortController() : null;
    var timer = ctrl ? setTimeout(function () { ctrl.abort(); }, TIMEOUT_MS) : null;
    var opts = Object.assign({ headers: { Accept: "application/json" } }, options || {});
    if (ctrl) opts.signal = ctrl.signal;
    return fetch(url, opts).then(function (res) {
      if (timer) clearTimeout(timer);
      if (!res.ok) throw new Error("HTTP " + res.status);
      return res.json();
    }, function (err) { if (timer) clearTimeout(timer); throw err; });
  }

  function apiUrl(path, params) {
    var qs = Object.keys(params).map(function (k) {
      return encodeURIComponent(k) + "=" + encodeURIComponent(params[k]);
    }).join("&");
    return cfg.api + path + "?" + qs;
  }

  /* Every article exists at every locale's URL: show the page of this locale. */
  function pageUrl(hit) {
    var anchor = hit.anchor ? "#" + hit.anchor : "";
    var category = hit.category_key || hit.category;
    if (category && hit.id) {
      return cfg.root + "/" + cfg.locale + "/" + encodeURIComponent(category) + "/" + hit.id + "/" + anchor;
    }
    try {
      var u = new URL(hit.url, location.href);
      var path = u.pathname.slice(cfg.root.length).split("/");
      if (path.length > 2) path[1] = cfg.locale;
      return cfg.root + path.join("/") + u.hash;
    } catch (e) {
      return hit.url;
    }
  }

  function flagLabels(hit) {
    var out = [];
    if (hit.fallback) {
      out.push(fmt(S.fallback_label, { language: cfg.langs[hit.lang || hit.locale] || hit.lang || hit.locale }));
    }
    if (hit.machine_translated) out.push(S.machine_label);
    if (hit.stale) out.push(S.stale_label);
    return out;
  }

  function labelEls(hit, into) {
    flagLabels(hit).forEach(function (text) {
      var span = document.createElement("span");
      span.className = "label";
      span.textContent = text;
      into.appendChild(span);
    });
  }

  /* An article as the pages list it: its link, then its labels. */
  function listItem(hit) {
    var li = document.createElement("li");
    var a = document.createElement("a");
    a.href = pageUrl(hit);
    a.textContent = hit.title;
    var lang = hit.lang || hit.locale;
    if (lang && lang !== cfg.locale) a.lang = lang;
    li.appendChild(a);
    if (flagLabels(hit).length) li.appendChild(document.createTextNode(" "));
    labelEls(hit, li);
    return li;
  }

  /* ---- the local index: used when the API cannot be reached ---- */
  var localIndex = null;
  function loadIndex() {
    if (!localIndex) {
      localIndex = fetchJSON(cfg.index).then(function (data) {
        return data.articles.map(function (a) {
          a._title = tokens(a.title);
          a._questions = tokens(a.questions.join(" ") + " " + a.tags.join(" "));
          a._text = tokens(a.text);
          return a;
        });
      });
      localIndex.catch(function () { localIndex = null; });
    }
    return localIndex;
  }

  function norm(text) {
    return text.toLowerCase().normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/ı/g, "i").replace(/ß/g, "ss");
  }

  /* Words: letters, digits and their combining marks (a Hindi or Thai word keeps its vowel signs).
     Scripts without spaces (Thai, Lao, Myanmar, Khmer, kana, Han) in overlapping character bigrams,
     as the search's BM25 does (kb/search/scripts.py). */
  var UNSPACED = /[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]/u;
  var STRETCH = /[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[^\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+/gu;
  function unspaced(word) { return UNSPACED.test(word); }
  function grams(word) {
    if (!unspaced(word)) return [word];
    var out = [];
    (word.match(STRETCH) || []).forEach(function (piece) {
      var chars = Array.from(piece);
      if (!unspaced(piece) || chars.length === 1) { out.push(piece); return; }
      for (var i = 0; i + 1 < chars.length; i++) out.push(chars[i] + chars[i + 1]);
    });
    return out;
  }

  function tokens(text) {
    var out = [];
    norm(text).split(/[^\p{L}\p{M}\p{N}]+/u).forEach(function (w) {
      if (unspaced(w)) out.push.apply(out, grams(w));
      else if (w.length > 1) out.push(w);
    });
    return out;
  }

  /* The query's words to mark in a text: a run without spaces cut into words by the browser's word
     segmenter (Intl.Segmenter) where it has one, else into bigrams (Han, kana) or kept whole. */
  function queryWords(query) {
    var out = [];
    var seg = window.Intl && Intl.Segmenter ? new Intl.Segmenter(cfg.locale || undefined, { granularity: "word" }) : null;
    query.toLowerCase().split(/[^\p{L}\p{M}\p{N}]+/u).forEach(function (w) {
      if (!w) return;
      if (!unspaced(w)) { if (w.length > 1) out.push(w); return; }
      if (seg) {
        Array.from(seg.segment(w)).forEach(function (s) { if (s.isWordLike) out.push(s.segment); });
      } else if (/[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]/u.test(w)) {
        out.push.apply(out, grams(w));
      } else {
        out.push(w);
      }
    });
    return out.filter(function (w, i, all) { return all.indexOf(w) === i; });
  }

  function hasTerm(list, term) {
    for (var i = 0; i < list.length; i++) {
      if (list[i] === term || (term.length > 2 && list[i].indexOf(term) === 0)) return true;
    }
    return false;
  }

  /* The local index's decision, made like the API's: answer (the articles that hold the query's
     telling words), clarify (the best hold only some: offered as choices) or handoff (none holds
     most of them: no article matches). A word most articles contain tells little, so each word
     weighs by how rare it is; a word no article contains weighs fully, so nonsense hands off. */
  var ANSWER_COVER = 0.75, CLARIFY_COVER = 0.5, MARGIN = 0.2;
  function localDecide(articles, query, limit) {
    var terms = tokens(query).filter(function (t, i, all) { return all.indexOf(t) === i; });
    if (!terms.length || !articles.length) return { decision: "handoff", hits: [] };
    var n = articles.length;
    var found = articles.map(function () { return []; });
    var weights = terms.map(function (t, ti) {
      var df = 0;
      articles.forEach(function (a, ai) {
        var s = (hasTerm(a._title, t) ? 5 : 0) + (hasTerm(a._questions, t) ? 3 : 0) + (hasTerm(a._text, t) ? 1 : 0);
        found[ai][ti] = s;
        if (s) df++;
      });
      return df ? Math.log(1 + n / df) / Math.log(1 + n) : 1;
    });
    var total = weights.reduce(function (x, y) { return x + y; }, 0);
    var scored = articles.map(function (a, ai) {
      var cover = 0, score = 0;
      terms.forEach(function (t, ti) {
        if (found[ai][ti]) { cover += weights[ti]; score += found[ai][ti] * weights[ti]; }
      });
      return { a: a, cover: cover / total, score: score };
    }).filter(function (s) { return s.score > 0; });
    scored.sort(function (x, y) { return y.cover - x.cover || y.score - x.score; });
    var best = scored.length ? scored[0].cover : 0;
    if (best < CLARIFY_COVER) return { decision: "handoff", hits: [] };
    if (best < ANSWER_COVER) return { decision: "clarify", hits: scored.slice(0, 3).map(function (s) { return s.a; }) };
    var kept = scored.filter(function (s) { return s.cover >= best - MARGIN; });
    kept.sort(function (x, y) { return y.score - x.score; });
    return { decision: "answer", hits: kept.slice(0, limit).map(function (s) { return s.a; }) };
  }

  /* ---- suggestions: an ARIA 1.2 combobox with a listbox ---- */
  function setupCombobox(form) {
    var input = form.querySelector("input[name=q]");
    var list = form.querySelector("[role=listbox]");
    if (!input || !list) return;
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", list.id);
    var timer = null, seq = 0, active = -1, items = [];

    function close() {
      list.hidden = true;
      list.textContent = "";
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      items = [];
      active = -1;
    }

    function select(index) {
      var options = list.querySelectorAll("[role=option]");
      options.forEach(function (opt, i) { opt.setAttribute("aria-selected", i === index ? "true" : "false"); });
      active = index;
      if (index >= 0) input.setAttribute("aria-activedescendant", options[index].id);
      else input.removeAttribute("aria-activedescendant");
    }

    function option(i, text, url, hit) {
      var li = document.createElement("li");
      li.id = list.id + "-" + i;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", "false");
      var title = document.createElement("span");
      title.textContent = text;
      li.appendChild(title);
      if (hit) labelEls(hit, li);
      li.addEventListener("mousedown", function (e) { e.preventDefault(); });
      li.addEventListener("click", function () { location.href = url; });
      list.appendChild(li);
      return { url: url };
    }

    /* handoff: nothing (no guesses for nonsense); clarify: the choices, then the way to a person */
    function show(decision, hits) {
      list.textContent = "";
      items = decision === "handoff" ? [] : hits.slice(0, 6).map(function (hit, i) {
        return option(i, hit.title, pageUrl(hit), hit);
      });
      if (items.length && decision === "clarify" && cfg.contact) {
        var contact = option(items.length, S.contact_us, cfg.contact, null);
        list.lastChild.className = "suggest-contact";
        items.push(contact);
      }
      if (!items.length) { close(); return; }
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      active = -1;
    }

    function suggest(q) {
      var mine = ++seq;
      fetchJSON(apiUrl("/suggest", { q: q, lang: cfg.locale })).then(function (data) {
        return { decision: data.decision || "answer", hits: data.suggestions || [] };
      }).catch(function () {
        return loadIndex().then(function (articles) { return localDecide(articles, q, 6); });
      }).then(function (found) {
        if (mine === seq && input.value.trim() === q) show(found.decision, found.hits);
      }).catch(function () { if (mine === seq) close(); });
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      var q = input.value.trim();
      if (q.length < 2) { seq++; close(); return; }
      timer = setTimeout(function () { suggest(q); }, 180);
    });
    input.addEventListener("keydown", function (e) {
      if (list.hidden || !items.length) return;
      if (e.key === "ArrowDown") { e.preventDefault(); select((active + 1) % items.length); }
      else if (e.key === "ArrowUp") { e.preventDefault(); select(active <= 0 ? items.length - 1 : active - 1); }
      else if (e.key === "Escape") { e.preventDefault(); close(); }
      else if (e.key === "Enter" && active >= 0) { e.preventDefault(); location.href = items[active].url; }
    });
    input.addEventListener("blur", function () { setTimeout(close, 120); });
    form.addEventListener("submit", function (e) {
      if (!input.value.trim()) { e.preventDefault(); input.focus(); }
    });
  }

  /* ---- popular articles: the ones shoppers open most, when the API knows them ---- */
  function refreshPopular(box) {
    var list = box.querySelector("ul");
    if (!list) return;
    fetchJSON(apiUrl("/popular", { lang: cfg.locale, limit: box.getAttribute("data-kb-popular") || 5 })).then(function (data) {
      if (data.source !== "analytics" || !data.articles.length) return;  /* the page already lists the editor's choice */
      list.textContent = "";
      data.articles.forEach(function (hit) { list.appendChild(listItem(hit)); });
    }).catch(function () { /* the editor's list stays */ });
  }

  /* ---- "Was this helpful?": once per article and browser ---- */
  function setupFeedback(box) {
    box.hidden = false;
    var buttons = box.querySelectorAll("[data-helpful]");
    var reasonForm = box.querySelector(".feedback-reason");
    var status = box.querySelector(".feedback-status");
    var more = box.querySelector(".feedback-more");
    var key = "kb-feedback:" + box.dataset.locale + ":" + box.dataset.article;

    function remembered() {
      try { return localStorage.getItem(key); } catch (e) { return null; }
    }
    function remember(value) {
      try { localStorage.setItem(key, value); } catch (e) { /* private mode: not remembered */ }
    }
    function done(helpful) {
      box.querySelector(".feedback-buttons").hidden = true;
      reasonForm.hidden = true;
      if (more && !helpful) more.hidden = false;
    }

    var before = remembered();
    if (before) {
      done(before === "yes");
      status.textContent = S.feedback_done;
      return;
    }

    function send(helpful, reason) {
      var body = { article_id: box.dataset.article, locale: box.dataset.locale, helpful: helpful };
      if (reason) body.reason = reason;
      var fromSearch = null;
      try { fromSearch = sessionStorage.getItem("kb-from-search:" + box.dataset.article); } catch (e) { /* storage off */ }
      if (fromSearch && /^[0-9a-f]{32}$/.test(fromSearch)) body.search_id = fromSearch;
      buttons.forEach(function (b) { b.disabled = true; });
      return fetchJSON(cfg.api + "/feedback", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body)
      }).then(function () {
        remember(helpful ? "yes" : "no");
        done(helpful);
        status.textContent = S.thanks;
      }, function () {
        buttons.forEach(function (b) { b.disabled = false; });
        status.textContent = S.feedback_error;
      });
    }

    buttons.forEach(function (button) {
      button.addEventListener("click", function () {
        buttons.forEach(function (b) { b.setAttribute("aria-pressed", b === button ? "true" : "false"); });
        if (button.dataset.helpful === "yes") {
          if (more) more.hidden = true;
          send(true);
        } else {
          reasonForm.hidden = false;
          if (more) more.hidden = false;  /* related articles and the contact, at once */
          reasonForm.querySelector("textarea").focus();
        }
      });
    });
    reasonForm.addEventListener("submit", function (e) {
      e.preventDefault();
      send(false, reasonForm.querySelector("textarea").value.trim());
    });
  }

  /* ---- the shopper's language: remembered when picked, chosen on the root page ---- */
  function readCookie(name) {
    var found = document.cookie.split(/;\s*/).filter(function (c) { return c.indexOf(name + "=") === 0; })[0];
    return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
  }

  function rememberLanguage(code) {
    document.cookie = LANG_COOKIE + "=" + encodeURIComponent(code) + "; path=" + cfg.cookie_path +
      "; max-age=31536000; SameSite=Lax";
  }

  /* Like the API (kb.content.locales.negotiate): the exact tag, then shorter forms of it, then a
     regional form of the same language. */
  function negotiate(prefs, codes) {
    var lower = codes.map(function (c) { return c.toLowerCase(); });
    for (var i = 0; i < prefs.length; i++) {
      var parts = (prefs[i] || "").toLowerCase().replace(/_/g, "-").split("-");
      for (var n = parts.length; n > 0; n--) {
        var at = lower.indexOf(parts.slice(0, n).join("-"));
        if (at !== -1) return codes[at];
      }
      for (var j = 0; j < lower.length; j++) {
        if (parts[0] && lower[j].split("-")[0] === parts[0]) return codes[j];
      }
    }
    return null;
  }

  function setupRoot(root) {
    var links = {};
    root.querySelectorAll("a[hreflang]").forEach(function (a) { links[a.getAttribute("hreflang")] = a.href; });
    var codes = Object.keys(links);
    var chosen = negotiate([readCookie(LANG_COOKIE)], codes) ||
      negotiate(navigator.languages || [navigator.language || ""], codes);
    if (chosen) location.replace(links[chosen]);
  }

  function closeLanguageMenu() {
    document.querySelectorAll(".lang-switch details[open]").forEach(function (d) { d.open = false; });
  }

  window.KB = { cfg: cfg, S: S, fmt: fmt, fetchJSON: fetchJSON, apiUrl: apiUrl, pageUrl: pageUrl, labelEls: labelEls,
                listItem: listItem, loadIndex: loadIndex, localDecide: localDecide, tokens: tokens,
                queryWords: queryWords,
                refreshPopular: refreshPopular };

  document.querySelectorAll("form[data-kb-search]").forEach(setupCombobox);
  var feedback = document.querySelector("[data-kb-feedback]");
  if (feedback) setupFeedback(feedback);
  var root = document.querySelector("[data-kb-root]");
  if (root) setupRoot(root);
  var home = document.querySelector(".page-home [data-kb-popular]");
  if (home) refreshPopular(home);
  document.addEventListener("click", function (e) {
    var picked = e.target.closest("a[data-kb-lang], [data-kb-root] a[hreflang]");
    if (picked) rememberLanguage(picked.getAttribute("data-kb-lang") || picked.getAttribute("hreflang"));
    if (!e.target.closest(".lang-switch")) closeLanguageMenu();
  });
  document.addEventListener("keydown", function (e) { if (e.key === "Escape") closeLanguageMenu(); });
})();
