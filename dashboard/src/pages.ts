/** The pages: apps overview, one app, one run. */
import { html } from 'htm/preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, apiText, ApiProblem, poll, type Problem, type Session } from './api.js';
import type { EnvironmentMetrics, EnvironmentView, Identity, LedgerRecord, Operation, Overview, OverviewApp, Run, RunApproval, RunSummary } from './types.js';
import { ago, Badge, Bars, Confirm, duration, firstLine, pct, ProblemBox, short, Status } from './ui.js';

/** Who is signed in, and with which credentials. */
export interface Signed {
  session: Session;
  identity: Identity | null;
}

const TERMINAL = new Set(['Succeeded', 'Failed', 'Errored', 'Aborted', 'Superseded', 'Skipped']);
const enc = encodeURIComponent;

/** Polls `path` while mounted; the latest value and the latest problem. */
function usePoll<T>(session: Session, path: string | undefined, intervalMs = 1000): { data: T | undefined; problem: Problem | undefined } {
  const [data, setData] = useState<T | undefined>();
  const [problem, setProblem] = useState<Problem | undefined>();
  useEffect(() => {
    setData(undefined);
    if (!path) return undefined;
    return poll<T>(
      session,
      path,
      (v) => {
        setData(v);
        setProblem(undefined);
      },
      setProblem,
      intervalMs,
    );
  }, [path, session.key, session.token]);
  return { data, problem };
}

/** May this identity decide this approval (as far as the page can tell; the API decides)? */
export function mayDecide(who: Identity | null, approval: RunApproval | undefined, pusherId: string | undefined): boolean {
  if (!who || !approval?.waitingSince || approval.outcome) return false;
  const id = who.id.toLowerCase();
  const listed = (approval.approvers ?? []).some((a) => (a.startsWith('group:') ? who.groups.some((g) => g.toLowerCase() === a.slice(6).toLowerCase()) : a.toLowerCase() === id));
  if (!listed) return false;
  if (approval.allowSelfApproval !== true && pusherId?.toLowerCase() === id) return false;
  return !(approval.decisions ?? []).some((d) => d.by.toLowerCase() === id);
}

function health(e: EnvironmentView) {
  // The overview shows what the records say (cheap for every app, every second); the app page asks the target.
  if (e.health) {
    const title = `${e.health.reason} (${e.health.source === 'sweep' ? 'reconcile sweep' : 'deployment verification'}, ${ago(e.health.at)})`;
    if (e.health.state === 'healthy') return html`<${Badge} tone="ok" title=${title}>healthy<//>`;
    if (e.health.state === 'unknown') return html`<${Badge} tone="muted" title=${title}>health unknown<//>`;
    return html`<${Badge} tone="bad" title=${title}>${e.running ? 'unhealthy' : 'not running'}<//>`;
  }
  if (e.healthy) return html`<${Badge} tone="ok">healthy<//>`;
  if (e.running) return html`<${Badge} tone="busy">unhealthy<//>`;
  return html`<${Badge} tone="bad">not running<//>`;
}

function sync(e: EnvironmentView) {
  // The reconcile sweep's verdict when it has one; otherwise the target's report against the ledger.
  if (e.sync) {
    if (e.sync.state === 'in-sync') return html`<${Badge} tone="ok" title=${`checked ${ago(e.sync.checkedAt)}`}>in sync<//>`;
    if (e.sync.state === 'drifted') return html`<${Badge} tone="bad" title=${e.sync.reason}>drift<//>`;
    return html`<${Badge} tone="muted" title=${e.sync.reason}>sync unknown<//>`;
  }
  const actual = e.actual;
  if (!actual || actual.state === 'absent') return html`<${Badge} tone="muted" title="the target reports nothing deployed">sync unknown<//>`;
  if ((actual.commit && actual.commit !== e.commit) || (actual.revision !== undefined && actual.revision !== e.revision)) {
    return html`<${Badge} tone="bad" title=${`target runs ${short(actual.commit)} r${actual.revision}`}>drift<//>`;
  }
  return html`<${Badge} tone="ok">in sync<//>`;
}

