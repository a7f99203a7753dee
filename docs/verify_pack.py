#!/usr/bin/env python3
"""Checks an opsflow inspection pack (format v2) without opsflow: python3 verify_pack.py PACK.json
Standard library only. The rules are those of docs/audit-pack.md; exit status 0 when the pack verifies."""
import hashlib, json, sys

ESC = {'"': '\\"', '\\': '\\\\', '\b': '\\b', '\t': '\\t', '\n': '\\n', '\f': '\\f', '\r': '\\r'}
GO_ESC = {'<': '\\u003c', '>': '\\u003e', '&': '\\u0026', '\u2028': '\\u2028', '\u2029': '\\u2029'}
FINAL = {'capa': {'closed', 'closed_no_capa', 'cancelled'}, 'kaizen': {'closed', 'rejected', 'cancelled'},
         'onboarding': {'completed', 'cancelled', 'terminated_early'}}
PREFIX = {'capa': 'capa-', 'kaizen': 'kzn-', 'onboarding': 'onb-'}
EVENT_KEYS = ['id', 'stream', 'seq', 'at', 'actor_id', 'actor_name', 'actor_role', 'action', 'field', 'old', 'new', 'reason', 'prev_hash']
RECORD_KEYS = {'id', 'kind', 'state', 'head', 'record_sha256', 'record', 'timeline', 'signatures', 'signed_versions'}

def string(s, go=False):  # RFC 8785 §3.2.2.2; go=True adds the escapes Go's encoding/json makes
    return '"' + ''.join((go and GO_ESC.get(c)) or ESC.get(c) or (c if c >= ' ' else '\\u%04x' % ord(c)) for c in s) + '"'

def number(x):  # RFC 8785 §3.2.2.3: ECMAScript's Number.prototype.toString
    x = float(x)
    if x == 0: return '0'
    m, _, e = repr(x).partition('e')
    sign, m = ('-', m[1:]) if m[0] == '-' else ('', m)
    ip, _, fp = m.partition('.')
    digits, point = ip + fp, len(ip) + int(e or 0)
    point -= len(digits) - len(digits.lstrip('0'))
    d = digits.strip('0'); k = len(d)
    if k <= point <= 21: return sign + d + '0' * (point - k)
    if 0 < point <= 21: return sign + d[:point] + '.' + d[point:]
    if -6 < point <= 0: return sign + '0.' + '0' * -point + d
    return sign + d[0] + ('.' + d[1:] if k > 1 else '') + 'e' + ('+' if point > 0 else '-') + str(abs(point - 1))

def jcs(v):  # RFC 8785: the canonical form records are hashed in
    if v is None or isinstance(v, bool): return json.dumps(v)
    if isinstance(v, str): return string(v)
    if isinstance(v, (int, float)): return number(v)
    if isinstance(v, list): return '[' + ','.join(jcs(x) for x in v) + ']'
    return '{' + ','.join(string(k) + ':' + jcs(v[k]) for k in sorted(v, key=lambda k: k.encode('utf-16-be'))) + '}'

def sha(s): return hashlib.sha256(s.encode()).hexdigest()

def need(ok, why):  # not assert: python -O would skip it
    if not ok: raise ValueError(why)

def hashes_to(record, want):  # RFC 8785, or the form seals had before it (Go's escapes)
    return want in (sha(jcs(record)), sha(''.join(GO_ESC.get(c, c) for c in jcs(record))))

def event_hash(e):  # the audit event's canonical encoding (v1): fixed key order, Go's escaping
    at = e['at']
    if not at.endswith('Z'): raise ValueError('time %s is not UTC' % at)
    sec, _, frac = at[:-1].partition('.')
    fields = dict(e, at=sec + '.' + (frac + '000000')[:6] + 'Z')
    parts = ['"v":1'] + ['"%s":%s' % (k, fields.get(k, 0) if k == 'seq' else string(fields.get(k, ''), go=True)) for k in EVENT_KEYS]
    return sha('{' + ','.join(parts) + '}')

def check(r):
    tl, kind = r.get('timeline') or [], r.get('kind')
    need(set(r) <= RECORD_KEYS, 'members no hash covers: %s' % sorted(set(r) - RECORD_KEYS))
    need(tl, 'no timeline')
    prev = ''
    for i, e in enumerate(tl):
        need(set(e) <= set(EVENT_KEYS) | {'hash'}, 'members no hash covers: %s' % sorted(set(e) - set(EVENT_KEYS)))
        need(e['seq'] == i + 1 and e['stream'] == r['id'] and e['id'] == '%s/%d' % (r['id'], i + 1), 'seq %d: not the next event of %s' % (e['seq'], r['id']))
        need(e['prev_hash'] == prev, 'seq %d: prev_hash does not match the previous event' % e['seq'])
        need(event_hash(e) == e['hash'], 'seq %d: hash does not match the event' % e['seq'])
        prev = e['hash']
    need(kind in PREFIX and r['id'].startswith(PREFIX[kind]), 'kind %s does not match the ID' % kind)
    last, field = tl[-1], 'phase' if kind == 'kaizen' else 'state'
    need(r.get('head') == {'seq': last['seq'], 'hash': last['hash']}, 'head is not the last event')
    states = [e.get('new', '') for e in tl if e.get('field') == field]
    need(states and states[-1] == r['state'], 'state %s is not the last %s change' % (r['state'], field))
    if r['state'] not in FINAL[kind] | {'abandoned', 'terminated'}:
        need(not (r.get('record') or r.get('record_sha256') or r.get('signatures') or r.get('signed_versions')), 'an open record shows what nothing seals')
        return 0
    need(last['action'] in ('capa.sealed', 'process.sealed'), 'final state %s, but the timeline does not end with a seal' % r['state'])
    rec = r.get('record') or {}
    need(r.get('record_sha256') == last.get('new') and hashes_to(rec, last.get('new')), 'the record is not the sealed one')
    need(rec.get('id') == r['id'] and rec.get(field) == r['state'], 'the sealed record is another record or state')
    sigs, versions = r.get('signatures') or [], r.get('signed_versions') or []
    need(sigs == (rec.get('signatures') or []) and versions == (rec.get('signed_versions') or []), 'signatures differ from the sealed record')
    signed = {e.get('new') for e in tl if e['action'] == 'capa.signed'}
    for s in sigs:
        need(any(v['record_sha256'] == s['record_sha256'] and hashes_to(v['record'], s['record_sha256']) for v in versions), 'signed version missing or altered')
        need(s['record_sha256'] in signed, 'no signing event for a signature')
    return len(sigs)

def main(path):
    pack, rid, sigs = json.load(open(path, encoding='utf-8')), '-', 0
    try:
        need(pack.get('format') == 'opsflow.inspection-pack/v2', 'not a v2 pack')
        need(set(pack) <= {'format', 'generated_at', 'generated_by', 'query', 'records'}, 'unknown members')
        for r in pack['records']:
            rid = r.get('id', '-')
            sigs += check(r)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        print('pack does NOT verify: %s: %s' % (rid, e))
        return 1
    print('pack verifies: %d records, %d signatures' % (len(pack['records']), sigs))
    return 0

if __name__ == '__main__':
    sys.exit(main(sys.argv[1]))
