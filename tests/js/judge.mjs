#!/usr/bin/env node
// Independent JavaScript judges for anchor's test suite: Digital Bazaar's verifier stack
// (@digitalbazaar/vc + data-integrity + eddsa-rdfc-2022) and jsonld.js safe mode, i.e. what a
// third-party wallet or verifier runs, not anything anchor wrote. They exist so the tests can
// prove anchor's Data Integrity proofs are accepted by someone else's code.
//
// Protocol: ONE JSON request on stdin, ONE JSON result on stdout, exit 0. Anything else (bad
// request, crash, a network attempt) is a harness failure: a message on stderr and exit 2, so the
// Python wrapper raises instead of reporting a verdict.
//
// Request:
//   {"op": "verify-di" | "expand-safe" | "verify-status",
//    "document": {...},
//    "contexts": {"<url>": <context document>},     optional, served in addition to the pinned ones
//    "controllers": {"<did or vm id>": <document>}, optional (did:web, or to override did:key)
//    "statusLists": {"<url>": <status list VC>},    verify-status only
//    "now": "<ISO date>"}                           optional, the verifier's clock
// Results:
//   verify-di     {"verified": bool, "errors": [...], "proofs": [...evaluated entries],
//                  "ignoredProofs": [...entries no suite matched], "loaded": [...]}
//   expand-safe   {"ok": bool, "error": {...}|null, "expanded": [...]|null, "loaded": [...]}
//   verify-status {"verified": bool, "errors": [...], "statuses": [{statusPurpose, statusListIndex,
//                  statusListCredential, status: bool}], "loaded": [...]}
//
// Offline by construction: every URL resolves through documentLoader() below, which serves the
// request's contexts/controllers/status lists, the contexts anchor ships in src/anchor/schemas/
// (openbadgeslib's pinned copies only for URLs anchor does not ship yet), and did:key documents
// derived from the key itself; anything else fails. Sockets and fetch are disabled as well.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

// ---- no network, whatever a library tries ---------------------------------------------------
const networkAttempts = [];
function refuseNetwork(what) {
  networkAttempts.push(what);
  throw new Error(`judge.mjs is offline: refused ${what}`);
}
globalThis.fetch = async url => refuseNetwork(`fetch(${url})`);
net.Socket.prototype.connect = function connect() {
  refuseNetwork('a socket connection');
};

const {default: jsonld} = await import('jsonld');
const vc = await import('@digitalbazaar/vc');
const {DataIntegrityProof} = await import('@digitalbazaar/data-integrity');
const {cryptosuite: eddsaRdfc2022} = await import('@digitalbazaar/eddsa-rdfc-2022-cryptosuite');
const Ed25519Multikey = await import('@digitalbazaar/ed25519-multikey');

// ---- pinned contexts --------------------------------------------------------------------------
const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const SCHEMAS = path.join(ROOT, 'src', 'anchor', 'schemas');
const OBL_CONTEXTS = path.join(
  ROOT, '.venv', 'lib', 'python3.11', 'site-packages', 'openbadgeslib', 'ob3', 'contexts');

const MULTIKEY_V1 = 'https://w3id.org/security/multikey/v1';
const DID_V1 = 'https://www.w3.org/ns/did/v1';

// URL -> how to find it: a file-name pattern among anchor's shipped schemas (preferred), then
// openbadgeslib's pinned copy (fallback while anchor does not ship that context).
const PINNED = [
  ['https://www.w3.org/ns/credentials/v2', /^credentials[-_]v2(_context)?\.json(ld)?$/i,
    'credentials-v2.json'],
  ['https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json',
    /^ob[-_]v3p0[-_]context[-_]3\.0\.3\.json(ld)?$/i, 'ob-v3p0-context-3.0.3.json'],
  ['https://w3id.org/security/data-integrity/v2', /data[-_]?integrity[-_]?v2.*\.json(ld)?$/i,
    'security-data-integrity-v2.json'],
  ['https://w3id.org/security/multikey/v1', /multikey[-_]?v1.*\.json(ld)?$/i,
    'security-multikey-v1.json'],
];

function pinnedContexts() {
  const shipped = fs.existsSync(SCHEMAS) ? fs.readdirSync(SCHEMAS).sort() : [];
  const table = new Map();
  for(const [url, pattern, fallback] of PINNED) {
    const own = shipped.find(name => pattern.test(name));
    const file = own ? path.join(SCHEMAS, own) : path.join(OBL_CONTEXTS, fallback);
    if(fs.existsSync(file)) {
      table.set(url, {file, source: own ? 'anchor' : 'openbadgeslib'});
    }
  }
  return table;
}

