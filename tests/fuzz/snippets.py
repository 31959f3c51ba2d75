"""Hostile manifests: each fuzzer finding as a manifest, and the pieces the mutator splices in.

Every finding took the real command line to a traceback, a hang or gigabytes; each must
now be one located line and exit code 1 (``FINDINGS``: manifest, the start of the error
line, extra environment).
"""

from __future__ import annotations

HEAD = "version: 1\ntargets:\n"
LOCAL = HEAD + "  - name: a\n    model: local\n"
REMOTE = HEAD + "  - name: a\n    model: imagineart:1@5\n    prompt: hi\n"
DERIVED = (
    HEAD
    + "  - name: a\n    model: local\n    prompt: hi\n  - name: b\n    from: a\n    transform:\n"
)
ALIAS_BOMB = "version: 1\nvars:\n  a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"  {name}: &{name} [{','.join([f'*{previous}'] * 10)}]\n"
    for previous, name in zip("abcdef", "bcdefg", strict=True)
)
SIX_AXES = (
    HEAD
    + '  - name: "a-{{ p }}{{ q }}{{ r }}{{ s }}{{ t }}{{ u }}"\n    model: local\n    matrix:\n'
    + "".join(f"      {axis}: [0,1,2,3,4,5,6,7,8,9]\n" for axis in "pqrstu")
)
STRING_LIMIT = "over the limit of 100,000 (IMAGEBUILD_MAX_STRING=N raises it)"