function frozenBadge(e: EnvironmentView) {
  if (!e.freeze) return null;
  return html`<${Badge} tone="busy" title=${`${e.freeze.kind === 'rollback' ? 'frozen by a rollback' : 'frozen'}: ${e.freeze.by.id}, ${e.freeze.reason}`}>frozen<//>`;
}

/** What a run is doing in an environment right now, for the matrix. */
function activity(runs: RunSummary[], env: string) {
  for (const r of runs) {
    const e = r.environments[env];
    if (!e) continue;
    if (e.waitingSince) return html`<a class="badge busy" href=${`#/runs/${enc(r.runId)}`}>approval waiting</a>`;
    if (e.status === 'Running') return html`<a class="badge busy" href=${`#/runs/${enc(r.runId)}`}>deploying ${short(r.commit)}</a>`;
  }
  return null;
}

function EnvCell({ e, runs, env }: { e: EnvironmentView | undefined; runs: RunSummary[]; env: string }) {
  const now = activity(runs, env);
  if (!e) return html`<td class="empty">–${now ? html`<div class="badges">${now}</div>` : null}</td>`;
  return html`<td>
    <div class="rev"><strong>r${e.revision}</strong> <code title=${e.commit}>${short(e.commit)}</code> ${e.status === 'Failed' ? html`<${Status} status="Failed" />` : null}${e.kind === 'rollback' ? html` <${Badge} tone="muted">rollback<//>` : null}</div>
    ${e.headCommit ? html`<div class="msg" title=${e.headCommit.message}>${firstLine(e.headCommit.message, 48)}</div><div class="who">${firstLine(e.headCommit.author, 32)}</div>` : null}
    <div class="when"><time datetime=${e.finishedAt} title=${e.finishedAt}>${ago(e.finishedAt)}</time></div>
    <div class="badges">${health(e)} ${sync(e)} ${frozenBadge(e)}</div>
    ${now ? html`<div class="badges">${now}</div>` : null}
  </td>`;
}

/** Every app and environment: what runs where. */
export function OverviewPage({ signed }: { signed: Signed }) {
  // One request for every app, polled with its ETag: the server answers from the per-app matrix
  // snapshots, and 304 (nothing to transfer or render) while nothing changed.
  const { data, problem } = usePoll<Overview>(signed.session, '/overview');
  const columns = useMemo(() => {
    const cols: string[] = [];
    for (const a of data?.apps ?? []) for (const n of [...(a.runs[0]?.environmentOrder ?? []), ...a.environments.map((e) => e.name)]) if (!cols.includes(n)) cols.push(n);
    return cols;
  }, [data]);
  return html`<main id="main" tabindex="-1">
    <h1>Apps</h1>
    <${ProblemBox} problem=${problem} />
    ${!data ? html`<p class="loading" aria-busy="true">Loading…</p>` : null}
    ${data && data.apps.length === 0 ? html`<p>No apps registered yet. Register one with <code>conveyor apps register</code> or <code>PUT /api/apps/{app}</code>.</p>` : null}
    ${data && data.apps.length > 0
      ? html`<div class="scroll"><table class="matrix" aria-label="Environments of every app, in promotion order">
          <thead><tr><th scope="col">App</th>${columns.map((c) => html`<th scope="col">${c}</th>`)}</tr></thead>
          <tbody>${data.apps.map((a: OverviewApp) => {
            const running = a.runs.find((r) => !TERMINAL.has(r.status));
            return html`<tr>
              <th scope="row"><a href=${`#/apps/${enc(a.name)}`}>${a.name}</a>
                ${running ? html`<div><a class="badge busy" href=${`#/runs/${enc(running.runId)}`}>run ${running.status.toLowerCase()}</a></div>` : null}
              </th>
              ${columns.map((c) => html`<${EnvCell} e=${a.environments.find((e) => e.name === c)} runs=${a.runs} env=${c} />`)}
            </tr>`;
          })}</tbody>
        </table></div>
        ${data.apps.length < data.total ? html`<p class="loading" role="status">Loading more apps… (${data.apps.length} of ${data.total})</p>` : null}`
      : null}
  </main>`;
}

/** One app: environments as columns with their history, approvals waiting, runs, metrics. */
export function AppPage({ signed, app }: { signed: Signed; app: string }) {
  const { data: view, problem } = usePoll<{ environments: EnvironmentView[]; repoUrl: string }>(signed.session, `/apps/${enc(app)}`);
  const { data: runs } = usePoll<{ runs: Run[] }>(signed.session, `/apps/${enc(app)}/runs?pageSize=10`);
  const { data: metrics } = usePoll<{ environments: EnvironmentMetrics[] }>(signed.session, `/apps/${enc(app)}/metrics?window=30d`, 10_000);
  const [operation, setOperation] = useState<{ id: string; env: string; op?: Operation } | undefined>();
  const waiting = (runs?.runs ?? []).flatMap((r) => Object.entries(r.environments).filter(([, e]) => e.approval?.waitingSince && !e.approval.outcome && e.status === 'Pending').map(([env, e]) => ({ run: r, env, approval: e.approval! })));
  useEffect(() => {
    if (!operation || (operation.op && TERMINAL.has(operation.op.status))) return undefined;
    return poll<Operation>(signed.session, `/operations/${enc(operation.id)}`, (op) => setOperation((o) => (o && o.id === operation.id ? { ...o, op } : o)), () => undefined);
  }, [operation?.id]);
  return html`<main id="main" tabindex="-1">
    <p class="crumbs"><a href="#/">Apps</a> / ${app}</p>
    <h1>${app}</h1>
    ${view ? html`<p class="muted">${view.repoUrl}</p>` : null}
    <${ProblemBox} problem=${problem} />
    ${operation
      ? html`<div class="banner" role="status">Rollback of ${operation.env}: ${operation.op ? html`<${Status} status=${operation.op.status} /> ${operation.op.rolledBackTo ? `to r${operation.op.rolledBackTo}` : ''} ${operation.op.reason ?? ''}` : 'starting…'}
          ${operation.op && TERMINAL.has(operation.op.status) ? html` <button type="button" class="link" onClick=${() => setOperation(undefined)}>Dismiss</button>` : null}</div>`
      : null}
    ${waiting.length
      ? html`<section aria-labelledby="waiting-h"><h2 id="waiting-h">Approvals waiting</h2><ul>${waiting.map(
          (w) => html`<li><a href=${`#/runs/${enc(w.run.runId)}`}>${w.env} ← ${short(w.run.commit)} ${firstLine(w.run.headCommit?.message, 60)}</a> waiting ${ago(w.approval.waitingSince)} for ${w.approval.required ?? 1} of ${(w.approval.approvers ?? []).join(', ')}</li>`,
        )}</ul></section>`
      : null}
    <section aria-labelledby="envs-h"><h2 id="envs-h">Environments</h2>
      <div class="columns">${(view?.environments ?? []).map(
        (e) => html`<${EnvironmentColumn} signed=${signed} app=${app} env=${e} metrics=${metrics?.environments.find((m) => m.environment === e.name)} onRollback=${(id: string) => setOperation({ id, env: e.name })} />`,
      )}</div>
    </section>
    <section aria-labelledby="runs-h"><h2 id="runs-h">Runs</h2>
      ${runs ? html`<${RunList} runs=${runs.runs} />` : html`<p class="loading">Loading…</p>`}
    </section>
  </main>`;
}

function RunList({ runs }: { runs: Run[] }) {
  if (runs.length === 0) return html`<p>No runs yet.</p>`;
  return html`<div class="scroll"><table class="list">
    <thead><tr><th scope="col">Run</th><th scope="col">Status</th><th scope="col">Commit</th><th scope="col">Environments</th><th scope="col">Started</th></tr></thead>
    <tbody>${runs.map(
      (r) => html`<tr>
        <td><a href=${`#/runs/${enc(r.runId)}`}>${short(r.commit)}</a></td>
        <td><${Status} status=${r.status} /></td>
        <td>${firstLine(r.headCommit?.message, 60)} <span class="muted">${r.headCommit?.author ?? r.pusher?.name ?? ''}</span></td>
        <td>${(r.environmentOrder ?? Object.keys(r.environments)).map((n) => html`<span class="envmark">${n} <${Status} status=${r.environments[n]?.status ?? 'Pending'} /></span> `)}</td>
        <td><time datetime=${r.createdAt}>${ago(r.createdAt)}</time></td>
      </tr>`,
    )}</tbody>
  </table></div>`;
}

function EnvironmentColumn({ signed, app, env, metrics, onRollback }: { signed: Signed; app: string; env: EnvironmentView; metrics?: EnvironmentMetrics; onRollback: (operationId: string) => void }) {
  const { data: history } = usePoll<{ records: LedgerRecord[] }>(signed.session, `/apps/${enc(app)}/environments/${enc(env.name)}/history?pageSize=15`);
  const [dialog, setDialog] = useState<'rollback' | 'freeze' | 'unfreeze' | undefined>();
  const candidates = (history?.records ?? []).filter((r) => r.status === 'Succeeded' && r.revision !== env.revision);
  const [target, setTarget] = useState<number | undefined>();
  const chosen = target ?? candidates[0]?.revision;
  // The API says what this caller may do here (the same rules it applies to the request).
  const may = env.may ?? { rollback: signed.identity !== null, freeze: signed.identity !== null, unfreeze: signed.identity !== null };
  const canFreeze = env.freeze ? may.unfreeze : may.freeze;
  return html`<article class="env" aria-labelledby=${`env-${env.name}`}>
    <h3 id=${`env-${env.name}`}>${env.name}</h3>
    <p><strong>r${env.revision}</strong> <code>${short(env.commit)}</code> <${Status} status=${env.status} /></p>
    ${env.headCommit ? html`<p class="msg">${firstLine(env.headCommit.message, 60)} <span class="muted">${env.headCommit.author}</span></p>` : null}
    <p class="badges">${health(env)} ${sync(env)} ${frozenBadge(env)}</p>
    ${env.freeze ? html`<p class="muted">Frozen ${ago(env.freeze.at)} by ${env.freeze.by.id}: ${firstLine(env.freeze.reason, 100)}</p>` : null}
    ${metrics
      ? html`<div class="metrics" aria-label=${`${env.name} DORA metrics, 30 days`}>
          <${Bars} days=${metrics.daily} label=${`${metrics.deployments.succeeded} deployments and ${metrics.changeFailureRate.failures} failures in 30 days`} />
          <dl>
            <dt>Deploys/week</dt><dd>${metrics.deployments.perWeek.toFixed(1)}</dd>
            <dt>Lead time p50</dt><dd>${duration(metrics.leadTime.p50Seconds)}</dd>
            <dt>Change failure</dt><dd>${pct(metrics.changeFailureRate.rate)}</dd>
            <dt>Restore p50</dt><dd>${duration(metrics.timeToRestore.p50Seconds)}</dd>
            <dt>Rework</dt><dd>${pct(metrics.reworkRate.rate)}</dd>
          </dl>
        </div>`
      : null}
    ${(may.rollback && candidates.length) || canFreeze
      ? html`<div class="actions">
          ${may.rollback && candidates.length ? html`<button type="button" onClick=${() => setDialog('rollback')}>Roll back…</button>` : null}
          ${canFreeze ? html`<button type="button" onClick=${() => setDialog(env.freeze ? 'unfreeze' : 'freeze')}>${env.freeze ? 'Unfreeze…' : 'Freeze…'}</button>` : null}
        </div>`
      : null}
    ${signed.identity && !may.rollback && may.why?.rollback ? html`<p class="muted">${may.why.rollback}</p>` : null}
    <h4>History</h4>
    <ol class="timeline">${(history?.records ?? []).map(
      (r) => html`<li class=${r.status === 'Failed' ? 'failed' : r.kind}>
        <strong>r${r.revision}</strong> ${r.kind === 'rollback' ? `rollback to r${r.rolledBackTo ?? '?'}` : 'deploy'} <code>${short(r.commit)}</code> <${Status} status=${r.status} />
        <div class="muted"><time datetime=${r.finishedAt}>${ago(r.finishedAt)}</time>${r.requestedBy ? ` · ${r.requestedBy.name ?? r.requestedBy.id}` : ''}</div>
        ${r.reason ? html`<div class="muted reason">${firstLine(r.reason, 120)}</div>` : null}
      </li>`,
    )}</ol>
    ${dialog === 'rollback'
      ? html`<${Confirm}
          title=${`Roll back ${env.name}`}
          confirmLabel="Roll back"
          danger=${true}
          field=${{ label: 'Reason', multiline: true }}
          body=${html`<label for="rollback-target">Revision to redeploy</label>
            <select id="rollback-target" value=${String(chosen)} onChange=${(e: Event) => setTarget(Number((e.target as HTMLSelectElement).value))}>
              ${candidates.map((r) => html`<option value=${String(r.revision)}>r${r.revision} · ${short(r.commit)} · ${r.kind} · ${ago(r.finishedAt)}</option>`)}
            </select>
            <p>${env.name} now runs r${env.revision} (${short(env.commit)}).</p>`}
          onConfirm=${async (reason: string) => {
            try {
              const res = await api<{ operationId: string }>(signed.session, 'POST', `/apps/${enc(app)}/environments/${enc(env.name)}/rollback`, { toRevision: chosen, ...(reason ? { reason } : {}) });
              onRollback(res.operationId);
              return undefined;
            } catch (err) {
              return err instanceof ApiProblem ? err.problem : { status: 0, title: String(err) };
            }
          }}
          onClose=${() => setDialog(undefined)}
        />`
      : null}
    ${dialog === 'freeze' || dialog === 'unfreeze'
      ? html`<${Confirm}
          title=${`${dialog === 'freeze' ? 'Freeze' : 'Unfreeze'} ${env.name}`}
          confirmLabel=${dialog === 'freeze' ? 'Freeze' : 'Unfreeze'}
          field=${{ label: 'Reason', required: dialog === 'freeze' }}
          body=${html`<p>${dialog === 'freeze' ? 'No promotion will enter' : 'Promotions may enter'} ${env.name} ${dialog === 'freeze' ? 'until it is unfrozen (rollbacks still run)' : 'again, and a run waiting for it continues'}.</p>
            ${env.freeze ? html`<p class="muted">Frozen ${ago(env.freeze.at)} by ${env.freeze.by.id}: ${env.freeze.reason}</p>` : null}`}
          onConfirm=${async (reason: string) => {
            try {
              await api(signed.session, 'POST', `/apps/${enc(app)}/environments/${enc(env.name)}/${dialog}`, reason ? { reason } : {});
              return undefined;
            } catch (err) {
              return err instanceof ApiProblem ? err.problem : { status: 0, title: String(err) };
            }
          }}
          onClose=${() => setDialog(undefined)}
        />`
      : null}
  </article>`;
}

function timing(s: { startedAt?: string; finishedAt?: string }) {
  if (s.startedAt && s.finishedAt) return duration((Date.parse(s.finishedAt) - Date.parse(s.startedAt)) / 1000);
  if (s.startedAt) return `${duration((Date.now() - Date.parse(s.startedAt)) / 1000)}…`;
  return '';
}

/** A step's log: fetched once, or every second while the step runs. */
function Log({ signed, runId, step, live }: { signed: Signed; runId: string; step: string; live: boolean }) {
  const [text, setText] = useState<string | undefined>();
  const [problem, setProblem] = useState<Problem | undefined>();
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      try {
        const t = await apiText(signed.session, `/runs/${enc(runId)}/logs/${enc(step)}`);
        if (!stopped) {
          setText(t.length > 200_000 ? `…\n${t.slice(-200_000)}` : t);
          setProblem(undefined);
        }
      } catch (err) {
        if (!stopped && err instanceof ApiProblem && !(live && err.problem.status === 404)) setProblem(err.problem);
      }
      if (live && !stopped) timer = setTimeout(load, 1000);
    };
    void load();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }, [runId, step, live]);
  return html`<div class="log"><${ProblemBox} problem=${problem} /><pre tabindex="0" aria-label=${`${step} log`} aria-live=${live ? 'polite' : 'off'}>${text ?? 'Loading…'}</pre></div>`;
}

