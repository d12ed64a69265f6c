// Unit tests of config.json validation, fragment token parsing and hash routes.
import { describe, expect, it } from 'vitest';
import { cleanToken, tokenFromFragment } from './auth';
import { parseConfig } from './config';
import { importHref, isUserId, parseRoute, userHref } from './route';

describe('parseConfig', () => {
  it('accepts the example and strips trailing slashes', () => {
    expect(parseConfig({ env: 'local', apiUrl: 'http://127.0.0.1:8080/', signIn: 'cargo xtask token' })).toEqual({
      env: 'local',
      apiUrl: 'http://127.0.0.1:8080',
      signIn: 'cargo xtask token',
    });
  });
  it('treats signIn as optional', () => {
    expect(parseConfig({ env: 'dev', apiUrl: 'https://api.example.test' }).signIn).toBe('');
  });
  it('names the bad field', () => {
    expect(() => parseConfig(null)).toThrow(/not a JSON object/);
    expect(() => parseConfig([])).toThrow(/not a JSON object/);
    expect(() => parseConfig({ apiUrl: 'http://x' })).toThrow(/"env"/);
    expect(() => parseConfig({ env: 'local', apiUrl: '' })).toThrow(/"apiUrl"/);
    expect(() => parseConfig({ env: 'local', apiUrl: '/api' })).toThrow(/http\(s\) URL/);
    expect(() => parseConfig({ env: 'local', apiUrl: 'http://x', signIn: 3 })).toThrow(/"signIn"/);
  });
});

describe('tokenFromFragment', () => {
  it('reads #token=', () => {
    expect(tokenFromFragment('#token=abc.def.ghi')).toBe('abc.def.ghi');
    expect(tokenFromFragment('token=abc')).toBe('abc');
    expect(tokenFromFragment('#token=a%2Bb')).toBe('a+b');
    expect(tokenFromFragment('#token=abc&/imports/x')).toBe('abc');
  });
  it('ignores routes and empty tokens', () => {
    expect(tokenFromFragment('')).toBeNull();
    expect(tokenFromFragment('#/')).toBeNull();
    expect(tokenFromFragment('#/imports/token=abc')).toBeNull();
    expect(tokenFromFragment('#token=')).toBeNull();
    expect(tokenFromFragment('#tokens=abc')).toBeNull();
  });
  it('keeps a badly escaped token as given', () => {
    expect(tokenFromFragment('#token=%E0%A4%A')).toBe('%E0%A4%A');
  });
  it('cleans pasted tokens', () => {
    expect(cleanToken('  Bearer abc \n')).toBe('abc');
    expect(cleanToken('abc')).toBe('abc');
    expect(cleanToken('   ')).toBeNull();
  });
});

describe('routes', () => {
  it('parses hash routes', () => {
    expect(parseRoute('')).toEqual({ page: 'imports' });
    expect(parseRoute('#/')).toEqual({ page: 'imports' });
    expect(parseRoute('#/imports')).toEqual({ page: 'imports' });
    expect(parseRoute('#/imports/exec-1.a_b')).toEqual({ page: 'import', executionName: 'exec-1.a_b' });
    expect(parseRoute('#/users/U00001/')).toEqual({ page: 'user', userId: 'U00001' });
    expect(parseRoute('#/users/U%2000')).toEqual({ page: 'user', userId: 'U 00' });
    expect(parseRoute('#/nope/x/y')).toEqual({ page: 'notFound', path: '/nope/x/y' });
  });
  it('builds links that parse back', () => {
    expect(importHref('a b')).toBe('#/imports/a%20b');
    expect(parseRoute(importHref('x/y'))).toEqual({ page: 'import', executionName: 'x/y' });
    expect(parseRoute(userHref('U00001'))).toEqual({ page: 'user', userId: 'U00001' });
  });
  it('checks user ids like the API', () => {
    expect(isUserId('U00001')).toBe(true);
    expect(isUserId('u_1-2')).toBe(true);
    expect(isUserId('')).toBe(false);
    expect(isUserId('U000000000001')).toBe(false);
    expect(isUserId('U 1')).toBe(false);
  });
});
