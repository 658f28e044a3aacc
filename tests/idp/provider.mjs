// The OpenID Provider of the oidc-actix end-to-end tests: the npm `oidc-provider` package (an
// OpenID Certified implementation) configured to look like the Keycloak realm the Python reference
// tests against. Never use it outside tests: its users, secrets and admin routes are public.
//
// Run it by hand with `node tests/idp/provider.mjs --port 8080`; see README.md beside it for the
// flags, clients, users and test-only routes.

import * as crypto from 'node:crypto';
import * as http from 'node:http';
import { parseArgs } from 'node:util';

import Provider, { ExternalSigningKey, errors } from 'oidc-provider';

// ---------------------------------------------------------------------------------------------
// Options: every flag has an environment variable of the same name (IDP_ + upper snake case).

const OPTIONS = {
  host: { type: 'string', default: '127.0.0.1' },
  port: { type: 'string', default: '0' },
  'access-ttl': { type: 'string', default: '300' },
  'short-access-ttl': { type: 'string', default: '3' },
  'refresh-ttl': { type: 'string', default: '3600' },
  'device-ttl': { type: 'string', default: '600' },
  'device-interval': { type: 'string', default: '1' },
  audience: { type: 'string', default: '' },
  'always-refresh': { type: 'boolean', default: false },
  clients: { type: 'string', default: '' },
  'exit-on-stdin-close': { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
};

function readOptions() {
  const parserOptions = Object.fromEntries(
    Object.entries(OPTIONS).map(([name, { type }]) => [name, { type }]),
  );
  const { values } = parseArgs({ options: parserOptions, strict: true });
  const out = {};
  for (const [name, spec] of Object.entries(OPTIONS)) {
    const env = process.env[`IDP_${name.replaceAll('-', '_').toUpperCase()}`];
    if (spec.type === 'boolean') {
      out[name] = values[name] ?? ['1', 'true', 'yes'].includes((env ?? '').toLowerCase());
    } else {
      out[name] = values[name] ?? env ?? spec.default;
    }
  }
  return out;
}

const opts = readOptions();
if (opts.help) {
  process.stdout.write(`usage: node provider.mjs [--host H] [--port P] [--access-ttl S] [--short-access-ttl S]
  [--refresh-ttl S] [--device-ttl S] [--device-interval S] [--audience AUD] [--always-refresh] [--clients JSON]
  [--exit-on-stdin-close]
Every flag can also be given as an environment variable, e.g. IDP_ACCESS_TTL=60.
Prints "READY <issuer>" on stdout once it listens.
`);
  process.exit(0);
}

function seconds(name) {
  const value = Number(opts[name]);
  if (!Number.isInteger(value) || value <= 0) {
    throw new Error(`--${name} must be a positive number of seconds, got ${JSON.stringify(opts[name])}`);
  }
  return value;
}

const ACCESS_TTL = seconds('access-ttl');
const SHORT_ACCESS_TTL = seconds('short-access-ttl');
const REFRESH_TTL = seconds('refresh-ttl');
const DEVICE_TTL = seconds('device-ttl');
const DEVICE_INTERVAL = seconds('device-interval');
const FIXED_AUDIENCE = opts.audience || undefined;

// ---------------------------------------------------------------------------------------------
// Users: the claims mirror what a Keycloak realm puts into its access tokens.

const USERS = [
  {
    username: 'jane',
    password: 'jane-pw',
    sub: '3f1c5d2e-7a4b-4c3d-9e8f-1a2b3c4d5e6f',
    given_name: 'Jane',
    family_name: 'Doe',
    email: 'jane@example.org',
    groups: ['admins'],
    realmRoles: ['offline_access', 'uma_authorization'],
    clientRoles: ['admin', 'editor'],
  },
  {
    username: 'john',
    password: 'john-pw',
    sub: '8b7a6c5d-4e3f-4a2b-9c1d-0e9f8a7b6c5d',
    given_name: 'John',
    family_name: 'Roe',
    email: 'john@example.org',
    groups: ['users'],
    realmRoles: [],
    clientRoles: ['viewer'],
  },
];
const USERS_BY_SUB = new Map(USERS.map((u) => [u.sub, u]));
const USERS_BY_NAME = new Map(USERS.map((u) => [u.username, u]));

function profileClaims(user) {
  return {
    sub: user.sub,
    preferred_username: user.username,
    name: `${user.given_name} ${user.family_name}`,
    given_name: user.given_name,
    family_name: user.family_name,
    email: user.email,
    email_verified: true,
    groups: [...user.groups],
  };
}

// Which claims each scope releases at the userinfo endpoint and in ID tokens.
const SCOPE_CLAIMS = {
  openid: ['sub'],
  profile: ['preferred_username', 'name', 'given_name', 'family_name'],
  email: ['email', 'email_verified'],
  groups: ['groups'],
};

// ---------------------------------------------------------------------------------------------
// Clients. Access tokens are JWTs for the resource RESOURCE (see resourceIndicators below).

const RESOURCE = 'urn:oidc-actix:test-api';
const RESOURCE_SCOPES = 'openid profile email offline_access groups roles';
const ALL_GRANTS = ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'];
const LOOPBACK_CALLBACKS = ['http://127.0.0.1/callback', 'http://localhost/callback'];

const clientDefs = [
  {
    client_id: 'conf-client',
    client_secret: 'conf-secret',
    token_endpoint_auth_method: 'client_secret_basic',
  },
  { client_id: 'public-client', token_endpoint_auth_method: 'none' },
  { client_id: 'short-client', token_endpoint_auth_method: 'none', access_token_ttl: SHORT_ACCESS_TTL },
  { client_id: 'es-client', token_endpoint_auth_method: 'none', access_token_alg: 'ES256' },
];

if (opts.clients) {
  let extra;
  try {
    extra = JSON.parse(opts.clients);
  } catch (cause) {
    throw new Error('--clients must be a JSON array of client metadata objects', { cause });
  }
  if (!Array.isArray(extra)) throw new Error('--clients must be a JSON array');
  for (const client of extra) {
    const i = clientDefs.findIndex((c) => c.client_id === client.client_id);
    if (i === -1) clientDefs.push(client);
    else clientDefs[i] = { ...clientDefs[i], ...client };
  }
}

// Per-client settings that are not client metadata: the access-token lifetime and signing alg.
const clientSettings = new Map();
const clients = clientDefs.map((def) => {
  const { access_token_ttl: ttl, access_token_alg: alg, ...metadata } = def;
  clientSettings.set(metadata.client_id, { ttl: ttl ?? ACCESS_TTL, alg: alg ?? 'RS256' });
  return {
    grant_types: ALL_GRANTS,
    response_types: ['code'],
    redirect_uris: LOOPBACK_CALLBACKS,
    post_logout_redirect_uris: LOOPBACK_CALLBACKS,
    ...metadata,
  };
});

// ---------------------------------------------------------------------------------------------
// Keys. Node 20 can deadlock when a key pair fresh from generateKeyPairSync() is exported to JWK
// straight away, so keys are generated as PEM and re-imported before anything is exported.

function generate(type, options) {
  const { privateKey } = crypto.generateKeyPairSync(type, {
    ...options,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const privateObject = crypto.createPrivateKey(privateKey);
  const publicObject = crypto.createPublicKey(privateObject);
  const jwk = publicObject.export({ format: 'jwk' });
  // RFC 7638 thumbprint, shortened: unique per key and readable in logs.
  const members = jwk.kty === 'RSA'
    ? { e: jwk.e, kty: jwk.kty, n: jwk.n }
    : { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y };
  const thumbprint = crypto.createHash('sha256').update(JSON.stringify(members)).digest('base64url');
  return { privateObject, publicObject, jwk, thumbprint };
}

function newRsaKey() {
  const key = generate('rsa', { modulusLength: 2048 });
  return { ...key, kid: `rs256-${key.thumbprint.slice(0, 12)}`, alg: 'RS256' };
}

const rsa = { current: newRsaKey(), retired: [] };
const ec = (() => {
  const key = generate('ec', { namedCurve: 'P-256' });
  return { ...key, kid: `es256-${key.thumbprint.slice(0, 12)}`, alg: 'ES256' };
})();

// The provider's key store is fixed at start-up. This one key in it stands for "the current RS256
// key" and follows rotations, so POST /__test/rotate can change the signing key of a running
// provider. The published JWKS is served from `publishedKeys()` instead of the key store.
class RotatingRsaKey extends ExternalSigningKey {
  get kid() { return rsa.current.kid; }

  set kid(_value) { /* fixed by the key ring */ }

  get alg() { return 'RS256'; }

  set alg(_value) { /* always RS256 */ }

  keyObject() { return rsa.current.publicObject; }

  async sign(data) { return crypto.sign('sha256', data, rsa.current.privateObject); }
}

function publicJwk(key) {
  return { ...key.jwk, kid: key.kid, alg: key.alg, use: 'sig' };
}

function publishedKeys() {
  return [rsa.current, ...rsa.retired, ec].map(publicJwk);
}

function verificationKey(kid) {
  return [rsa.current, ...rsa.retired, ec].find((k) => k.kid === kid);
}

// ---------------------------------------------------------------------------------------------
// Small HTML pages that a test drives over HTTP: one form per page, every field inside the form.

function esc(value) {
  return String(value ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${esc(title)}</title></head>
<body><h1>${esc(title)}</h1>
${body}
</body></html>`;
}

function loginPage(uid, { error, login } = {}) {
  return page('Sign-in', `${error ? `<p class="error">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
<input type="text" name="login" value="${esc(login)}" placeholder="Username" autofocus>
<input type="password" name="password" placeholder="Password">
<button type="submit">Sign-in</button>
</form>
<p><a href="/interaction/${esc(uid)}/abort">Cancel</a></p>`);
}

function consentPage(uid, clientId, scopes) {
  return page('Authorize', `<p>${esc(clientId)} asks for: ${esc(scopes.join(' '))}</p>
<form method="post" action="/interaction/${esc(uid)}/confirm">
<input type="hidden" name="prompt" value="consent">
<button type="submit">Continue</button>
</form>
<p><a href="/interaction/${esc(uid)}/abort">Cancel</a></p>`);
}

async function readForm(ctx) {
  const chunks = [];
  for await (const chunk of ctx.req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// ---------------------------------------------------------------------------------------------
// The provider, created once the listening socket knows its port (the issuer contains it).

const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(Number(opts.port), opts.host, resolve);
});
const { port } = server.address();
const hostForUrl = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
const ISSUER = `http://${hostForUrl}:${port}`;

function isLoopbackUri(value) {
  const url = URL.parse(value);
  return !!url && url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)
    && !url.hash;
}

const configuration = {
  clients,
  clientDefaults: {
    grant_types: ALL_GRANTS,
    response_types: ['code'],
    id_token_signed_response_alg: 'RS256',
  },
  jwks: { keys: [new RotatingRsaKey(), { ...ec.privateObject.export({ format: 'jwk' }), kid: ec.kid, alg: 'ES256', use: 'sig' }] },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  claims: SCOPE_CLAIMS,
  responseTypes: ['code'],
  scopes: ['openid', 'offline_access', 'roles'],
  pkce: { required: (_ctx, client) => client.clientAuthMethod === 'none' },
  features: {
    devInteractions: { enabled: false },
    deviceFlow: {
      enabled: true,
      async userCodeInputSource(ctx, form, _out, err) {
        ctx.type = 'html';
        const message = err ? `<p class="error">${esc(err.message)}${err.userCode ? `: ${esc(err.userCode)}` : ''}</p>` : '';
        ctx.body = page('Device sign-in', `${message}${form}<button type="submit" form="op.deviceInputForm">Continue</button>`);
      },
      async userCodeConfirmSource(ctx, form, client, _deviceInfo, userCode) {
        ctx.type = 'html';
        ctx.body = page('Confirm device', `<p>${esc(client.clientId)} shows the code <code>${esc(userCode)}</code></p>
${form}<button type="submit" form="op.deviceConfirmForm">Continue</button>`);
      },
      async successSource(ctx) {
        ctx.type = 'html';
        ctx.body = page('Sign-in Success', '<p id="device-success">Your device is signed in.</p>');
      },
    },
    externalSigningSupport: { enabled: true, ack: 'experimental-01' },
    resourceIndicators: {
      enabled: true,
      // Every request is for RESOURCE unless it names one, and the token endpoint keeps using the
      // granted resource even with `openid` in scope, so access tokens are always JWTs.
      defaultResource: async (_ctx, _client, oneOf) => oneOf ?? RESOURCE,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, resource, client) => {
        if (resource !== RESOURCE) throw new errors.InvalidTarget();
        const settings = clientSettings.get(client.clientId) ?? { ttl: ACCESS_TTL, alg: 'RS256' };
        return {
          scope: RESOURCE_SCOPES,
          audience: FIXED_AUDIENCE ?? client.clientId,
          accessTokenTTL: settings.ttl,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: settings.alg } },
        };
      },
    },
    revocation: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      async logoutSource(ctx, form) {
        // The provider's form holds only the CSRF field; "yes, sign me out" goes inside it here.
        ctx.type = 'html';
        ctx.body = page('Sign-out', form.replace('</form>', '<input type="hidden" name="logout" value="yes"><button type="submit">Sign-out</button></form>'));
      },
      async postLogoutSuccessSource(ctx) {
        ctx.type = 'html';
        ctx.body = page('Signed out', '<p id="logout-success">You are signed out.</p>');
      },
    },
    userinfo: { enabled: true },
  },
  async extraTokenClaims(_ctx, token) {
    if (token.kind !== 'AccessToken') return undefined;
    const user = USERS_BY_SUB.get(token.accountId);
    if (!user) return undefined;
    const { sub: _sub, ...claims } = profileClaims(user);
    return {
      ...claims,
      typ: 'Bearer',
      azp: token.clientId,
      realm_access: { roles: [...user.realmRoles] },
      resource_access: {
        [token.clientId]: { roles: [...user.clientRoles] },
        account: { roles: ['manage-account', 'view-profile'] },
      },
    };
  },
  async findAccount(_ctx, sub) {
    const user = USERS_BY_SUB.get(sub);
    if (!user) return undefined;
    return {
      accountId: sub,
      async claims() { return profileClaims(user); },
    };
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  issueRefreshToken: async (_ctx, client, code) => client.grantTypeAllowed('refresh_token')
    && (opts['always-refresh'] || code.scopes.has('offline_access')),
  rotateRefreshToken: () => false,
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Error', Object.entries(out).map(([k, v]) => `<p class="${esc(k)}">${esc(k)}: ${esc(v)}</p>`).join('\n'));
  },
  ttl: {
    AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? ACCESS_TTL,
    AuthorizationCode: 60,
    DeviceCode: DEVICE_TTL,
    Grant: REFRESH_TTL,
    IdToken: (_ctx, _token, client) => clientSettings.get(client.clientId)?.ttl ?? ACCESS_TTL,
    Interaction: 600,
    RefreshToken: REFRESH_TTL,
    Session: REFRESH_TTL,
  },
};

