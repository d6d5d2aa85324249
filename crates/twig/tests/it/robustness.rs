//! Hostile and arbitrary input: no template text and no data may panic the renderer, and
//! errors name the template and line without echoing data values.

use proptest::prelude::*;
use twig::{Environment, ErrorKind};

fn env() -> Environment {
    let mut env = Environment::new();
    twig::register_os2forms(&mut env);
    env
}

fn context() -> serde_json::Value {
    serde_json::json!({
        "a": {"b": [1, "2", null, true, 1.5], "c": {"0": "x", "d": "æ<&>"}},
        "s": "1234567890",
        "n": null,
        "l": [3, 1, 2],
    })
}

const FRAGMENTS: &[&str] = &[
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "#}",
    "{{-",
    "-}}",
    "{%-",
    "-%}",
    "~%}",
    " if ",
    " elseif ",
    " else ",
    " endif ",
    " for ",
    " endfor ",
    " in ",
    " set ",
    " endset ",
    " = ",
    " ~ ",
    "|",
    "upper",
    "default",
    "e('xml')",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "'",
    "\"",
    "#{",
    " 2 ",
    " 3 ",
    "..",
    "-",
    "**",
    "?",
    ":",
    "??",
    " ",
    "\n",
    "a.b",
    "a.c.d",
    "a['b'][0]",
    "s",
    "n",
    "l",
    "loop",
    "loop.index",
    "macro",
    "m",
    "endmacro",
    " import _self as m ",
    "m.m()",
    "verbatim",
    "endverbatim",
    ",",
    "=>",
    " matches ",
    "'/(/'",
    "'/a/i'",
    " is ",
    " not ",
    " defined ",
    "range( 2 , 3 )",
    "æøå",
    "apply",
    "endapply",
    "autoescape",
    "endautoescape",
    "with",
    "endwith",
    "only",
    "json_encode",
    "os2forms_fordelingskomponent_xml_encode",
    "os2forms_fordelingskomponent_floatval(s, langcode: 'da')",
    "map(v => v)",
    "sort",
    "keys",
    "date('Y-m-d')",
    "number_format(2)",
    "format",
    "'%s %d'",
    "slice( 2 )",
    "\\",
    "_context",
    "attribute(a, 'b')",
    "b-and",
    "//",
    "%",
    "<",
    ">=",
    "==",
    "starts with",
    "do",
    "block",
    "endblock",
    "'x'",
    "null",
    "true",
    "1e3",
    "0.5",
];

fn template() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(FRAGMENTS).prop_map(str::to_string),
            1 => "\\PC{0,6}",
        ],
        0..40,
    )
    .prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn never_panics(src in template()) {
        let env = env();
        if let Ok(t) = env.compile("fuzz.twig", &src) {
            let _ = t.render_json(&env, &context());
        }
    }

    #[test]
    fn never_panics_on_arbitrary_text(src in "\\PC{0,80}") {
        let env = env();
        if let Ok(t) = env.compile("fuzz.twig", &src) {
            let _ = t.render_json(&env, &context());
        }
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let env = env();
    let src = format!("{{{{ {}1{} }}}}", "(".repeat(5000), ")".repeat(5000));
    assert!(env.compile("deep.twig", &src).is_err());
    let src = "{% if true %}".repeat(5000);
    assert!(env.compile("deep.twig", &src).is_err());
    let src = format!("{{{{ {}1 }}}}", "-".repeat(5000));
    assert!(env.compile("deep.twig", &src).is_err());
}

#[test]
fn recursive_macro_is_an_error() {
    let env = env();
    let t = env
        .compile(
            "rec.twig",
            "{% macro r() %}{% import _self as m %}{{ m.r() }}{% endmacro %}{% import _self as m %}{{ m.r() }}",
        )
        .unwrap();
    assert!(t.render_json(&env, &context()).is_err());
}

#[test]
fn errors_name_template_and_line_but_not_values() {
    let env = env();
    let t = env
        .compile("sp241.xml.twig", "<a>\n\n{{ nope }}</a>")
        .unwrap();
    let e = t.render_json(&env, &context()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Runtime);
    assert_eq!(
        e.to_string(),
        "Variable \"nope\" does not exist in \"sp241.xml.twig\" at line 3."
    );

    // Attribute access on a string must not echo the string (it may be a CPR number).
    let t = env.compile("x.twig", "{{ s.foo }}").unwrap();
    let msg = t.render_json(&env, &context()).unwrap_err().to_string();
    assert!(!msg.contains("1234567890"), "{msg}");
    assert!(msg.contains("\"foo\"") && msg.contains("line 1"), "{msg}");

    // A computed key is data too.
    let t = env.compile("x.twig", "{{ a.c[s] }}").unwrap();
    let msg = t.render_json(&env, &context()).unwrap_err().to_string();
    assert!(!msg.contains("1234567890"), "{msg}");

    let e = env.compile("y.twig", "{{ 'x'|nope }}").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Syntax);
    assert_eq!(
        e.to_string(),
        "Unknown \"nope\" filter in \"y.twig\" at line 1."
    );
}

