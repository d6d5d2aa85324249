//! The compiled form of a template: nodes and expressions, with escaping already decided.
//!
//! Like PHP Twig's compiler, the parser resolves filters, functions and tests by name and
//! inserts the auto-escape filter where Twig's escaper would, so rendering is a plain walk of
//! this tree with no name lookups in the environment and no escaping decisions left. Everything
//! here is immutable and `Send + Sync`, so one compiled template serves many threads.

use std::sync::Arc;

use crate::env::{CustomFilter, CustomFunction};
use crate::filters::{BuiltinFilter, BuiltinFunction};
use crate::value::{Key, Value};

pub(crate) type Name = Arc<str>;

#[derive(Clone, Debug)]
pub(crate) enum Node {
    Text(Box<str>),
    Print(Expr, u32),
    If(Vec<(Expr, Vec<Node>)>, Vec<Node>),
    For(Box<ForNode>),
    Set {
        names: Vec<Name>,
        values: Vec<Expr>,
        #[allow(dead_code)] // positions stay in the tree for `Debug` dumps
        line: u32,
    },
    /// `{% set x %}…{% endset %}`: the output, as a safe string.
    Capture {
        name: Name,
        body: Vec<Node>,
    },
    With {
        vars: Option<Expr>,
        only: bool,
        body: Vec<Node>,
        line: u32,
    },
    Do(Expr),
    /// `{% block %}` in a template that extends nothing renders in place.
    Block(Vec<Node>),
}

#[derive(Clone, Debug)]
pub(crate) struct ForNode {
    pub key: Name,
    pub value: Name,
    pub seq: Expr,
    pub body: Vec<Node>,
    pub else_body: Option<Vec<Node>>,
    /// Only loops whose body mentions `loop` pay for building it.
    pub uses_loop: bool,
    #[allow(dead_code)] // positions stay in the tree for `Debug` dumps
    pub line: u32,
}

