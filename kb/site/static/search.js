/* kb help center: the search results page. It honours the search's decision: answer lists the
   results (count, topic, matched section, snippet, a topic filter); clarify offers them as choices
   with the contact below; handoff says no article matches, with the contact and popular articles.
   The API decides; when it cannot be reached, the local index does (site.js, localDecide). */
(function () {
  "use strict";
  var KB = window.KB;
  var results = document.getElementById("kb-results");
  if (!KB || !results) return;
  var cfg = KB.cfg, S = KB.S;
  var MAX_CHOICES = 5;

  var params = new URLSearchParams(location.search);
  var q = (params.get("q") || "").trim().slice(0, 300);
  var status = document.getElementById("kb-search-status");
  var filter = document.getElementById("kb-filter");
  var clarifyTitle = document.getElementById("kb-clarify-title");
  var help = document.getElementById("kb-help");
  var all = document.getElementById("kb-all-articles");
  document.querySelectorAll("form[data-kb-search] input[name=q]").forEach(function (i) { i.value = q; });
  if (!q) { status.textContent = S.enter_query; return; }
  if (all) all.hidden = true;
  document.title = KB.fmt(S.results_for, { query: q }) + " · " + document.title;
  status.textContent = S.searching;

  function counted(n) {
    var template = (cfg.counts || [])[n];
    return template ? KB.fmt(template, { count: n, query: q }) : KB.fmt(S.results_for, { query: q });
  }

  /* Tell the API which result was opened (the content-gap report counts searches with none). */
  function reportClick(searchId, hit) {
    if (!searchId || !navigator.sendBeacon) return;
    var body = JSON.stringify({ search_id: searchId, article_id: hit.id });
    /* the article page sends it back with "helpful" (a resolved search: kb questions) */
    try { sessionStorage.setItem("kb-from-search:" + hit.id, searchId); } catch (e) { /* storage off */ }
    try { navigator.sendBeacon(cfg.api + "/click", new Blob([body], { type: "application/json" })); } catch (e) { /* best effort */ }
  }

  /* Text with the query's words in <mark>, built from text nodes (never from HTML). */
  function highlighted(text) {
    var frag = document.createDocumentFragment();
    var words = KB.queryWords(q);
    var lower = text.toLowerCase(), pos = 0;
    while (pos < text.length) {
      var best = -1, len = 0;
      words.forEach(function (w) {
        var i = lower.indexOf(w, pos);
        if (i !== -1 && (best === -1 || i < best)) { best = i; len = w.length; }
      });
      if (best === -1) break;
      /* never part a letter from its combining marks (Thai, Devanagari, Arabic) */
      while (best > pos && /\p{M}/u.test(text.charAt(best))) { best--; len++; }
      while (best + len < text.length && /\p{M}/u.test(text.charAt(best + len))) len++;
      frag.appendChild(document.createTextNode(text.slice(pos, best)));
      var mark = document.createElement("mark");
      mark.textContent = text.slice(best, best + len);
      frag.appendChild(mark);
      pos = best + len;
    }
    frag.appendChild(document.createTextNode(text.slice(pos)));
    return frag;
  }

  /* A place to cut `text` at or before `i` that parts no letter from its marks nor a surrogate pair. */
  function cutAt(text, i) {
    while (i > 0 && i < text.length && /[\p{M}\udc00-\udfff]/u.test(text.charAt(i))) i--;
    return i;
  }

  function excerpt(article) {
    var text = article.text, lower = text.toLowerCase();
    var first = KB.queryWords(q)
      .map(function (w) { return lower.indexOf(w); }).filter(function (i) { return i >= 0; }).sort(function (a, b) { return a - b; })[0];
    if (first === undefined || first < 120) {
      var head = cutAt(text, Math.min(220, text.length));
      return text.slice(0, head) + (head < text.length ? "…" : "");
    }
    var space = text.lastIndexOf(" ", first - 60);
    /* text without spaces (Chinese, Thai): start 60 characters before the word */
    var start = space >= 0 && first - space <= 120 ? space + 1 : cutAt(text, first - 60);
    var end = cutAt(text, Math.min(start + 220, text.length));
    return "…" + text.slice(start, end) + (end < text.length ? "…" : "");
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

  function categoryKey(hit) { return hit.category_key || hit.category || ""; }
  function categoryTitle(hit) {
    return hit.category_key ? hit.category : (cfg.categories || {})[hit.category] || hit.category || "";
  }

  function resultItem(hit, offline, searchId) {
    var li = document.createElement("li");
    li.setAttribute("data-category", categoryKey(hit));
    var a = document.createElement("a");
    a.className = "result-title";
    a.href = KB.pageUrl(hit);
    a.textContent = hit.title;
    if (searchId) {
      a.addEventListener("click", function () { reportClick(searchId, hit); });
      a.addEventListener("auxclick", function () { reportClick(searchId, hit); });
    }
    var lang = hit.lang || hit.locale;
    if (lang && lang !== cfg.locale) a.lang = lang;
    li.appendChild(a);
    var labels = document.createElement("span");
    labels.className = "labels";
    KB.labelEls(hit, labels);
    if (labels.childNodes.length) li.appendChild(labels);
    var meta = document.createElement("p");
    meta.className = "result-meta";
    var topic = document.createElement("span");
    topic.className = "result-category";
    topic.textContent = categoryTitle(hit);
    meta.appendChild(topic);
    li.appendChild(meta);
    var heading = hit.section || hit.heading;
    if (heading) addSection(li, heading);
    else if (hit.anchor) li.setAttribute("data-anchor", hit.anchor);
    var p = document.createElement("p");
    p.className = "snippet";
    p.appendChild(offline ? highlighted(excerpt(hit)) : safeSnippet(hit.snippet_html || ""));
    if (lang && lang !== cfg.locale) p.lang = lang;
    li.appendChild(p);
    return li;
  }

  function addSection(li, heading) {
    var meta = li.querySelector(".result-meta");
    var section = document.createElement("span");
    section.className = "result-section";
    section.textContent = heading;
    meta.appendChild(section);
  }

  /* The matched section's heading, from the local index, for results that name only its anchor. */
  function nameSections() {
    var open = results.querySelectorAll("li[data-anchor]");
    if (!open.length) return;
    KB.loadIndex().then(function (articles) {
      var byId = {};
      articles.forEach(function (a) { byId[a.id] = a; });
      open.forEach(function (li) {
        var link = li.querySelector("a.result-title");
        var id = link.pathname.split("/").filter(Boolean).pop();
        var heading = byId[id] && byId[id].sections && byId[id].sections[li.getAttribute("data-anchor")];
        if (heading) addSection(li, heading);
      });
    }).catch(function () { /* the anchor still leads there */ });
  }

  function showOnly(key, count) {
    results.querySelectorAll("li").forEach(function (li) {
      li.hidden = !!key && li.getAttribute("data-category") !== key;
    });
    status.textContent = counted(count);
  }

  /* A button per topic of the results, when they span several. */
  function buildFilter(hits) {
    filter.textContent = "";
    var counts = {}, order = [];
    hits.forEach(function (hit) {
      var key = categoryKey(hit);
      if (!(key in counts)) { counts[key] = 0; order.push({ key: key, title: categoryTitle(hit) }); }
      counts[key]++;
    });
    if (order.length < 2) { filter.hidden = true; return; }
    var buttons = [];
    function add(key, title, n) {
      var b = document.createElement("button");
      b.type = "button";
      b.textContent = title + " (" + n + ")";
      b.setAttribute("aria-pressed", key === "" ? "true" : "false");
      b.addEventListener("click", function () {
        buttons.forEach(function (other) { other.setAttribute("aria-pressed", other === b ? "true" : "false"); });
        showOnly(key, n);
      });
      buttons.push(b);
      filter.appendChild(b);
    }
    add("", S.all_topics, hits.length);
    order.forEach(function (c) { add(c.key, c.title, counts[c.key]); });
    filter.hidden = false;
  }

  function showHelp(decision) {
    if (!help) return;
    help.hidden = false;
    help.querySelectorAll("[data-when]").forEach(function (el) { el.hidden = el.getAttribute("data-when") !== decision; });
    if (decision === "handoff") {
      document.getElementById("kb-help-title").textContent = KB.fmt(S.no_match, { query: q });
      var popular = help.querySelector("[data-kb-popular]");
      if (popular && !offlineShown) KB.refreshPopular(popular);
    }
  }

  var offlineShown = false;
  function render(decision, hits, offline, searchId) {
    offlineShown = offline;
    results.textContent = "";
    if (!hits.length) decision = "handoff";
    if (decision === "handoff") hits = [];
    if (decision === "clarify") hits = hits.slice(0, MAX_CHOICES);
    hits.forEach(function (hit) { results.appendChild(resultItem(hit, offline, searchId)); });
    clarifyTitle.hidden = decision !== "clarify";
    if (decision === "answer") buildFilter(hits);
    if (decision === "handoff") {
      status.textContent = KB.fmt(S.no_match, { query: q });
      status.classList.add("visually-hidden");  /* the heading below says it */
    } else {
      status.textContent = counted(hits.length) + (offline ? " · " + S.offline_search : "");
    }
    if (decision !== "answer") showHelp(decision);
    nameSections();
  }

  KB.fetchJSON(KB.apiUrl("/search", { q: q, lang: cfg.locale, k: 10, track: "true" })).then(function (data) {
    render(data.decision || "answer", data.hits || [], false, data.search_id);
  }).catch(function () {
    KB.loadIndex().then(function (articles) {
      var found = KB.localDecide(articles, q, 10);
      render(found.decision, found.hits, true);
    }).catch(function () {
      status.textContent = S.no_results;
      if (all) all.hidden = false;
    });
  });
})();
