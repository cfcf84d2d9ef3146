/* geo_almaty map shell: phone-first layout, legend that follows the visible layers, site lists, offline labels.
 *
 * Desktop (> 640 px): the panel (#ga-sheet) is a sidebar beside the map; Leaflet popups stay inside the free
 * part of the map (clear of every control). Phone: the panel is a bottom sheet (collapsed to its head), the
 * map ends above it, and a popup opens as a sheet of its own (#ga-info) above every control.
 * Python (geo_almaty.render.shell) writes the panel's HTML and calls GA.initMap(map, config) last.
 */
(function () {
  'use strict';
  var GA = window.GA = window.GA || {};
  var PIN_H = 41, PIN_HALF_W = 13, EDGE = 10;
  var phoneQuery = window.matchMedia('(max-width: 640px)');
  GA.layers = GA.layers || {};
  GA.sites = GA.sites || {};
  GA.isPhone = function () { return phoneQuery.matches; };
  GA.registerLayer = function (key, layer) { GA.layers[key] = layer; };
  GA.registerSite = function (facility, rank, marker, titles) {
    (GA.sites[facility] = GA.sites[facility] || [])[rank - 1] = marker;
    marker._gaTitles = titles;
  };

  function each(list, fn) { Array.prototype.forEach.call(list, fn); }
  function visible(el) { return !!(el && el.offsetParent !== null && !el.hidden); }

  GA.initMap = function (map, config) {
    GA.map = map;
    GA.config = config;
    var root = document.documentElement;
    var sheet = document.getElementById('ga-sheet');
    var info = document.getElementById('ga-info');
    var infoBody = info.querySelector('.ga-info-body');
    var toggle = sheet.querySelector('.ga-sheet-toggle');
    var current = null;   // the popup shown in the phone sheet

    /* --- layout --------------------------------------------------------------------------------- */
    function setOpen(open) {
      sheet.classList.toggle('ga-open', open);
      toggle.setAttribute('aria-expanded', open ? 'true' : 'false');
      if (open && GA.isPhone()) { collapseLayerList(); }
      layout();
    }
    GA.setPanelOpen = setOpen;
    function layout() {
      var phone = GA.isPhone();
      root.classList.toggle('ga-phone', phone);
      if (phone) {
        var head = sheet.querySelector('.ga-sheet-head'), quick = sheet.querySelector('.ga-sheet-quick');
        root.style.setProperty('--ga-map-left', '0px');
        root.style.setProperty('--ga-map-bottom', (head.offsetHeight + (quick ? quick.offsetHeight : 0)) + 'px');
      } else {
        root.style.setProperty('--ga-map-left', sheet.offsetWidth + 'px');
        root.style.setProperty('--ga-map-bottom', '0px');
      }
      map.invalidateSize({pan: false});
    }
    GA.layout = layout;
    toggle.addEventListener('click', function () { setOpen(!sheet.classList.contains('ga-open')); });

    /* The free part of the map: what the corner controls and the phone sheets leave (px from the edges). */
    GA.padding = function () {
      var c = map.getContainer().getBoundingClientRect(), top = 0, bottom = 0;
      ['topleft', 'topright'].forEach(function (k) {
        each(map._controlCorners[k].children, function (el) {
          if (!visible(el)) { return; }
          var r = el.getBoundingClientRect();
          var edge = el.classList.contains('leaflet-control-layers-expanded') ? r.top + 44 : r.bottom;
          top = Math.max(top, edge - c.top);
        });
      });
      ['bottomleft', 'bottomright'].forEach(function (k) {
        each(map._controlCorners[k].children, function (el) {
          if (visible(el)) { bottom = Math.max(bottom, c.bottom - el.getBoundingClientRect().top); }
        });
      });
      if (GA.isPhone()) {
        [sheet, info].forEach(function (el) {
          if (visible(el)) { bottom = Math.max(bottom, c.bottom - el.getBoundingClientRect().top); }
        });
      }
      return {top: Math.max(0, top), bottom: Math.max(0, bottom)};
    };
    /* Fit bounds so that every pin (drawn above its point) lies in the free part of the map. */
    GA.fit = function (bounds, maxZoom) {
      var p = GA.padding();
      map.fitBounds(bounds, {paddingTopLeft: [PIN_HALF_W + EDGE, p.top + PIN_H + EDGE],
                             paddingBottomRight: [PIN_HALF_W + EDGE, p.bottom + EDGE],
                             maxZoom: maxZoom || config.max_fit_zoom || 15, animate: false});
    };

    /* --- popups: inside the free area on desktop, a sheet above everything on phones -------------- */
    var origLayout = L.Popup.prototype._updateLayout, origPan = L.Popup.prototype._adjustPan;
    L.Popup.include({
      _updateLayout: function () {
        if (this._map === map) {
          if (!this._gaMax) { this._gaMax = {w: this.options.maxWidth, h: this.options.maxHeight}; }
          var size = map.getSize(), p = GA.padding();
          this.options.maxWidth = Math.max(200, Math.min(this._gaMax.w || 300, size.x - 2 * EDGE - 48));
          this.options.maxHeight = Math.max(120, Math.min(this._gaMax.h || 1e6, size.y - p.top - p.bottom - 2 * EDGE - 64));
          this.options.autoPanPaddingTopLeft = L.point(EDGE, p.top + EDGE);
          this.options.autoPanPaddingBottomRight = L.point(EDGE, p.bottom + EDGE);
        }
        return origLayout.apply(this, arguments);
      },
      _adjustPan: function () {
        if (this._map === map && GA.isPhone()) { return; }
        return origPan.apply(this, arguments);
      }
    });
    function labelPopupClose() {
      each(map.getContainer().querySelectorAll('.leaflet-popup-close-button'), function (a) { label(a, 'close'); });
    }
    map.on('popupopen', function (e) {
      labelPopupClose();
      if (!GA.isPhone()) { return; }
      current = e.popup;
      var content = e.popup.getContent();
      if (typeof content === 'function') { content = content(e.popup._source); }
      infoBody.innerHTML = '';
      if (typeof content === 'string') { infoBody.innerHTML = content; } else if (content) { infoBody.appendChild(content.cloneNode(true)); }
      sheet.classList.remove('ga-open');
      toggle.setAttribute('aria-expanded', 'false');
      info.hidden = false;
      infoBody.scrollTop = 0;
      var c = map.getContainer().getBoundingClientRect(), r = info.getBoundingClientRect(), p = GA.padding();
      map.panInside(e.popup.getLatLng(), {paddingTopLeft: [PIN_HALF_W + EDGE, p.top + PIN_H + EDGE],
                                          paddingBottomRight: [PIN_HALF_W + EDGE, Math.max(0, c.bottom - r.top) + EDGE], animate: false});
    });
    map.on('popupclose', function (e) {
      if (e.popup === current) { info.hidden = true; current = null; infoBody.innerHTML = ''; }
    });
    info.querySelector('.ga-info-close').addEventListener('click', function () { map.closePopup(); });
    document.addEventListener('keydown', function (e) { if (e.key === 'Escape' && current) { map.closePopup(); } });

    /* --- the layer list and the panel never cover each other on a phone --------------------------- */
    function layerControl() { return map.getContainer().querySelector('.leaflet-control-layers'); }
    function collapseLayerList() {
      var lc = layerControl();
      if (lc) { lc.classList.remove('leaflet-control-layers-expanded'); }
    }
    var lc = layerControl();
    if (lc && window.MutationObserver) {
      new MutationObserver(function () {
        if (lc.classList.contains('leaflet-control-layers-expanded') && GA.isPhone() && sheet.classList.contains('ga-open')) {
          sheet.classList.remove('ga-open');
          toggle.setAttribute('aria-expanded', 'false');
        }
      }).observe(lc, {attributes: true, attributeFilter: ['class']});
    }

    /* --- legend: only the sections of layers on the map ------------------------------------------- */
    var pending = false;
    function syncLegend() {
      pending = false;
      each(sheet.querySelectorAll('[data-legend-key]'), function (el) {
        var layer = GA.layers[el.getAttribute('data-legend-key')];
        el.hidden = !(layer && map.hasLayer(layer));
      });
      var any = false;
      each(sheet.querySelectorAll('.ga-legend-group'), function (g) {
        g.hidden = !g.querySelector('[data-legend-key]:not([hidden])');
        any = any || !g.hidden;
      });
      var empty = sheet.querySelector('.ga-legend-empty');
      if (empty) { empty.hidden = any; }
      sheet.setAttribute('data-legend-synced', '1');
    }
    GA.syncLegend = syncLegend;
    map.on('layeradd layerremove', function () {
      if (!pending) { pending = true; setTimeout(syncLegend, 0); }
    });

    /* --- facilities and ranked sites -------------------------------------------------------------- */
    function siteBounds(facility) {
      var ms = (GA.sites[facility] || []).filter(Boolean);
      return ms.length ? L.latLngBounds(ms.map(function (m) { return m.getLatLng(); })) : null;
    }
    GA.showFacility = function (facility, fit) {
      if (config.exclusive_facilities) {
        Object.keys(GA.sites).forEach(function (f) {
          var g = GA.layers['sites:' + f];
          if (g) { if (f === facility) { map.addLayer(g); } else { map.removeLayer(g); } }
        });
      } else {
        var g = GA.layers['sites:' + facility];
        if (g && !map.hasLayer(g)) { map.addLayer(g); }
      }
      GA.activeFacility = facility;
      each(document.querySelectorAll('[data-facility]'), function (b) {
        var on = b.getAttribute('data-facility') === facility;
        b.classList.toggle('ga-active', on);
        b.setAttribute('aria-pressed', on ? 'true' : 'false');
      });
      var bounds = siteBounds(facility);
      if (fit !== false && bounds) {
        if (GA.isPhone()) { sheet.classList.remove('ga-open'); toggle.setAttribute('aria-expanded', 'false'); }
        map.closePopup();
        GA.fit(bounds);
      }
    };
    GA.zoomToSite = function (facility, rank) {
      var m = (GA.sites[facility] || [])[rank - 1];
      if (!m) { return; }
      var g = GA.layers['sites:' + facility];
      if (g && !map.hasLayer(g)) { map.addLayer(g); }
      if (GA.isPhone()) { setOpen(false); }
      map.closePopup();
      map.setView(m.getLatLng(), Math.max(map.getZoom(), config.site_zoom || 14), {animate: false});
      m.openPopup();
    };
    sheet.addEventListener('click', function (e) {
      var b = e.target.closest('[data-facility],[data-site-rank],[data-fit-facility]');
      if (!b) { return; }
      if (b.hasAttribute('data-site-rank')) {
        GA.zoomToSite(b.getAttribute('data-site-facility'), parseInt(b.getAttribute('data-site-rank'), 10));
      } else if (b.hasAttribute('data-fit-facility')) {
        GA.showFacility(b.getAttribute('data-fit-facility'));
      } else {
        GA.showFacility(b.getAttribute('data-facility'));
      }
    });

    /* --- translated control titles, pin titles and a metric scale --------------------------------- */
    function label(el, id) {
      if (!el) { return; }
      el.title = GA.msg(id);
      el.setAttribute('aria-label', GA.msg(id));
    }
    var Scale = L.Control.Scale.extend({
      _updateMetric: function (maxMeters) {
        var meters = this._getRoundNum(maxMeters);
        var text = meters < 1000 ? meters + '\u00a0' + GA.msg('unit_m') : (meters / 1000) + '\u00a0' + GA.msg('unit_km');
        this._updateScale(this._mScale, text, meters / maxMeters);
      }
    });
    var scale = config.scale ? new Scale({metric: true, imperial: false, position: 'bottomleft', maxWidth: 120}).addTo(map) : null;
    GA.onLanguage(function (lang) {
      if (map.zoomControl) { label(map.zoomControl._zoomInButton, 'zoom_in'); label(map.zoomControl._zoomOutButton, 'zoom_out'); }
      var fs = map.fullscreenControl;
      if (fs && fs.link) {
        fs.options.title = GA.msg('fullscreen');
        fs.options.titleCancel = GA.msg('exit_fullscreen');
        label(fs.link, map._isFullscreen ? 'exit_fullscreen' : 'fullscreen');
      }
      each(map.getContainer().querySelectorAll('.leaflet-control-layers-toggle'), function (a) { label(a, 'layers'); });
      Object.keys(GA.sites).forEach(function (f) {
        GA.sites[f].forEach(function (m) {
          var t = m && m._gaTitles && m._gaTitles[lang];
          if (t) {
            m.options.title = m.options.alt = t;
            if (m._icon) { m._icon.title = t; m._icon.alt = t; }
          }
        });
      });
      if (scale) { scale._update(); }
      labelPopupClose();
      if (GA.updateLabels) { GA.updateLabels(); }
    });
    map.on('layeradd', function (e) {   // markers created later (a group switched on) get the current language
      var m = e.layer, t = m && m._gaTitles && m._gaTitles[GA.lang];
      if (t && m._icon) { m._icon.title = t; m._icon.alt = t; }
    });

    /* --- start ------------------------------------------------------------------------------------ */
    if (phoneQuery.addEventListener) { phoneQuery.addEventListener('change', function () { setOpen(!GA.isPhone()); }); }
    window.addEventListener('resize', function () { layout(); });
    sheet.classList.toggle('ga-open', !GA.isPhone());
    toggle.setAttribute('aria-expanded', GA.isPhone() ? 'false' : 'true');
    layout();
    syncLegend();
    if (config.why) { GA.addWhyNotHere(map, config.why); }
    var first = config.facilities && config.facilities[0];
    if (config.exclusive_facilities && first) {
      GA.showFacility(first);
    } else {
      GA.fit(L.latLngBounds(config.home));
    }
    root.setAttribute('data-ga-ready', '1');
  };

  /* Offline labels (districts, settlements, rivers, roads): shown from their zoom on, decluttered by priority. */
  GA.addLabels = function (map, group, labels) {
    if (!map.getPane('gaLabels')) {
      var pane = map.createPane('gaLabels');
      pane.style.zIndex = 450;
      pane.style.pointerEvents = 'none';
    }
    var layer = L.layerGroup().addTo(group);
    var items = labels.map(function (l) {
      var html = '<span class="ga-label-text" style="transform:translate(-50%,-50%) rotate(' + (l.a || 0) + 'deg)">' + l.html + '</span>';
      return {spec: l, marker: L.marker([l.lat, l.lon], {pane: 'gaLabels', interactive: false, keyboard: false,
        icon: L.divIcon({className: 'ga-label ' + l.cls, html: html, iconSize: [0, 0]})})};
    }).sort(function (a, b) { return a.spec.p - b.spec.p; });
    function overlaps(a, b) { return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom; }
    function update() {
      if (!map.hasLayer(group)) { return; }
      var z = map.getZoom(), shown = [], placed = [];
      items.forEach(function (it) {   // writes first ...
        if (z < it.spec.z) {
          if (layer.hasLayer(it.marker)) { layer.removeLayer(it.marker); }
          return;
        }
        if (!layer.hasLayer(it.marker)) { layer.addLayer(it.marker); }
        it.marker._icon.firstChild.style.visibility = '';
        shown.push(it);
      });
      var boxes = shown.map(function (it) { return it.marker._icon.firstChild.getBoundingClientRect(); });   // ... one layout ...
      shown.forEach(function (it, i) {   // ... then hide what would overlap a more important label
        if (placed.some(function (q) { return overlaps(q, boxes[i]); })) { it.marker._icon.firstChild.style.visibility = 'hidden'; } else { placed.push(boxes[i]); }
      });
    }
    map.on('zoomend', update);
    group.on('add', function () { setTimeout(update, 0); });
    var previous = GA.updateLabels;
    GA.updateLabels = function () { if (previous) { previous(); } update(); };
    update();
  };

  /* A small measuring tool: distance along the tapped points and, from three points on, the area they enclose. */
  GA.addMeasure = function (map) {
    var R = 6378137, points = [], line = null, poly = null, active = false;
    var ctl = L.control({position: 'topleft'});
    var box, button, panel, distance, area;
    function fmt(value, digits) {
      return value.toFixed(digits).replace(/\B(?=(\d{3})+(?!\d))/g, '\u202f').replace('.', GA.msg('decimal_mark'));
    }
    function lengthText(m) { return m < 1000 ? fmt(m, 0) + '\u00a0' + GA.msg('unit_m') : fmt(m / 1000, m < 10000 ? 2 : 1) + '\u00a0' + GA.msg('unit_km'); }
    function areaText(m2) { return m2 < 1e6 * 100 ? fmt(m2 / 1e4, m2 < 1e5 ? 2 : 1) + '\u00a0' + GA.msg('unit_ha') : fmt(m2 / 1e6, 1) + '\u00a0' + GA.msg('unit_km2'); }
    function geodesicArea(ll) {   // spherical polygon area (m²)
      var a = 0, d = Math.PI / 180;
      for (var i = 0; i < ll.length; i++) {
        var p = ll[i], q = ll[(i + 1) % ll.length];
        a += (q.lng - p.lng) * d * (2 + Math.sin(p.lat * d) + Math.sin(q.lat * d));
      }
      return Math.abs(a * R * R / 2);
    }
    function render() {
      var total = 0;
      for (var i = 1; i < points.length; i++) { total += map.distance(points[i - 1], points[i]); }
      distance.textContent = points.length > 1 ? GA.msg('measure_distance') + ': ' + lengthText(total) : GA.msg('measure_hint');
      area.textContent = points.length > 2 ? GA.msg('measure_area') + ': ' + areaText(geodesicArea(points)) : '';
      if (line) { line.setLatLngs(points); }
      if (poly) { poly.setLatLngs(points.length > 2 ? points : []); }
    }
    function onClick(e) { points.push(e.latlng); render(); }
    function start() {
      active = true; points = [];
      line = L.polyline([], {color: '#111111', weight: 2, dashArray: '5 4', interactive: false}).addTo(map);
      poly = L.polygon([], {color: '#111111', weight: 0, fillOpacity: 0.12, interactive: false}).addTo(map);
      map.getContainer().classList.add('ga-measuring');
      map.closePopup();
      map.on('click', onClick);
      panel.hidden = false; button.classList.add('ga-active'); render();
    }
    function stop() {
      active = false;
      map.off('click', onClick);
      if (line) { map.removeLayer(line); map.removeLayer(poly); line = poly = null; }
      map.getContainer().classList.remove('ga-measuring');
      panel.hidden = true; button.classList.remove('ga-active');
    }
    ctl.onAdd = function () {
      box = L.DomUtil.create('div', 'leaflet-bar ga-measure');
      button = L.DomUtil.create('a', 'ga-measure-button', box);
      button.href = '#';
      button.setAttribute('role', 'button');
      button.setAttribute('data-i18n-title', 'measure');
      button.innerHTML = '<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true"><path d="M3 17 17 3l4 4L7 21z" fill="none" stroke="currentColor" stroke-width="1.8"/><path d="M7 13l2 2M10 10l2 2M13 7l2 2" stroke="currentColor" stroke-width="1.8"/></svg>';
      panel = L.DomUtil.create('div', 'ga-measure-panel', box);
      panel.hidden = true;
      distance = L.DomUtil.create('div', 'ga-measure-distance', panel);
      area = L.DomUtil.create('div', 'ga-measure-area', panel);
      var clear = L.DomUtil.create('button', 'ga-measure-clear', panel), done = L.DomUtil.create('button', 'ga-measure-done', panel);
      clear.type = done.type = 'button';
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.on(button, 'click', function (e) { L.DomEvent.preventDefault(e); if (active) { stop(); } else { start(); } });
      L.DomEvent.on(clear, 'click', function () { points = []; render(); });
      L.DomEvent.on(done, 'click', stop);
      GA.onLanguage(function () {
        button.title = GA.msg('measure'); button.setAttribute('aria-label', GA.msg('measure'));
        clear.textContent = GA.msg('measure_clear'); done.textContent = GA.msg('measure_finish');
        if (active) { render(); }
      });
      return box;
    };
    ctl.addTo(map);
    return ctl;
  };

  /* "Why not here": a tap on a facility's suitability surface lists the siting rules that catch the tapped
   * cell, read from the surface's rule-bit PNG (bits 0-22 rules, bit 23 "a candidate is here"; see
   * geo_almaty/render/why.py). Taps on features, and taps while measuring, are left to them. */
  GA.addWhyNotHere = function (map, entries) {
    var P = L.Projection.SphericalMercator;
    entries.forEach(function (entry) {
      var img = new Image();
      img.onload = function () {
        var canvas = document.createElement('canvas');
        canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
        entry.ctx = canvas.getContext('2d', {willReadFrequently: true});
        entry.ctx.drawImage(img, 0, 0);
      };
      img.src = entry.image;
    });
    function code(entry, latlng) {
      if (!entry.ctx) { return null; }
      var w = entry.ctx.canvas.width, h = entry.ctx.canvas.height;
      var sw = P.project(L.latLng(entry.bounds[0])), ne = P.project(L.latLng(entry.bounds[1])), p = P.project(latlng);
      var col = Math.floor((p.x - sw.x) / (ne.x - sw.x) * w), row = Math.floor((ne.y - p.y) / (ne.y - sw.y) * h);
      if (col < 0 || row < 0 || col >= w || row >= h) { return 0; }
      var d = entry.ctx.getImageData(col, row, 1, 1).data;
      return d[0] | (d[1] << 8) | (d[2] << 16);
    }
    GA.whyNotHere = function (latlng) {
      return entries.map(function (entry, i) {
        var layer = GA.layers[entry.surface], c = layer && map.hasLayer(layer) ? code(entry, latlng) : null;
        if (c === null) { return ''; }
        var body;
        if (!(c & (1 << entry.candidate_bit))) {
          body = '<p>' + entry.no_candidate + '</p>';
        } else {
          var items = entry.rules.filter(function (r, j) { return c & (1 << j); });
          body = items.length ? '<ul class="ga-why-list"><li>' + items.join('</li><li>') + '</li></ul>' : '<p>' + entry.no_rule + '</p>';
        }
        return '<div class="ga-why" data-why-index="' + i + '"><b>' + entry.title + '</b>' + body + '</div>';
      }).join('');
    };
    map.on('click', function (e) {
      var target = e.originalEvent && e.originalEvent.target;
      if (map.getContainer().classList.contains('ga-measuring') ||
          (target && target.classList && target.classList.contains('leaflet-interactive'))) { return; }
      var html = GA.whyNotHere(e.latlng);
      if (html) { L.popup({maxWidth: 340}).setLatLng(e.latlng).setContent(html).openOn(map); }
    });
  };

  /* Show the minimap only once its tiles load (offline it would be an empty box). */
  GA.minimapWhenTiles = function (minimap) {
    var el = minimap._container, tiles = minimap._layer;
    if (!el || !tiles) { return; }
    el.classList.add('ga-no-tiles');
    tiles.once('tileload', function () { el.classList.remove('ga-no-tiles'); });
  };
}());