const provider = new Provider(ISSUER, configuration);

// Redirect URIs: any loopback http URI (any port, any path), as a native client's loopback
// redirect would be (RFC 8252 §7.3), but for every client and path: the tests bind ports nobody
// can know at start-up.
for (const method of ['redirectUriAllowed', 'postLogoutRedirectUriAllowed']) {
  const original = provider.Client.prototype[method];
  provider.Client.prototype[method] = function allowLoopback(value) {
    return isLoopbackUri(value) || original.call(this, value);
  };
}

// ---------------------------------------------------------------------------------------------
// Test-only middleware, run before the provider's own routes.

const counts = {
  discovery: 0, jwks: 0, authorization: 0, token: 0, userinfo: 0, device_authorization: 0, end_session: 0,
};
const COUNTED = new Map([
  ['/.well-known/openid-configuration', 'discovery'],
  ['/.well-known/oauth-authorization-server', 'discovery'],
  ['/jwks', 'jwks'],
  ['/auth', 'authorization'],
  ['/token', 'token'],
  ['/me', 'userinfo'],
  ['/device/auth', 'device_authorization'],
  ['/session/end', 'end_session'],
]);

function json(ctx, status, body) {
  ctx.status = status;
  ctx.type = 'application/json';
  ctx.body = body;
}

