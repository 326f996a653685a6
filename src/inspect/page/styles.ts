/** The dashboard's stylesheet: system fonts only, light theme, one colour per kind of state. */
export const STYLES = `
:root {
  --bg: #f4f6f9; --panel: #fff; --line: #e3e8ef; --text: #1c2532; --muted: #6b7789; --accent: #2563eb;
  --ok: #16a34a; --ok-bg: #dcfce7; --busy: #2563eb; --busy-bg: #dbeafe; --warn: #d97706; --warn-bg: #fef3c7;
  --bad: #dc2626; --bad-bg: #fee2e2; --off: #64748b; --off-bg: #e2e8f0; --idle: #7c8aa0; --idle-bg: #eef2f7;
  --last: #ea580c;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  font-size: 14px; color: var(--text); background: var(--bg);
}
* { box-sizing: border-box; }
body { margin: 0; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: 12px; }
button { font: inherit; cursor: pointer; }
.top { display: flex; align-items: center; gap: 14px; padding: 10px 20px; background: #1e293b; color: #e2e8f0; }
.brand { display: flex; align-items: center; gap: 10px; }
.logo { width: 26px; height: 26px; }
.title { font-weight: 650; font-size: 17px; color: #fff; }
.sub { color: #94a3b8; font-size: 13px; }
.spacer { flex: 1; }
.links a { color: #cbd5e1; margin-left: 14px; text-decoration: none; font-size: 13px; }
.links a:hover { color: #fff; text-decoration: underline; }
.conn { display: flex; align-items: center; gap: 6px; font-size: 13px; color: #cbd5e1; }
.conn .dot { width: 9px; height: 9px; border-radius: 50%; background: #94a3b8; }
.conn.live .dot { background: #22c55e; box-shadow: 0 0 0 3px rgba(34, 197, 94, .25); }
.conn.down .dot { background: #f59e0b; }
.pill { display: inline-block; padding: 2px 10px; border-radius: 999px; font-size: 12px; font-weight: 600; }
.top .pill.st-ok { background: #14532d; color: #bbf7d0; }
.top .pill.st-warn { background: #78350f; color: #fde68a; }
.top .pill.st-idle { background: #334155; color: #cbd5e1; }
.toolbar { display: flex; align-items: center; gap: 12px; padding: 10px 20px; background: #fff; border-bottom: 1px solid var(--line); flex-wrap: wrap; }
.chips { display: flex; gap: 6px; flex-wrap: wrap; flex: 1; }
.chip { display: inline-flex; align-items: center; gap: 6px; border: 1px solid var(--line); background: #fff; border-radius: 999px; padding: 3px 11px; font-size: 12.5px; color: var(--text); }
.chip b { font-weight: 650; }
.chip.zero { color: var(--muted); }
.chip.on { border-color: var(--accent); background: #eff6ff; box-shadow: inset 0 0 0 1px var(--accent); }
.chip .dot, .row .dot { width: 9px; height: 9px; border-radius: 50%; background: var(--c, var(--idle)); flex: none; }
#search { width: 260px; padding: 6px 10px; border: 1px solid var(--line); border-radius: 8px; font: inherit; }
#search:focus { outline: 2px solid #bfdbfe; border-color: var(--accent); }
main { display: grid; grid-template-columns: minmax(0, 1.15fr) minmax(0, 1fr); gap: 16px; padding: 16px 20px 24px; align-items: start; }
.col { display: flex; flex-direction: column; gap: 16px; min-width: 0; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 12px; padding: 12px 14px; box-shadow: 0 1px 2px rgba(15, 23, 42, .04); }
.panel h2 { margin: 0 0 10px; font-size: 13px; text-transform: uppercase; letter-spacing: .05em; color: #475569; display: flex; align-items: center; gap: 8px; }
.panel h2 .count { text-transform: none; letter-spacing: 0; font-weight: 500; color: var(--muted); }
.panel h2 #detail-title { text-transform: none; letter-spacing: 0; font-size: 14px; color: var(--text); }
.opt { margin-left: auto; text-transform: none; letter-spacing: 0; font-weight: 400; color: var(--muted); font-size: 12px; display: flex; align-items: center; gap: 4px; }
.st-ok { --c: var(--ok); --cb: var(--ok-bg); } .st-busy { --c: var(--busy); --cb: var(--busy-bg); }
.st-warn { --c: var(--warn); --cb: var(--warn-bg); } .st-bad { --c: var(--bad); --cb: var(--bad-bg); }
.st-off { --c: var(--off); --cb: var(--off-bg); } .st-idle { --c: var(--idle); --cb: var(--idle-bg); }
.badge { display: inline-block; padding: 1px 8px; border-radius: 6px; font-size: 12px; font-weight: 600; color: var(--c); background: var(--cb); white-space: nowrap; }
.sup { border: 1px solid var(--line); border-radius: 10px; margin-bottom: 10px; overflow: hidden; }
.sup-head { display: flex; align-items: center; gap: 8px; padding: 8px 10px; background: #f8fafc; border-bottom: 1px solid var(--line); cursor: pointer; }
.sup-head.selected, .server-head.selected { background: #eff6ff; }
.meta { color: var(--muted); font-size: 12.5px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.row { display: flex; align-items: center; gap: 8px; padding: 6px 10px 6px calc(12px + var(--depth, 0) * 22px); border-top: 1px solid #f1f5f9; cursor: pointer; min-height: 34px; }
.row:first-child { border-top: 0; }
.row:hover { background: #f8fafc; }
.row.selected { background: #eff6ff; box-shadow: inset 3px 0 0 var(--accent); }
.row .name { font-weight: 600; min-width: 90px; }
.row .kind { font-weight: 400; color: var(--muted); font-size: 12px; }
.row .meta { flex: 1; min-width: 0; }
.actions { display: inline-flex; gap: 4px; }
.actions button { border: 1px solid var(--line); background: #fff; border-radius: 6px; padding: 2px 8px; font-size: 12px; color: #334155; }
.actions button:hover { border-color: var(--accent); color: var(--accent); }
.failure { padding: 4px 10px 7px calc(31px + var(--depth, 0) * 22px); color: var(--bad); font-size: 12.5px; background: #fffafa; border-top: 1px dashed #fecaca; }
.failure.stale { color: var(--muted); background: transparent; border-top-color: #f1f5f9; }
.failure code { color: inherit; background: rgba(220, 38, 38, .08); padding: 0 4px; border-radius: 4px; }
.failure.stale code { background: #f1f5f9; }
.group { display: flex; align-items: center; gap: 8px; padding: 6px 10px 6px calc(12px + var(--depth, 0) * 22px); border-top: 1px solid #f1f5f9; cursor: pointer; background: #fcfdfe; }
.group:hover { background: #f1f5f9; }
.group .caret { width: 12px; color: var(--muted); }
.group .name { font-weight: 600; min-width: 180px; }
.group .bar { display: flex; width: 140px; height: 8px; border-radius: 4px; overflow: hidden; background: #eef2f7; flex: none; }
.group .seg { background: var(--c); }
.empty { color: var(--muted); padding: 10px; font-size: 13px; }
.server { border: 1px solid var(--line); border-radius: 10px; margin-bottom: 10px; overflow: hidden; }
.server-head { display: flex; align-items: center; gap: 8px; padding: 8px 10px; background: #f8fafc; cursor: pointer; flex-wrap: wrap; }
.server-head .pill { background: var(--cb); color: var(--c); }
.server .failure { padding-left: 12px; }
.eps { width: 100%; border-collapse: collapse; font-size: 12.5px; }
.eps th { text-align: left; font-weight: 600; color: var(--muted); padding: 5px 10px; border-top: 1px solid var(--line); background: #fff; }
.eps td { padding: 5px 10px; border-top: 1px solid #f1f5f9; }
.eps .n { text-align: right; font-variant-numeric: tabular-nums; }
.eps th:nth-child(n+3):nth-child(-n+6) { text-align: right; }
.eps .hot { color: var(--accent); font-weight: 650; } .eps .bad { color: var(--bad); font-weight: 650; }
.muted { color: var(--muted); }
.facts { display: flex; align-items: center; gap: 12px; flex-wrap: wrap; font-size: 13px; color: #334155; margin-bottom: 6px; }
.facts .actions { margin-left: auto; }
.diagram { overflow-x: auto; padding: 4px 0; text-align: center; }
svg.machine { max-width: 100%; height: auto; font-family: inherit; }
svg.machine .node rect { fill: #fff; stroke: #cbd5e1; stroke-width: 1.3; }
svg.machine .node text { text-anchor: middle; font-size: 13px; fill: #334155; font-weight: 550; }
svg.machine .node text.sub { font-size: 10px; fill: var(--muted); font-weight: 400; }
svg.machine .node.final rect { stroke: #94a3b8; }
svg.machine .node.final rect.inner { fill: none; }
svg.machine .node.current rect { fill: var(--cb); stroke: var(--c); stroke-width: 2.5; }
svg.machine .node.current rect.inner { fill: none; stroke-width: 1.2; }
svg.machine .node.current text { fill: var(--c); font-weight: 750; }
svg.machine .edge { fill: none; stroke: #b6c2d2; stroke-width: 1.3; }
svg.machine .edge.hot { stroke: var(--accent); stroke-width: 1.8; }
svg.machine .edge.last { stroke: var(--last); stroke-width: 2.2; stroke-dasharray: 6 4; }
svg.machine .arrow-head { fill: #b6c2d2; } svg.machine .arrow-head.hot { fill: var(--accent); } svg.machine .arrow-head.last { fill: var(--last); }
svg.machine .initial { fill: #334155; }
svg.machine .elabel { font-size: 10.5px; fill: #1d4ed8; paint-order: stroke; stroke: #fff; stroke-width: 3.5px; stroke-linejoin: round; }
svg.machine .elabel.last { fill: var(--last); font-weight: 600; }
svg.machine .note { font-size: 11px; fill: var(--muted); }
.report { border: 1px solid #fecaca; background: #fff7f7; border-radius: 8px; padding: 8px 12px; margin-top: 8px; }
.report-title { font-size: 11.5px; text-transform: uppercase; letter-spacing: .05em; color: #b91c1c; font-weight: 650; margin-bottom: 4px; }
.report dl { display: grid; grid-template-columns: 80px 1fr; gap: 2px 10px; margin: 0; font-size: 13px; }
.report dt { color: var(--muted); } .report dd { margin: 0; }
.report.recovered { border-color: var(--line); background: #f8fafc; }
.report.recovered .report-title { color: #475569; }
.outs { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12px; margin: 2px 0 6px; padding: 6px 8px; background: #f8fafc; border-radius: 8px; }
.outs-title { color: var(--muted); font-weight: 600; }
.out { white-space: nowrap; }
.recent { margin-top: 10px; }
.recent .report-title { color: #475569; }
.timeline { max-height: 520px; overflow-y: auto; }
.tl { display: flex; align-items: center; gap: 7px; padding: 4px 2px; border-top: 1px solid #f1f5f9; font-size: 12.5px; white-space: nowrap; }
.sticky { position: sticky; top: 12px; }
.tl:first-child { border-top: 0; }
.tl .time { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; color: var(--muted); font-size: 11.5px; }
.tl .who { font-weight: 600; cursor: pointer; max-width: 260px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.tl .who:hover { text-decoration: underline; }
.tl .badge.from { opacity: .65; }
.tl .arrow { color: var(--muted); }
.tl-failure { color: var(--bad); font-size: 12px; padding: 0 2px 5px 92px; }
.tl-failure code { color: inherit; }
.toast { position: fixed; right: 20px; bottom: 20px; background: #1e293b; color: #fff; padding: 9px 14px; border-radius: 8px; font-size: 13px; opacity: 0; transform: translateY(8px); transition: opacity .2s, transform .2s; pointer-events: none; max-width: 420px; }
.toast.show { opacity: 1; transform: none; }
.toast.bad { background: #991b1b; }
@media (max-width: 1000px) { main { grid-template-columns: 1fr; } }
`;
