import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkHostKey,
  fingerprint,
  hostMatches,
  keyType,
  knownHostsName,
  parseKnownHosts,
} from './known_hosts.js';

// An ed25519 key, and `ssh-keygen -H` of known_hosts lines for it ([127.0.0.1]:2222, then example.com).
const key1 = 'AAAAC3NzaC1lZDI1NTE5AAAAIOopdSaTi8HfU6YIxl8m0ueNRXTrwYiMiyoIjmg/fESt';
const key1Fingerprint = 'SHA256:bhlMU0Fe/buY2WaQ5AyB5T6+DDRjskJF7di+/qcNctY';
const hashedPort = '|1|swvlJ6Yk2Ma4wskAJvdfOTGNpjg=|cizJztFoZaOVb2CXCAHt5Y1kX0Q=';
const hashedExample = '|1|7Fh5g26g+YHzyerON4vvZO2VyGI=|ggfImQGSI9DnCG8EoZ+dEDi0ujk=';
const key2 = Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519'), Buffer.alloc(36, 7)]);
const rsaKey = Buffer.concat([Buffer.from([0, 0, 0, 7]), Buffer.from('ssh-rsa'), Buffer.alloc(20, 1)]);
const blob1 = Buffer.from(key1, 'base64');

describe('known_hosts', () => {
  it('names hosts as OpenSSH does, and fingerprints keys', () => {
    assert.equal(knownHostsName('Example.COM', 22), 'example.com');
    assert.equal(knownHostsName('127.0.0.1', 2222), '[127.0.0.1]:2222');
    assert.equal(knownHostsName('::1', 2222), '[::1]:2222');
    assert.equal(fingerprint(blob1), key1Fingerprint);
    assert.equal(keyType(blob1), 'ssh-ed25519');
    assert.equal(keyType(Buffer.from([0, 0, 0, 99, 1])), '');
  });

  it('parses entries, markers and comments, and skips malformed lines', () => {
    const entries = parseKnownHosts(
      [
        '# comment',
        '',
        `host1,host2 ssh-ed25519 ${key1} user@box`,
        `@revoked * ssh-ed25519 ${key1}`,
        `@cert-authority *.example.com ssh-ed25519 ${key1}`,
        `@unknown-marker h ssh-ed25519 ${key1}`,
        'truncated-line ssh-ed25519',
        `wrongtype ssh-rsa ${key1}`,
        `\t[h]:2222\tssh-ed25519  ${key1}  `,
      ].join('\n'),
    );
    assert.deepEqual(
      entries.map((e) => [e.marker, e.hosts, e.line]),
      [
        [undefined, 'host1,host2', 3],
        ['revoked', '*', 4],
        ['cert-authority', '*.example.com', 5],
        [undefined, '[h]:2222', 9],
      ],
    );
    assert.ok(entries.every((e) => e.key.equals(blob1)));
  });

  it('matches plain names, comma lists, [host]:port, wildcards and negations', () => {
    assert.ok(hostMatches('a.example.com,b.example.com', 'b.example.com'));
    assert.ok(hostMatches('A.Example.com', 'a.example.com'));
    assert.ok(!hostMatches('a.example.com', 'a.example.co'));
    assert.ok(hostMatches('[127.0.0.1]:2222', '[127.0.0.1]:2222'));
    assert.ok(!hostMatches('127.0.0.1', '[127.0.0.1]:2222'));
    assert.ok(!hostMatches('[127.0.0.1]:2222', '127.0.0.1'));
    assert.ok(hostMatches('*.example.com', 'x.example.com'));
    assert.ok(hostMatches('host?', 'host7'));
    assert.ok(!hostMatches('host?', 'host77'));
    assert.ok(!hostMatches('*.example.com,!bad.example.com', 'bad.example.com'));
    assert.ok(hostMatches('*.example.com,!bad.example.com', 'good.example.com'));
    assert.ok(!hostMatches('!bad.example.com', 'good.example.com'), 'a negation alone matches nothing');
    assert.ok(!hostMatches('a.b', 'axb'), 'a dot is not a wildcard');
  });

  it('matches hashed names made by ssh-keygen -H', () => {
    assert.ok(hostMatches(hashedPort, '[127.0.0.1]:2222'));
    assert.ok(!hostMatches(hashedPort, '127.0.0.1'));
    assert.ok(hostMatches(hashedExample, 'example.com'));
    assert.ok(!hostMatches(hashedExample, 'example.org'));
    assert.ok(!hostMatches('|1|broken', 'example.com'));
  });

  it('judges a host key: known, changed, unknown, revoked', () => {
    const entries = parseKnownHosts(
      `${hashedPort} ssh-ed25519 ${key1}\nrsa.example.com ssh-rsa ${rsaKey.toString('base64')}\n`,
    );
    assert.deepEqual(checkHostKey(entries, '[127.0.0.1]:2222', blob1), { status: 'known' });
    assert.deepEqual(checkHostKey(entries, '[127.0.0.1]:2222', key2), { status: 'changed', line: 1 });
    assert.deepEqual(checkHostKey(entries, '[127.0.0.1]:2223', blob1), { status: 'unknown' });
    // Known only with a key of another type: new, not changed (OpenSSH would ask to add it).
    assert.deepEqual(checkHostKey(entries, 'rsa.example.com', blob1), { status: 'unknown' });
    const revoked = parseKnownHosts(`h ssh-ed25519 ${key1}\n@revoked * ssh-ed25519 ${key1}\n`);
    assert.deepEqual(checkHostKey(revoked, 'h', blob1), { status: 'revoked', line: 2 });
    assert.deepEqual(checkHostKey(revoked, 'h', key2), { status: 'changed', line: 1 });
  });

  it('does not take a certificate authority line for the host key', () => {
    const entries = parseKnownHosts(`@cert-authority * ssh-ed25519 ${key1}\n`);
    assert.deepEqual(checkHostKey(entries, 'h', blob1), { status: 'unknown' });
    assert.deepEqual(checkHostKey(entries, 'h', key2), { status: 'unknown' });
  });
});