// Injected faults, by request path: answer `delayMs` late, and with `status` (a 5xx) instead
// of the provider's own answer if set. Set with POST /__test/fault, removed with
// POST /__test/fault/clear.
const faults = new Map();

function readFault(query) {
  const path = String(query.path ?? '');
  if (!path.startsWith('/') || path.startsWith('/__test/')) {
    throw new Error('`path` must be a provider path such as /token');
  }
  const delayMs = Number(query.delay_ms ?? 0);
  if (!Number.isInteger(delayMs) || delayMs < 0 || delayMs > 600000) {
    throw new Error('`delay_ms` must be an integer from 0 to 600000');
  }
  const status = Number(query.status ?? 0);
  if (status !== 0 && !(Number.isInteger(status) && status >= 500 && status <= 599)) {
    throw new Error('`status` must be a 5xx status code');
  }
  if (delayMs === 0 && status === 0) throw new Error('give `delay_ms`, `status` or both');
  return { path, delayMs, status };
}

// GET /__test/counts, POST /__test/counts/reset, POST /__test/rotate[?drop_old=1],
// POST /__test/fault?path=P[&delay_ms=N][&status=5xx], POST /__test/fault/clear.
provider.use(async (ctx, next) => {
  const counter = COUNTED.get(ctx.path);
  if (counter && ctx.method !== 'OPTIONS') counts[counter] += 1;

  if (ctx.path === '/__test/fault' && ctx.method === 'POST') {
    let fault;
    try {
      fault = readFault(ctx.query);
    } catch (err) {
      return json(ctx, 400, { error: 'invalid_request', error_description: err.message });
    }
    faults.set(fault.path, fault);
    return json(ctx, 200, { faults: [...faults.values()] });
  }
  if (ctx.path === '/__test/fault/clear' && ctx.method === 'POST') {
    faults.clear();
    return json(ctx, 200, { faults: [] });
  }
  const fault = faults.get(ctx.path);
  if (fault) {
    if (fault.delayMs > 0) await new Promise((resolve) => { setTimeout(resolve, fault.delayMs); });
    if (fault.status > 0) {
      return json(ctx, fault.status, { error: 'server_error', error_description: `fault injected by the test: HTTP ${fault.status}` });
    }
  }

  if (ctx.path === '/__test/counts' && ctx.method === 'GET') {
    return json(ctx, 200, counts);
  }
  if (ctx.path === '/__test/counts/reset' && ctx.method === 'POST') {
    for (const key of Object.keys(counts)) counts[key] = 0;
    return json(ctx, 200, counts);
  }
  if (ctx.path === '/__test/rotate' && ctx.method === 'POST') {
    const dropOld = ['1', 'true', 'yes'].includes(String(ctx.query.drop_old ?? '').toLowerCase());
    const previous = rsa.current;
    rsa.current = newRsaKey();
    rsa.retired = dropOld ? [] : [previous, ...rsa.retired];
    return json(ctx, 200, {
      kid: rsa.current.kid,
      previous_kid: previous.kid,
      published: publishedKeys().map((k) => k.kid),
    });
  }
  if (ctx.path.startsWith('/__test/')) {
    return json(ctx, 404, { error: 'not_found' });
  }

  await next();

  // The key store cannot change after start-up; the published set can.
  if (ctx.path === '/jwks' && ctx.method === 'GET' && ctx.status === 200) {
    ctx.body = { keys: publishedKeys() };
    ctx.type = 'application/jwk-set+json; charset=utf-8';
  }
  // oidc-provider sends no `interval`, which means 5 s (RFC 8628 §3.2): too slow for tests.
  if (ctx.path === '/device/auth' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
    ctx.body = { ...ctx.body, interval: DEVICE_INTERVAL };
  }
  return undefined;
});

