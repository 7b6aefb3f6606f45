/**
 * The dashboard page: the report's views (re-rendered on the server on every update and swapped in
 * by a small inline script listening to /api/stream), plus the plan playground, which posts the chosen
 * solver, rank count and replica budget to /api/plan and shows the predicted effect.
 */
import { esc } from '../charts/svg.ts';
import { renderPage } from '../report/html.ts';

const DASHBOARD_SCRIPT = `
(function(){
  var content=document.getElementById('content');var status=document.getElementById('live-status');
  var shown=Number(document.body.getAttribute('data-version')||'0');var want=shown;var busy=false;
  function setStatus(t){if(status)status.textContent=t;}
  async function refresh(){
    if(busy)return;busy=true;
    try{
      while(want>shown){
        var target=want;
        var r=await fetch('/api/body',{cache:'no-store'});
        var v=Number(r.headers.get('x-ballast-version')||target);
        content.innerHTML=await r.text();
        window.ballastPrepare(content);
        shown=Math.max(v,target);document.body.setAttribute('data-version',String(shown));
        setStatus('live · update '+shown+' at '+new Date().toLocaleTimeString());
      }
    }catch(e){setStatus('update failed: '+e);}finally{busy=false;}
  }
  var es=new EventSource('/api/stream');
  es.addEventListener('update',function(ev){var d=JSON.parse(ev.data);if(d.status)setStatus(d.status);if(d.version>want){want=d.version;refresh();}});
  es.addEventListener('status',function(ev){setStatus(JSON.parse(ev.data).status);});
  es.onerror=function(){setStatus('disconnected from the dashboard server; retrying…');};
  var form=document.getElementById('playground-form');var out=document.getElementById('playground-result');
  if(form)form.addEventListener('submit',async function(ev){
    ev.preventDefault();var fd=new FormData(form);
    var body={solver:fd.get('solver'),ranks:Number(fd.get('ranks')),redundantSlots:Number(fd.get('redundant'))};
    out.setAttribute('aria-busy','true');out.innerHTML='<p class="muted">solving…</p>';
    try{
      var r=await fetch('/api/plan',{method:'POST',headers:{'content-type':'application/json'},body:JSON.stringify(body)});
      var j=await r.json();
      if(!r.ok){out.innerHTML='';var p=document.createElement('p');p.className='error';p.textContent=j.error||('HTTP '+r.status);out.appendChild(p);}
      else{out.innerHTML=j.html;window.ballastPrepare(out);}
    }catch(e){out.textContent=String(e);}
    out.removeAttribute('aria-busy');
  });
})();
`;

export interface DashboardPageOptions {
  title: string;
  body: string;
  version: number;
  status: string;
  solvers: string[];
  defaultSolver: string;
  ranks: number;
  redundantSlots: number;
}

export function renderDashboardPage(o: DashboardPageOptions): string {
  const options = o.solvers.map((s) => `<option value="${esc(s)}"${s === o.defaultSolver ? ' selected' : ''}>${esc(s)}</option>`).join('');
  const playground = `<section id="playground"><h2>Plan playground</h2>
<p class="muted">Try a solver, EP size and replica budget on the data shown above; the server solves and scores it against the current placement.</p>
<form id="playground-form" class="playground">
<label>solver<select name="solver">${options}</select></label>
<label>EP ranks<input name="ranks" type="number" min="1" step="1" value="${o.ranks}"></label>
<label>redundant slots per layer<input name="redundant" type="number" min="0" step="1" value="${o.redundantSlots}"></label>
<button type="submit">Solve and predict</button></form>
<div id="playground-result"></div></section>`;
  const page = renderPage({
    title: o.title,
    body: o.body,
    headerExtra: `<span class="status" id="live-status" role="status">${esc(o.status)}</span>`,
    script: DASHBOARD_SCRIPT,
  });
  return page
    .replace('<body>', `<body data-version="${o.version}">`)
    .replace('<div class="tooltip"', `<div class="playground-wrap" style="max-width:1180px;margin:0 auto;padding:0 24px 48px">${playground}</div><div class="tooltip"`);
}