FINDINGS: dict[str, tuple[str, str, dict[str, str]]] = {
    "recursive-alias": (
        "version: 1\ntargets: &t [{name: a, x: *t}]\n",
        "imagebuild.yaml:2:24: recursive alias: this value contains itself",
        {},
    ),
    "deep-nesting": (
        "version: 1\nvars:\n  v: "
        + "[" * 500
        + "]" * 500
        + "\n"
        + LOCAL.removeprefix("version: 1\n")
        + "    prompt: hi\n",
        "imagebuild.yaml:3:68: values nest too deeply, over the limit of 64 (IMAGEBUILD_MAX_DEPTH=N raises it)",
        {},
    ),
    "merge-number": (
        HEAD + "  - name: a\n    <<: 5\n    prompt: hi\n",
        "imagebuild.yaml:4:9: YAML syntax error: expected a mapping or list of mappings for merging",
        {},
    ),
    "merge-string": (
        HEAD + "  - name: a\n    <<: 'str'\n    prompt: hi\n",
        "imagebuild.yaml:4:9: YAML syntax error: expected a mapping or list of mappings for merging",
        {},
    ),
    "custom-tag": (
        LOCAL + "    prompt: !custom x\n",
        "imagebuild.yaml:5:13: unsupported YAML tag !custom",
        {},
    ),
    "pair-tag": (
        LOCAL + "    prompt: !!pair [a: 1]\n",
        "imagebuild.yaml:5:13: unsupported YAML tag !!pair",
        {},
    ),
    "date": (
        LOCAL + "    prompt: hi\n    seed: 2024-01-01\n",
        "imagebuild.yaml:6:11: '2024-01-01' is a YAML date (!!timestamp)",
        {},
    ),
    "binary": (
        LOCAL + "    prompt: !!binary aGVsbG8=\n",
        "imagebuild.yaml:5:13: 'aGVsbG8=' is YAML binary data",
        {},
    ),
    "template-range": (
        LOCAL + '    prompt: "{{ range(3) }}"\n',
        "imagebuild.yaml:5:13: target a: the expression's value is a range, which JSON has no type for",
        {},
    ),
    "template-dict": (
        LOCAL + '    prompt: "{{ dict }}"\n',
        "imagebuild.yaml:5:13: target a: the expression's value is the function or type dict",
        {},
    ),
    "template-lipsum": (
        LOCAL + '    prompt: "{{ lipsum }}"\n',
        "imagebuild.yaml:5:13: target a: the expression's value is the function or type lipsum",
        {},
    ),
    "seed-beyond-64-bits": (
        LOCAL + "    prompt: hi\n    seed: 18446744073709551616\n",
        "imagebuild.yaml:6:11: '18446744073709551616' is beyond the 64-bit integers JSON readers take",
        {},
    ),
    "power-folded-at-compile-time": (
        LOCAL + '    prompt: "{{ 10 ** 5000 }}"\n',
        "imagebuild.yaml:5:13: target a: a template would build an integer of about 16,609 bits",
        {},
    ),
    "number-results": (
        LOCAL + "    prompt: hi\n    numberResults: 100000000000\n",
        "imagebuild.yaml:6:20: target a: numberResults: 100000000000 is out of range (maximum 20)",
        {},
    ),
    "prices-number": (
        "version: 1\nproviders: {runware: {prices: 5}}\n" + REMOTE.removeprefix("version: 1\n"),
        "imagebuild.yaml:2:31: providers.runware.prices: must map model ids to USD per image",
        {},
    ),
    "prices-text": (
        'version: 1\nproviders: {runware: {prices: {"imagineart:1@5": "abc"}}}\n'
        + REMOTE.removeprefix("version: 1\n"),
        "imagebuild.yaml:2:50: providers.runware.prices.imagineart:1@5: 'abc' is not a price",
        {},
    ),
    "long-input-name": (
        LOCAL + "    prompt: hi\n    seedImage: " + "x" * 300 + ".png\n",
        "imagebuild.yaml:6:16: target a: input '"
        + "x" * 300
        + ".png' has a file name of 304 bytes",
        {},
    ),
    "nul-in-output": (
        LOCAL + '    prompt: hi\n    output: "out/a\\0.png"\n',
        "imagebuild.yaml:6:13: target a: output 'out/a\\x00.png' holds the control character U+0000",
        {},
    ),
    "absolute-input": (
        LOCAL + "    prompt: hi\n    seedImage: /etc/passwd\n",
        # Which folders inputs may come from is a policy of its own; the place is fixed.
        "imagebuild.yaml:6:16: target a: input ",
        {},
    ),
    "alias-bomb": (
        ALIAS_BOMB + "targets:\n  - name: a\n    prompt: hi\n",
        "imagebuild.yaml:8:6: this value expands to 1,111,111 YAML values (aliases expanded), over the"
        " limit of 500,000 (IMAGEBUILD_MAX_NODES=N raises it)",
        {},
    ),
    "six-axis-matrix": (
        SIX_AXES,
        "imagebuild.yaml:5:5: this matrix brings the manifest to 1,000,000 targets, over the limit of"
        " 25,000 (IMAGEBUILD_MAX_TARGETS=N raises it)",
        {},
    ),
    "nested-loops": (
        LOCAL
        + '    prompt: "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"\n',
        "imagebuild.yaml:5:13: target a: templates and matrices take too many steps, over the limit of"
        " 2,000,000 (IMAGEBUILD_MAX_STEPS=N raises it)",
        {},
    ),
    "lipsum-million": (
        LOCAL + '    prompt: "{{ lipsum(10**6) }}"\n',
        "imagebuild.yaml:5:13: target a: a template would build a value of 1,200,000,000 characters or"
        " items, " + STRING_LIMIT,
        {},
    ),
    "power-of-power": (
        LOCAL + '    prompt: "{{ 10 ** (10 ** 8) }}"\n',
        "imagebuild.yaml:5:13: target a: a template would build an integer of about 332,192,809 bits",
        {},
    ),
    "string-times-billion": (
        LOCAL + "    prompt: \"{{ 'a' * 10**9 }}\"\n",
        "imagebuild.yaml:5:13: target a: a template would build a value of 1,000,000,000 characters",
        {},
    ),
    "format-width": (
        LOCAL + "    prompt: \"{{ '%999999999s'|format('x') }}\"\n",
        "imagebuild.yaml:5:13: target a: a template would build a value of 1,000,000,011 characters",
        {},
    ),
    "center": (
        LOCAL + "    prompt: \"{{ 'a'|center(10**9) }}\"\n",
        "imagebuild.yaml:5:13: target a: a template would build a value of 1,000,000,000 characters",
        {},
    ),
    "format-quality": (
        DERIVED + "      - format: {type: WEBP, quality: -1}\n",
        "imagebuild.yaml:9:39: target b: format: quality must be 1..100, got -1",
        {},
    ),
    "two-operations": (
        DERIVED + "      - {format: {type: PNG}, crop: {width: 5}}\n",
        "imagebuild.yaml:9:9: target b: each transform step is a mapping with exactly one operation",
        {},
    ),
    "control-character": (
        LOCAL + "    prompt: hi\x07there\n",
        "imagebuild.yaml:5:15: character U+0007 is not allowed in YAML; inside double quotes, write it as the escape \\x07",
        {},
    ),
    "nan": (
        LOCAL + "    prompt: hi\n    strength: .nan\n",
        "imagebuild.yaml:6:15: '.nan' is not a JSON number (NaN and infinities have no JSON form)",
        {},
    ),
    "template-nan": (
        LOCAL + "    prompt: hi\n    strength: \"{{ 'nan'|float }}\"\n",
        "imagebuild.yaml:6:15: target a: the expression's value is not a JSON number",
        {},
    ),
    "matrix-keyword-typo": (
        HEAD
        + '  - name: "a-{{ c }}"\n    model: local\n    prompt: hi\n    matrix:\n      c: [x, y]\n'
        "      exlude: [{c: x}]\n",
        "imagebuild.yaml:8:7: matrix key 'exlude' is not a variable any template of this target uses"
        " (did you mean 'exclude'?)",
        {},
    ),
    "key-not-ascii": (
        REMOTE,
        "imagebuild.yaml:4:12: target a: RUNWARE_API_KEY holds a space, a control character or a"
        " non-ASCII character; set it to the key alone: provider runware needs it for this target",
        {"RUNWARE_API_KEY": "sk-é1", "RUNWARE_API_URL": "http://127.0.0.1:9/v1"},
    ),
    "key-with-newline": (
        REMOTE,
        "imagebuild.yaml:4:12: target a: RUNWARE_API_KEY holds a space, a control character or a"
        " non-ASCII character; set it to the key alone: provider runware needs it for this target",
        {"RUNWARE_API_KEY": "sk-secret\nX-Injected: 1", "RUNWARE_API_URL": "http://127.0.0.1:9/v1"},
    ),
}

