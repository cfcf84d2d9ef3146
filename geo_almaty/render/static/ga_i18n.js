/* geo_almaty pages: the ru/kk/en switch, kept across pages (URL ?lang= and localStorage).
 * Every translatable text is in the page three times (<span class="t t-ru">…); CSS shows the spans of
 * <html data-lang>. Attributes (title, aria-label, alt) and document.title come from GA.messages / GA.titles.
 * Other scripts register GA.onLanguage(fn) to relabel what they drew. */
(function () {
  'use strict';
  var GA = window.GA = window.GA || {};
  var LANGS = ['ru', 'kk', 'en'];
  var KEY = 'geo_almaty.lang';
  GA.messages = GA.messages || {};
  GA.titles = GA.titles || null;
  GA.lang = document.documentElement.getAttribute('data-lang') || 'ru';
  var hooks = [];

  GA.msg = function (id, lang) {
    var entry = GA.messages[id];
    if (!entry) { return id; }
    return entry[lang || GA.lang] || entry.en || id;
  };
  GA.onLanguage = function (fn) { hooks.push(fn); fn(GA.lang); };

  function storedLanguage() {
    try { return window.localStorage.getItem(KEY); } catch (e) { return null; }
  }
  function urlLanguage() {
    var m = /[?&]lang=([a-z]{2})\b/.exec(window.location.search);
    return m ? m[1] : null;
  }
  function withLang(href, lang) {
    if (!href || /^(?:[a-z]+:|#|\/\/)/i.test(href)) { return href; }   // external, data: or fragment links stay
    var hash = '', i = href.indexOf('#');
    if (i >= 0) { hash = href.slice(i); href = href.slice(0, i); }
    href = href.replace(/([?&])lang=[a-z]{2}&?/, '$1').replace(/[?&]$/, '');
    return href + (href.indexOf('?') >= 0 ? '&' : '?') + 'lang=' + lang + hash;
  }
  GA.withLang = withLang;

  GA.setLanguage = function (lang, persist) {
    if (LANGS.indexOf(lang) < 0) { return; }
    GA.lang = lang;
    var root = document.documentElement;
    root.setAttribute('data-lang', lang);
    root.setAttribute('lang', lang);
    document.querySelectorAll('[data-set-lang]').forEach(function (b) {
      var on = b.getAttribute('data-set-lang') === lang;
      b.classList.toggle('ga-active', on);
      b.setAttribute('aria-pressed', on ? 'true' : 'false');
    });
    if (GA.titles && GA.titles[lang]) { document.title = GA.titles[lang]; }
    document.querySelectorAll('[data-i18n-title]').forEach(function (el) {
      var text = GA.msg(el.getAttribute('data-i18n-title'), lang);
      el.setAttribute('title', text);
      el.setAttribute('aria-label', text);
    });
    document.querySelectorAll('a[data-keep-lang]').forEach(function (a) {
      a.setAttribute('href', withLang(a.getAttribute('href'), lang));
    });
    if (persist) {
      try { window.localStorage.setItem(KEY, lang); } catch (e) { /* storage may be disabled */ }
      try {
        var url = withLang(window.location.pathname.split('/').pop() + window.location.search, lang) + window.location.hash;
        window.history.replaceState(null, '', url);
      } catch (e) { /* file: URLs may refuse; the links and storage still carry the choice */ }
    }
    hooks.forEach(function (fn) { fn(lang); });
  };

  document.addEventListener('click', function (e) {
    var b = e.target.closest ? e.target.closest('[data-set-lang]') : null;
    if (b) { GA.setLanguage(b.getAttribute('data-set-lang'), true); }
  });
  /* Call once the page's elements exist: the language of the URL, else the one chosen last, else the page's. */
  GA.startLanguage = function () {
    var initial = urlLanguage();
    if (LANGS.indexOf(initial) < 0) { initial = storedLanguage(); }
    if (LANGS.indexOf(initial) < 0) { initial = GA.lang; }
    GA.setLanguage(initial, false);
  };
}());
