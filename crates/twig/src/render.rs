//! Rendering: walks the compiled tree with a PHP-like variable context.
//!
//! The context is Twig's flat `$context` array. Its scoping rules are Twig's, because templates
//! depend on them: a `for` loop restores variables it shadowed and drops the ones it introduced,
//! but keeps changes to variables that existed before; `with` restores everything. Strict
//! variables make a missing variable or key an error, except where Twig evaluates leniently
//! (`is defined`, `|default`, `??`).

use std::sync::Arc;

use crate::ast::*;
use crate::env::{Environment, Template};
use crate::error::Error;
use crate::filters::{self, BuiltinFilter, BuiltinFunction};
use crate::value::{
    Array, Key, KeyRef, Num, Value, ValueError, php_compare, php_identical, php_loose_eq,
};

/// Output and string size limits: PHP has `memory_limit`; without one a template doubling a
/// string in a loop would exhaust memory and abort the process.
const MAX_OUTPUT: usize = 256 << 20;
const MAX_STRING: usize = 64 << 20;

/// Macro recursion limit.
const MAX_CALL_DEPTH: usize = 32;
/// Combined nesting of expressions, tags and macro calls while rendering: a template must not
/// be able to exhaust the stack (the parser bounds each template's own nesting, but macros
/// multiply it).
const MAX_EVAL_DEPTH: usize = 512;

pub(crate) fn render(t: &Template, env: &Environment, ctx: &Value) -> Result<String, Error> {
    let mut vars: Vec<(Name, Value)> = Vec::new();
    match ctx {
        Value::Array(a) => {
            vars.reserve(a.len());
            for (k, v) in a.iter() {
                vars.push((Name::from(k.to_php_string().as_ref()), v.clone()));
            }
        }
        Value::Null => {}
        _ => {
            return Err(Error::runtime(
                "The render context must be a hash",
                &t.name,
                0,
            ));
        }
    }
    let mut r = Renderer {
        env,
        tpl: t,
        vars,
        depth: 0,
        nesting: 0,
    };
    let mut out = String::with_capacity(4096);
    r.nodes(&t.nodes, &mut out)?;
    Ok(out)
}

struct Renderer<'a> {
    env: &'a Environment,
    tpl: &'a Template,
    vars: Vec<(Name, Value)>,
    depth: usize,
    nesting: usize,
}

type R<T> = Result<T, Error>;

fn type_word(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Int(_) => "integer",
        Value::Float(_) => "float",
        Value::Str(_) => "string",
        Value::Markup(_) | Value::Date(_) => "object",
        Value::Array(_) => "array",
    }
}

/// Stable merge sort that never panics, whatever the comparator (PHP comparisons are not a
/// total order, and user arrows may be inconsistent; `slice::sort_by` may panic then).
fn merge_sort<T: Clone, F: FnMut(&T, &T) -> std::cmp::Ordering>(v: &mut Vec<T>, cmp: &mut F) {
    if v.len() <= 1 {
        return;
    }
    let mid = v.len() / 2;
    let mut right = v.split_off(mid);
    merge_sort(v, cmp);
    merge_sort(&mut right, cmp);
    let left = std::mem::take(v);
    let mut out = Vec::with_capacity(left.len() + right.len());
    let (mut i, mut j) = (0, 0);
    while i < left.len() && j < right.len() {
        if cmp(&right[j], &left[i]) == std::cmp::Ordering::Less {
            out.push(right[j].clone());
            j += 1;
        } else {
            out.push(left[i].clone());
            i += 1;
        }
    }
    out.extend_from_slice(&left[i..]);
    out.extend_from_slice(&right[j..]);
    *v = out;
}

impl<'a> Renderer<'a> {
    fn err(&self, msg: impl Into<String>, line: u32) -> Error {
        Error::runtime(msg, &self.tpl.name, line)
    }

    fn verr(&self, e: ValueError, line: u32) -> Error {
        self.err(e.to_string(), line)
    }

