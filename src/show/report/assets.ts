/**
 * The page's inline CSS and script, shared by the HTML report and the dashboard. No external
 * fonts, scripts or images: a report opens offline from file://.
 *
 * The script: theme toggle (auto / light / dark, remembered when storage is available), instant
 * tooltips for chart elements (their SVG <title> moves to data-tip), and heatmap hover that reads
 * the exact cell value from the SVG's data-values (base64 Float32).
 */

export const PAGE_CSS = `
:root{--bg:#ffffff;--fg:#1b1f24;--muted:#57606a;--grid:#d8dee4;--card:#f6f8fa;--border:#d0d7de;--accent:#0072B2;--warn:#9a6700;color-scheme:light}
:root[data-theme=dark]{--bg:#0d1117;--fg:#e6edf3;--muted:#8b949e;--grid:#30363d;--card:#161b22;--border:#30363d;--accent:#56B4E9;--warn:#d29922;color-scheme:dark}
@media (prefers-color-scheme: dark){:root:not([data-theme=light]){--bg:#0d1117;--fg:#e6edf3;--muted:#8b949e;--grid:#30363d;--card:#161b22;--border:#30363d;--accent:#56B4E9;--warn:#d29922;color-scheme:dark}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header.top{display:flex;align-items:center;gap:16px;padding:12px 24px;border-bottom:1px solid var(--border);background:var(--bg)}
header.top h1{font-size:18px;margin:0;flex:1}
header.top .status{color:var(--muted);font-size:12px}
button,select,input{font:inherit;color:var(--fg);background:var(--card);border:1px solid var(--border);border-radius:6px;padding:4px 10px}
button{cursor:pointer}
main{max-width:1180px;margin:0 auto;padding:16px 24px 48px}
h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid var(--border);padding-bottom:4px}
h3{font-size:14px;margin:18px 0 6px}
.muted{color:var(--muted)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:10px;margin:10px 0 6px}
.card{background:var(--card);border:1px solid var(--border);border-radius:8px;padding:8px 12px}
.card .k{font-size:11px;color:var(--muted);text-transform:uppercase;letter-spacing:.03em}
.card .v{font-size:19px;white-space:nowrap;font-weight:600;font-variant-numeric:tabular-nums}
.card .s{font-size:11px;color:var(--muted)}
.card.wide{grid-column:span 2}
.verdict-replan .v{color:var(--accent)}
.verdict-keep .v{color:var(--warn)}
figure{margin:14px 0;background:var(--card);border:1px solid var(--border);border-radius:8px;padding:10px 12px}
figcaption{font-weight:600;margin-bottom:2px}
figcaption .muted{font-weight:400;font-size:12px}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:12px}
@media (max-width:900px){.grid2{grid-template-columns:1fr}}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums;font-size:13px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--border);vertical-align:top}
th{color:var(--muted);font-weight:600}
td.num{text-align:right}
table.gate-table,table.sim-setup,table.plan-table{width:auto;min-width:50%}
table.gate-table th,table.sim-setup th{width:22em}
.gate-headline{font-weight:600}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;word-break:break-all}
.notes li{color:var(--warn)}
.chart{display:block;max-width:100%;height:auto;color:var(--fg)}
.chart text{fill:currentColor;font-size:11px}
.chart .axis-label{font-size:12px;fill:var(--muted)}
.chart .grid{stroke:var(--grid);stroke-width:1}
.chart .domain,.chart .tick-mark{stroke:var(--muted)}
.chart .reference{stroke:var(--fg);stroke-width:1.5;opacity:.8}
.chart .heatmap-cursor{stroke:var(--fg);stroke-width:1.5}
.chart .heatmap-hit{cursor:crosshair}
.chart rect.bar:hover{opacity:.75}
.chart rect.hover:hover{fill:var(--fg);fill-opacity:.06}
.tooltip{position:fixed;pointer-events:none;z-index:10;background:var(--fg);color:var(--bg);padding:6px 8px;border-radius:6px;font-size:12px;white-space:pre-line;max-width:360px;box-shadow:0 2px 8px rgba(0,0,0,.3)}
.tooltip[hidden]{display:none}
form.playground{display:flex;flex-wrap:wrap;gap:10px;align-items:end}
form.playground label{display:flex;flex-direction:column;font-size:12px;color:var(--muted);gap:2px}
.error{color:var(--warn)}
.scroll{overflow-x:auto}
`;

