/** Small shared pieces: status badges, ages, problem boxes, the confirm dialog, sparklines. */
import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Problem } from './api.js';

export function ago(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (Number.isNaN(s)) return '';
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '–';
  if (seconds < 60) return `${Math.round(seconds)}s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)}m`;
  if (seconds < 86_400) return `${(seconds / 3600).toFixed(1)}h`;
  return `${(seconds / 86_400).toFixed(1)}d`;
}

export const pct = (r: number | null | undefined) => (r === null || r === undefined ? '–' : `${Math.round(r * 100)}%`);
export const short = (commit: string | undefined) => (commit ?? '').slice(0, 7);
export const firstLine = (text: string | undefined, max = 72) => {
  const line = (text ?? '').split('\n')[0]!.trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
};

/** A status word as a badge: the word is always shown, colour only reinforces it. */
export function Status({ status }: { status: string }) {
  const tone = status === 'Succeeded' ? 'ok' : status === 'Failed' || status === 'Errored' ? 'bad' : status === 'Running' || status === 'Pending' ? 'busy' : 'muted';
  return html`<span class=${`badge ${tone}`}>${status}</span>`;
}

export function Badge({ tone, children, title }: { tone: string; children: unknown; title?: string }) {
  return html`<span class=${`badge ${tone}`} title=${title}>${children}</span>`;
}

/** The API's refusal, as it said it. */
export function ProblemBox({ problem, onDismiss }: { problem: Problem | undefined; onDismiss?: () => void }) {
  if (!problem) return null;
  return html`<div class="problem" role="alert">
    <strong>${problem.status ? `${problem.status} ` : ''}${problem.title ?? 'Error'}</strong>
    ${problem.detail ? html`<p>${problem.detail}</p>` : null}
    ${problem.errors?.length ? html`<ul>${problem.errors.map((e) => html`<li><code>${e.path}</code> ${e.message}</li>`)}</ul>` : null}
    ${onDismiss ? html`<button type="button" class="link" onClick=${onDismiss}>Dismiss</button>` : null}
  </div>`;
}

/**
 * A modal confirmation (native <dialog>: focus moves in, Escape cancels). `fields` lets the
 * caller ask for a comment or reason; `onConfirm` resolves a problem to show, or nothing.
 */
export function Confirm(props: {
  title: string;
  body: unknown;
  confirmLabel: string;
  danger?: boolean;
  field?: { label: string; required?: boolean; multiline?: boolean };
  onConfirm: (text: string) => Promise<Problem | undefined>;
  onClose: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem | undefined>();
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
  }, []);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (props.field?.required && !text.trim()) return;
    setBusy(true);
    setProblem(undefined);
    const p = await props.onConfirm(text.trim());
    setBusy(false);
    if (p) setProblem(p);
    else props.onClose();
  };
  const id = 'confirm-field';
  return html`<dialog ref=${ref} class="confirm" aria-labelledby="confirm-title" onClose=${props.onClose} onCancel=${props.onClose}>
    <form method="dialog" onSubmit=${submit}>
      <h2 id="confirm-title">${props.title}</h2>
      <div>${props.body}</div>
      ${props.field
        ? html`<label for=${id}>${props.field.label}${props.field.required ? ' (required)' : ' (optional)'}</label>
            ${props.field.multiline
              ? html`<textarea id=${id} rows="3" value=${text} onInput=${(e: Event) => setText((e.target as HTMLTextAreaElement).value)} required=${props.field.required}></textarea>`
              : html`<input id=${id} value=${text} onInput=${(e: Event) => setText((e.target as HTMLInputElement).value)} required=${props.field.required} />`}`
        : null}
      <${ProblemBox} problem=${problem} />
      <div class="actions">
        <button type="button" onClick=${props.onClose}>Cancel</button>
        <button type="submit" class=${props.danger ? 'danger' : 'primary'} disabled=${busy}>${busy ? 'Working…' : props.confirmLabel}</button>
      </div>
    </form>
  </dialog>`;
}

/** A tiny bar chart of a daily series (deployments above, failures in red), with a text alternative. */
export function Bars({ days, label }: { days: { date: string; deployments: number; failures: number }[]; label: string }) {
  const max = Math.max(1, ...days.map((d) => d.deployments + d.failures));
  const w = 4;
  const hgt = 28;
  return html`<svg class="bars" width=${days.length * w} height=${hgt} viewBox=${`0 0 ${days.length * w} ${hgt}`} role="img" aria-label=${label}>
    ${days.map((d, i) => {
      const ok = (d.deployments / max) * hgt;
      const bad = (d.failures / max) * hgt;
      return html`<g><title>${d.date}: ${d.deployments} deployed, ${d.failures} failed</title>
        <rect x=${i * w} y=${hgt - ok} width=${w - 1} height=${ok} class="ok" />
        <rect x=${i * w} y=${hgt - ok - bad} width=${w - 1} height=${bad} class="bad" /></g>`;
    })}
  </svg>`;
}
