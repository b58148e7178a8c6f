// Route templates of HTTP triggers, as the real host (ASP.NET Core routing) understands them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseRouteTemplate, RouteTable } from '../../local/host/routes.js';

function table(routes: [template: string, methods: string[], name: string][], prefix = 'api') {
  const t = new RouteTable<string>();
  for (const [template, methods, name] of routes) t.add(prefix, parseRouteTemplate(template), methods, name);
  return t;
}

describe('route templates', () => {
  const t = table([
    ['hello/{name?}', ['GET'], 'hello'],
    ['items/{id:int}', ['GET'], 'itemById'],
    ['items/{slug:alpha:maxlength(5)}', ['GET'], 'itemBySlug'],
    ['files/{*rest}', ['GET'], 'files'],
    ['things', ['GET'], 'thingsGet'],
    ['things', ['PUT', 'POST'], 'thingsWrite'],
    ['range/{n:range(1,10)}/{flag:bool}', [], 'range'],
    ['orders/{id:guid}', ['GET'], 'order'],
    ['big/{n:long}', ['GET'], 'big'],
    ['at/{when:datetime}', ['GET'], 'at'],
    ['re/{code:regex(^[a-z]{{2}}-\\d+$)}', ['GET'], 'regex'],
    ['dl/{file}.{ext}', ['GET'], 'complex'],
    ['lang/{lang=en}', ['GET'], 'defaulted'],
    ['len/{s:length(2,3)}', ['GET'], 'len'],
    ['num/{x:double}/{y:min(5)}', ['GET'], 'num'],
  ]);

  const cases: [method: string, path: string, expected: string | 404 | 405, params?: Record<string, string>][] = [
    ['GET', '/api/hello', 'hello', {}],
    ['GET', '/api/hello/bob', 'hello', { name: 'bob' }],
    ['GET', '/api/hello/bob/', 'hello', { name: 'bob' }],
    ['GET', '/API/Hello/Bob', 'hello', { name: 'Bob' }],
    ['GET', '/api/hello/a%20b', 'hello', { name: 'a b' }],
    ['GET', '/api/items/42', 'itemById', { id: '42' }],
    ['GET', '/api/items/-7', 'itemById', { id: '-7' }],
    ['GET', '/api/items/99999999999', 404],
    ['GET', '/api/items/abc', 'itemBySlug', { slug: 'abc' }],
    ['GET', '/api/items/abcdef', 404],
    ['GET', '/api/items/a1', 404],
    ['GET', '/api/files', 'files', {}],
    ['GET', '/api/files/a', 'files', { rest: 'a' }],
    ['GET', '/api/files/a/b/c.txt', 'files', { rest: 'a/b/c.txt' }],
    ['GET', '/api/things', 'thingsGet', {}],
    ['PUT', '/api/things', 'thingsWrite', {}],
    ['POST', '/api/things', 'thingsWrite', {}],
    ['DELETE', '/api/things', 405],
    ['PATCH', '/api/range/3/true', 'range', { n: '3', flag: 'true' }],
    ['GET', '/api/range/11/true', 404],
    ['GET', '/api/range/3/maybe', 404],
    ['GET', '/api/orders/6f1c1b8e-4c3a-4d5e-9f00-1234567890ab', 'order', { id: '6f1c1b8e-4c3a-4d5e-9f00-1234567890ab' }],
    ['GET', '/api/orders/not-a-guid', 404],
    ['GET', '/api/big/9007199254740993', 'big', { n: '9007199254740993' }],
    ['GET', '/api/big/99999999999999999999', 404],
    ['GET', '/api/at/2026-01-02T03:04:05Z', 'at', { when: '2026-01-02T03:04:05Z' }],
    ['GET', '/api/at/yesterday', 404],
    ['GET', '/api/re/ab-12', 'regex', { code: 'ab-12' }],
    ['GET', '/api/re/abc-1', 404],
    ['GET', '/api/dl/report.pdf', 'complex', { file: 'report', ext: 'pdf' }],
    ['GET', '/api/lang', 'defaulted', { lang: 'en' }],
    ['GET', '/api/lang/fr', 'defaulted', { lang: 'fr' }],
    ['GET', '/api/len/ab', 'len', { s: 'ab' }],
    ['GET', '/api/len/abcd', 404],
    ['GET', '/api/num/1.5e3/5', 'num', { x: '1.5e3', y: '5' }],
    ['GET', '/api/num/x/5', 404],
    ['GET', '/api/num/1/4', 404],
    ['GET', '/api/nothing', 404],
    ['GET', '/other/hello', 404],
  ];

  for (const [method, path, expected, params] of cases) {
    it(`${method} ${path} -> ${expected}`, () => {
      const m = t.match(method, path);
      if (expected === 404) assert.equal(m.kind, 'not-found');
      else if (expected === 405) {
        assert.equal(m.kind, 'method-not-allowed');
        if (m.kind === 'method-not-allowed') assert.deepEqual(m.allow, ['GET', 'POST', 'PUT']);
      } else {
        assert.equal(m.kind, 'found', `expected ${expected}`);
        if (m.kind === 'found') {
          assert.equal(m.entry.target, expected);
          assert.deepEqual(m.params, params);
        }
      }
    });
  }

  it('supports an empty route prefix', () => {
    const t2 = table([['ping', ['GET'], 'ping'], ['', ['GET'], 'root']], '');
    const m = t2.match('GET', '/ping');
    assert.equal(m.kind === 'found' && m.entry.target, 'ping');
    const r = t2.match('GET', '/');
    assert.equal(r.kind === 'found' && r.entry.target, 'root');
  });

  it('refuses a second function on the same route and method', () => {
    const t3 = new RouteTable<string>();
    t3.add('api', parseRouteTemplate('orders/{id}'), ['GET'], 'a');
    t3.add('api', parseRouteTemplate('orders/{id}'), ['POST'], 'b');
    assert.throws(() => t3.add('api', parseRouteTemplate('Orders/{id}/'), ['GET', 'PUT'], 'c'), /already served by another function/);
    assert.throws(() => t3.add('api', parseRouteTemplate('orders/{id}'), [], 'd'), /already served/);
  });

  it('rejects malformed templates with a clear message', () => {
    assert.throws(() => parseRouteTemplate('a/{*rest}/b'), /catch-all parameter must be last/);
    assert.throws(() => parseRouteTemplate('a/{id'), /unbalanced/);
    assert.throws(() => parseRouteTemplate('a/{id:wat}'), /unsupported route constraint 'wat'/);
    assert.throws(() => parseRouteTemplate('a/{id}/{ID}'), /duplicate parameter/);
  });
});