#[derive(Clone, Debug)]
#[allow(dead_code)] // name and position stay in the tree for `Debug` dumps
pub(crate) struct Macro {
    pub name: Name,
    pub params: Vec<(Name, Option<Expr>)>,
    pub body: Vec<Node>,
    pub line: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BinOp {
    Or,
    And,
    BOr,
    BXor,
    BAnd,
    Eq,
    Ne,
    Spaceship,
    Lt,
    Gt,
    Ge,
    Le,
    NotIn,
    In,
    Matches,
    StartsWith,
    EndsWith,
    HasSome,
    HasEvery,
    Range,
    Add,
    Sub,
    Concat,
    Mul,
    Div,
    FloorDiv,
    Mod,
    Pow,
}

#[derive(Clone, Debug)]
pub(crate) enum AttrKey {
    /// A key written in the template (`a.b`, `a['b']`, `a[0]`): safe to name in errors.
    Const(Key),
    Dyn(Box<Expr>),
}

#[derive(Clone, Debug)]
pub(crate) enum AttrKind {
    Any,
    Array,
    Method(Vec<Expr>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TestKind {
    Defined,
    Null,
    Empty,
    Even,
    Odd,
    Iterable,
    SameAs,
    DivisibleBy,
}

#[derive(Clone, Debug)]
pub(crate) enum Strategy {
    Html,
    Js,
    Css,
    Url,
    HtmlAttr,
    Unknown(Arc<str>),
}

impl Strategy {
    pub(crate) fn from_name(s: &str) -> Strategy {
        match s {
            "html" => Strategy::Html,
            "js" => Strategy::Js,
            "css" => Strategy::Css,
            "url" => Strategy::Url,
            "html_attr" => Strategy::HtmlAttr,
            other => Strategy::Unknown(Arc::from(other)),
        }
    }
    pub(crate) fn name(&self) -> &str {
        match self {
            Strategy::Html => "html",
            Strategy::Js => "js",
            Strategy::Css => "css",
            Strategy::Url => "url",
            Strategy::HtmlAttr => "html_attr",
            Strategy::Unknown(s) => s,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) enum FilterImpl {
    Builtin(BuiltinFilter),
    Custom(Arc<CustomFilter>),
}

#[derive(Clone, Debug)]
pub(crate) enum FuncImpl {
    Builtin(BuiltinFunction),
    Custom(Arc<CustomFunction>),
}

#[derive(Clone, Debug)]
pub(crate) struct FilterCall {
    #[allow(dead_code)] // the name stays in the tree for `Debug` dumps
    pub name: Name,
    pub imp: FilterImpl,
    pub input: Expr,
    /// Arguments by parameter position; `None` where the default applies.
    pub args: Vec<Option<Expr>>,
    pub line: u32,
}

#[derive(Clone, Debug)]
pub(crate) struct FuncCall {
    #[allow(dead_code)] // the name stays in the tree for `Debug` dumps
    pub name: Name,
    pub imp: FuncImpl,
    pub args: Vec<Option<Expr>>,
    pub line: u32,
}

#[derive(Clone, Debug)]
pub(crate) enum Expr {
    Const(Value),
    Name(Name, u32),
    Attr {
        obj: Box<Expr>,
        key: AttrKey,
        kind: AttrKind,
        line: u32,
    },
    Array(Vec<Expr>),
    Hash(Vec<(Expr, Expr)>),
    Not(Box<Expr>),
    Neg(Box<Expr>, u32),
    Pos(Box<Expr>, u32),
    Bin(BinOp, Box<Expr>, Box<Expr>, u32),
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `left ?? right`: `test` is the raw left side (checked leniently), `left` what prints.
    Coalesce {
        test: Box<Expr>,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    Filter(Box<FilterCall>),
    /// `x|default(d)`; `lenient` when `x` is a variable or attribute (missing means default).
    Default {
        input: Box<Expr>,
        default: Option<Box<Expr>>,
        lenient: bool,
        line: u32,
    },
    /// Escaping; `auto` when inserted by auto-escape (safe strings pass through then).
    Escape {
        input: Box<Expr>,
        strategy: Strategy,
        auto: bool,
        line: u32,
    },
    Func(Box<FuncCall>),
    Test {
        kind: TestKind,
        input: Box<Expr>,
        arg: Option<Box<Expr>>,
        line: u32,
    },
    Macro {
        name: Name,
        args: Vec<(Option<Name>, Expr)>,
        line: u32,
    },
    Arrow(Arc<Arrow>),
    /// `x matches '/literal/'`, translated once at compile time (an invalid pattern fails when
    /// evaluated, as in PHP).
    Matches(Box<Expr>, Arc<Result<regex::bytes::Regex, String>>, u32),
    /// The `_context` special variable.
    Context,
}

#[derive(Debug)]
pub(crate) struct Arrow {
    pub params: Vec<Name>,
    pub body: Expr,
}

impl Expr {
    pub(crate) fn line(&self) -> u32 {
        match self {
            Expr::Name(_, l)
            | Expr::Attr { line: l, .. }
            | Expr::Neg(_, l)
            | Expr::Pos(_, l)
            | Expr::Bin(_, _, _, l)
            | Expr::Default { line: l, .. }
            | Expr::Escape { line: l, .. }
            | Expr::Test { line: l, .. }
            | Expr::Macro { line: l, .. }
            | Expr::Matches(_, _, l) => *l,
            Expr::Filter(f) => f.line,
            Expr::Func(f) => f.line,
            Expr::Not(e) => e.line(),
            Expr::Cond(a, _, _) => a.line(),
            Expr::Coalesce { test, .. } => test.line(),
            _ => 0,
        }
    }

    /// Does the expression (or a nested one) read the variable `name`?
    pub(crate) fn mentions(&self, name: &str) -> bool {
        match self {
            Expr::Name(n, _) => &**n == name,
            Expr::Const(_) | Expr::Context => false,
            Expr::Attr { obj, key, kind, .. } => {
                obj.mentions(name)
                    || matches!(key, AttrKey::Dyn(k) if k.mentions(name))
                    || matches!(kind, AttrKind::Method(a) if a.iter().any(|e| e.mentions(name)))
            }
            Expr::Array(v) => v.iter().any(|e| e.mentions(name)),
            Expr::Hash(v) => v.iter().any(|(k, e)| k.mentions(name) || e.mentions(name)),
            Expr::Not(e) | Expr::Neg(e, _) | Expr::Pos(e, _) => e.mentions(name),
            Expr::Bin(_, a, b, _) => a.mentions(name) || b.mentions(name),
            Expr::Cond(a, b, c) => a.mentions(name) || b.mentions(name) || c.mentions(name),
            Expr::Coalesce { test, left, right } => {
                test.mentions(name) || left.mentions(name) || right.mentions(name)
            }
            Expr::Filter(f) => {
                f.input.mentions(name) || f.args.iter().flatten().any(|e| e.mentions(name))
            }
            Expr::Default { input, default, .. } => {
                input.mentions(name) || default.as_ref().is_some_and(|d| d.mentions(name))
            }
            Expr::Escape { input, .. } => input.mentions(name),
            Expr::Func(f) => f.args.iter().flatten().any(|e| e.mentions(name)),
            Expr::Test { input, arg, .. } => {
                input.mentions(name) || arg.as_ref().is_some_and(|a| a.mentions(name))
            }
            Expr::Macro { args, .. } => args.iter().any(|(_, e)| e.mentions(name)),
            Expr::Arrow(a) => a.body.mentions(name),
            Expr::Matches(e, _, _) => e.mentions(name),
        }
    }
}

pub(crate) fn nodes_mention(nodes: &[Node], name: &str) -> bool {
    nodes.iter().any(|n| node_mentions(n, name))
}

fn node_mentions(n: &Node, name: &str) -> bool {
    match n {
        Node::Text(_) => false,
        Node::Print(e, _) | Node::Do(e) => e.mentions(name),
        Node::If(branches, els) => {
            branches
                .iter()
                .any(|(c, b)| c.mentions(name) || nodes_mention(b, name))
                || nodes_mention(els, name)
        }
        Node::For(f) => {
            f.seq.mentions(name)
                || nodes_mention(&f.body, name)
                || f.else_body.as_ref().is_some_and(|b| nodes_mention(b, name))
        }
        Node::Set { values, .. } => values.iter().any(|e| e.mentions(name)),
        Node::Capture { body, .. } | Node::Block(body) => nodes_mention(body, name),
        Node::With { vars, body, .. } => {
            vars.as_ref().is_some_and(|v| v.mentions(name)) || nodes_mention(body, name)
        }
    }
}
