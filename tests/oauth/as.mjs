// An OAuth 2.1 authorization server on loopback for the bridge's end-to-end tests (oidc-provider,
// opaque access tokens, client_credentials, RFC 7662 introspection, RFC 7009 revocation, RFC 8707
// resource indicators). Prints "AS_URL <issuer>" once it listens; stops on SIGTERM or stdin EOF.
//
// Environment: AGENT_DID (the DID put into agent-a's tokens as the claim
// https://handshake.dev/agent_did).
// Arguments: --tls-cert CERT.pem --tls-key KEY.pem serve https (node's https module) instead.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { Provider } from 'oidc-provider';

const arg = (name) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const tlsCert = arg('--tls-cert'), tlsKey = arg('--tls-key');
const scopes = ['invoices:read', 'files:read', 'files:write', 'tools:call', 'unmapped:thing'];
const server = tlsCert
  ? https.createServer({ cert: fs.readFileSync(tlsCert), key: fs.readFileSync(tlsKey) })
  : http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `${tlsCert ? 'https' : 'http'}://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [
    { client_id: 'agent-a', client_secret: 'agent-a-secret', grant_types: ['client_credentials'],
      response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic',
      scope: scopes.join(' ') },
    { client_id: 'agent-noclaim', client_secret: 'agent-noclaim-secret', grant_types: ['client_credentials'],
      response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic',
      scope: scopes.join(' ') },
    // The resource servers that introspect: one with HTTP Basic, one with client_secret_post.
    { client_id: 'bridge-basic', client_secret: 'bridge-basic-secret', grant_types: [], response_types: [],
      redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic' },
    { client_id: 'bridge-post', client_secret: 'bridge-post-secret', grant_types: [], response_types: [],
      redirect_uris: [], token_endpoint_auth_method: 'client_secret_post' },
  ],
  scopes,
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      // A token for any resource the client names, audience-bound to it, opaque (introspectable).
      getResourceServerInfo: async (ctx, resourceIndicator) => ({
        scope: scopes.join(' '),
        audience: resourceIndicator,
        accessTokenFormat: 'opaque',
      }),
    },
  },
  ttl: { ClientCredentials: 600 },
  extraTokenClaims: async (ctx, token) =>
    token.clientId === 'agent-a' ? { 'https://handshake.dev/agent_did': process.env.AGENT_DID || '' } : undefined,
});
server.on('request', provider.callback());
console.log(`AS_URL ${issuer}`);

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