#[test]
fn newer_twig_spellings_are_accepted() {
    // Twig >= 3.12 named arguments with `:`; PHP Twig 3.5 only knows `=`.
    let env = env();
    let ctx = serde_json::json!({"v": "1.234,5"});
    for src in [
        "{{ os2forms_fordelingskomponent_floatval(v, langcode: 'da') }}",
        "{{ os2forms_fordelingskomponent_floatval(v, langcode='da') }}",
    ] {
        let t = env.compile("n.twig", src).unwrap();
        assert_eq!(t.render_json(&env, &ctx).unwrap(), "1234.5");
    }
    // PHP Twig 3.5 fails to compile these (a bug fixed later); we accept them.
    let t = env
        .compile(
            "n.twig",
            "{{ nope|default(default='d') }}{% macro f(a, b) %}{{ a }}{{ b }}{% endmacro %}{% import _self as m %}{{ m.f(b='B', a='A') }}",
        )
        .unwrap();
    assert_eq!(t.render_json(&env, &ctx).unwrap(), "dAB");
}

#[test]
fn templates_are_shared_across_threads() {
    let env = std::sync::Arc::new(env());
    let t = std::sync::Arc::new(env.compile("t.twig", "{{ a.c.d }}").unwrap());
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (env, t) = (env.clone(), t.clone());
            std::thread::spawn(move || t.render_json(&env, &context()).unwrap())
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), "æ&lt;&amp;&gt;");
    }
}

#[test]
fn macros_multiplying_deep_expressions_do_not_overflow() {
    // Run on a 2 MiB stack (Rust's default for spawned threads) in whatever profile tests use.
    let h = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let env = env();
            let deep = format!("{}1{}", "(1 + ".repeat(25), ")".repeat(25));
            let src = format!(
                "{{% macro r(n) %}}{{% import _self as m %}}{{{{ {deep} ~ m.r(n) }}}}{{% endmacro %}}{{% import _self as m %}}{{{{ m.r(1) }}}}"
            );
            let t = env.compile("deep.twig", &src).unwrap();
            t.render_json(&env, &context()).is_err()
        })
        .unwrap();
    assert!(h.join().unwrap());
}

#[test]
fn long_chains_do_not_overflow() {
    let h = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let env = env();
            let ok = format!("{{{{ {} }}}}", vec!["s"; 250].join(" ~ "));
            let t = env.compile("chain.twig", &ok).unwrap();
            assert_eq!(t.render_json(&env, &context()).unwrap().len(), 2500);
            let long = format!("{{{{ {} }}}}", vec!["s"; 100_000].join(" ~ "));
            assert!(env.compile("chain.twig", &long).is_err());
            let filters = format!("{{{{ s{} }}}}", "|upper".repeat(100_000));
            let _ = env
                .compile("chain.twig", &filters)
                .map(|t| t.render_json(&env, &context()));
        })
        .unwrap();
    h.join().unwrap();
}

#[test]
fn recursive_macros_through_nested_tags_do_not_overflow() {
    let h = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let env = env();
            let n = 12;
            let src = format!(
                "{{% macro r(n) %}}{{% import _self as m %}}{}{{% for i in [1] %}}{{{{ m.r(n)|upper|lower ~ (s ~ (s ~ s)) }}}}{{% endfor %}}{}{{% endmacro %}}{{% import _self as m %}}{{{{ m.r(1) }}}}",
                "{% if true %}{% with %}".repeat(n),
                "{% endwith %}{% endif %}".repeat(n)
            );
            let t = env.compile("deep.twig", &src).unwrap();
            t.render_json(&env, &context()).is_err()
        })
        .unwrap();
    assert!(h.join().unwrap());
}

#[test]
fn exponential_strings_are_an_error() {
    let env = env();
    let t = env
        .compile(
            "big.twig",
            "{% set s = 'x' %}{% for i in 1..80 %}{% set s = s ~ s %}{% endfor %}{{ s|length }}",
        )
        .unwrap();
    assert!(t.render_json(&env, &context()).is_err());
}