// The provider drops `offline_access` from authorization requests whose `prompt` lacks `consent`
// (OIDC Core §11). Keycloak does not, and neither does this test provider: such GET requests get
// `consent` added to their prompt, which shows the consent page.
provider.use(async (ctx, next) => {
  if (ctx.path === '/auth' && ctx.method === 'GET') {
    const query = new URLSearchParams(ctx.querystring);
    const scopes = (query.get('scope') ?? '').split(' ');
    const prompts = (query.get('prompt') ?? '').split(' ').filter(Boolean);
    if (scopes.includes('offline_access') && !prompts.includes('consent') && !prompts.includes('none')) {
      query.set('prompt', [...prompts, 'consent'].join(' '));
      ctx.querystring = query.toString();
    }
  }
  return next();
});

// Userinfo for JWT access tokens. The built-in endpoint refuses access tokens with an audience,
// and JWT access tokens always have one.
function verifyAccessToken(token) {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error('not a JWT');
  const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
  const payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  const key = verificationKey(header.kid);
  if (!key || key.alg !== header.alg) throw new Error('unknown signing key');
  const data = Buffer.from(`${parts[0]}.${parts[1]}`);
  const signature = Buffer.from(parts[2], 'base64url');
  const ok = key.alg === 'ES256'
    ? crypto.verify('sha256', data, { key: key.publicObject, dsaEncoding: 'ieee-p1363' }, signature)
    : crypto.verify('sha256', data, key.publicObject, signature);
  if (!ok) throw new Error('bad signature');
  if (payload.iss !== ISSUER) throw new Error('wrong issuer');
  if (typeof payload.exp !== 'number' || payload.exp <= Math.floor(Date.now() / 1000)) throw new Error('expired');
  return payload;
}

