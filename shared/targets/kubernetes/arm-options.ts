/**
 * Client options shared by the Azure Resource Manager clients of the AKS and ACR adapters, from
 * the `arm` settings. The endpoint and the token audience are separate settings: a sovereign
 * cloud has both its own endpoint and its own audience, while a proxy or private endpoint of
 * public ARM moves only the endpoint. The SDK clients would otherwise ask for a token for
 * `<endpoint>/.default`, which Entra ID cannot issue for a proxy's address, so the scope is always
 * given explicitly.
 */
/** The `arm` settings (`CONVEYOR_ARM_ENDPOINT`, `CONVEYOR_ARM_CA`, `CONVEYOR_ARM_AUDIENCE`). */
export interface ArmSettings {
  endpoint?: string;
  ca?: string;
  audience?: string;
}

/** The audience of public Azure Resource Manager. */
export const PUBLIC_ARM_AUDIENCE = 'https://management.azure.com';

/** What the `@azure/arm-*` clients take for the endpoint, the token scope and TLS. */
export interface ArmClientOptions {
  endpoint?: string;
  credentialScopes: string[];
  tlsOptions?: { ca: string };
}

/** The scope Conveyor asks its credential for when calling ARM (`<audience>/.default`). */
export function armScope(arm: ArmSettings): string {
  return `${(arm.audience ?? PUBLIC_ARM_AUDIENCE).replace(/\/+$/, '')}/.default`;
}

/** ARM client options for `arm` settings (endpoint, CA and audience; all optional). */
export function armClientOptions(arm: ArmSettings): ArmClientOptions {
  return {
    ...(arm.endpoint ? { endpoint: arm.endpoint } : {}),
    credentialScopes: [armScope(arm)],
    ...(arm.ca ? { tlsOptions: { ca: arm.ca } } : {}),
  };
}