function Verification({ tries }: { tries: Record<string, unknown>[] | undefined }) {
  if (!tries?.length) return null;
  return html`<details><summary>${tries.length} verification ${tries.length === 1 ? 'try' : 'tries'}</summary><ol class="tries">${tries.map((t) => {
    const ok = t.ok === true;
    const detail = Object.entries(t)
      .filter(([k]) => k !== 'ok')
      .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
      .join(' · ');
    return html`<li><${Badge} tone=${ok ? 'ok' : 'bad'}>${ok ? 'passed' : 'failed'}<//> <span class="muted">${detail}</span></li>`;
  })}</ol></details>`;
}

/** The verification tries of a recorded deployment, from the ledger (read once it is recorded). */
function RecordedVerification({ signed, app, env, revision }: { signed: Signed; app: string; env: string; revision: number }) {
  const [tries, setTries] = useState<Record<string, unknown>[] | undefined>();
  useEffect(() => {
    let stopped = false;
    api<{ records: (LedgerRecord & { verification?: Record<string, unknown>[] })[] }>(signed.session, 'GET', `/apps/${enc(app)}/environments/${enc(env)}/history?pageSize=50`)
      .then((h) => {
        if (!stopped) setTries(h.records.find((r) => r.revision === revision)?.verification);
      })
      .catch(() => undefined);
    return () => {
      stopped = true;
    };
  }, [app, env, revision]);
  return html`<${Verification} tries=${tries} />`;
}

/** One run: stages and environments updating live, approvals, verification, logs. */
export function RunPage({ signed, runId }: { signed: Signed; runId: string }) {
  const { data: run, problem } = usePoll<Run>(signed.session, `/runs/${enc(runId)}`);
  const [deciding, setDeciding] = useState<{ env: string; decision: 'approve' | 'reject' } | undefined>();
  const [openLog, setOpenLog] = useState<string | undefined>();
  if (!run) return html`<main id="main" tabindex="-1"><p class="crumbs"><a href="#/">Apps</a></p><h1>Run</h1><${ProblemBox} problem=${problem} />${problem ? null : html`<p class="loading">Loading…</p>`}</main>`;
  const order = run.environmentOrder ?? Object.keys(run.environments);
  return html`<main id="main" tabindex="-1">
    <p class="crumbs"><a href="#/">Apps</a> / <a href=${`#/apps/${enc(run.app)}`}>${run.app}</a> / ${short(run.commit)}</p>
    <h1>Run <code>${short(run.commit)}</code> <${Status} status=${run.status} /></h1>
    <p>${run.headCommit ? html`<strong>${firstLine(run.headCommit.message, 100)}</strong> by ${run.headCommit.author}. ` : null}Pushed by ${run.pusher?.name ?? run.pusher?.id ?? 'unknown'} to ${run.branch ?? '?'}, <time datetime=${run.createdAt}>${ago(run.createdAt)}</time>.</p>
    ${run.reason ? html`<p class="reason">${run.reason}</p>` : null}
    <${ProblemBox} problem=${problem} />
    <section aria-labelledby="stages-h"><h2 id="stages-h">Stages</h2>
      <table class="list"><thead><tr><th scope="col">Stage</th><th scope="col">Status</th><th scope="col">Time</th><th scope="col">Log</th></tr></thead>
      <tbody>${Object.entries(run.stages).map(
        ([name, s]) => html`<tr><th scope="row">${name}</th><td><${Status} status=${s.status} /> ${s.reason ? html`<span class="muted">${firstLine(s.reason, 80)}</span>` : null}</td><td>${timing(s)}</td>
          <td>${s.logName || s.status === 'Running' ? html`<button type="button" class="link" aria-expanded=${openLog === name} onClick=${() => setOpenLog(openLog === name ? undefined : name)}>${openLog === name ? 'Hide log' : 'Show log'}</button>` : null}</td></tr>`,
      )}</tbody></table>
      ${openLog ? html`<${Log} signed=${signed} runId=${run.runId} step=${openLog} live=${!TERMINAL.has(run.stages[openLog]?.status ?? 'Running')} />` : null}
    </section>
    <section aria-labelledby="envs-h"><h2 id="envs-h">Environments</h2>
      <ol class="pipeline">${order.map((name) => {
        const e = run.environments[name] ?? { status: 'Pending' };
        const live = run.progress?.[name];
        const a = e.approval;
        const may = mayDecide(signed.identity, a, run.pusher?.id);
        return html`<li class="stage" data-env=${name}>
          <h3>${name} <${Status} status=${e.status} /></h3>
          ${live?.step ? html`<p class="live" role="status">${String(live.step).replace(/-/g, ' ')}</p>` : null}
          <p class="muted">${timing(e)}${e.revision ? ` · recorded as r${e.revision}` : ''}${e.rolledBackTo ? ` · rolled back to r${e.rolledBackTo}` : ''}</p>
          ${e.reason ? html`<p class="reason">${e.reason}</p>` : null}
          ${e.verification?.length
            ? html`<${Verification} tries=${e.verification as Record<string, unknown>[]} />`
            : e.revision
              ? html`<${RecordedVerification} signed=${signed} app=${run.app} env=${name} revision=${e.revision} />`
              : null}
          ${a
            ? html`<div class="approval">
                <p>Approval: ${a.required ?? 1} of ${(a.approvers ?? []).join(', ')}${a.waitingSince && !a.outcome ? html` · <${Badge} tone="busy">waiting since ${ago(a.waitingSince)}<//>` : ''}${a.outcome ? html` · <${Badge} tone=${a.outcome === 'approved' ? 'ok' : 'bad'}>${a.outcome}<//>` : ''}</p>
                ${(a.decisions ?? []).length
                  ? html`<ul class="decisions">${a.decisions!.map((d) => html`<li><${Badge} tone=${d.decision === 'approve' ? 'ok' : 'bad'}>${d.decision === 'approve' ? 'approved' : 'rejected'}<//> by ${d.name ?? d.by} <span class="muted">(${d.by}) <time datetime=${d.at} title=${d.at}>${ago(d.at)}</time></span>${d.comment ? html`: “${d.comment}”` : null}</li>`)}</ul>`
                  : null}
                ${may
                  ? html`<div class="actions"><button type="button" class="primary" onClick=${() => setDeciding({ env: name, decision: 'approve' })}>Approve…</button> <button type="button" class="danger" onClick=${() => setDeciding({ env: name, decision: 'reject' })}>Reject…</button></div>`
                  : null}
              </div>`
            : null}
        </li>`;
      })}</ol>
    </section>
    ${deciding
      ? html`<${Confirm}
          title=${`${deciding.decision === 'approve' ? 'Approve' : 'Reject'} ${deciding.env}`}
          confirmLabel=${deciding.decision === 'approve' ? 'Approve' : 'Reject'}
          danger=${deciding.decision === 'reject'}
          field=${{ label: 'Comment', multiline: true, required: deciding.decision === 'reject' }}
          body=${html`<p>${deciding.decision === 'approve' ? 'Let' : 'Stop'} <code>${short(run.commit)}</code> ${deciding.decision === 'approve' ? 'into' : 'from reaching'} ${deciding.env}, as ${signed.identity?.name ?? signed.identity?.id}.</p>`}
          onConfirm=${async (comment: string) => {
            try {
              await api(signed.session, 'POST', `/runs/${enc(run.runId)}/environments/${enc(deciding.env)}/approval`, { decision: deciding.decision, ...(comment ? { comment } : {}) });
              return undefined;
            } catch (err) {
              return err instanceof ApiProblem ? err.problem : { status: 0, title: String(err) };
            }
          }}
          onClose=${() => setDeciding(undefined)}
        />`
      : null}
  </main>`;
}
