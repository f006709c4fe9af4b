/* kb help center: search suggestions, search results (API, else the local index), feedback.
   Everything here is an enhancement: pages are complete and usable without JavaScript. */
(function () {
  "use strict";
  var configEl = document.getElementById("kb-config");
  if (!configEl) return;
  var cfg = JSON.parse(configEl.textContent);
  var S = cfg.strings;
  var TIMEOUT_MS = 4000;

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
    if (hit.category && hit.id) {
      return cfg.root + "/" + cfg.locale + "/" + hit.category + "/" + hit.id + "/" + anchor;
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

  function tokens(text) {
    return norm(text).split(/[^\p{L}\p{N}]+/u).filter(function (t) { return t.length > 1; });
  }

  function hasTerm(list, term) {
    for (var i = 0; i < list.length; i++) {
      if (list[i] === term || (term.length > 2 && list[i].indexOf(term) === 0)) return true;
    }
    return false;
  }

  function localSearch(articles, query, limit) {
    var terms = tokens(query);
    if (!terms.length) return [];
    var scored = [];
    articles.forEach(function (a) {
      var score = 0, matched = 0;
      terms.forEach(function (t) {
        var s = (hasTerm(a._title, t) ? 5 : 0) + (hasTerm(a._questions, t) ? 3 : 0) + (hasTerm(a._text, t) ? 1 : 0);
        if (s) matched++;
        score += s;
      });
      if (matched) scored.push({ a: a, score: score * matched / terms.length });
    });
    scored.sort(function (x, y) { return y.score - x.score; });
    return scored.slice(0, limit).map(function (s) { return s.a; });
  }

  /* Text with the query's words in <mark>, built from text nodes (never from HTML). */
  function highlighted(text, query) {
    var frag = document.createDocumentFragment();
    var words = query.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter(function (w) { return w.length > 1; });
    var lower = text.toLowerCase(), pos = 0;
    while (pos < text.length) {
      var best = -1, len = 0;
      words.forEach(function (w) {
        var i = lower.indexOf(w, pos);
        if (i !== -1 && (best === -1 || i < best)) { best = i; len = w.length; }
      });
      if (best === -1) break;
      frag.appendChild(document.createTextNode(text.slice(pos, best)));
      var mark = document.createElement("mark");
      mark.textContent = text.slice(best, best + len);
      frag.appendChild(mark);
      pos = best + len;
    }
    frag.appendChild(document.createTextNode(text.slice(pos)));
    return frag;
  }

  function excerpt(article, query) {
    var text = article.text, lower = text.toLowerCase();
    var first = query.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter(function (w) { return w.length > 1; })
      .map(function (w) { return lower.indexOf(w); }).filter(function (i) { return i >= 0; }).sort(function (a, b) { return a - b; })[0];
    if (first === undefined || first < 120) return text.slice(0, 220) + (text.length > 220 ? "…" : "");
    var start = text.lastIndexOf(" ", first - 60) + 1;
    return "…" + text.slice(start, start + 220) + (start + 220 < text.length ? "…" : "");
  }

  /* The API's snippet_html is escaped text with <mark>: keep only text and <mark>, to be sure. */
  function safeSnippet(html) {
    var tpl = document.createElement("template");
    tpl.innerHTML = html;
    var out = document.createDocumentFragment();
    (function walk(node, parent) {
      node.childNodes.forEach(function (child) {
        if (child.nodeType === 3) {
          parent.appendChild(document.createTextNode(child.textContent));
        } else if (child.nodeType === 1) {
          if (child.tagName === "MARK") {
            var mark = document.createElement("mark");
            walk(child, mark);
            parent.appendChild(mark);
          } else {
            walk(child, parent);
          }
        }
      });
    })(tpl.content, out);
    return out;
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

    function show(hits) {
      list.textContent = "";
      items = hits.slice(0, 6);
      if (!items.length) { close(); return; }
      items.forEach(function (hit, i) {
        var li = document.createElement("li");
        li.id = list.id + "-" + i;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        var title = document.createElement("span");
        title.textContent = hit.title;
        li.appendChild(title);
        labelEls(hit, li);
        li.addEventListener("mousedown", function (e) { e.preventDefault(); });
        li.addEventListener("click", function () { location.href = pageUrl(hit); });
        list.appendChild(li);
      });
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      active = -1;
    }

    function suggest(q) {
      var mine = ++seq;
      fetchJSON(apiUrl("/suggest", { q: q, lang: cfg.locale })).then(function (data) {
        return data.suggestions || data.hits || data;
      }).catch(function () {
        return loadIndex().then(function (articles) { return localSearch(articles, q, 6); });
      }).then(function (hits) {
        if (mine === seq && input.value.trim() === q) show(hits || []);
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
      else if (e.key === "Enter" && active >= 0) { e.preventDefault(); location.href = pageUrl(items[active]); }
    });
    input.addEventListener("blur", function () { setTimeout(close, 120); });
    form.addEventListener("submit", function (e) {
      if (!input.value.trim()) { e.preventDefault(); input.focus(); }
    });
  }

  /* ---- the results page ---- */
  function setupResults(results) {
    var params = new URLSearchParams(location.search);
    var q = (params.get("q") || "").trim().slice(0, 300);
    var status = document.getElementById("kb-search-status");
    document.querySelectorAll("form[data-kb-search] input[name=q]").forEach(function (i) { i.value = q; });
    if (!q) { status.textContent = S.enter_query; return; }
    var all = document.getElementById("kb-all-articles");
    if (all) all.hidden = true;
    document.title = fmt(S.results_for, { query: q }) + " · " + document.title;
    status.textContent = S.searching;

    /* Tell the API which result was opened (the content-gap report counts searches with none). */
    function reportClick(searchId, hit) {
      if (!searchId || !navigator.sendBeacon) return;
      var body = JSON.stringify({ search_id: searchId, article_id: hit.id });
      try { navigator.sendBeacon(cfg.api + "/click", new Blob([body], { type: "application/json" })); } catch (e) { /* best effort */ }
    }

    function render(hits, offline, searchId) {
      results.textContent = "";
      hits.forEach(function (hit) {
        var li = document.createElement("li");
        var a = document.createElement("a");
        a.className = "result-title";
        a.href = pageUrl(hit);
        a.textContent = hit.title;
        if (searchId) {
          a.addEventListener("click", function () { reportClick(searchId, hit); });
          a.addEventListener("auxclick", function () { reportClick(searchId, hit); });
        }
        if ((hit.lang || hit.locale) && (hit.lang || hit.locale) !== cfg.locale) a.lang = hit.lang || hit.locale;
        li.appendChild(a);
        var labels = document.createElement("span");
        labels.className = "labels";
        labelEls(hit, labels);
        if (labels.childNodes.length) li.appendChild(labels);
        var p = document.createElement("p");
        p.appendChild(offline ? highlighted(excerpt(hit, q), q) : safeSnippet(hit.snippet_html || ""));
        li.appendChild(p);
        results.appendChild(li);
      });
      var head = fmt(S.results_for, { query: q });
      status.textContent = hits.length ? head + (offline ? " · " + S.offline_search : "") : head + ": " + S.no_results;
    }

    fetchJSON(apiUrl("/search", { q: q, lang: cfg.locale, k: 10, track: "true" })).then(function (data) {
      render(data.hits || [], false, data.search_id);
    }).catch(function () {
      loadIndex().then(function (articles) {
        render(localSearch(articles, q, 10), true);
      }).catch(function () {
        status.textContent = S.no_results;
        if (all) all.hidden = false;
      });
    });
  }

  /* ---- "Was this helpful?" ---- */
  function setupFeedback(box) {
    box.hidden = false;
    var buttons = box.querySelectorAll("[data-helpful]");
    var reasonForm = box.querySelector(".feedback-reason");
    var status = box.querySelector(".feedback-status");

    function send(helpful, reason) {
      var body = { article_id: box.dataset.article, locale: box.dataset.locale, helpful: helpful };
      if (reason) body.reason = reason;
      buttons.forEach(function (b) { b.disabled = true; });
      return fetchJSON(cfg.api + "/feedback", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body)
      }).then(function () {
        box.querySelector(".feedback-buttons").hidden = true;
        reasonForm.hidden = true;
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
          send(true);
        } else {
          reasonForm.hidden = false;
          reasonForm.querySelector("textarea").focus();
        }
      });
    });
    reasonForm.addEventListener("submit", function (e) {
      e.preventDefault();
      send(false, reasonForm.querySelector("textarea").value.trim());
    });
  }

  /* ---- the root page: go to the visitor's language ---- */
  function setupRoot(root) {
    var links = {};
    root.querySelectorAll("a[hreflang]").forEach(function (a) { links[a.getAttribute("hreflang").toLowerCase()] = a.href; });
    var prefs = navigator.languages || [navigator.language || ""];
    for (var i = 0; i < prefs.length; i++) {
      var tag = (prefs[i] || "").toLowerCase();
      var target = links[tag] || links[tag.split("-")[0]];
      if (target) { location.replace(target); return; }
    }
  }

  function closeLanguageMenu() {
    document.querySelectorAll(".lang-switch details[open]").forEach(function (d) { d.open = false; });
  }

  document.querySelectorAll("form[data-kb-search]").forEach(setupCombobox);
  var results = document.getElementById("kb-results");
  if (results) setupResults(results);
  var feedback = document.querySelector("[data-kb-feedback]");
  if (feedback) setupFeedback(feedback);
  var root = document.querySelector("[data-kb-root]");
  if (root) setupRoot(root);
  document.addEventListener("click", function (e) { if (!e.target.closest(".lang-switch")) closeLanguageMenu(); });
  document.addEventListener("keydown", function (e) { if (e.key === "Escape") closeLanguageMenu(); });
})();
