/**
 * Browser code (plain ES2019, no modules) that draws a machine graph as SVG: a layered layout
 * (longest path from the initial state after breaking cycles), states as boxes, transitions between
 * adjacent layers as short curves, longer forward ones along lanes on the left and backward ones
 * along lanes on the right, each entering its target from above. The current state is filled, the
 * transitions leaving it are drawn in the accent colour, and the transition last taken is drawn
 * dashed with its label.
 *
 * Kept as a string so the page stays one self-contained file with no external assets; the
 * dashboard's tests parse it and run it in a real browser. No backticks or template expressions
 * may appear in it.
 */
export const DIAGRAM_SCRIPT = `
var WardenDiagram = (function () {
  'use strict';
  var ROW = 78, NODE_H = 32, GAP = 40, PAD = 16, LANE = 11, R = 6;
  var cache = {};

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  function top(path) { return path.split('.')[0]; }
  function textWidth(s, size) { return s.length * size * 0.6; }
  function r(n) { return Math.round(n * 10) / 10; }

  /** Builds the edges between top-level states (nested states are drawn inside their parent). */
  function collectEdges(graph, byPath) {
    var edges = [], edgeMap = {}, fromAny = [];
    graph.transitions.forEach(function (t) {
      t.targets.forEach(function (target) {
        if (t.source === '') { fromAny.push({ to: top(target), label: t.label }); return; }
        var a = top(t.source), b = top(target);
        if (a === b || !byPath[a] || !byPath[b]) return;
        var k = a + '>' + b;
        var e = edgeMap[k];
        if (!e) { e = edgeMap[k] = { from: a, to: b, labels: [], back: false }; edges.push(e); }
        if (e.labels.indexOf(t.label) < 0) e.labels.push(t.label);
      });
    });
    return { edges: edges, fromAny: fromAny };
  }

  function layout(graph) {
    var nodes = graph.states.map(function (s, i) {
      var sub = s.children.map(function (c) { return c.key; }).join(' · ');
      var w = Math.max(96, textWidth(s.key, 13) + 32, sub ? textWidth(sub, 10) + 20 : 0);
      return { path: s.path, key: s.key, type: s.type, sub: sub, order: i, w: w, h: sub ? NODE_H + 14 : NODE_H };
    });
    var byPath = {};
    nodes.forEach(function (n) { byPath[n.path] = n; });
    var collected = collectEdges(graph, byPath);
    var edges = collected.edges;
    // Break cycles: an edge to a state still on the depth-first path goes backwards.
    var adj = {}, mark = {};
    nodes.forEach(function (n) { adj[n.path] = []; });
    edges.forEach(function (e) { adj[e.from].push(e); });
    function dfs(v) {
      mark[v] = 1;
      adj[v].forEach(function (e) {
        if (mark[e.to] === 1) e.back = true;
        else if (!mark[e.to]) dfs(e.to);
      });
      mark[v] = 2;
    }
    if (graph.initial && byPath[graph.initial]) dfs(graph.initial);
    nodes.forEach(function (n) { if (!mark[n.path]) dfs(n.path); });
    // Longest-path layering over the forward edges.
    var layer = {};
    nodes.forEach(function (n) { layer[n.path] = 0; });
    for (var i = 0; i <= nodes.length; i++) {
      var changed = false;
      edges.forEach(function (e) {
        if (!e.back && layer[e.to] < layer[e.from] + 1) { layer[e.to] = layer[e.from] + 1; changed = true; }
      });
      if (!changed) break;
    }
    var layers = [];
    nodes.forEach(function (n) {
      n.layer = layer[n.path];
      (layers[n.layer] = layers[n.layer] || []).push(n);
    });
    layers = layers.filter(Boolean);
    layers.forEach(function (row, li) { row.forEach(function (n) { n.layer = li; }); });
    // Order each layer by the mean position of its predecessors (definition order breaks ties).
    var pos = {};
    layers.forEach(function (row) {
      row.forEach(function (n) {
        var preds = edges.filter(function (e) { return !e.back && e.to === n.path && pos[e.from] !== undefined; });
        n.bary = preds.length ? preds.reduce(function (s, e) { return s + pos[e.from]; }, 0) / preds.length : n.order;
      });
      row.sort(function (a, b) { return a.bary - b.bary || a.order - b.order; });
      row.forEach(function (n, j) { pos[n.path] = j; });
    });
    var widest = 0;
    layers.forEach(function (row) {
      widest = Math.max(widest, row.reduce(function (s, n) { return s + n.w; }, 0) + GAP * (row.length - 1));
    });
    layers.forEach(function (row, li) {
      var w = row.reduce(function (s, n) { return s + n.w; }, 0) + GAP * (row.length - 1);
      var x = (widest - w) / 2;
      row.forEach(function (n) {
        n.x = x; n.y = li * ROW; n.cx = x + n.w / 2;
        x += n.w + GAP;
      });
    });
    edges.forEach(function (e) {
      e.a = byPath[e.from]; e.b = byPath[e.to];
      e.kind = e.back ? 'back' : e.b.layer - e.a.layer === 1 ? 'near' : 'long';
    });
    route(edges, nodes, 'long', 0, widest);
    route(edges, nodes, 'back', 0, widest);
    edges.forEach(function (e) {
      if (e.kind !== 'near') return;
      var a = e.a, b = e.b;
      var x1 = a.cx + (b.cx - a.cx) * 0.18, y1 = a.y + a.h;
      var x2 = b.cx - (b.cx - a.cx) * 0.18, y2 = b.y;
      var dy = (y2 - y1) * 0.5;
      e.d = 'M' + r(x1) + ' ' + r(y1) + ' C' + r(x1) + ' ' + r(y1 + dy) + ' ' + r(x2) + ' ' + r(y2 - dy) + ' ' + r(x2) + ' ' + r(y2);
      e.lx = (x1 + x2) / 2 + 6; e.ly = (y1 + y2) / 2 + 4; e.anchor = 'start';
    });
    var minX = Math.min(0, Math.min.apply(null, edges.map(function (e) { return e.minX === undefined ? 0 : e.minX; })));
    var maxX = Math.max(widest, Math.max.apply(null, edges.map(function (e) { return e.maxX === undefined ? 0 : e.maxX; })));
    var height = (layers.length - 1) * ROW + NODE_H;
    return {
      nodes: nodes, edges: edges, fromAny: collected.fromAny, byPath: byPath,
      minX: minX, maxX: maxX, height: height
    };
  }

  /**
   * Routes long forward edges (left) or backward edges (right) orthogonally: out of the source, along
   * a lane, then into the target from above. Edges into the same target share one lane (a bus), so
   * a state many others lead to (fatal, stopped) gets one line; shorter buses get the inner lanes,
   * so they nest instead of crossing. An edge leaves by the source's side when nothing stands beside
   * it in its layer, else by its bottom (forward) or top (backward), through the gap between layers.
   */
  function route(edges, nodes, kind, left, right) {
    var list = edges.filter(function (e) { return e.kind === kind; });
    var onLeft = kind === 'long';
    var groups = {}, order = [];
    list.forEach(function (e) {
      var g = groups[e.to];
      if (!g) { g = groups[e.to] = { to: e.to, edges: [], y0: Infinity, y1: -Infinity }; order.push(g); }
      g.edges.push(e);
      g.y0 = Math.min(g.y0, e.a.y - 12, e.b.y - 12);
      g.y1 = Math.max(g.y1, e.a.y + e.a.h + 12, e.b.y + e.b.h);
    });
    order.sort(function (p, q) { return (p.y1 - p.y0) - (q.y1 - q.y0) || p.edges[0].b.order - q.edges[0].b.order; });
    var lanes = [];
    order.forEach(function (g) {
      for (var i = 0; ; i++) {
        var used = lanes[i] || (lanes[i] = []);
        if (used.every(function (o) { return g.y1 + 4 < o.y0 || o.y1 + 4 < g.y0; })) { used.push(g); g.lane = i; break; }
      }
      g.x = onLeft ? left - 18 - g.lane * LANE : right + 18 + g.lane * LANE;
      var b = g.edges[0].b;
      // Back edges may enter a target that long edges enter too: they use its other end.
      g.ty = b.y - 9; g.tx = onLeft ? b.x + 12 : b.x + b.w - 12;
    });
    // Exits of one source, outer lanes first: highest on a side, outermost and highest below/above.
    var bySource = {};
    list.forEach(function (e) { (bySource[e.from] = bySource[e.from] || []).push(e); });
    Object.keys(bySource).forEach(function (k) {
      var es = bySource[k].sort(function (p, q) { return groups[q.to].lane - groups[p.to].lane; });
      var a = es[0].a, n = es.length;
      var row = nodes.filter(function (m) { return m.layer === a.layer; });
      var blocked = row.some(function (m) { return onLeft ? m.x < a.x : m.x > a.x; });
      es.forEach(function (e, i) {
        var g = groups[e.to];
        var parts = [];
        if (!blocked) {
          var sy = a.y + a.h / 2 + (n === 1 ? 0 : (i - (n - 1) / 2) * Math.min(8, (a.h - 10) / (n - 1)));
          parts.push('M' + r(onLeft ? a.x : a.x + a.w) + ' ' + r(sy));
          e.sy = sy;
        } else {
          var sx = onLeft ? a.x + 10 + i * 9 : a.x + a.w - 10 - i * 9;
          var gy = onLeft ? a.y + a.h + 9 + i * 5 : a.y - 9 - i * 5;
          parts.push('M' + r(sx) + ' ' + r(onLeft ? a.y + a.h : a.y) + ' V' + r(gy));
          e.sy = gy;
        }
        var dir = onLeft ? -1 : 1;
        var up = g.ty < e.sy ? -1 : 1;
        var into = g.tx > g.x ? 1 : -1;
        parts.push(' H' + r(g.x - dir * R) + ' Q' + r(g.x) + ' ' + r(e.sy) + ' ' + r(g.x) + ' ' + r(e.sy + up * R) +
          ' V' + r(g.ty - up * R) + ' Q' + r(g.x) + ' ' + r(g.ty) + ' ' + r(g.x + into * R) + ' ' + r(g.ty) +
          ' H' + r(g.tx - into * R) + ' Q' + r(g.tx) + ' ' + r(g.ty) + ' ' + r(g.tx) + ' ' + r(g.ty + R) + ' V' + r(e.b.y));
        e.d = parts.join('');
        e.lx = onLeft ? g.x - 5 : g.x + 5;
        e.ly = (e.sy + g.ty) / 2 + 4;
        e.anchor = onLeft ? 'end' : 'start';
        if (onLeft) e.minX = g.x; else e.maxX = g.x;
      });
    });
  }

  function labelLines(labels) {
    var lines = labels.slice(0, 3);
    if (labels.length > 3) lines.push('+' + (labels.length - 3) + ' more');
    return lines;
  }

  /**
   * SVG markup of a machine graph. opts: { current: state path, lastFrom: state the last transition
   * left, allLabels: boolean, stateClass: function(stateKey) -> css class suffix }.
   */
  function render(name, graph, opts) {
    var L = cache[name] || (cache[name] = layout(graph));
    var current = opts.current ? top(opts.current) : undefined;
    var lastFrom = opts.lastFrom ? top(opts.lastFrom) : undefined;
    var body = [], labels = [];
    var minX = L.minX - PAD, maxX = L.maxX + PAD;
    L.edges.forEach(function (e) {
      var hot = current !== undefined && e.from === current;
      var last = lastFrom !== undefined && e.from === lastFrom && e.to === current;
      var cls = 'edge' + (hot ? ' hot' : '') + (last ? ' last' : '');
      var marker = last ? 'arr-last' : hot ? 'arr-hot' : 'arr';
      var html = '<path class="' + cls + '" d="' + e.d + '" marker-end="url(#' + marker + ')"><title>' +
        esc(e.from + ' → ' + e.to + ': ' + e.labels.join(', ')) + '</title></path>';
      // Emphasised edges are drawn last, over the others.
      if (hot || last) body.push(html); else body.unshift(html);
      if (last || opts.allLabels) {
        var lines = labelLines(e.labels);
        var wide = Math.max.apply(null, lines.map(function (s) { return textWidth(s, 11.5); }));
        if (e.anchor === 'end') minX = Math.min(minX, e.lx - wide - 4);
        else maxX = Math.max(maxX, e.lx + wide + 4);
        labels.push({ e: e, lines: lines, cls: last ? 'last' : '' });
      }
    });
    L.nodes.forEach(function (n) {
      var isCur = n.path === current;
      var cls = 'node st-' + opts.stateClass(n.key) + (isCur ? ' current' : '') + (n.type === 'final' ? ' final' : '');
      body.push('<g class="' + cls + '" data-state="' + esc(n.path) + '">' +
        '<rect x="' + r(n.x) + '" y="' + r(n.y) + '" width="' + r(n.w) + '" height="' + n.h + '" rx="9"/>' +
        (n.type === 'final' ? '<rect class="inner" x="' + r(n.x + 3) + '" y="' + r(n.y + 3) + '" width="' + r(n.w - 6) + '" height="' + (n.h - 6) + '" rx="7"/>' : '') +
        '<text x="' + r(n.cx) + '" y="' + r(n.y + 20.5) + '">' + esc(n.key) + '</text>' +
        (n.sub ? '<text class="sub" x="' + r(n.cx) + '" y="' + r(n.y + 36) + '">' + esc(n.sub) + '</text>' : '') +
        '<title>' + esc(n.key + (n.type === 'final' ? ' (final)' : '') + (isCur ? ' (current)' : '')) + '</title></g>');
    });
    var init = graph.initial && L.byPath[graph.initial];
    if (init) {
      var ix = init.cx;
      body.push('<circle class="initial" cx="' + r(ix) + '" cy="' + r(init.y - 22) + '" r="5"/>' +
        '<path class="edge" d="M' + r(ix) + ' ' + r(init.y - 17) + ' V' + r(init.y) + '" marker-end="url(#arr)"/>');
    }
    labels.forEach(function (l) {
      var e = l.e;
      var y = e.ly - (l.lines.length - 1) * 6;
      body.push('<text class="elabel ' + l.cls + '" text-anchor="' + e.anchor + '" x="' + r(e.lx) + '" y="' + r(y) + '">' +
        l.lines.map(function (line, i) {
          return '<tspan x="' + r(e.lx) + '" dy="' + (i === 0 ? 0 : 12) + '">' + esc(line) + '</tspan>';
        }).join('') + '</text>');
    });
    var y0 = -30 - PAD, h = L.height + 30 + 2 * PAD;
    if (L.fromAny.length) {
      var note = 'from any state: ' + L.fromAny.map(function (f) { return f.label + ' → ' + f.to; }).join('; ');
      body.push('<text class="note" x="' + r(minX + 4) + '" y="' + r(L.height + PAD + 8) + '">' + esc(note) + '</text>');
      h += 14;
      maxX = Math.max(maxX, minX + textWidth(note, 11) + 8);
    }
    var w = maxX - minX;
    return '<svg class="machine" viewBox="' + r(minX) + ' ' + y0 + ' ' + r(w) + ' ' + r(h) + '" width="' + r(w) +
      '" role="img" aria-label="' + esc(graph.id) + ' machine, current state ' + esc(current || 'unknown') + '">' +
      '<defs>' + marker('arr', '') + marker('arr-hot', ' hot') + marker('arr-last', ' last') + '</defs>' +
      body.join('') + '</svg>';
  }

  function marker(id, cls) {
    return '<marker id="' + id + '" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">' +
      '<path d="M0 0L10 5L0 10z" class="arrow-head' + cls + '"/></marker>';
  }

  /** The transitions that leave a state (and those from any state), merged by target. */
  function transitionsFrom(graph, state) {
    var out = [], seen = {};
    graph.transitions.forEach(function (t) {
      if (t.source !== '' && top(t.source) !== top(state)) return;
      t.targets.forEach(function (target) {
        var k = t.label + '>' + target;
        if (seen[k]) return;
        seen[k] = true;
        out.push({ label: t.label, to: target, any: t.source === '' });
      });
    });
    return out;
  }

  return { render: render, layout: layout, transitionsFrom: transitionsFrom };
})();
`;