# Template expressions that once took minutes or gigabytes, and values JSON cannot hold.
HEAVY_EXPRESSIONS = [
    "'a' * 10**9",
    "10 ** (10 ** 8)",
    "10 ** 5000",
    "'%999999999s'|format('x')",
    "'%.999999999f' % 1.0",
    "'a'|center(10**9)",
    "'{:>999999999}'.format(1)",
    "lipsum(10**6)",
    "[1] * 10**9",
    "range(100000)|join('x' * 1000)",
    "(1).to_bytes(10**9, 'big')",
    "range(3)",
    "dict",
    "lipsum",
    "'nan'|float",
    "2 ** 64",
    "{1: 2}",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    "''.__class__.__mro__",
]
HEAVY_STATEMENTS = [
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
    "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}",
    "{% set ns = namespace(s='ab') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
    "{% for i in range(1000) %}{% set x %}{{ 'y' * 90000 }}{% endset %}{% endfor %}",
]
EXTREME_NUMBERS = [
    "0",
    "-1",
    "-0.0",
    "0.5",
    "2147483648",
    "9223372036854775808",
    "18446744073709551616",
    "100000000000",
    "1e308",
    "1.0e+999",
    ".nan",
    "-.inf",
    "0x7fffffffffffffff",
    "1_000_000",
    "7" * 60,
    "16:9",
    "2024-01-01",
]
