/** The dashboard's entry: sign-in, the header, and hash routing between the pages. */
import { html, render } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiProblem, loadSession, saveSession, type Problem, type Session } from './api.js';
import { AppPage, OverviewPage, RunPage, type Signed } from './pages.js';
import type { Identity } from './types.js';
import { ProblemBox } from './ui.js';

function useRoute(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash.replace(/^#/, '') || '/';
}

function SignIn({ onSignedIn, problem: initial }: { onSignedIn: (s: Signed) => void; problem?: Problem }) {
  const [key, setKey] = useState('');
  const [token, setToken] = useState('');
  const [problem, setProblem] = useState<Problem | undefined>(initial);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    const session: Session = { key: key.trim(), ...(token.trim() ? { token: token.trim() } : {}) };
    try {
      const me = await api<{ identity: Identity | null }>(session, 'GET', '/me');
      saveSession(session);
      onSignedIn({ session, identity: me.identity });
    } catch (err) {
      setProblem(err instanceof ApiProblem ? err.problem : { status: 0, title: String(err) });
    }
    setBusy(false);
  };
  return html`<main id="main" tabindex="-1" class="signin">
    <h1>Sign in to Conveyor</h1>
    <p>Both values stay in this browser tab only (session storage) and are sent in request headers, never in a URL. <code>npm start</code> prints them.</p>
    <form onSubmit=${submit}>
      <label for="key">Function key</label>
      <input id="key" name="key" type="password" autocomplete="off" required value=${key} onInput=${(e: Event) => setKey((e.target as HTMLInputElement).value)} />
      <label for="token">API token <span class="muted">(who you are; needed to approve, reject, roll back)</span></label>
      <input id="token" name="token" type="password" autocomplete="off" value=${token} onInput=${(e: Event) => setToken((e.target as HTMLInputElement).value)} />
      <p class="muted">In Azure with App Service authentication, you are already signed in through your organisation: leave the token empty.</p>
      <${ProblemBox} problem=${problem} />
      <button type="submit" class="primary" disabled=${busy}>${busy ? 'Signing in…' : 'Sign in'}</button>
    </form>
  </main>`;
}

function App() {
  const route = useRoute();
  const [signed, setSigned] = useState<Signed | undefined>();
  const [checking, setChecking] = useState(true);
  const [problem, setProblem] = useState<Problem | undefined>();
  useEffect(() => {
    const session = loadSession();
    if (!session) {
      setChecking(false);
      return;
    }
    api<{ identity: Identity | null }>(session, 'GET', '/me')
      .then((me) => setSigned({ session, identity: me.identity }))
      .catch((err: unknown) => {
        saveSession(undefined);
        if (err instanceof ApiProblem) setProblem(err.problem);
      })
      .finally(() => setChecking(false));
  }, []);
  const signOut = () => {
    saveSession(undefined);
    setSigned(undefined);
  };
  let page;
  if (checking) page = html`<main id="main" tabindex="-1"><p class="loading">Loading…</p></main>`;
  else if (!signed) page = html`<${SignIn} onSignedIn=${setSigned} problem=${problem} />`;
  else {
    const appMatch = /^\/apps\/([^/]+)$/.exec(route);
    const runMatch = /^\/runs\/([^/]+)$/.exec(route);
    if (appMatch) page = html`<${AppPage} key=${route} signed=${signed} app=${decodeURIComponent(appMatch[1]!)} />`;
    else if (runMatch) page = html`<${RunPage} key=${route} signed=${signed} runId=${decodeURIComponent(runMatch[1]!)} />`;
    else page = html`<${OverviewPage} signed=${signed} />`;
  }
  return html`<a class="skip" href="#main" onClick=${(e: Event) => {
      e.preventDefault();
      document.getElementById('main')?.focus();
    }}>Skip to content</a>
    <header>
      <a class="brand" href="#/">Conveyor</a>
      ${signed
        ? html`<span class="who">${signed.identity ? html`Signed in as <strong>${signed.identity.name ?? signed.identity.id}</strong>` : 'Read-only (no identity)'}</span>
            <button type="button" class="link" onClick=${signOut}>Sign out</button>`
        : null}
    </header>
    ${page}`;
}

const root = document.getElementById('app')!;
root.textContent = '';
render(html`<${App} />`, root);