provider.use(async (ctx, next) => {
  if (ctx.path !== '/me' || !['GET', 'POST'].includes(ctx.method)) return next();
  const header = ctx.get('authorization');
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  if (!match || match[1].split('.').length !== 3) return next();
  let payload;
  try {
    payload = verifyAccessToken(match[1]);
  } catch (err) {
    ctx.set('WWW-Authenticate', `Bearer realm="${ISSUER}", error="invalid_token", error_description="${err.message}"`);
    return json(ctx, 401, { error: 'invalid_token', error_description: err.message });
  }
  const user = USERS_BY_SUB.get(payload.sub);
  if (!user) {
    return json(ctx, 401, { error: 'invalid_token', error_description: 'unknown subject' });
  }
  const all = profileClaims(user);
  const released = {};
  for (const scope of (payload.scope ?? '').split(' ')) {
    for (const claim of SCOPE_CLAIMS[scope] ?? []) released[claim] = all[claim];
  }
  released.sub = user.sub;
  ctx.set('Cache-Control', 'no-store');
  return json(ctx, 200, released);
});

// Login and consent pages.
provider.use(async (ctx, next) => {
  const match = /^\/interaction\/([^/]+)(?:\/(login|confirm|abort))?$/.exec(ctx.path);
  if (!match) return next();
  const [, uid, action] = match;
  ctx.set('Cache-Control', 'no-store');

  let details;
  try {
    details = await provider.interactionDetails(ctx.req, ctx.res);
  } catch (err) {
    ctx.status = 400;
    ctx.type = 'html';
    ctx.body = page('Error', `<p class="error">${esc(err.message)}</p>`);
    return undefined;
  }
  if (details.uid !== uid) {
    ctx.status = 400;
    ctx.type = 'html';
    ctx.body = page('Error', '<p class="error">interaction mismatch</p>');
    return undefined;
  }
  const { prompt, params, session, grantId } = details;

  const finish = async (result, merge) => {
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: merge });
    ctx.status = 303;
    ctx.redirect(returnTo);
  };

  if (action === undefined && ctx.method === 'GET') {
    ctx.type = 'html';
    if (prompt.name === 'login') {
      ctx.body = loginPage(uid);
    } else {
      const scopes = [...new Set([
        ...(prompt.details.missingOIDCScope ?? []),
        ...Object.values(prompt.details.missingResourceScopes ?? {}).flat(),
      ])];
      ctx.body = consentPage(uid, params.client_id, scopes);
    }
    return undefined;
  }

  if (action === 'abort') {
    return finish({ error: 'access_denied', error_description: 'End-User aborted interaction' }, false);
  }

  if (action === 'login' && ctx.method === 'POST') {
    if (prompt.name !== 'login') {
      ctx.status = 400;
      ctx.body = page('Error', '<p class="error">no login expected</p>');
      return undefined;
    }
    const form = await readForm(ctx);
    const login = form.get('login') ?? '';
    const user = USERS_BY_NAME.get(login);
    if (!user || user.password !== (form.get('password') ?? '')) {
      // Like Keycloak: the form again, with 200.
      ctx.type = 'html';
      ctx.body = loginPage(uid, { error: 'Invalid username or password.', login });
      return undefined;
    }
    return finish({ login: { accountId: user.sub } }, false);
  }

  if (action === 'confirm' && ctx.method === 'POST') {
    if (prompt.name !== 'consent') {
      ctx.status = 400;
      ctx.body = page('Error', '<p class="error">no consent expected</p>');
      return undefined;
    }
    await readForm(ctx);
    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    return finish({ consent: { grantId: await grant.save() } }, true);
  }

  ctx.status = 405;
  return undefined;
});

provider.on('server_error', (_ctx, err) => {
  process.stderr.write(`server_error: ${err?.stack ?? err}\n`);
});

server.on('request', provider.callback());

// A test harness that dies without killing us closes our stdin: exit then, never linger.
if (opts['exit-on-stdin-close']) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('close', () => process.exit(0));
  process.stdin.resume();
}
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));

process.stdout.write(`READY ${ISSUER}\n`);