// ---- did:key and controller documents ---------------------------------------------------------
async function didKeyDocument(did) {
  const multibase = did.slice('did:key:'.length);
  // Ed25519Multikey.from checks the multibase is base58btc and carries the ed25519-pub header.
  await Ed25519Multikey.from({type: 'Multikey', publicKeyMultibase: multibase});
  const vmId = `${did}#${multibase}`;
  return {
    '@context': [DID_V1, MULTIKEY_V1],
    id: did,
    verificationMethod: [{id: vmId, type: 'Multikey', controller: did, publicKeyMultibase: multibase}],
    authentication: [vmId],
    assertionMethod: [vmId],
    capabilityInvocation: [vmId],
    capabilityDelegation: [vmId],
  };
}

function findMethod(controllerDoc, id) {
  const candidates = [];
  for(const rel of ['verificationMethod', 'assertionMethod', 'authentication',
    'capabilityInvocation', 'capabilityDelegation']) {
    for(const entry of [].concat(controllerDoc[rel] ?? [])) {
      if(entry && typeof entry === 'object') {
        candidates.push(entry);
      }
    }
  }
  const absolute = entry => (entry.id?.startsWith('#') ? controllerDoc.id + entry.id : entry.id);
  const found = candidates.find(entry => absolute(entry) === id);
  if(!found) {
    return null;
  }
  return {'@context': controllerDoc['@context'], ...found, id: absolute(found)};
}

// ---- the loader ---------------------------------------------------------------------------------
function makeLoader(request) {
  const pinned = pinnedContexts();
  const extra = request.contexts ?? {};
  const controllers = request.controllers ?? {};
  const statusLists = request.statusLists ?? {};
  const loaded = [];

  async function resolve(url) {
    if(Object.hasOwn(extra, url)) {
      return {document: extra[url], source: 'request'};
    }
    if(pinned.has(url)) {
      const {file, source} = pinned.get(url);
      return {document: JSON.parse(fs.readFileSync(file, 'utf8')), source: `${source}:${path.basename(file)}`};
    }
    if(Object.hasOwn(statusLists, url)) {
      return {document: statusLists[url], source: 'request:statusLists'};
    }
    if(Object.hasOwn(controllers, url)) {
      return {document: controllers[url], source: 'request:controllers'};
    }
    const [base, fragment] = url.split('#', 2);
    if(fragment !== undefined && Object.hasOwn(controllers, base)) {
      const vm = findMethod(controllers[base], url);
      if(vm) {
        return {document: vm, source: 'request:controllers'};
      }
      throw new Error(`verification method ${url} is not in the controller document of ${base}`);
    }
    if(base.startsWith('did:key:')) {
      const doc = await didKeyDocument(base);
      if(fragment === undefined) {
        return {document: doc, source: 'did:key'};
      }
      const vm = findMethod(doc, url);
      if(!vm) {
        throw new Error(`did:key fragment must be the key's own multibase: ${url}`);
      }
      return {document: vm, source: 'did:key'};
    }
    throw new Error(`offline document loader: ${url} is neither given nor pinned`);
  }

  async function documentLoader(url) {
    try {
      const {document, source} = await resolve(url);
      loaded.push({url, source});
      return {contextUrl: null, documentUrl: url, document: structuredClone(document)};
    } catch(error) {
      loaded.push({url, source: null, error: error.message});
      throw error;
    }
  }
  return {documentLoader, loaded};
}

// ---- error reporting ---------------------------------------------------------------------------
function flattenErrors(error, out = []) {
  if(!error) {
    return out;
  }
  if(Array.isArray(error)) {
    error.forEach(e => flattenErrors(e, out));
    return out;
  }
  if(Array.isArray(error.errors) && error.errors.length > 0) {
    flattenErrors(error.errors, out);
    return out;
  }
  const entry = {name: error.name ?? 'Error', message: String(error.message ?? error)};
  const event = error.details?.event;
  if(event) {
    entry.event = {code: event.code, level: event.level, details: event.details};
  }
  if(error.details?.code) {
    entry.code = error.details.code;
  }
  const cause = error.cause ?? error.details?.cause;
  if(cause) {
    entry.cause = String(cause.message ?? cause);
  }
  out.push(entry);
  return out;
}