export const PAGE_SCRIPT = `
(function(){
  var root=document.documentElement;
  var order=['auto','light','dark'];
  function applyTheme(t){if(t==='auto')root.removeAttribute('data-theme');else root.setAttribute('data-theme',t);
    var b=document.getElementById('theme-toggle');if(b)b.textContent='Theme: '+t;}
  var saved='auto';try{saved=localStorage.getItem('ballast-theme')||'auto';}catch(e){}
  applyTheme(saved);
  document.addEventListener('click',function(ev){var b=ev.target&&ev.target.closest&&ev.target.closest('#theme-toggle');if(!b)return;
    var cur=root.getAttribute('data-theme')||'auto';var next=order[(order.indexOf(cur)+1)%order.length];
    applyTheme(next);try{localStorage.setItem('ballast-theme',next);}catch(e){}});
  var tip=document.querySelector('.tooltip');
  function show(text,x,y){if(!tip)return;tip.textContent=text;tip.hidden=false;
    var w=tip.offsetWidth,h=tip.offsetHeight;var px=x+14,py=y+14;
    if(px+w>window.innerWidth-4)px=x-w-14;if(py+h>window.innerHeight-4)py=y-h-14;
    tip.style.left=Math.max(4,px)+'px';tip.style.top=Math.max(4,py)+'px';}
  function hide(){if(tip)tip.hidden=true;}
  function decode(b64){var s=atob(b64);var u=new Uint8Array(s.length);for(var i=0;i<s.length;i++)u[i]=s.charCodeAt(i);return new Float32Array(u.buffer);}
  function fmt(v){if(!isFinite(v))return String(v);var a=Math.abs(v);if(a>=1e6)return (v/1e6).toPrecision(3)+'M';if(a>=1e4)return (v/1e3).toPrecision(3)+'K';
    if(a>=100)return v.toFixed(0);if(a>=1)return String(Math.round(v*1000)/1000);return v.toPrecision(3);}
  window.ballastFormat=fmt;
  function prepare(scope){
    scope.querySelectorAll('svg.chart rect.bar, svg.chart rect.hover, svg.chart line.reference').forEach(function(el){
      var t=el.querySelector('title');if(t){el.setAttribute('data-tip',t.textContent);t.remove();}});
    scope.querySelectorAll('svg.heatmap').forEach(function(svg){
      if(svg.__ballast)return;svg.__ballast=true;
      var vals=decode(svg.getAttribute('data-values'));var R=+svg.getAttribute('data-rows'),C=+svg.getAttribute('data-cols');
      var plot=svg.getAttribute('data-plot').split(',').map(Number);var labels=JSON.parse(svg.getAttribute('data-row-labels'));
      var rowName=svg.getAttribute('data-row-name'),colName=svg.getAttribute('data-col-name'),unit=svg.getAttribute('data-unit');
      var totals=svg.getAttribute('data-row-totals');totals=totals?JSON.parse(totals):null;
      var hit=svg.querySelector('.heatmap-hit'),cur=svg.querySelector('.heatmap-cursor');
      hit.addEventListener('pointermove',function(ev){
        var m=svg.getScreenCTM();if(!m)return;var pt=new DOMPoint(ev.clientX,ev.clientY).matrixTransform(m.inverse());
        var c=Math.floor((pt.x-plot[0])/plot[2]*C),r=Math.floor((pt.y-plot[1])/plot[3]*R);
        if(c<0||r<0||c>=C||r>=R){hide();return;}
        var v=vals[r*C+c];var text=rowName+' '+labels[r]+' · '+colName+' '+c+'\\n'+fmt(v)+' '+unit;
        if(totals)text+='\\n'+fmt(v*totals[r]/C)+' tokens ('+(100*v/C).toFixed(2)+'% of the layer)';
        cur.setAttribute('x',plot[0]+c*plot[2]/C);cur.setAttribute('y',plot[1]+r*plot[3]/R);cur.setAttribute('visibility','visible');
        if(tip){tip.setAttribute('data-row',String(r));tip.setAttribute('data-col',String(c));tip.setAttribute('data-value',String(v));}
        show(text,ev.clientX,ev.clientY);});
      hit.addEventListener('pointerleave',function(){hide();cur.setAttribute('visibility','hidden');});
    });
  }
  window.ballastPrepare=prepare;
  document.addEventListener('pointerover',function(ev){var el=ev.target&&ev.target.closest&&ev.target.closest('[data-tip]');
    if(el)show(el.getAttribute('data-tip'),ev.clientX,ev.clientY);});
  document.addEventListener('pointermove',function(ev){var el=ev.target&&ev.target.closest&&ev.target.closest('[data-tip]');
    if(el)show(el.getAttribute('data-tip'),ev.clientX,ev.clientY);else if(!(ev.target.classList&&ev.target.classList.contains('heatmap-hit')))hide();});
  prepare(document);
})();
`;