    fn lookup(&self, name: &str) -> Option<&Value> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| &**n == name)
            .map(|(_, v)| v)
    }

    fn set(&mut self, name: &Name, v: Value) {
        if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| **n == **name) {
            slot.1 = v;
        } else {
            self.vars.push((name.clone(), v));
        }
    }

    fn unset(&mut self, name: &str) {
        self.vars.retain(|(n, _)| &**n != name);
    }

    fn context_value(&self) -> Value {
        Value::array(
            self.vars
                .iter()
                .map(|(n, v)| (Key::normalize(n), v.clone()))
                .collect(),
        )
    }

    // ------------------------------------------------------------ nodes

    fn nodes(&mut self, nodes: &[Node], out: &mut String) -> R<()> {
        self.nesting += 1;
        if self.nesting > MAX_EVAL_DEPTH {
            self.nesting -= 1;
            return Err(self.err("Template nesting is too deep", 0));
        }
        let mut r = Ok(());
        for n in nodes {
            r = self.node(n, out);
            if r.is_err() {
                break;
            }
            if out.len() > MAX_OUTPUT {
                r = Err(self.err("The output is too large", 0));
                break;
            }
        }
        self.nesting -= 1;
        r
    }

    /// Dispatch only (see `eval_inner` on frame sizes).
    fn node(&mut self, n: &Node, out: &mut String) -> R<()> {
        match n {
            Node::Text(t) => {
                out.push_str(t);
                Ok(())
            }
            Node::Print(e, line) => self.print(e, *line, out),
            Node::If(branches, els) => self.node_if(branches, els, out),
            Node::For(f) => self.for_loop(f, out),
            Node::Set { names, values, .. } => self.node_set(names, values),
            Node::Capture { name, body } => self.node_capture(name, body),
            Node::With {
                vars,
                only,
                body,
                line,
            } => self.node_with(vars.as_ref(), *only, body, *line, out),
            Node::Do(e) => self.eval(e).map(drop),
            Node::Block(body) => self.nodes(body, out),
        }
    }

    #[inline(never)]
    fn node_if(&mut self, branches: &[(Expr, Vec<Node>)], els: &[Node], out: &mut String) -> R<()> {
        for (cond, body) in branches {
            if self.eval(cond)?.truthy() {
                return self.nodes(body, out);
            }
        }
        self.nodes(els, out)
    }

    #[inline(never)]
    fn node_set(&mut self, names: &[Name], values: &[Expr]) -> R<()> {
        let vals: Vec<Value> = values.iter().map(|e| self.eval(e)).collect::<R<_>>()?;
        for (n, v) in names.iter().zip(vals) {
            self.set(n, v);
        }
        Ok(())
    }

    #[inline(never)]
    fn node_capture(&mut self, name: &Name, body: &[Node]) -> R<()> {
        let mut buf = String::new();
        self.nodes(body, &mut buf)?;
        let v = if buf.is_empty() {
            Value::str("")
        } else {
            Value::Markup(Arc::from(buf))
        };
        self.set(name, v);
        Ok(())
    }

    #[inline(never)]
    fn node_with(
        &mut self,
        vars: Option<&Expr>,
        only: bool,
        body: &[Node],
        line: u32,
        out: &mut String,
    ) -> R<()> {
        let saved = self.vars.clone();
        let extra = match vars {
            Some(e) => match self.eval(e)? {
                Value::Array(a) => Some(a),
                _ => {
                    return Err(self.err("Variables passed to a \"with\" tag must be a hash", line));
                }
            },
            None => None,
        };
        if only {
            self.vars.clear();
        }
        if let Some(a) = extra {
            for (k, v) in a.iter() {
                let n = Name::from(k.to_php_string().as_ref());
                self.set(&n, v.clone());
            }
        }
        let r = self.nodes(body, out);
        self.vars = saved;
        r
    }

    fn print(&mut self, e: &Expr, line: u32, out: &mut String) -> R<()> {
        // Fast path for the common `{{ var }}` under HTML auto-escaping: escape straight into
        // the output without building an intermediate string.
        if let Expr::Escape {
            input,
            strategy: Strategy::Html,
            auto: true,
            ..
        } = e
        {
            let v = self.eval(input)?;
            match &v {
                Value::Str(s) => filters::escape_html(s, out),
                other => other.write_to(out).map_err(|err| self.verr(err, line))?,
            }
            return Ok(());
        }
        let v = self.eval(e)?;
        v.write_to(out).map_err(|err| self.verr(err, line))
    }

    #[inline(never)]
    fn for_loop(&mut self, f: &ForNode, out: &mut String) -> R<()> {
        let seq = self.eval(&f.seq)?;
        let parent = self.vars.clone();
        let items: Option<Arc<Array>> = match &seq {
            Value::Array(a) => Some(a.clone()),
            _ => None,
        };
        let len = items.as_ref().map_or(0, |a| a.len());
        let loop_name: Name = Name::from("loop");
        let parent_value = if f.uses_loop {
            Some(Value::array(
                parent
                    .iter()
                    .map(|(n, v)| (Key::normalize(n), v.clone()))
                    .collect(),
            ))
        } else {
            None
        };
        let mut result = Ok(());
        if let Some(a) = &items {
            for (i, (k, v)) in a.iter().enumerate() {
                self.set(&f.key, k.to_value());
                self.set(&f.value, v.clone());
                if let Some(pv) = &parent_value {
                    let mut l = Array::with_capacity(8);
                    l.insert(Key::normalize("parent"), pv.clone());
                    l.insert(Key::normalize("index0"), Value::Int(i as i64));
                    l.insert(Key::normalize("index"), Value::Int(i as i64 + 1));
                    l.insert(Key::normalize("first"), Value::Bool(i == 0));
                    l.insert(
                        Key::normalize("revindex0"),
                        Value::Int((len - i - 1) as i64),
                    );
                    l.insert(Key::normalize("revindex"), Value::Int((len - i) as i64));
                    l.insert(Key::normalize("length"), Value::Int(len as i64));
                    l.insert(Key::normalize("last"), Value::Bool(i + 1 == len));
                    self.set(&loop_name, Value::array(l));
                }
                result = self.nodes(&f.body, out);
                if result.is_err() {
                    break;
                }
            }
        }
        if result.is_ok()
            && len == 0
            && let Some(els) = &f.else_body
        {
            result = self.nodes(els, out);
        }
        // Twig: `array_intersect_key($context, $_parent) + $_parent`, after unsetting the loop
        // variables.
        let mut restored = Vec::with_capacity(parent.len());
        for (n, pv) in parent {
            let is_loop_var = *n == *f.key || *n == *f.value || &*n == "loop";
            let v = if is_loop_var {
                pv
            } else {
                self.lookup(&n).cloned().unwrap_or(pv)
            };
            restored.push((n, v));
        }
        self.vars = restored;
        result
    }

    // ------------------------------------------------------------ expressions

    fn eval(&mut self, e: &Expr) -> R<Value> {
        self.nesting += 1;
        if self.nesting > MAX_EVAL_DEPTH {
            self.nesting -= 1;
            return Err(self.err("Template nesting is too deep", e.line()));
        }
        let r = self.eval_inner(e);
        self.nesting -= 1;
        r
    }

    /// Dispatch only: in debug builds a function's frame holds every arm's temporaries, so the
    /// arms live in their own functions to keep deep expressions within a 2 MiB stack.
    fn eval_inner(&mut self, e: &Expr) -> R<Value> {
        match e {
            Expr::Const(v) => Ok(v.clone()),
            Expr::Name(n, line) => self.eval_name(n, *line),
            Expr::Context => Ok(self.context_value()),
            Expr::Attr {
                obj,
                key,
                kind,
                line,
            } => self.eval_attr(obj, key, kind, *line),
            Expr::Array(items) => self.eval_array(items),
            Expr::Hash(items) => self.eval_hash(items),
            Expr::Not(x) => Ok(Value::Bool(!self.eval(x)?.truthy())),
            Expr::Neg(x, line) => self.eval_sign(x, true, *line),
            Expr::Pos(x, line) => self.eval_sign(x, false, *line),
            Expr::Bin(op, a, b, line) => self.binary(*op, a, b, *line),
            Expr::Cond(a, b, c) => {
                if self.eval(a)?.truthy() {
                    self.eval(b)
                } else {
                    self.eval(c)
                }
            }
            Expr::Coalesce { test, left, right } => self.eval_coalesce(test, left, right),
            Expr::Filter(f) => self.filter(f),
            Expr::Default {
                input,
                default,
                lenient,
                ..
            } => self.eval_default(input, default.as_deref(), *lenient),
            Expr::Escape {
                input,
                strategy,
                auto,
                line,
            } => self.eval_escape(input, strategy, *auto, *line),
            Expr::Func(f) => self.function(f),
            Expr::Test {
                kind,
                input,
                arg,
                line,
            } => self.test(*kind, input, arg.as_deref(), *line),
            Expr::Macro { name, args, line } => self.call_macro(name, args, *line),
            Expr::Arrow(_) => Err(self.err(
                "An arrow function can only be used as a filter or function argument",
                e.line(),
            )),
            Expr::Matches(x, re, line) => self.eval_matches(x, re, *line),
        }
    }

    #[inline(never)]
    fn eval_name(&self, n: &Name, line: u32) -> R<Value> {
        match self.lookup(n) {
            Some(v) => Ok(v.clone()),
            None if !self.env.strict_variables => Ok(Value::Null),
            None => Err(self.err(format!("Variable \"{n}\" does not exist"), line)),
        }
    }

    #[inline(never)]
    fn eval_attr(&mut self, obj: &Expr, key: &AttrKey, kind: &AttrKind, line: u32) -> R<Value> {
        let o = self.eval(obj)?;
        Ok(self
            .attr(&o, key, kind, line, false)?
            .unwrap_or(Value::Null))
    }

    #[inline(never)]
    fn eval_array(&mut self, items: &[Expr]) -> R<Value> {
        let mut a = Array::with_capacity(items.len());
        for (i, it) in items.iter().enumerate() {
            a.insert(Key::Int(i as i64), self.eval(it)?);
        }
        Ok(Value::array(a))
    }

    #[inline(never)]
    fn eval_hash(&mut self, items: &[(Expr, Expr)]) -> R<Value> {
        let mut a = Array::with_capacity(items.len());
        for (k, v) in items {
            let kv = self.eval(k)?;
            let key = self.to_key(&kv, k.line())?;
            let val = self.eval(v)?;
            a.insert(key, val);
        }
        Ok(Value::array(a))
    }

    #[inline(never)]
    fn eval_sign(&mut self, x: &Expr, negate: bool, line: u32) -> R<Value> {
        let v = self.eval(x)?;
        let n = v
            .to_num("*", &Value::Int(if negate { -1 } else { 1 }))
            .map_err(|e| self.verr(e, line))?;
        Ok(match (n, negate) {
            (Num::Int(i), true) => i
                .checked_neg()
                .map_or(Value::Float(-(i as f64)), Value::Int),
            (Num::Float(f), true) => Value::Float(-f),
            (n, false) => n.to_value(),
        })
    }

    #[inline(never)]
    fn eval_coalesce(&mut self, test: &Expr, left: &Expr, right: &Expr) -> R<Value> {
        match self.eval_lenient(test)? {
            Some(v) if !v.is_null() => self.eval(left),
            _ => self.eval(right),
        }
    }

    #[inline(never)]
    fn eval_default(&mut self, input: &Expr, default: Option<&Expr>, lenient: bool) -> R<Value> {
        let v = if lenient {
            self.eval_lenient(input)?
        } else {
            Some(self.eval(input)?)
        };
        match v {
            Some(v) if !v.is_empty_twig() => Ok(v),
            _ => match default {
                Some(d) => self.eval(d),
                None => Ok(Value::str("")),
            },
        }
    }

    #[inline(never)]
    fn eval_escape(
        &mut self,
        input: &Expr,
        strategy: &Strategy,
        auto: bool,
        line: u32,
    ) -> R<Value> {
        let v = self.eval(input)?;
        filters::escape(&v, strategy, auto).map_err(|m| self.err(m, line))
    }

    #[inline(never)]
    fn eval_matches(
        &mut self,
        x: &Expr,
        re: &Result<regex::bytes::Regex, String>,
        line: u32,
    ) -> R<Value> {
        let v = self.eval(x)?;
        let re = re.as_ref().map_err(|m| self.err(m.clone(), line))?;
        let s = v.to_str().map_err(|err| self.verr(err, line))?;
        Ok(Value::Int(re.is_match(s.as_bytes()) as i64))
    }

    /// Evaluate a variable or attribute chain, `None` where something is missing (Twig's
    /// `is_defined_test` / `ignore_strict_check`).
    fn eval_lenient(&mut self, e: &Expr) -> R<Option<Value>> {
        match e {
            Expr::Name(n, _) => Ok(self.lookup(n).cloned()),
            Expr::Attr {
                obj,
                key,
                kind,
                line,
            } => {
                let Some(o) = self.eval_lenient(obj)? else {
                    return Ok(None);
                };
                self.attr(&o, key, kind, *line, true)
            }
            other => Ok(Some(self.eval(other)?)),
        }
    }

    fn to_key(&self, v: &Value, line: u32) -> R<Key> {
        Ok(match v {
            Value::Int(i) => Key::Int(*i),
            Value::Str(s) | Value::Markup(s) => Key::normalize(s),
            Value::Bool(b) => Key::Int(*b as i64),
            Value::Float(f) => Key::Int(crate::value::float_to_int(*f)),
            Value::Null => Key::Str(Arc::from("")),
            Value::Array(_) | Value::Date(_) => return Err(self.err("Illegal offset type", line)),
        })
    }

    /// `twig_get_attribute`. `Ok(None)` means missing and tolerated (lenient or not strict).
    fn attr(
        &mut self,
        obj: &Value,
        key: &AttrKey,
        kind: &AttrKind,
        line: u32,
        lenient: bool,
    ) -> R<Option<Value>> {
        let dyn_key;
        let (kref, literal): (KeyRef<'_>, bool) = match key {
            AttrKey::Const(k) => (k.as_ref(), true),
            AttrKey::Dyn(e) => {
                let kv = self.eval(e)?;
                dyn_key = self.to_key(&kv, line)?;
                (dyn_key.as_ref(), false)
            }
        };
        let name_for_error = || -> String {
            if literal {
                match kref {
                    KeyRef::Int(i) => i.to_string(),
                    KeyRef::Str(s) => s.to_string(),
                }
            } else {
                // A computed key may be data (personal data, even): do not echo it.
                "(computed)".to_string()
            }
        };
        if let (Value::Date(d), KeyRef::Str(name)) = (obj, kref)
            && let Some(v) = self.date_attribute(d, name, kind, line)?
        {
            return Ok(Some(v));
        }
        if let AttrKind::Method(_) = kind {
            if lenient || !self.env.strict_variables {
                return Ok(None);
            }
            return Err(self.err(
                format!(
                    "Impossible to invoke a method (\"{}\") on {}",
                    name_for_error(),
                    match obj {
                        Value::Array(_) => "an array".to_string(),
                        Value::Null => "a null variable".to_string(),
                        other => format!("a {} variable", type_word(other)),
                    }
                ),
                line,
            ));
        }
        if let Value::Array(a) = obj
            && let Some(v) = a.get(&kref)
        {
            return Ok(Some(v.clone()));
        }
        if lenient || !self.env.strict_variables {
            return Ok(None);
        }
        let msg = match (obj, kind) {
            (Value::Array(a), _) if a.is_empty() => format!(
                "Key \"{}\" does not exist as the array is empty",
                name_for_error()
            ),
            (Value::Array(_), _) => format!("Key \"{}\" does not exist", name_for_error()),
            (Value::Markup(_), _) => format!(
                "Neither the property \"{}\" nor one of the methods exist and have public access in class \"Twig\\Markup\"",
                name_for_error()
            ),
            (Value::Date(_), _) => format!(
                "Neither the property \"{}\" nor one of the methods exist and have public access in class \"DateTime\"",
                name_for_error()
            ),
            (Value::Null, AttrKind::Array) => format!(
                "Impossible to access a key (\"{}\") on a null variable",
                name_for_error()
            ),
            (Value::Null, _) => format!(
                "Impossible to access an attribute (\"{}\") on a null variable",
                name_for_error()
            ),
            (other, AttrKind::Array) => format!(
                "Impossible to access a key (\"{}\") on a {} variable",
                name_for_error(),
                type_word(other)
            ),
            (other, _) => format!(
                "Impossible to access an attribute (\"{}\") on a {} variable",
                name_for_error(),
                type_word(other)
            ),
        };
        Err(self.err(msg, line))
    }

    /// The `DateTime` methods a template reaches as attributes (Twig tries `name()`, then
    /// `getName()`, case-insensitively): `timestamp`, `offset`, `format(f)`.
    fn date_attribute(
        &mut self,
        d: &crate::date::PhpDate,
        name: &str,
        kind: &AttrKind,
        line: u32,
    ) -> R<Option<Value>> {
        let args = match kind {
            AttrKind::Method(args) => args.as_slice(),
            AttrKind::Any => &[],
            AttrKind::Array => return Ok(None),
        };
        let name = name.to_ascii_lowercase();
        Ok(match (name.as_str(), args) {
            ("timestamp" | "gettimestamp", []) => Some(Value::Int(d.timestamp())),
            ("offset" | "getoffset", []) => Some(Value::Int(crate::date::offset(d).into())),
            ("format", [f]) => {
                let f = self.eval(f)?;
                let f = f.to_str().map_err(|e| self.err(e.to_string(), line))?;
                Some(Value::string(crate::date::format(d, &f)))
            }
            _ => None,
        })
    }

    fn binary(&mut self, op: BinOp, a: &Expr, b: &Expr, line: u32) -> R<Value> {
        match op {
            BinOp::Or => {
                return Ok(Value::Bool(
                    self.eval(a)?.truthy() || self.eval(b)?.truthy(),
                ));
            }
            BinOp::And => {
                return Ok(Value::Bool(
                    self.eval(a)?.truthy() && self.eval(b)?.truthy(),
                ));
            }
            _ => {}
        }
        let x = self.eval(a)?;
        if matches!(op, BinOp::HasSome | BinOp::HasEvery) {
            return self.has_some_every(op, x, b, line);
        }
        let y = self.eval(b)?;
        self.binary_values(op, x, y, line)
    }

    #[inline(never)]
    fn has_some_every(&mut self, op: BinOp, x: Value, b: &Expr, line: u32) -> R<Value> {
        {
            let Expr::Arrow(arrow) = b else {
                return Err(self.err(
                    "The \"has some\" and \"has every\" operators need an arrow function",
                    line,
                ));
            };
            let every = op == BinOp::HasEvery;
            let Value::Array(arr) = &x else {
                return Ok(Value::Bool(every));
            };
            for (k, v) in arr.iter() {
                let r = self.call_arrow(arrow, &[v.clone(), k.to_value()])?.truthy();
                if every && !r {
                    return Ok(Value::Bool(false));
                }
                if !every && r {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(every))
        }
    }

    #[inline(never)]
    fn binary_values(&mut self, op: BinOp, x: Value, y: Value, line: u32) -> R<Value> {
        let ve = |s: &Self, e: ValueError| s.verr(e, line);
        Ok(match op {
            BinOp::Eq => Value::Bool(php_loose_eq(&x, &y)),
            BinOp::Ne => Value::Bool(!php_loose_eq(&x, &y)),
            BinOp::Lt => Value::Bool(php_compare(&x, &y).is_lt()),
            BinOp::Gt => Value::Bool(php_compare(&x, &y).is_gt()),
            BinOp::Le => Value::Bool(php_compare(&x, &y).is_le()),
            BinOp::Ge => Value::Bool(php_compare(&x, &y).is_ge()),
            BinOp::Spaceship => Value::Int(php_compare(&x, &y) as i64),
            BinOp::In => Value::Bool(in_test(&x, &y)),
            BinOp::NotIn => Value::Bool(!in_test(&x, &y)),
            BinOp::Matches => {
                let p = y.to_str().map_err(|e| ve(self, e))?;
                let re = crate::pcre::compile(&p).map_err(|m| self.err(m, line))?;
                let s = x.to_str().map_err(|e| ve(self, e))?;
                Value::Int(re.is_match(s.as_bytes()) as i64)
            }
            BinOp::StartsWith => Value::Bool(match (&x, &y) {
                (Value::Str(s), Value::Str(p)) => s.starts_with(&**p),
                _ => false,
            }),
            BinOp::EndsWith => Value::Bool(match (&x, &y) {
                (Value::Str(s), Value::Str(p)) => s.ends_with(&**p),
                _ => false,
            }),
            BinOp::Range => filters::range(&x, &y, None).map_err(|m| self.err(m, line))?,
            BinOp::Concat => {
                let (lx, ly) = (approx_len(&x), approx_len(&y));
                if lx + ly > MAX_STRING {
                    return Err(self.err("The string is too long", line));
                }
                let mut s = String::with_capacity(lx + ly);
                x.write_to(&mut s).map_err(|e| ve(self, e))?;
                y.write_to(&mut s).map_err(|e| ve(self, e))?;
                Value::string(s)
            }
            BinOp::Add => {
                if let (Value::Array(p), Value::Array(q)) = (&x, &y) {
                    let mut r = (**p).clone();
                    for (k, v) in q.iter() {
                        r.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                    return Ok(Value::array(r));
                }
                arith(op, &x, &y).map_err(|e| ve(self, e))?
            }
            BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod | BinOp::Pow | BinOp::FloorDiv => {
                arith(op, &x, &y).map_err(|e| ve(self, e))?
            }
            BinOp::BAnd | BinOp::BOr | BinOp::BXor => {
                let p = to_int_operand(&x, &y).map_err(|e| ve(self, e))?;
                let q = to_int_operand(&y, &x).map_err(|e| ve(self, e))?;
                Value::Int(match op {
                    BinOp::BAnd => p & q,
                    BinOp::BOr => p | q,
                    _ => p ^ q,
                })
            }
            BinOp::Or | BinOp::And | BinOp::HasSome | BinOp::HasEvery => Value::Null,
        })
    }

    fn test(&mut self, kind: TestKind, input: &Expr, arg: Option<&Expr>, line: u32) -> R<Value> {
        if kind == TestKind::Defined {
            return Ok(Value::Bool(self.eval_lenient(input)?.is_some()));
        }
        let v = self.eval(input)?;
        Ok(Value::Bool(match kind {
            TestKind::Null => v.is_null(),
            TestKind::Empty => v.is_empty_twig(),
            TestKind::Iterable => matches!(v, Value::Array(_)),
            TestKind::Even | TestKind::Odd => {
                let r = arith(BinOp::Mod, &v, &Value::Int(2)).map_err(|e| self.verr(e, line))?;
                let even = r.to_int() == 0;
                if kind == TestKind::Even { even } else { !even }
            }
            TestKind::SameAs => {
                let o = match arg {
                    Some(a) => self.eval(a)?,
                    None => Value::Null,
                };
                php_identical(&v, &o)
            }
            TestKind::DivisibleBy => {
                let o = match arg {
                    Some(a) => self.eval(a)?,
                    None => Value::Null,
                };
                let r = arith(BinOp::Mod, &v, &o).map_err(|e| self.verr(e, line))?;
                php_loose_eq(&Value::Int(0), &r)
            }
            TestKind::Defined => true,
        }))
    }

    fn eval_args(&mut self, args: &[Option<Expr>]) -> R<Vec<Option<Value>>> {
        args.iter()
            .map(|a| match a {
                Some(e) => self.eval(e).map(Some),
                None => Ok(None),
            })
            .collect()
    }

    /// Arguments for a host callable: trailing defaults omitted, skipped ones `null`.
    fn host_args(args: Vec<Option<Value>>) -> Vec<Value> {
        let used = args.iter().rposition(Option::is_some).map_or(0, |i| i + 1);
        args.into_iter()
            .take(used)
            .map(Option::unwrap_or_default)
            .collect()
    }

    #[inline(never)]
    fn filter(&mut self, f: &FilterCall) -> R<Value> {
        let input = self.eval(&f.input)?;
        match &f.imp {
            FilterImpl::Custom(c) => {
                let args = Self::host_args(self.eval_args(&f.args)?);
                (c.f)(&input, &args).map_err(|m| self.err(m, f.line))
            }
            FilterImpl::Builtin(b) => match b {
                BuiltinFilter::Map | BuiltinFilter::Filter | BuiltinFilter::Reduce => {
                    self.arrow_filter(*b, &input, f)
                }
                BuiltinFilter::Sort if f.args.first().is_some_and(Option::is_some) => {
                    self.arrow_filter(*b, &input, f)
                }
                BuiltinFilter::Escape => {
                    let args = self.eval_args(&f.args)?;
                    let strategy = match args.first() {
                        Some(Some(v)) => {
                            Strategy::from_name(&v.to_str().map_err(|e| self.verr(e, f.line))?)
                        }
                        _ => Strategy::Html,
                    };
                    filters::escape(&input, &strategy, false).map_err(|m| self.err(m, f.line))
                }
                _ => {
                    let args = self.eval_args(&f.args)?;
                    filters::apply(self.env, *b, &input, &args).map_err(|m| self.err(m, f.line))
                }
            },
        }
    }

    fn arrow_of(&mut self, e: Option<&Option<Expr>>, what: &str, line: u32) -> R<Arc<Arrow>> {
        match e {
            Some(Some(Expr::Arrow(a))) => Ok(a.clone()),
            _ => Err(self.err(
                format!("The \"{what}\" filter expects an arrow function"),
                line,
            )),
        }
    }

    fn call_arrow(&mut self, arrow: &Arrow, args: &[Value]) -> R<Value> {
        let mut saved: Vec<(Name, Option<Value>)> = Vec::with_capacity(arrow.params.len());
        for (i, p) in arrow.params.iter().enumerate() {
            saved.push((p.clone(), self.lookup(p).cloned()));
            self.set(p, args.get(i).cloned().unwrap_or_default());
        }
        let r = self.eval(&arrow.body);
        for (p, old) in saved.into_iter().rev() {
            match old {
                Some(v) => self.set(&p, v),
                None => self.unset(&p),
            }
        }
        r
    }

    fn arrow_filter(&mut self, b: BuiltinFilter, input: &Value, f: &FilterCall) -> R<Value> {
        let what = match b {
            BuiltinFilter::Map => "map",
            BuiltinFilter::Filter => "filter",
            BuiltinFilter::Reduce => "reduce",
            _ => "sort",
        };
        let arrow = self.arrow_of(f.args.first(), what, f.line)?;
        let empty = Arc::new(Array::new());
        let arr = match input {
            Value::Array(a) => a.clone(),
            Value::Null if b != BuiltinFilter::Sort => empty,
            other => {
                return Err(self.err(
                    format!(
                        "The \"{what}\" filter expects an array, got \"{}\"",
                        other.type_name()
                    ),
                    f.line,
                ));
            }
        };
        match b {
            BuiltinFilter::Map => {
                let mut out = Array::with_capacity(arr.len());
                for (k, v) in arr.iter() {
                    let r = self.call_arrow(&arrow, &[v.clone(), k.to_value()])?;
                    out.insert(k.clone(), r);
                }
                Ok(Value::array(out))
            }
            BuiltinFilter::Filter => {
                let mut out = Array::new();
                for (k, v) in arr.iter() {
                    if self
                        .call_arrow(&arrow, &[v.clone(), k.to_value()])?
                        .truthy()
                    {
                        out.insert(k.clone(), v.clone());
                    }
                }
                Ok(Value::array(out))
            }
            BuiltinFilter::Reduce => {
                let mut acc = match f.args.get(1) {
                    Some(Some(e)) => self.eval(e)?,
                    _ => Value::Null,
                };
                for v in arr.values() {
                    acc = self.call_arrow(&arrow, &[acc, v.clone()])?;
                }
                Ok(acc)
            }
            _ => {
                let mut entries: Vec<(Key, Value)> =
                    arr.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                let mut failure: Option<Error> = None;
                let mut cmp = |x: &(Key, Value), y: &(Key, Value)| {
                    if failure.is_some() {
                        return std::cmp::Ordering::Equal;
                    }
                    match self.call_arrow(&arrow, &[x.1.clone(), y.1.clone()]) {
                        Ok(v) => v.to_int().cmp(&0),
                        Err(e) => {
                            failure = Some(e);
                            std::cmp::Ordering::Equal
                        }
                    }
                };
                merge_sort(&mut entries, &mut cmp);
                if let Some(e) = failure {
                    return Err(e);
                }
                Ok(Value::array(entries.into_iter().collect()))
            }
        }
    }

    #[inline(never)]
    fn function(&mut self, f: &FuncCall) -> R<Value> {
        let args = self.eval_args(&f.args)?;
        let line = f.line;
        match &f.imp {
            FuncImpl::Custom(c) => {
                let args = Self::host_args(args);
                (c.f)(&args).map_err(|m| self.err(m, line))
            }
            FuncImpl::Builtin(b) => {
                let get = |i: usize| args.get(i).and_then(|a| a.as_ref());
                let r = match b {
                    BuiltinFunction::Range => filters::range(
                        get(0).unwrap_or(&Value::Null),
                        get(1).unwrap_or(&Value::Null),
                        get(2),
                    ),
                    BuiltinFunction::Max | BuiltinFunction::Min => {
                        let vals: Vec<Value> = args.iter().flatten().cloned().collect();
                        filters::min_max(&vals, *b == BuiltinFunction::Max)
                    }
                    BuiltinFunction::Date => {
                        crate::date::convert(self.env, get(0).unwrap_or(&Value::Null), get(1))
                            .map(Value::Date)
                    }
                    BuiltinFunction::Cycle => filters::cycle(
                        get(0).unwrap_or(&Value::Null),
                        get(1).unwrap_or(&Value::Null),
                    ),
                };
                r.map_err(|m| self.err(m, line))
            }
        }
    }

    #[inline(never)]
    fn call_macro(&mut self, name: &Name, args: &[(Option<Name>, Expr)], line: u32) -> R<Value> {
        let Some(m) = self.tpl.macros.get(name).cloned() else {
            return Err(self.err(
                format!(
                    "Macro \"{name}\" is not defined in template \"{}\"",
                    self.tpl.name
                ),
                line,
            ));
        };
        if self.depth >= MAX_CALL_DEPTH {
            return Err(self.err("Maximum macro call depth exceeded", line));
        }
        let mut positional = Vec::new();
        let mut named: Vec<(Name, Value)> = Vec::new();
        for (n, e) in args {
            let v = self.eval(e)?;
            match n {
                Some(n) => named.push((n.clone(), v)),
                None => positional.push(v),
            }
        }
        let mut vars: Vec<(Name, Value)> = Vec::with_capacity(m.params.len() + 1);
        let mut pos = positional.into_iter();
        for (p, default) in &m.params {
            let v = if let Some(v) = pos.next() {
                v
            } else if let Some(i) = named.iter().position(|(n, _)| n == p) {
                named.remove(i).1
            } else if let Some(d) = default {
                self.eval(d)?
            } else {
                Value::Null
            };
            vars.push((p.clone(), v));
        }
        if let Some((n, _)) = named.first() {
            return Err(self.err(
                format!("Macro \"{name}\" has no argument named \"{n}\""),
                line,
            ));
        }
        vars.push((Name::from("varargs"), Value::list(pos.collect())));
        let saved = std::mem::replace(&mut self.vars, vars);
        self.depth += 1;
        let mut buf = String::new();
        let r = self.nodes(&m.body, &mut buf);
        self.depth -= 1;
        self.vars = saved;
        r?;
        Ok(if buf.is_empty() {
            Value::str("")
        } else {
            Value::Markup(Arc::from(buf))
        })
    }
}

fn approx_len(v: &Value) -> usize {
    match v {
        Value::Str(s) | Value::Markup(s) => s.len(),
        _ => 24,
    }
}

fn to_int_operand(v: &Value, other: &Value) -> Result<i64, ValueError> {
    Ok(match v.to_num("&", other)? {
        Num::Int(i) => i,
        Num::Float(f) => crate::value::float_to_int(f),
    })
}

/// `twig_in_filter`.
fn in_test(needle: &Value, haystack: &Value) -> bool {
    let needle = match needle {
        Value::Markup(m) => Value::Str(m.clone()),
        other => other.clone(),
    };
    match haystack {
        Value::Str(h) | Value::Markup(h) => match &needle {
            Value::Str(n) => n.is_empty() || h.contains(&**n),
            Value::Int(_) | Value::Float(_) => needle
                .to_str()
                .map(|n| h.contains(n.as_ref()))
                .unwrap_or(false),
            _ => false,
        },
        Value::Array(a) => a
            .values()
            .any(|item| php_compare(&needle, item).is_eq() && comparable(&needle, item)),
        _ => false,
    }
}

/// `<=>` returns 0 for some pairs PHP's `twig_compare` would not call equal (arrays vs. scalars
/// are never equal).
fn comparable(a: &Value, b: &Value) -> bool {
    !matches!(
        (a, b),
        (
            Value::Array(_),
            Value::Int(_) | Value::Float(_) | Value::Str(_)
        ) | (
            Value::Int(_) | Value::Float(_) | Value::Str(_),
            Value::Array(_)
        )
    )
}

/// PHP 8 arithmetic.
fn arith(op: BinOp, x: &Value, y: &Value) -> Result<Value, ValueError> {
    let sym = match op {
        BinOp::Add => "+",
        BinOp::Sub => "-",
        BinOp::Mul => "*",
        BinOp::Div | BinOp::FloorDiv => "/",
        BinOp::Mod => "%",
        _ => "**",
    };
    let a = x.to_num(sym, y)?;
    let b = y.to_num(sym, x)?;
    use Num::*;
    Ok(match op {
        BinOp::Add | BinOp::Sub | BinOp::Mul => match (a, b) {
            (Int(p), Int(q)) => {
                let r = match op {
                    BinOp::Add => p.checked_add(q),
                    BinOp::Sub => p.checked_sub(q),
                    _ => p.checked_mul(q),
                };
                match r {
                    Some(v) => Value::Int(v),
                    None => Value::Float(float_op(op, p as f64, q as f64)),
                }
            }
            _ => Value::Float(float_op(op, a.as_f64(), b.as_f64())),
        },
        BinOp::Div => {
            if b.as_f64() == 0.0 {
                return Err(ValueError::DivisionByZero);
            }
            match (a, b) {
                (Int(p), Int(q)) if q != 0 && p.checked_rem(q) == Some(0) => p
                    .checked_div(q)
                    .map_or(Value::Float(p as f64 / q as f64), Value::Int),
                _ => Value::Float(a.as_f64() / b.as_f64()),
            }
        }
        BinOp::FloorDiv => {
            if b.as_f64() == 0.0 {
                return Err(ValueError::DivisionByZero);
            }
            let q = match (a, b) {
                (Int(p), Int(q)) if p.checked_rem(q) == Some(0) => {
                    p.checked_div(q).map_or(p as f64 / q as f64, |v| v as f64)
                }
                _ => a.as_f64() / b.as_f64(),
            };
            Value::Int(crate::value::float_to_int(q.floor()))
        }
        BinOp::Mod => {
            let p = match a {
                Int(i) => i,
                Float(f) => crate::value::float_to_int(f),
            };
            let q = match b {
                Int(i) => i,
                Float(f) => crate::value::float_to_int(f),
            };
            if q == 0 {
                return Err(ValueError::ModuloByZero);
            }
            Value::Int(p.checked_rem(q).unwrap_or(0))
        }
        _ => match (a, b) {
            (Int(p), Int(q)) if q >= 0 => {
                match u32::try_from(q).ok().and_then(|e| p.checked_pow(e)) {
                    Some(v) => Value::Int(v),
                    None => Value::Float((p as f64).powf(q as f64)),
                }
            }
            _ => Value::Float(a.as_f64().powf(b.as_f64())),
        },
    })
}

fn float_op(op: BinOp, a: f64, b: f64) -> f64 {
    match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        _ => a * b,
    }
}
