#!/usr/bin/python3
"""gen-jinja-unit-cases.py - expected outputs for the interpreter's unit
tests (tests/text/test-jinja.c), computed by Python's Jinja2 set up as
transformers sets it up. Writes tests/text/jinja-unit-cases.inc: one
{ template, context JSON, expected output } row per case, or expected NULL
where Jinja2 raises an error.

Usage: tools/gen-jinja-unit-cases.py [OUTPUT]
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
gen = __import__("gen-chat-template-expected")

CTX = {
    "name": "World", "n": 7, "f": 2.5, "yes": True, "no": False, "nothing": None,
    "xs": [3, 1, 2], "words": ["b", "A", "a", "C"], "empty": [],
    "d": {"b": 1, "a": 2, "c": {"x": "y"}},
    "msgs": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": None},
             {"role": "user", "content": "bye", "extra": 1}],
    "s": "  Hello, World!  ", "u": "héllo wörld 🙂", "schema": {"type": "array"},
}

CASES = [
    # text, output, whitespace control
    "plain text only",
    "a\nb\n",
    "{{ name }}",
    "{{ 'x' }}{{ \"y\" }}{{ 'a' 'b' }}",
    "  {{- name -}}  !",
    "line1\n  {% if yes %}\n  yes\n  {% endif %}\nend",
    "line1\n  {%- if yes %}\n  yes\n  {%- endif %}\nend",
    "  {%+ if yes %}x{% endif %}",
    "a {# comment #} b\n{# line comment #}\nc",
    "{% raw %}{{ not parsed }}{% endraw %}",
    "x\n{%- raw -%}\n {{ y }} \n{%- endraw -%}\nz",
    "{% if yes -%}\n\n  spaced\n{%- endif %}",
    "{{ name }}\n{{ name }}\n",
    "a\r\nb\rc",
    # literals and operators
    "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }}",
    "{{ 7 / 2 }} {{ 6 / 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ -n }} {{ +n }} {{ - f }}",
    "{{ 1.5 + 1 }} {{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1e-5 }} {{ 100.0 }} {{ 1/3 }} {{ 1.0e16 }}",
    "{{ 'a' ~ 1 ~ none ~ true }} {{ 'ab' * 3 }} {{ [1] * 2 }} {{ [1] + [2] }}",
    "{{ true }} {{ false }} {{ none }} {{ True }} {{ None }} {{ nothing }}",
    "{{ [1, 'a', none, true, 1.5] }} {{ (1,) }} {{ (1, 2) }} {{ () }} {{ {'k': 'v', 1: [2]} }}",
    "{{ \"it's\" }} {{ ['it\\'s', 'say \"x\"', 'both \\' \"', 'back\\\\slash', 'nl\\n'] }}",
    "{{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' != 'b' }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'a' < 'b' }}",
    "{{ [1, 2] == [1, 2] }} {{ {'a': 1} == {'a': 1} }} {{ (1, 2) == [1, 2] }} {{ [1, 2] < [1, 3] }}",
    "{{ 2 in xs }} {{ 5 not in xs }} {{ 'ell' in 'hello' }} {{ 'a' in d }} {{ 'z' in d }}",
    "{{ yes and 'A' }} {{ no and 'A' }} {{ no or 'B' }} {{ 0 or '' or 'C' }} {{ not yes }} {{ not not 0 }}",
    "{{ 'Y' if yes else 'N' }} {{ 'Y' if no else 'N' }} [{{ 'Y' if no }}] {{ 1 if no else 2 if yes else 3 }}",
    "{{ xs[0] }} {{ xs[-1] }} {{ xs[1:] }} {{ xs[:-1] }} {{ xs[::-1] }} {{ xs[::2] }} {{ xs[5:] }} [{{ xs[9] }}]",
    "{{ u[1] }} {{ u[-1] }} {{ u[1:4] }} {{ u[::-1] }} {{ u|length }} {{ 'abcdef'[-3:-1] }} {{ 'abcdef'[::-2] }}",
    "{{ d.a }} {{ d['b'] }} {{ d.c.x }} {{ d['c']['x'] }} [{{ d.missing }}] {{ msgs[0].role }} {{ msgs.0.content }}",
    "{{ nothing.x }}|{{ d.missing is defined }}|{{ undefined_var }}|{{ undefined_var is defined }}",
    "{{ msgs[1].content }} {{ msgs[1].content is none }} {{ msgs[2].extra is defined }} {{ msgs[0].extra is defined }}",
    # statements
    "{% if no %}a{% elif nothing %}b{% elif n > 5 %}c{% else %}d{% endif %}",
    "{% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}:{{ x }} {% endfor %}",
    "{% for x in xs %}[{{ loop.previtem }}|{{ loop.nextitem }}]{% endfor %}",
    "{% for x in empty %}x{% else %}none{% endfor %}",
    "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}",
    "{% for k in d %}{{ k }}{% endfor %} {% for c in 'héy' %}<{{ c }}>{% endfor %}",
    "{% for x in xs if x > 1 %}{{ x }}{{ loop.index }}{{ loop.length }} {% endfor %}",
    "{% for x in xs %}{% if x == 1 %}{% continue %}{% endif %}{% if x == 2 %}{% break %}{% endif %}{{ x }}{% endfor %}",
    "{% for a in [1, 2] %}{% for b in 'xy' %}{{ a }}{{ b }}{{ loop.index }}{% endfor %}{{ loop.index }} {% endfor %}",
    "{% for a, b in [(1, 'x'), (2, 'y')] %}{{ a }}{{ b }}{% endfor %}",
    "{% set y = 0 %}{% for i in xs %}{% set y = i %}[{{ y }}]{% endfor %}{{ y }}",
    "{% for i in [1, 2] %}{% if i == 2 %}[{{ z }}]{% endif %}{% set z = i %}{% endfor %}",
    "{% set ns = namespace(total=0, items=[]) %}{% for x in xs %}{% set ns.total = ns.total + x %}{% set ns.items = ns.items + [x] %}{% endfor %}{{ ns.total }} {{ ns.items }}",
    "{% set a, b = 1, 2 %}{{ a }}{{ b }} {% set t = (3, 4) %}{{ t }}",
    "{% set block %}\n  inner {{ name }}\n{% endset %}[{{ block }}]",
    "{% set block | upper %}shout {{ name }}{% endset %}{{ block }}",
    "{% filter upper %}abc {{ name }}{% endfilter %}",
    "{%- filter trim -%}\n   padded   \n{%- endfilter -%}|",
    "{% macro greet(who, punct='!') %}Hi {{ who }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', '?') }} {{ greet(punct='.', who='C') }} [{{ greet() }}]",
    "{% macro fact(k) %}{% if k <= 1 %}1{% else %}{{ k * fact(k - 1)|int }}{% endif %}{% endmacro %}{{ fact(5) }}",
    "{% set top = 'T' %}{% macro m() %}{{ top }}{{ name }}{% endmacro %}{{ m() }}",
    "{% generation %}gen {{ name }}{% endgeneration %}",
    "{% set a = 5 %}{% with a = 1, b = a %}{{ a }}{{ b }}{% set c = 2 %}{{ c }}{% endwith %}{{ a }}[{{ c }}] {% with %}x{% endwith %}",
    # filters
    "{{ s|trim }}|{{ 'xxhixx'|trim('x') }}|{{ name|upper }}|{{ name|lower }}|{{ 'hELLO wORLD'|capitalize }}",
    "{{ 'hello big-world (x)'|title }}|{{ \"they're bill's\"|title }}|{{ 'a  b'|title }}",
    "{{ xs|length }} {{ d|length }} {{ name|length }} {{ u|count }} {{ undefined_var|length }}",
    "{{ xs|first }} {{ xs|last }} {{ name|first }} {{ name|last }} [{{ empty|first }}]",
    "{{ xs|join(', ') }} {{ words|join }} {{ msgs|join('|', attribute='role') }}",
    "{{ undefined_var|default('dflt') }} {{ ''|default('e') }} {{ ''|default('e', true) }} {{ nothing|d('n') }} {{ 0|d(5, boolean=true) }}",
    "{{ msgs|selectattr('content')|list|length }} {{ msgs|rejectattr('content')|list|length }} {{ msgs|selectattr('role', 'equalto', 'user')|map(attribute='content')|join(',') }}",
    "{{ msgs|selectattr('extra', 'defined')|list }} {{ xs|select('odd')|list }} {{ xs|reject('odd')|list }} {{ [0, 1, '', 'a', none]|select|list }}",
    "{{ words|map('upper')|list }} {{ xs|map('string')|join('-') }} {{ msgs|map(attribute='extra', default='-')|list }}",
    "{{ words|sort }} {{ words|sort(case_sensitive=true) }} {{ xs|sort(reverse=true) }} {{ msgs|sort(attribute='role')|map(attribute='content')|list }}",
    "{{ words|unique|list }} {{ words|unique(case_sensitive=true)|list }} {{ d|dictsort }} {{ d|items|list }}",
    "{{ 'a-b-c'|replace('-', '+') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ 'ab'|replace('', '.') }}",
    "{{ 3|string }} {{ xs|string }} {{ '12'|int }} {{ '3.9'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ 4.7|int }} {{ '2.5'|float }} {{ 3|float }}",
    "{{ -3|abs }} {{ (-3)|abs }} {{ 2.5|round }} {{ 3.5|round }} {{ 2.675|round(2) }} {{ 2.1|round(0, 'ceil') }} {{ 7|round }}",
    "{{ 17|round(-1) }} {{ 15|round(-1) }} {{ 25|round(-1) }} {{ (-15)|round(-1) }} {{ 1234.5678|round(-2) }} {{ 0.5|round }} {{ 1.5|round(0, 'floor') }}",
    "{{ xs|sum }} {{ xs|min }} {{ xs|max }} {{ words|max }} {{ xs|reverse|list }} {{ 'abc'|reverse }} {{ xs|list }} {{ 'ab'|list }}",
    "{{ 'one\\ntwo\\n\\nthree'|indent }}|{{ 'one\\ntwo'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(1, blank=true) }}|{{ 'x'|indent('> ', first=true) }}",
    "{{ d|tojson }} {{ msgs[1]|tojson }} {{ u|tojson }} {{ 'q\"\\\\\\n\\t<&>'|tojson }} {{ [1.5, true, none]|tojson }}",
    "{{ d|tojson(indent=2) }}\n{{ xs|tojson(indent=4) }}\n{{ empty|tojson(indent=2) }} {{ {}|tojson(indent=2) }}",
    "{{ d|tojson(separators=',:') }} {{ d|tojson(indent='--') }} {{ xs|tojson(true, 1) }}",
    "{{ d|tojson(sort_keys=true) }} {{ u|tojson(ensure_ascii=true) }} {{ d|tojson(separators=(',', ':')) }}",
    "{{ '<a href=\"x\">'|e }} {{ 'a&b'|escape }} {{ '<b>'|safe }} {{ ('<i>'|safe) + '<u>' }}",
    "{{ 'Hello World'|wordcount }} {{ 'a' if false else 'skip' }}",
    # tests
    "{{ 9 is divisibleby(num=3) }} {{ 1 is sameas(other=1) }} {{ 2 is in(seq=xs) }}", "{{ 1 is eq(other=1) }}",
    "{{ 3 is odd }} {{ 3 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }} {{ 'x' is string }} {{ 1 is string }}",
    "{{ d is mapping }} {{ xs is mapping }} {{ xs is iterable }} {{ 1 is iterable }} {{ xs is sequence }} {{ 1 is number }} {{ 1.5 is float }} {{ 1 is integer }}",
    "{{ yes is boolean }} {{ yes is true }} {{ no is false }} {{ 1 is true }} {{ nothing is none }} {{ nothing is not none }} {{ 1 is eq 1 }} {{ 'a' is equalto 'b' }}",
    "{{ 2 is in xs }} {{ 2 is gt 1 }} {{ 2 is lt 1 }} {{ 'abc' is lower }} {{ 'ABC' is upper }} {{ undefined_var is undefined }} {{ greet is callable }} {{ range is callable }}",
    # Unicode whitespace as Python's str.isspace() knows it
    "[{{ '\u3000\u00a0 x \u2003\n'|trim }}] {{ 'a\u00a0b\u3000c'.split() }} [{{ '\u2028y\u205f'.strip() }}]",
    "x\u3000 {%- if true %}y{% endif %}\n\u00a0 {% if true %}z{% endif %}",
    # methods
    "{{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ 'xyhixy'.strip('xy') }}|{{ name.upper() }}|{{ name.lower() }}",
    "{{ 'a,b,c'.split(sep=',', maxsplit=1) }} {{ 'a b'.split(maxsplit=0) }}",
    "{{ 'a b  c'.split() }} {{ 'a,b,,c'.split(',') }} {{ 'a,b,c'.split(',', 1) }} {{ '</think>x</think>y'.split('</think>')[-1] }}",
    "{{ name.startswith('Wo') }} {{ name.endswith('ld') }} {{ name.startswith(('x', 'W')) }} {{ 'ab-cd'.replace('-', '') }} {{ \"they're\".title() }} {{ 'hELLO'.capitalize() }}",
    "{{ d.get('a') }} {{ d.get('zz') }} {{ d.get('zz', 'dflt') }} {{ d.keys()|list }} {{ d.values()|list|length }} {{ d.items()|list|first }}",
    "{{ 'abcabc'.find('c') }} {{ 'abcabc'.count('bc') }} {{ '-'.join(['a', 'b']) }}",
    # case mappings beyond ASCII
    "{{ u|upper }} {{ 'ÉCOLE Ωμέγα ПРИВЕТ ĞÜŞ Straße'|lower }} {{ 'straße ß'|upper }} {{ 'élan vital ßx'|title }} {{ 'ßa'|capitalize }}",
    "{{ 'élan ÉLAN'.title() }} {{ 'ÿ µ ı ſ ŉ'.upper() }} {{ 'İx'.lower() }} {{ 'ÀÉ' is upper }} {{ 'àé' is lower }} {{ 'ß' is lower }}",
    "{{ ['é', 'E', 'e', 'É']|sort }} {{ ['É', 'é']|unique|list }}",
    # method names as attributes: Python finds the method before the key
    "{{ d.items is defined }} {{ d.pop is defined }} {{ s.upper is defined }} {{ xs.append is defined }} {{ xs.count is defined }} {% if schema.items %}method{% endif %} [{{ schema.type }}] [{{ d.pop }}]",
    # the sandbox's getitem turns a TypeError into undefined
    "[{{ nothing[0] }}] [{{ (xs|map('string'))[0] }}] [{{ n[0] }}] [{{ xs['a', 1] }}] [{{ d['a', 1] }}]",
    "{{ xs|select|reverse|length }} {{ xs|select|reverse|list }} {{ 'abc'|reverse }}",
    "{% for x in xs %}{{ loop.cycle('odd', 'even') }} {% endfor %}",
    "[{{ xs[] }}] {% for x in xs %}{{ loop }}{% endfor %} {% if no %}{{ 1 is a.b }}{% endif %}",
    "{% if (yes if yes else no) %}x{% endif %} {% set v = 1 if yes else 2 %}{{ v }}",
    # printf-style string formatting
    "{{ '%s-%s' % (1, 'a') }} {{ '%d items' % n }} {{ '%5.2f|%-4d|%04d' % (f, 3, 42) }} {{ '%(a)s/%(b)s' % d }} {{ '100%%' % () }}",
    "{{ '%r %s' % ('x', none) }} {{ '%x %X %o %c' % (255, 255, 8, 65) }} {{ '%e %g %.3s' % (12345.678, 0.0001, 'abcdef') }} {{ 'x' % [] }} {{ '%s' % xs }}",
    "{{ '%5s|%-5s|' % ('ab', 'cd') }} {{ '%i' % 3.9 }} {{ '%s' % undefined_var }}|",
    # filters check their arguments as Python does
    "{{ xs|length(indent=2) if false else 'ok' }}",
    # errors in Jinja2 (the expected output is NULL): each must fail here too
    "{{ 1 + 'a' }}", "{{ xs|length(indent=2) }}", "{{ d[1:] }}", "{{ foo.bar }}",
    "{{ xs|indent }}", "{{ nothing|indent }}", "{{ xs|title(1, 2) }}", "{{ 'a' < 1 }}",
    "{{ nothing + 1 }}", "{{ xs|tojson(indnt=2) }}", "{% for a, b in xs %}{% endfor %}",
    "{{ xs|sort('type') }}", "{% set ns = namespace(undefined_var) %}",
    "{{ d|tojson(separators='user') }}", "{{ xs|reverse|length }}",
    "{% for x in xs %}{{ loop.cycle() }}{% endfor %}", "{{ n is defined(1) }}", "{{ n is odd 3 }}",
    "{{ n is divisibleby(3, 4) }}", "{{ n is eq(x=1) }}", "{{ s.strip(1, 2) }}", "{{ s.upper(1) }}",
    "{{ d.items(1) }}", "{{ d.get('a', 1, 2) }}", "{{ s.replace(old='a', new='b') }}", "{{ '%s %s' % (1,) }}", "{{ 'x' % 1 }}", "{{ '%d' % 'a' }}", "{{ '%(a)s' % 1 }}", "{{ '%z' % 1 }}", "{{ '%x' % 1.5 }}", "{{ d|tojson(separators=(1, 2)) }}",
    "{% if yes if yes else no %}x{% endif %}", "{% if no %}{% elif a if b %}{% endif %}",
    # globals
    "{{ range(3)|list }} {{ range(1, 4)|list }} {{ range(5, 0, -2)|list }} {% for i in range(2) %}{{ i }}{% endfor %}",
    "{{ dict(a=1, b='x') }} {{ namespace(a=1).a }} {{ strftime_now('%Y-%m-%d %H:%M %b %d') }}",
]


def main():
    output = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        gen.REPO, "tests", "text", "jinja-unit-cases.inc")
    ctx_json = json.dumps(CTX, ensure_ascii=False)
    rows = []
    for src in CASES:
        try:
            out = gen.compile_template(src).render(**CTX)
        except Exception:  # noqa: BLE001 - an error is an expected outcome
            out = None
        rows.append((src, out))
    with open(output, "w", encoding="utf-8") as f:
        f.write("/* jinja-unit-cases.inc - written by tools/gen-jinja-unit-cases.py from\n"
                " * Python Jinja2 %s (transformers' environment); do not edit. */\n"
                % gen.jinja2.__version__)
        f.write("static const char UNIT_CONTEXT[] = %s;\n" % c_str(ctx_json))
        f.write("static const long long UNIT_NOW_UNIX = %d;\n" % gen.NOW_UNIX)
        f.write("static const struct unit_case { const char *src, *want; } UNIT_CASES[] = {\n")
        for src, out in rows:
            f.write("    { %s,\n      %s },\n" % (c_str(src), "NULL" if out is None else c_str(out)))
        f.write("};\n")
    print("wrote %s: %d cases" % (output, len(rows)))


def c_str(text):
    out = []
    for ch in text.encode("utf-8"):
        c = chr(ch)
        if c == "\\":
            out.append("\\\\")
        elif c == '"':
            out.append('\\"')
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif c == "\r":
            out.append("\\r")
        elif 32 <= ch < 127:
            out.append(c)
        else:
            out.append('\\%03o' % ch)
    return '"' + "".join(out) + '"'


if __name__ == "__main__":
    main()
