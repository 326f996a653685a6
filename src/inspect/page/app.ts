/**
 * Browser code (plain ES2019, no modules) of the dashboard page: keeps a model of the system from
 * the `/events` stream (a `snapshot`, then `diff` batches), and renders the supervision tree, the
 * selected actor's machine, the timeline and the transport servers. Rendering is coalesced into one
 * animation frame and limited to what changed; a tree of many children is shown in collapsed groups
 * and can be filtered by state and by name, so 1,000 sessions stay responsive.
 *
 * Kept as a string so the page is one self-contained file; no backticks or template expressions
 * may appear in it.
 */
export const APP_SCRIPT = String.raw`
(function () {
  'use strict';
  var GROUP_SIZE = 50, FLAT_LIMIT = 60, TIMELINE_KEEP = 500, TIMELINE_SHOW = 150;
  var CLASS = {
    ready: 'ok', running: 'ok', listening: 'ok',
    connecting: 'busy', initializing: 'busy', starting: 'busy', idle: 'idle',
    reconnecting: 'warn', stopping: 'warn', failing: 'warn', draining: 'warn',
    fatal: 'bad', failed: 'bad', stopped: 'off'
  };
  var STATE_ORDER = ['ready', 'connecting', 'initializing', 'reconnecting', 'stopping', 'fatal', 'stopped'];
  var model = null;
  var nodes = {};
  var roots = [];
  var lastSeq = 0;
  var offset = 0;
  var ui = { selected: null, states: {}, search: '', open: {}, onlySelected: false, allLabels: false };
  var dirty = { tree: true, servers: true, detail: true, timeline: true, header: true };
  var frame = 0;

  function $(id) { return document.getElementById(id); }
  function esc(s) {
    return String(s === undefined || s === null ? '' : s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  function cls(state) { return CLASS[state] || 'idle'; }
  function badge(state, extra) {
    return '<span class="badge state st-' + cls(state) + (extra ? ' ' + extra : '') + '">' + esc(state) + '</span>';
  }
  function now() { return Date.now() + offset; }
  function pad(n, w) { n = String(n); while (n.length < w) n = '0' + n; return n; }
  function clock(t) {
    var d = new Date(t);
    return pad(d.getHours(), 2) + ':' + pad(d.getMinutes(), 2) + ':' + pad(d.getSeconds(), 2) + '.' + pad(d.getMilliseconds(), 3);
  }
  function span(ms) {
    ms = Math.max(0, ms);
    if (ms < 1000) return Math.round(ms) + ' ms';
    if (ms < 60000) return (ms / 1000).toFixed(ms < 10000 ? 1 : 0) + ' s';
    if (ms < 3600000) return Math.floor(ms / 60000) + ' min ' + Math.floor((ms % 60000) / 1000) + ' s';
    return Math.floor(ms / 3600000) + ' h ' + Math.floor((ms % 3600000) / 60000) + ' min';
  }
  function ago(t) { return '<span class="ago" data-ago="' + t + '">' + span(now() - t) + ' ago</span>'; }
  function until(t) { return '<span class="ago" data-until="' + t + '">in ' + span(t - now()) + '</span>'; }
  function num(n) { return Number(n).toLocaleString('en-US'); }
  function failureText(f) {
    var parts = [f.phase, f.kind, 'attempt ' + f.attempt];
    if (f.exhausted) parts.push('retries exhausted');
    return esc(f.summary) + (f.code ? ' <code>' + esc(f.code) + '</code>' : '') +
      ' <span class="muted">· ' + esc(parts.join(' · ')) + ' · ' + ago(f.at) + '</span>';
  }

  // ---- model ------------------------------------------------------------------------------

  function index(supId, prefix, children, depth, parent) {
    var keys = [];
    children.forEach(function (c) {
      var key = prefix + '/' + c.id;
      var n = nodes[key] = {
        key: key, id: c.id, sup: supId, path: key.slice(supId.length + 1), kind: c.kind, status: c.status,
        depth: depth, parent: parent, children: [], supervisorState: c.supervisor ? c.supervisor.state : undefined,
        strategy: c.supervisor ? c.supervisor.strategy : undefined
      };
      if (c.supervisor) n.children = index(supId, key, c.supervisor.children, depth + 1, key);
      keys.push(key);
    });
    return keys;
  }

  function applySnapshot(s) {
    model = s;
    offset = s.now - Date.now();
    nodes = {};
    roots = s.supervisors.map(function (sup) {
      return { id: sup.id, state: sup.state, strategy: sup.strategy, report: sup.report, children: index(sup.id, sup.id, sup.children, 0, null) };
    });
    lastSeq = 0;
    s.timeline.forEach(function (e) { lastSeq = Math.max(lastSeq, e.seq); });
    model.timeline = s.timeline.slice(-TIMELINE_KEEP);
    if (!ui.selected || !exists(ui.selected)) ui.selected = defaultSelection();
    document.title = s.title + ' · warden dashboard';
    $('title').textContent = s.title;
    markAll();
  }

  function applyDiff(d) {
    offset = d.now - Date.now();
    d.children.forEach(function (c) {
      var n = nodes[c.key];
      if (!n) return;
      n.status = c.status;
      if (c.supervisorState) n.supervisorState = c.supervisorState;
      if (c.key === ui.selected) dirty.detail = true;
    });
    if (d.children.length) { dirty.tree = true; dirty.header = true; }
    d.supervisors.forEach(function (s) {
      roots.forEach(function (r) { if (r.id === s.id) { r.state = s.state; r.report = s.report; } });
      dirty.tree = true;
      if (ui.selected === 'sup:' + s.id) dirty.detail = true;
    });
    if (d.servers) {
      model.servers = d.servers;
      dirty.servers = true;
      if (ui.selected && ui.selected.indexOf('server:') === 0) dirty.detail = true;
    }
    var fresh = d.timeline.filter(function (e) { return e.seq > lastSeq; });
    if (fresh.length) {
      fresh.forEach(function (e) { lastSeq = Math.max(lastSeq, e.seq); });
      model.timeline = model.timeline.concat(fresh).slice(-TIMELINE_KEEP);
      dirty.timeline = true;
      dirty.detail = true;
    }
    if (d.health) { model.health = d.health; dirty.header = true; }
    schedule();
  }

  function exists(sel) {
    if (sel.indexOf('sup:') === 0) return roots.some(function (r) { return 'sup:' + r.id === sel; });
    if (sel.indexOf('server:') === 0) return model.servers.some(function (s) { return 'server:' + s.id === sel; });
    return !!nodes[sel];
  }
  function defaultSelection() {
    for (var i = 0; i < roots.length; i++) if (roots[i].children.length) return roots[i].children[0];
    return roots.length ? 'sup:' + roots[0].id : model.servers.length ? 'server:' + model.servers[0].id : null;
  }
  function markAll() { dirty.tree = dirty.servers = dirty.detail = dirty.timeline = dirty.header = true; schedule(); }
  function schedule() { if (!frame) frame = requestAnimationFrame(render); }

  // ---- filtering ----------------------------------------------------------------------------

  function filtering() { return ui.search !== '' || Object.keys(ui.states).length > 0; }
  function matchesSelf(n) {
    if (ui.search && n.key.toLowerCase().indexOf(ui.search) < 0) return false;
    if (Object.keys(ui.states).length && !ui.states[n.status.state]) return false;
    return true;
  }
  function visible(n) {
    if (!filtering() || matchesSelf(n)) return true;
    return n.children.some(function (k) { return visible(nodes[k]); });
  }
  function leaves() {
    var out = [];
    Object.keys(nodes).forEach(function (k) { if (nodes[k].kind === 'session') out.push(nodes[k]); });
    return out;
  }

  // ---- rendering ----------------------------------------------------------------------------

  function render() {
    frame = 0;
    if (!model) return;
    if (dirty.header) renderHeader();
    if (dirty.tree) renderTree();
    if (dirty.servers) renderServers();
    if (dirty.detail) renderDetail();
    if (dirty.timeline) renderTimeline();
    dirty = { tree: false, servers: false, detail: false, timeline: false, header: false };
  }

  function renderHeader() {
    var h = model.health;
    var el = $('health');
    if (h) {
      var bad = [];
      Object.keys(h.sessions).forEach(function (k) { if (!h.sessions[k].ready) bad.push(k + ': ' + h.sessions[k].state); });
      Object.keys(h.endpoints).forEach(function (k) { if (h.endpoints[k].status !== 'ready') bad.push(k + ': ' + h.endpoints[k].status); });
      h.holds.forEach(function (x) { bad.push('hold ' + x); });
      el.className = 'pill ' + (h.status === 'ready' ? 'st-ok' : 'st-warn');
      el.textContent = h.status === 'ready' ? 'healthy' : 'not ready (' + bad.length + ')';
      el.title = bad.length ? bad.join('\n') : 'every session and endpoint is ready';
    } else {
      el.className = 'pill st-idle';
      el.textContent = 'no health';
    }
    var counts = {}, all = leaves();
    all.forEach(function (n) { counts[n.status.state] = (counts[n.status.state] || 0) + 1; });
    var states = STATE_ORDER.slice();
    Object.keys(counts).forEach(function (s) { if (states.indexOf(s) < 0) states.push(s); });
    var chips = ['<button class="chip' + (Object.keys(ui.states).length ? '' : ' on') + '" data-chip="">all <b>' + all.length + '</b></button>'];
    states.forEach(function (s) {
      var c = counts[s] || 0;
      if (!c && !ui.states[s] && ['ready', 'connecting', 'reconnecting', 'fatal'].indexOf(s) < 0) return;
      chips.push('<button class="chip st-' + cls(s) + (ui.states[s] ? ' on' : '') + (c ? '' : ' zero') + '" data-chip="' + s + '">' +
        '<span class="dot"></span>' + esc(s) + ' <b>' + c + '</b></button>');
    });
    $('chips').innerHTML = chips.join('');
  }

  function childRow(n) {
    var s = n.status;
    var sel = n.key === ui.selected ? ' selected' : '';
    var state = n.kind === 'supervisor' ? (n.supervisorState || s.state) : s.state;
    var html = '<div class="row' + sel + '" data-key="' + esc(n.key) + '" data-select="' + esc(n.key) + '" style="--depth:' + n.depth + '">' +
      '<span class="dot st-' + cls(s.state) + '"></span>' +
      '<span class="name">' + esc(n.id) + (n.kind === 'supervisor' ? ' <span class="kind">supervisor · ' + esc(n.strategy || '') + '</span>' : '') + '</span>' +
      badge(state) +
      '<span class="meta">attempt ' + s.attempt + ' · ' + s.restarts + ' restart' + (s.restarts === 1 ? '' : 's') + ' · ' + ago(s.since) +
      (s.nextRetryAt ? ' · retry ' + until(s.nextRetryAt) : '') + '</span>';
    if (model.actions && n.depth === 0) {
      html += '<span class="actions"><button data-act="reconnect" data-key="' + esc(n.key) + '" title="ask the session to reconnect now">reconnect</button>' +
        '<button data-act="restart" data-key="' + esc(n.key) + '" title="stop this child and start a fresh incarnation">restart</button></span>';
    }
    html += '</div>';
    if (s.lastFailure) {
      var stale = s.state === 'ready' || s.state === 'stopped';
      html += '<div class="failure' + (stale ? ' stale' : '') + '" data-failure="' + esc(n.key) + '" style="--depth:' + n.depth + '">' +
        (stale ? 'last failure: ' : '') + failureText(s.lastFailure) + '</div>';
    }
    return html;
  }

  function childrenHtml(keys, groupKey) {
    var list = keys.map(function (k) { return nodes[k]; }).filter(visible);
    var out = [];
    function emit(n) {
      out.push(childRow(n));
      if (n.children.length) out.push(childrenHtml(n.children, n.key));
    }
    if (list.length <= FLAT_LIMIT) {
      list.forEach(emit);
      return out.join('');
    }
    for (var i = 0; i < list.length; i += GROUP_SIZE) {
      var part = list.slice(i, i + GROUP_SIZE);
      var gk = groupKey + '#' + i;
      var open = !!ui.open[gk];
      var counts = {};
      part.forEach(function (n) { counts[n.status.state] = (counts[n.status.state] || 0) + 1; });
      var bar = Object.keys(counts).map(function (s) {
        return '<span class="seg st-' + cls(s) + '" style="flex:' + counts[s] + '" title="' + counts[s] + ' ' + esc(s) + '"></span>';
      }).join('');
      var summary = Object.keys(counts).map(function (s) { return counts[s] + ' ' + s; }).join(' · ');
      out.push('<div class="group" data-group="' + esc(gk) + '" style="--depth:' + part[0].depth + '">' +
        '<span class="caret">' + (open ? '▾' : '▸') + '</span>' +
        '<span class="name">' + esc(part[0].id) + ' … ' + esc(part[part.length - 1].id) + '</span>' +
        '<span class="bar">' + bar + '</span><span class="meta">' + esc(summary) + '</span></div>');
      if (open) part.forEach(emit);
    }
    return out.join('');
  }

  function renderTree() {
    var out = [];
    var total = 0;
    roots.forEach(function (r) {
      var sel = ui.selected === 'sup:' + r.id ? ' selected' : '';
      total += r.children.length;
      out.push('<div class="sup"><div class="sup-head' + sel + '" data-select="sup:' + esc(r.id) + '" data-sup="' + esc(r.id) + '">' +
        badge(r.state) + '<b>' + esc(r.id) + '</b><span class="meta">' + esc(r.strategy) + ' · ' + r.children.length + ' child' +
        (r.children.length === 1 ? '' : 'ren') + '</span></div>');
      if (r.report) out.push('<div class="failure" style="--depth:0">' + failureText(r.report) + '</div>');
      var body = childrenHtml(r.children, r.id);
      out.push(body || '<div class="empty">' + (filtering() ? 'no child matches the filter' : 'no children') + '</div>');
      out.push('</div>');
    });
    $('tree').innerHTML = out.join('') || '<div class="empty">no supervisors</div>';
    $('tree-count').textContent = roots.length + ' supervisor' + (roots.length === 1 ? '' : 's') + ' · ' + leaves().length + ' sessions';
  }

  function endpointsTable(s) {
    if (!s.endpoints.length) return '<div class="empty">no endpoints</div>';
    var rows = s.endpoints.map(function (e) {
      var avg = e.requests ? (e.processingMs / e.requests).toFixed(1) : '–';
      return '<tr><td><code>' + esc(e.path) + '</code>' + (e.draining ? ' ' + badge('draining') : '') + '</td>' +
        '<td class="mono muted">' + esc(e.instanceId) + '</td><td class="n' + (e.inflight ? ' hot' : '') + '">' + num(e.inflight) + '</td>' +
        '<td class="n">' + num(e.requests) + '</td><td class="n' + (e.errors ? ' bad' : '') + '">' + num(e.errors) + '</td><td class="n">' + avg + '</td>' +
        '<td>' + (e.lastError ? '<code>' + esc(e.lastError.code) + '</code> <span class="muted">' + esc(e.lastError.message) + '</span>' : '') + '</td></tr>';
    });
    return '<table class="eps"><thead><tr><th>endpoint</th><th>instance</th><th>in flight</th><th>requests</th><th>errors</th><th>avg ms</th><th>last error</th></tr></thead><tbody>' +
      rows.join('') + '</tbody></table>';
  }

  function renderServers() {
    var out = model.servers.map(function (s) {
      var inflight = 0, requests = 0, errors = 0;
      s.endpoints.forEach(function (e) { inflight += e.inflight; requests += e.requests; errors += e.errors; });
      var sel = ui.selected === 'server:' + s.id ? ' selected' : '';
      return '<div class="server" data-server="' + esc(s.id) + '"><div class="server-head' + sel + '" data-select="server:' + esc(s.id) + '">' +
        badge(s.state) + '<b>' + esc(s.transport.toUpperCase()) + '</b> <code>' + esc(s.address || '–') + '</code>' +
        '<span class="pill ' + (s.healthy ? 'st-ok' : 'st-warn') + '">' + (s.healthy ? 'healthy' : 'unhealthy') + '</span>' +
        '<span class="meta">' + num(inflight) + ' in flight · ' + num(requests) + ' requests · ' + num(errors) + ' errors</span></div>' +
        (s.failure ? '<div class="failure">' + failureText(s.failure) + '</div>' : '') + endpointsTable(s) + '</div>';
    });
    $('servers').innerHTML = out.join('') || '<div class="empty">no transport servers</div>';
  }

  function lastEntry(key) {
    for (var i = model.timeline.length - 1; i >= 0; i--) if (model.timeline[i].key === key) return model.timeline[i];
    return undefined;
  }

  function diagram(machine, state, key) {
    var graph = model.machines[machine];
    if (!graph) return '';
    var last = lastEntry(key);
    var outs = WardenDiagram.transitionsFrom(graph, state);
    var list = outs.length
      ? '<div class="outs"><span class="outs-title">from ' + esc(state) + ':</span>' + outs.map(function (o) {
          return '<span class="out">' + esc(o.label) + ' <span class="muted">→</span> ' + badge(o.to) + (o.any ? ' <span class="muted">(any state)</span>' : '') + '</span>';
        }).join('') + '</div>'
      : '<div class="outs"><span class="outs-title">' + esc(state) + ' is final: no transitions leave it</span></div>';
    return '<div class="diagram">' + WardenDiagram.render(machine, graph, {
      current: state, lastFrom: last && last.to === state ? last.from : undefined, allLabels: ui.allLabels, stateClass: cls
    }) + '</div>' + list;
  }

  function reportBox(f, title, recovered) {
    if (!f) return '';
    var rows = [['summary', esc(f.summary)], ['code', f.code ? '<code>' + esc(f.code) + '</code>' : '–'], ['phase', esc(f.phase)],
      ['kind', esc(f.kind)], ['attempt', f.attempt], ['at', clock(f.at) + ' (' + ago(f.at) + ')']];
    if (f.exhausted) rows.push(['retries', 'exhausted']);
    return '<div class="report' + (recovered ? ' recovered' : '') + '"><div class="report-title">' + esc(title) + '</div><dl>' +
      rows.map(function (r) { return '<dt>' + r[0] + '</dt><dd>' + r[1] + '</dd>'; }).join('') + '</dl></div>';
  }

  function recent(key) {
    var list = model.timeline.filter(function (e) { return e.key === key; }).slice(-6).reverse();
    if (!list.length) return '';
    return '<div class="recent"><div class="report-title">recent transitions</div>' + list.map(timelineRow).join('') + '</div>';
  }

  function renderDetail() {
    var sel = ui.selected, title = 'Machine', html = '';
    if (!sel) { $('detail').innerHTML = '<div class="empty">select an actor</div>'; return; }
    if (sel.indexOf('sup:') === 0) {
      var r = roots.filter(function (x) { return 'sup:' + x.id === sel; })[0];
      if (r) {
        title = r.id + ' · supervisor machine';
        html = '<div class="facts">' + badge(r.state) + '<span>strategy ' + esc(r.strategy) + '</span><span>' + r.children.length + ' children</span></div>' +
          diagram('supervisor', r.state, r.id) + reportBox(r.report, 'failure report') + recent(r.id);
      }
    } else if (sel.indexOf('server:') === 0) {
      var s = model.servers.filter(function (x) { return 'server:' + x.id === sel; })[0];
      if (s) {
        title = s.id + ' · transport-server machine';
        html = '<div class="facts">' + badge(s.state) + '<code>' + esc(s.address || '–') + '</code><span>' + (s.healthy ? 'healthy' : 'unhealthy') + '</span></div>' +
          diagram('transport-server', s.state, s.id) + reportBox(s.failure, 'failure report') + recent(s.id);
      }
    } else {
      var n = nodes[sel];
      if (n) {
        var st = n.status;
        var isSup = n.kind === 'supervisor';
        var state = isSup ? (n.supervisorState || st.state) : st.state;
        title = n.key + ' · ' + (isSup ? 'supervisor' : 'session') + ' machine';
        html = '<div class="facts">' + badge(state) + '<span>attempt ' + st.attempt + '</span><span>' + st.restarts + ' restarts</span>' +
          '<span>since ' + clock(st.since) + '</span>' + (st.nextRetryAt ? '<span>retry ' + until(st.nextRetryAt) + '</span>' : '') +
          (model.actions && n.depth === 0 ? '<span class="actions"><button data-act="reconnect" data-key="' + esc(n.key) + '">reconnect</button>' +
            '<button data-act="restart" data-key="' + esc(n.key) + '">restart</button></span>' : '') + '</div>' +
          diagram(isSup ? 'supervisor' : 'session', state, n.key) +
          reportBox(st.lastFailure, st.state === 'ready' ? 'last failure (recovered)' : 'failure report', st.state === 'ready') + recent(n.key);
      }
    }
    $('detail-title').textContent = title;
    $('detail').innerHTML = html || '<div class="empty">this actor is gone</div>';
  }

  function timelineRow(e) {
    var who = e.kind === 'child' ? e.key : e.kind + ' ' + e.key;
    return '<div class="tl' + (e.failure ? ' has-failure' : '') + '" data-seq="' + e.seq + '"><span class="time">' + clock(e.at) + '</span>' +
      '<span class="who" data-select="' + esc(e.kind === 'child' ? e.key : e.kind === 'server' ? 'server:' + e.key : 'sup:' + e.key) + '">' + esc(who) + '</span>' +
      badge(e.from, 'from') + '<span class="arrow">→</span>' + badge(e.to) +
      (e.attempt !== undefined ? '<span class="muted">attempt ' + e.attempt + '</span>' : '') + '</div>' +
      (e.failure ? '<div class="tl-failure">' + failureText(e.failure) + '</div>' : '');
  }

  function renderTimeline() {
    var list = model.timeline;
    if (ui.onlySelected && ui.selected) {
      var k = ui.selected.replace(/^(sup|server):/, '');
      list = list.filter(function (e) { return e.key === k || e.key.indexOf(k + '/') === 0; });
    } else if (ui.search) {
      list = list.filter(function (e) { return e.key.toLowerCase().indexOf(ui.search) >= 0; });
    }
    var shown = list.slice(-TIMELINE_SHOW).reverse();
    $('timeline').innerHTML = shown.map(timelineRow).join('') || '<div class="empty">no transitions yet</div>';
  }

  function tick() {
    var t = now();
    var els = document.querySelectorAll('.ago');
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      if (el.dataset.ago) el.textContent = span(t - Number(el.dataset.ago)) + ' ago';
      else if (el.dataset.until) el.textContent = 'in ' + span(Number(el.dataset.until) - t);
    }
  }

  // ---- interaction --------------------------------------------------------------------------

  function toast(text, bad) {
    var el = $('toast');
    el.textContent = text;
    el.className = 'toast show' + (bad ? ' bad' : '');
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { el.className = 'toast'; }, 3500);
  }

  function act(action, key) {
    var n = nodes[key];
    if (!n) return;
    var url = '/api/children/' + encodeURIComponent(n.sup) + '/' + encodeURIComponent(n.path) + '/' + action;
    fetch(url, { method: 'POST', headers: { 'x-warden-action': '1' } })
      .then(function (res) { return res.json().then(function (body) { return { ok: res.ok, body: body }; }); })
      .then(function (r) {
        if (r.ok) toast(action + ' ' + key + ': ' + (r.body.status ? r.body.status.state : 'done'));
        else toast(action + ' ' + key + ' refused: ' + (r.body.message || r.body.code || 'not possible now'), true);
      })
      .catch(function (err) { toast(action + ' failed: ' + err, true); });
  }

  document.addEventListener('click', function (ev) {
    var t = ev.target;
    var btn = t.closest('[data-act]');
    if (btn) { ev.stopPropagation(); act(btn.dataset.act, btn.dataset.key); return; }
    var chip = t.closest('[data-chip]');
    if (chip) {
      var s = chip.dataset.chip;
      if (!s) ui.states = {};
      else if (ui.states[s]) delete ui.states[s];
      else ui.states[s] = true;
      dirty.header = dirty.tree = true; schedule(); return;
    }
    var group = t.closest('[data-group]');
    if (group) { var g = group.dataset.group; ui.open[g] = !ui.open[g]; dirty.tree = true; schedule(); return; }
    var pick = t.closest('[data-select]');
    if (pick) {
      ui.selected = pick.dataset.select;
      dirty.tree = dirty.servers = dirty.detail = true;
      if (ui.onlySelected) dirty.timeline = true;
      schedule();
    }
  });
  $('search').addEventListener('input', function (ev) {
    ui.search = ev.target.value.trim().toLowerCase();
    dirty.tree = dirty.timeline = true; schedule();
  });
  $('only-selected').addEventListener('change', function (ev) {
    ui.onlySelected = ev.target.checked; dirty.timeline = true; schedule();
  });
  $('all-labels').addEventListener('change', function (ev) {
    ui.allLabels = ev.target.checked; dirty.detail = true; schedule();
  });

  // ---- the stream ---------------------------------------------------------------------------

  function setConn(state, text) {
    $('conn').className = 'conn ' + state;
    $('conn-text').textContent = text;
  }
  function connect() {
    var es = new EventSource('/events');
    es.addEventListener('snapshot', function (ev) { applySnapshot(JSON.parse(ev.data)); setConn('live', 'live'); });
    es.addEventListener('diff', function (ev) { if (model) applyDiff(JSON.parse(ev.data)); });
    es.onopen = function () { setConn('live', 'live'); };
    es.onerror = function () { setConn('down', 'reconnecting…'); };
    window.addEventListener('beforeunload', function () { es.close(); });
  }
  setInterval(tick, 1000);
  connect();
})();
`;