function proofSummary(result) {
  return {
    type: result.proof?.type ?? null,
    cryptosuite: result.proof?.cryptosuite ?? null,
    verificationMethod: result.proof?.verificationMethod ?? null,
    verified: Boolean(result.verified),
    errors: flattenErrors(result.error),
  };
}

function eddsaSuite() {
  return new DataIntegrityProof({cryptosuite: eddsaRdfc2022});
}

// ---- ops ---------------------------------------------------------------------------------------
// credentialStatus is NOT checked by verify-di: a local stub reports it skipped (verify-status
// checks it against a status list given in the request).
async function skipStatus() {
  return {verified: true, skipped: true};
}

async function verifyDi(request) {
  const {documentLoader, loaded} = makeLoader(request);
  const options = {
    credential: request.document,
    suite: eddsaSuite(),
    documentLoader,
    checkStatus: skipStatus,
  };
  if(request.now) {
    options.now = request.now;
  }
  const result = await vc.verifyCredential(options);
  const errors = flattenErrors(result.error);
  // jsonld-signatures only evaluates proof-set entries whose proofPurpose matches and whose
  // (type, cryptosuite) a given suite accepts; list the others so callers can see them skipped.
  const proofs = (result.results ?? []).filter(r => r.proof).map(proofSummary);
  const evaluated = new Set(proofs.map(p => p.cryptosuite));
  const ignoredProofs = [].concat(request.document.proof ?? [])
    .filter(p => !(p && evaluated.has(p.cryptosuite)))
    .map(p => ({type: p?.type ?? null, cryptosuite: p?.cryptosuite ?? null}));
  if(!result.verified && errors.length === 0) {
    proofs.forEach(p => errors.push(...p.errors));
  }
  return {verified: result.verified === true, errors, proofs, ignoredProofs, loaded};
}

async function expandSafe(request) {
  const {documentLoader, loaded} = makeLoader(request);
  try {
    const expanded = await jsonld.expand(request.document, {safe: true, documentLoader});
    return {ok: true, error: null, expanded, loaded};
  } catch(error) {
    return {ok: false, error: flattenErrors(error)[0], expanded: null, loaded};
  }
}

// Checks credentialStatus with @digitalbazaar/vc-bitstring-status-list: loads each status list
// credential (from request.statusLists only), verifies its eddsa-rdfc-2022 proof, checks its issuer
// equals the credential's, decodes the list. "verified" says the CHECK succeeded; each entry's
// "status" is the bit (true = set, i.e. revoked for statusPurpose "revocation").
async function verifyStatus(request) {
  const {checkStatus} = await import('@digitalbazaar/vc-bitstring-status-list');
  const {documentLoader, loaded} = makeLoader(request);
  const result = await checkStatus({
    credential: request.document,
    documentLoader,
    suite: eddsaSuite(),
    verifyBitstringStatusListCredential: true,
    verifyMatchingIssuers: true,
  });
  const statuses = (result.results ?? []).map(r => ({
    statusPurpose: r.credentialStatus?.statusPurpose ?? null,
    statusListIndex: r.credentialStatus?.statusListIndex ?? null,
    statusListCredential: r.credentialStatus?.statusListCredential ?? null,
    status: r.status,
  }));
  return {verified: result.verified === true, errors: flattenErrors(result.error), statuses, loaded};
}

const OPS = {'verify-di': verifyDi, 'expand-safe': expandSafe, 'verify-status': verifyStatus};

async function main() {
  const text = fs.readFileSync(0, 'utf8');
  const request = JSON.parse(text);
  if(!request || typeof request !== 'object' || !OPS[request.op]) {
    throw new Error(`unknown op: ${JSON.stringify(request?.op)} (want one of ${Object.keys(OPS)})`);
  }
  if(!request.document || typeof request.document !== 'object' || Array.isArray(request.document)) {
    throw new Error('"document" must be a JSON object');
  }
  const result = await OPS[request.op](request);
  if(networkAttempts.length > 0) {
    throw new Error(`a judge tried to use the network: ${networkAttempts.join(', ')}`);
  }
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch(error => {
  process.stderr.write(`judge.mjs: ${error?.stack ?? error}\n`);
  process.exit(2);
});
