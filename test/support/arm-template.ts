/**
 * Reading an ARM deployment template (infra/main.json) for tests: resources, app settings,
 * role assignments, and the small part of the ARM expression language the template uses
 * (`parameters('x')`, `variables('x')`, `variables('roles').key`, `resourceId('Type', ...)`).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** One resource of the template (the fields the tests read). */
export interface ArmResource {
  type: string;
  apiVersion: string;
  name: string;
  condition?: string | boolean;
  scope?: string;
  kind?: string;
  dependsOn?: string[];
  properties?: Record<string, any>;
  [key: string]: unknown;
}

/** A deployment template. */
export interface ArmTemplate {
  $schema: string;
  contentVersion: string;
  parameters: Record<string, { type: string; defaultValue?: unknown; metadata?: { description?: string } }>;
  variables: Record<string, any>;
  resources: ArmResource[];
  outputs: Record<string, { type: string; value: string }>;
}

/** Loads infra/main.json from the repository root. */
export function loadTemplate(root: string): ArmTemplate {
  return JSON.parse(readFileSync(join(root, 'infra', 'main.json'), 'utf8')) as ArmTemplate;
}

/** Every string in a JSON value (deep). */
export function allStrings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(allStrings);
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => [k, ...allStrings(v)]);
  return [];
}

/** Names used as `fn('name')` in the template's expressions, e.g. every `parameters('x')`. */
export function referencedNames(template: unknown, fn: 'parameters' | 'variables'): Set<string> {
  const out = new Set<string>();
  const re = new RegExp(`\\b${fn}\\('([^']+)'\\)`, 'g');
  for (const s of allStrings(template)) for (const m of s.matchAll(re)) out.add(m[1]!);
  return out;
}

/** Replaces `variables('x')` whose value is a string expression with that expression (one level at a time, until stable). */
export function expandVariables(template: ArmTemplate, expression: string): string {
  let out = expression;
  for (let i = 0; i < 10; i++) {
    const next = out.replace(/variables\('([^']+)'\)(?!\.)/g, (whole, name: string) => {
      const v = template.variables[name];
      if (typeof v !== 'string') return whole;
      return v.startsWith('[') && v.endsWith(']') ? v.slice(1, -1) : `'${v}'`;
    });
    if (next === out) break;
    out = next;
  }
  return out;
}

/** Resource types named by `resourceId('Type', ...)` / `extensionResourceId(x, 'Type', ...)` in an expression. */
export function resourceIdTypes(expression: string): string[] {
  const out: string[] = [];
  for (const m of expression.matchAll(/resourceId\(\s*'([A-Za-z.]+\/[A-Za-z/]+)'/g)) out.push(m[1]!);
  for (const m of expression.matchAll(/extensionResourceId\([^']*?(?:\([^)]*\)[^']*?)*,\s*'([A-Za-z.]+\/[A-Za-z/]+)'/g)) out.push(m[1]!);
  return out;
}

/** The app settings of the Function App (`siteConfig.appSettings`), name -> value expression. */
export function appSettings(template: ArmTemplate): Map<string, string> {
  const site = template.resources.find((r) => r.type === 'Microsoft.Web/sites');
  const list = (site?.properties?.siteConfig?.appSettings ?? []) as { name: string; value: string }[];
  return new Map(list.map((s) => [s.name, s.value]));
}

/** A role assignment, with its role definition GUID and scope resource type resolved. */
export interface RoleAssignment {
  roleId: string;
  roleKey: string | undefined;
  scopeType: string;
  scope: string;
  conditional: boolean;
  principal: string;
  description: string;
}

/** Every role assignment of the template. */
export function roleAssignments(template: ArmTemplate): RoleAssignment[] {
  const roles = (template.variables.roles ?? {}) as Record<string, string>;
  return template.resources
    .filter((r) => r.type === 'Microsoft.Authorization/roleAssignments')
    .map((r) => {
      const def = String(r.properties?.roleDefinitionId ?? '');
      const key = /variables\('roles'\)\.(\w+)/.exec(def)?.[1];
      const literal = /([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/i.exec(def)?.[1];
      const scope = String(r.scope ?? '');
      // `format('Microsoft.Storage/storageAccounts/{0}', ...)` -> Microsoft.Storage/storageAccounts
      const path = /format\('([^']+)'/.exec(scope)?.[1] ?? scope;
      const segs = path.split('/');
      const scopeType = [segs[0], ...segs.slice(1).filter((_, i) => i % 2 === 0)].join('/');
      return {
        roleId: (key ? roles[key] : literal) ?? '',
        roleKey: key,
        scopeType,
        scope,
        conditional: r.condition !== undefined,
        principal: String(r.properties?.principalId ?? ''),
        description: String(r.properties?.description ?? ''),
      };
    });
}
