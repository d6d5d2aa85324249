//! Tokens → AST, following PHP Twig 3.5's parser and expression parser, plus its escaper.
//!
//! Operator precedence, the odd corners that decide output (`-2|abs` is `-(2|abs)`, `a ?: b`,
//! `x|default` being lenient only on variables and attributes, the `defined` test only on simple
//! variables) and the auto-escape decisions (Twig's escaper and safe-analysis node visitors) all
//! live here, so that a template compiles to the same meaning it has in PHP.

use std::collections::HashMap;
use std::sync::Arc;

use crate::ast::*;
use crate::env::Environment;
use crate::error::Error;
use crate::filters::{BuiltinFilter, BuiltinFunction, builtin_filter, builtin_function};
use crate::lexer::{Tok, Token};
use crate::value::{Key, Value};

/// How deeply expressions and tags may nest: keeps hostile templates from overflowing the stack.
const MAX_DEPTH: usize = 64;
/// How many operators, filters and subscripts one tag or print may chain (`a ~ b ~ c …`,
/// `x|f|g…`): chains nest the tree as deeply as parentheses would.
const MAX_CHAIN: usize = 400;

struct Parser<'a> {
    env: &'a Environment,
    name: &'a str,
    toks: Vec<Token>,
    pos: usize,
    /// Auto-escape strategy stack (`{% autoescape %}`); `None` = off.
    escape_stack: Vec<Option<Strategy>>,
    macros: HashMap<Name, Arc<Macro>>,
    /// `{% import _self as m %}` aliases and `{% from _self import a as b %}` functions.
    macro_namespaces: Vec<Name>,
    macro_functions: HashMap<Name, Name>,
    depth: usize,
    chain_ops: usize,
    tmp_counter: usize,
}

type Parsed = (Vec<Node>, HashMap<Name, Arc<Macro>>);

pub(crate) fn parse(env: &Environment, name: &str, toks: Vec<Token>) -> Result<Parsed, Error> {
    let mut p = Parser {
        env,
        name,
        toks,
        pos: 0,
        escape_stack: vec![env.autoescape.clone()],
        macros: HashMap::new(),
        macro_namespaces: Vec::new(),
        macro_functions: HashMap::new(),
        depth: 0,
        chain_ops: 0,
        tmp_counter: 0,
    };
    let (nodes, end) = p.subparse(&[], None)?;
    debug_assert!(end.is_none());
    Ok((nodes, p.macros))
}

/// Names that cannot be assigned to.
fn reserved(n: &str) -> bool {
    matches!(
        n.to_ascii_lowercase().as_str(),
        "true" | "false" | "none" | "null"
    )
}

impl<'a> Parser<'a> {
    fn err(&self, msg: impl Into<String>, line: u32) -> Error {
        Error::syntax(msg, self.name, line)
    }

    fn cur(&self) -> &Token {
        // The lexer always ends the stream with Eof.
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }

    fn peek(&self, n: usize) -> &Tok {
        &self.toks[(self.pos + n).min(self.toks.len() - 1)].tok
    }

    fn line(&self) -> u32 {
        self.cur().line
    }

    fn next(&mut self) -> Token {
        let t = self.cur().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn unexpected(&self, expected: &str) -> Error {
        let t = self.cur();
        let what = match &t.tok {
            Tok::Eof => "Unexpected end of template".to_string(),
            other => format!("Unexpected token \"{}\"", other.describe()),
        };
        if expected.is_empty() {
            self.err(what, t.line)
        } else {
            self.err(format!("{what} ({expected} expected)"), t.line)
        }
    }

    fn is_punct(&self, c: char) -> bool {
        matches!(self.cur().tok, Tok::Punct(x) if x == c)
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(self.cur().tok, Tok::Op(x) if x == op)
    }

    fn is_name(&self, n: &str) -> bool {
        matches!(&self.cur().tok, Tok::Name(x) if x == n)
    }

    fn expect_punct(&mut self, c: char, msg: &str) -> Result<(), Error> {
        if self.is_punct(c) {
            self.next();
            Ok(())
        } else if msg.is_empty() {
            Err(self.unexpected(&format!("\"punctuation\" of value \"{c}\"")))
        } else {
            let t = self.cur();
            Err(self.err(
                format!(
                    "{msg}. Unexpected token \"{}\" (\"punctuation\" of value \"{c}\" expected)",
                    t.tok.describe()
                ),
                t.line,
            ))
        }
    }

    fn expect_block_end(&mut self) -> Result<(), Error> {
        if matches!(self.cur().tok, Tok::BlockEnd) {
            self.next();
            Ok(())
        } else {
            Err(self.unexpected("\"end of statement block\""))
        }
    }

    fn expect_name(&mut self) -> Result<(String, u32), Error> {
        let t = self.cur().clone();
        match t.tok {
            Tok::Name(n) => {
                self.next();
                Ok((n, t.line))
            }
            _ => Err(self.unexpected("\"name\"")),
        }
    }

    fn escape_state(&self) -> Option<Strategy> {
        self.escape_stack.last().cloned().flatten()
    }

    fn enter(&mut self) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("Template nesting is too deep", self.line()));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Count one node wrapped around an existing expression (see `MAX_CHAIN`).
    fn chain(&mut self) -> Result<(), Error> {
        self.chain_ops += 1;
        if self.chain_ops > MAX_CHAIN {
            return Err(self.err("Expression is too long", self.line()));
        }
        Ok(())
    }

    // ---------------------------------------------------------------- tags

    /// Parse nodes until a `{% tag %}` in `ends` (returned, with the stream just after its
    /// name) or the end of the template (only allowed when `ends` is empty).
    fn subparse(
        &mut self,
        ends: &[&str],
        opener: Option<(&str, u32)>,
    ) -> Result<(Vec<Node>, Option<String>), Error> {
        self.enter()?;
        let r = self.subparse_inner(ends, opener);
        self.leave();
        r
    }

    fn subparse_inner(
        &mut self,
        ends: &[&str],
        opener: Option<(&str, u32)>,
    ) -> Result<(Vec<Node>, Option<String>), Error> {
        let mut nodes = Vec::new();
        loop {
            let t = self.cur().clone();
            match t.tok {
                Tok::Eof => {
                    if let Some((tag, line)) = opener {
                        return Err(self.err(
                            format!(
                                "Unexpected end of template (expecting closing tag for the \"{tag}\" tag defined near line {line})"
                            ),
                            t.line,
                        ));
                    }
                    return Ok((nodes, None));
                }
                Tok::Text(s) => {
                    self.next();
                    nodes.push(Node::Text(s.into_boxed_str()));
                }
                Tok::VarStart => {
                    self.next();
                    self.chain_ops = 0;
                    let expr = self.parse_expression(0)?;
                    if !matches!(self.cur().tok, Tok::VarEnd) {
                        return Err(self.unexpected("\"end of print statement\""));
                    }
                    self.next();
                    let expr = self.escape_print(expr);
                    nodes.push(Node::Print(expr, t.line));
                }
                Tok::BlockStart => {
                    self.next();
                    let (tag, line) = match &self.cur().tok {
                        Tok::Name(n) => (n.clone(), self.line()),
                        _ => return Err(self.err("A block must start with a tag name", t.line)),
                    };
                    if ends.contains(&tag.as_str()) {
                        self.next();
                        return Ok((nodes, Some(tag)));
                    }
                    self.next();
                    self.chain_ops = 0;
                    if let Some(node) = self.parse_tag(&tag, line, opener)? {
                        nodes.push(node);
                    }
                }
                _ => return Err(self.unexpected("")),
            }
        }
    }

    fn parse_tag(
        &mut self,
        tag: &str,
        line: u32,
        opener: Option<(&str, u32)>,
    ) -> Result<Option<Node>, Error> {
        Ok(Some(match tag {
            "if" => self.parse_if(line)?,
            "for" => self.parse_for(line)?,
            "set" => self.parse_set(line)?,
            "apply" => self.parse_apply(line)?,
            "autoescape" => self.parse_autoescape(line)?,
            "with" => self.parse_with(line)?,
            "do" => {
                let e = self.parse_expression(0)?;
                self.expect_block_end()?;
                Node::Do(e)
            }
            "flush" => {
                self.expect_block_end()?;
                return Ok(None);
            }
            "block" => self.parse_block(line)?,
            "macro" => {
                self.parse_macro(line)?;
                return Ok(None);
            }
            "import" => {
                self.parse_import(line)?;
                return Ok(None);
            }
            "from" => {
                self.parse_from(line)?;
                return Ok(None);
            }
            _ => {
                let known_end = [
                    "endif",
                    "endfor",
                    "endset",
                    "endapply",
                    "endautoescape",
                    "endwith",
                    "endblock",
                    "endmacro",
                    "else",
                    "elseif",
                    "endverbatim",
                ];
                if known_end.contains(&tag) {
                    let mut msg = format!("Unexpected \"{tag}\" tag");
                    if let Some((t, l)) = opener {
                        msg.push_str(&format!(
                            " (expecting closing tag for the \"{t}\" tag defined near line {l})"
                        ));
                    }
                    return Err(self.err(msg, line));
                }
                return Err(self.err(format!("Unknown \"{tag}\" tag"), line));
            }
        }))
    }

    fn parse_if(&mut self, line: u32) -> Result<Node, Error> {
        let mut branches = Vec::new();
        let mut else_body = Vec::new();
        let mut cond = self.parse_expression(0)?;
        self.expect_block_end()?;
        loop {
            let (body, end) = self.subparse(&["elseif", "else", "endif"], Some(("if", line)))?;
            branches.push((cond, body));
            match end.as_deref() {
                Some("elseif") => {
                    cond = self.parse_expression(0)?;
                    self.expect_block_end()?;
                }
                Some("else") => {
                    self.expect_block_end()?;
                    let (body, _) = self.subparse(&["endif"], Some(("if", line)))?;
                    else_body = body;
                    self.expect_block_end()?;
                    break;
                }
                _ => {
                    self.expect_block_end()?;
                    break;
                }
            }
        }
        Ok(Node::If(branches, else_body))
    }

    fn parse_targets(&mut self) -> Result<Vec<Name>, Error> {
        let mut names = Vec::new();
        loop {
            let t = self.cur().clone();
            let n = match t.tok {
                Tok::Name(n) => n,
                _ => {
                    return Err(self.err(
                        format!(
                            "Only variables can be assigned to. Unexpected token \"{}\"",
                            t.tok.describe()
                        ),
                        t.line,
                    ));
                }
            };
            if reserved(&n) {
                return Err(self.err(format!("You cannot assign a value to \"{n}\""), t.line));
            }
            self.next();
            names.push(Name::from(n.as_str()));
            if !self.is_punct(',') {
                return Ok(names);
            }
            self.next();
        }
    }

    fn parse_for(&mut self, line: u32) -> Result<Node, Error> {
        let targets = self.parse_targets()?;
        if !self.is_op("in") {
            return Err(self.unexpected("\"operator\" of value \"in\""));
        }
        self.next();
        let seq = self.parse_expression(0)?;
        self.expect_block_end()?;
        let (body, end) = self.subparse(&["else", "endfor"], Some(("for", line)))?;
        let else_body = if end.as_deref() == Some("else") {
            self.expect_block_end()?;
            let (b, _) = self.subparse(&["endfor"], Some(("for", line)))?;
            Some(b)
        } else {
            None
        };
        self.expect_block_end()?;
        let (key, value) = if targets.len() > 1 {
            (targets[0].clone(), targets[1].clone())
        } else {
            (Name::from("_key"), targets[0].clone())
        };
        let uses_loop = nodes_mention(&body, "loop");
        Ok(Node::For(Box::new(ForNode {
            key,
            value,
            seq,
            body,
            else_body,
            uses_loop,
            line,
        })))
    }

    fn parse_set(&mut self, line: u32) -> Result<Node, Error> {
        let names = self.parse_targets()?;
        if self.is_op("=") {
            self.next();
            let mut values = vec![self.parse_expression(0)?];
            while self.is_punct(',') {
                self.next();
                values.push(self.parse_expression(0)?);
            }
            self.expect_block_end()?;
            if names.len() != values.len() {
                return Err(self.err(
                    "When using set, you must have the same number of variables and assignments",
                    line,
                ));
            }
            return Ok(Node::Set {
                names,
                values,
                line,
            });
        }
        if names.len() > 1 {
            return Err(self.err(
                "When using set with a block, you cannot have a multi-target",
                line,
            ));
        }
        self.expect_block_end()?;
        let (body, _) = self.subparse(&["endset"], Some(("set", line)))?;
        self.expect_block_end()?;
        Ok(capture_node(names[0].clone(), body))
    }

    fn parse_apply(&mut self, line: u32) -> Result<Node, Error> {
        self.tmp_counter += 1;
        let tmp = Name::from(format!("\u{0}apply{}", self.tmp_counter).as_str());
        let filtered = self.parse_filter_chain(Expr::Name(tmp.clone(), line))?;
        self.expect_block_end()?;
        let (body, _) = self.subparse(&["endapply"], Some(("apply", line)))?;
        self.expect_block_end()?;
        let print = self.escape_print(filtered);
        Ok(Node::With {
            vars: None,
            only: false,
            body: vec![capture_node(tmp, body), Node::Print(print, line)],
            line,
        })
    }

    fn parse_autoescape(&mut self, line: u32) -> Result<Node, Error> {
        let strategy = if matches!(self.cur().tok, Tok::BlockEnd) {
            Some(Strategy::Html)
        } else {
            match self.parse_expression(0)? {
                Expr::Const(Value::Bool(false)) => None,
                Expr::Const(Value::Bool(true)) => Some(Strategy::Html),
                Expr::Const(Value::Str(s)) => Some(Strategy::from_name(&s)),
                _ => {
                    return Err(self.err(
                        "An escaping strategy must be a string or false",
                        self.line(),
                    ));
                }
            }
        };
        self.expect_block_end()?;
        self.escape_stack.push(strategy);
        let r = self.subparse(&["endautoescape"], Some(("autoescape", line)));
        self.escape_stack.pop();
        let (body, _) = r?;
        self.expect_block_end()?;
        Ok(Node::Block(body))
    }

    fn parse_with(&mut self, line: u32) -> Result<Node, Error> {
        let mut vars = None;
        let mut only = false;
        if !matches!(self.cur().tok, Tok::BlockEnd) {
            if !self.is_name("only") {
                vars = Some(self.parse_expression(0)?);
            }
            if self.is_name("only") {
                self.next();
                only = true;
            }
        }
        self.expect_block_end()?;
        let (body, _) = self.subparse(&["endwith"], Some(("with", line)))?;
        self.expect_block_end()?;
        Ok(Node::With {
            vars,
            only,
            body,
            line,
        })
    }

    fn parse_block(&mut self, line: u32) -> Result<Node, Error> {
        let (name, _) = self.expect_name()?;
        if matches!(self.cur().tok, Tok::BlockEnd) {
            self.next();
            let (body, _) = self.subparse(&["endblock"], Some(("block", line)))?;
            if let Tok::Name(n) = &self.cur().tok {
                if *n != name {
                    return Err(self.err(
                        format!("Expected endblock for block \"{name}\" (but \"{n}\" given)"),
                        self.line(),
                    ));
                }
                self.next();
            }
            self.expect_block_end()?;
            Ok(Node::Block(body))
        } else {
            // `{% block name expr %}`: the short form prints the expression.
            let e = self.parse_expression(0)?;
            self.expect_block_end()?;
            let e = self.escape_print(e);
            Ok(Node::Block(vec![Node::Print(e, line)]))
        }
    }

    fn parse_macro(&mut self, line: u32) -> Result<(), Error> {
        let (name, _) = self.expect_name()?;
        self.expect_punct('(', "")?;
        let mut params = Vec::new();
        while !self.is_punct(')') {
            if !params.is_empty() {
                self.expect_punct(',', "Arguments must be separated by a comma")?;
                if self.is_punct(')') {
                    break;
                }
            }
            let (p, pl) = self.expect_name()?;
            if reserved(&p) {
                return Err(self.err(format!("You cannot assign a value to \"{p}\""), pl));
            }
            let default = if self.is_op("=") || self.is_punct(':') {
                self.next();
                let d = self.parse_expression(0)?;
                if !matches!(d, Expr::Const(_) | Expr::Array(_) | Expr::Hash(_)) {
                    return Err(self.err(
                        "A default value for an argument must be a constant (a boolean, a string, a number, or an array)",
                        pl,
                    ));
                }
                Some(d)
            } else {
                None
            };
            params.push((Name::from(p.as_str()), default));
        }
        self.next();
        self.expect_block_end()?;
        // Macro output is captured and marked safe, as in Twig; escaping inside follows the
        // template's strategy.
        let (body, _) = self.subparse(&["endmacro"], Some(("macro", line)))?;
        if let Tok::Name(n) = &self.cur().tok {
            if *n != name {
                return Err(self.err(
                    format!("Expected endmacro for macro \"{name}\" (but \"{n}\" given)"),
                    self.line(),
                ));
            }
            self.next();
        }
        self.expect_block_end()?;
        let key = Name::from(name.as_str());
        if self.macros.contains_key(&key) {
            return Err(self.err(
                format!("The macro \"{name}\" has already been defined"),
                line,
            ));
        }
        self.macros.insert(
            key.clone(),
            Arc::new(Macro {
                name: key,
                params,
                body,
                line,
            }),
        );
        Ok(())
    }

    fn expect_self(&mut self, line: u32) -> Result<(), Error> {
        if self.is_name("_self") {
            self.next();
            Ok(())
        } else {
            Err(self.err(
                "Only macros of the same template (\"_self\") can be imported: templates are compiled on their own",
                line,
            ))
        }
    }

    fn parse_import(&mut self, line: u32) -> Result<(), Error> {
        self.expect_self(line)?;
        if !self.is_name("as") {
            return Err(self.unexpected("\"name\" of value \"as\""));
        }
        self.next();
        let (alias, _) = self.expect_name()?;
        self.expect_block_end()?;
        self.macro_namespaces.push(Name::from(alias.as_str()));
        Ok(())
    }

    fn parse_from(&mut self, line: u32) -> Result<(), Error> {
        self.expect_self(line)?;
        if !self.is_name("import") {
            return Err(self.unexpected("\"name\" of value \"import\""));
        }
        self.next();
        loop {
            let (name, _) = self.expect_name()?;
            let alias = if self.is_name("as") {
                self.next();
                self.expect_name()?.0
            } else {
                name.clone()
            };
            self.macro_functions
                .insert(Name::from(alias.as_str()), Name::from(name.as_str()));
            if !self.is_punct(',') {
                break;
            }
            self.next();
        }
        self.expect_block_end()
    }

    // ---------------------------------------------------------------- escaping

    /// Is `e` safe for `strategy` (Twig's SafeAnalysisNodeVisitor)?
    fn is_safe_for(&self, e: &Expr, strategy: &Strategy) -> bool {
        match e {
            Expr::Const(_) => true,
            Expr::Cond(_, b, c) => self.is_safe_for(b, strategy) && self.is_safe_for(c, strategy),
            Expr::Coalesce { left, right, .. } => {
                self.is_safe_for(left, strategy) && self.is_safe_for(right, strategy)
            }
            // Twig counts `html_attr` output as safe for `html` as well.
            Expr::Escape { strategy: s, .. } => {
                s.name() == strategy.name()
                    || (matches!(s, Strategy::HtmlAttr) && matches!(strategy, Strategy::Html))
            }
            Expr::Filter(f) => match &f.imp {
                FilterImpl::Builtin(BuiltinFilter::Raw) => true,
                FilterImpl::Builtin(BuiltinFilter::Nl2br | BuiltinFilter::Spaceless) => {
                    matches!(strategy, Strategy::Html)
                }
                FilterImpl::Builtin(_) => false,
                FilterImpl::Custom(c) => c.safe && matches!(strategy, Strategy::Html),
            },
            Expr::Func(f) => match &f.imp {
                FuncImpl::Builtin(_) => false,
                FuncImpl::Custom(c) => c.safe && matches!(strategy, Strategy::Html),
            },
            Expr::Macro { .. } => true,
            _ => false,
        }
    }

    fn escape_if_unsafe(&self, e: Expr, strategy: &Strategy) -> Expr {
        if self.is_safe_for(&e, strategy) {
            return e;
        }
        let line = e.line();
        Expr::Escape {
            input: Box::new(e),
            strategy: strategy.clone(),
            auto: true,
            line,
        }
    }

    /// Twig's EscaperNodeVisitor on a print node: a conditional whose branches differ in
    /// safety is escaped branch by branch.
    fn escape_print(&self, e: Expr) -> Expr {
        let Some(strategy) = self.escape_state() else {
            return e;
        };
        self.escape_unwrapping(e, &strategy)
    }

    fn escape_unwrapping(&self, e: Expr, strategy: &Strategy) -> Expr {
        match e {
            Expr::Cond(a, b, c)
                if self.is_safe_for(&b, strategy) != self.is_safe_for(&c, strategy) =>
            {
                Expr::Cond(
                    a,
                    Box::new(self.escape_unwrapping(*b, strategy)),
                    Box::new(self.escape_unwrapping(*c, strategy)),
                )
            }
            Expr::Coalesce { test, left, right }
                if self.is_safe_for(&left, strategy) != self.is_safe_for(&right, strategy) =>
            {
                Expr::Coalesce {
                    test,
                    left: Box::new(self.escape_unwrapping(*left, strategy)),
                    right: Box::new(self.escape_unwrapping(*right, strategy)),
                }
            }
            other => self.escape_if_unsafe(other, strategy),
        }
    }

    // ---------------------------------------------------------------- expressions

    fn binary_op(&self) -> Option<(BinOp, u16, bool)> {
        // (operator, precedence, left-associative)
        let Tok::Op(op) = self.cur().tok else {
            return None;
        };
        Some(match op {
            "or" => (BinOp::Or, 10, true),
            "and" => (BinOp::And, 15, true),
            "b-or" => (BinOp::BOr, 16, true),
            "b-xor" => (BinOp::BXor, 17, true),
            "b-and" => (BinOp::BAnd, 18, true),
            "==" => (BinOp::Eq, 20, true),
            "!=" => (BinOp::Ne, 20, true),
            "<=>" => (BinOp::Spaceship, 20, true),
            "<" => (BinOp::Lt, 20, true),
            ">" => (BinOp::Gt, 20, true),
            ">=" => (BinOp::Ge, 20, true),
            "<=" => (BinOp::Le, 20, true),
            "not in" => (BinOp::NotIn, 20, true),
            "in" => (BinOp::In, 20, true),
            "matches" => (BinOp::Matches, 20, true),
            "starts with" => (BinOp::StartsWith, 20, true),
            "ends with" => (BinOp::EndsWith, 20, true),
            "has some" => (BinOp::HasSome, 20, true),
            "has every" => (BinOp::HasEvery, 20, true),
            ".." => (BinOp::Range, 25, true),
            "+" => (BinOp::Add, 30, true),
            "-" => (BinOp::Sub, 30, true),
            "~" => (BinOp::Concat, 40, true),
            "*" => (BinOp::Mul, 60, true),
            "/" => (BinOp::Div, 60, true),
            "//" => (BinOp::FloorDiv, 60, true),
            "%" => (BinOp::Mod, 60, true),
            "**" => (BinOp::Pow, 200, false),
            _ => return None,
        })
    }

    pub(crate) fn parse_expression(&mut self, precedence: u16) -> Result<Expr, Error> {
        self.enter()?;
        let r = self.parse_expression_inner(precedence);
        self.leave();
        r
    }

    fn parse_expression_inner(&mut self, precedence: u16) -> Result<Expr, Error> {
        let mut expr = self.primary()?;
        loop {
            let line = self.line();
            if self.is_op("is") || self.is_op("is not") {
                if 100 < precedence {
                    break;
                }
                let negate = self.is_op("is not");
                self.chain()?;
                self.next();
                let t = self.parse_test(expr, line)?;
                expr = if negate { Expr::Not(Box::new(t)) } else { t };
                continue;
            }
            if self.is_op("??") {
                if 300 < precedence {
                    break;
                }
                self.chain()?;
                self.next();
                let right = self.parse_expression(300)?;
                expr = self.coalesce(expr, right, line)?;
                continue;
            }
            let Some((op, prec, left)) = self.binary_op() else {
                break;
            };
            if prec < precedence {
                break;
            }
            self.chain()?;
            self.next();
            let rhs = match self.try_arrow()? {
                Some(arrow) => arrow,
                None => self.parse_expression(if left { prec + 1 } else { prec })?,
            };
            expr = match (op, rhs) {
                (BinOp::Matches, Expr::Const(Value::Str(p))) => {
                    Expr::Matches(Box::new(expr), Arc::new(crate::pcre::compile(&p)), line)
                }
                (BinOp::Pow, rhs) => pow_node(expr, rhs, line),
                (op, rhs) => Expr::Bin(op, Box::new(expr), Box::new(rhs), line),
            };
        }
        if precedence == 0 {
            expr = self.parse_conditional(expr)?;
        }
        Ok(expr)
    }

    fn coalesce(&self, left: Expr, right: Expr, line: u32) -> Result<Expr, Error> {
        let test = self.defined_operand(left.clone(), line)?;
        Ok(Expr::Coalesce {
            test: Box::new(test),
            left: Box::new(left),
            right: Box::new(right),
        })
    }

    /// What the `defined` test (and `??`) may look at: variables and attribute chains;
    /// constants and array literals are always defined.
    fn defined_operand(&self, e: Expr, line: u32) -> Result<Expr, Error> {
        match e {
            Expr::Name(..) | Expr::Attr { .. } | Expr::Context => Ok(e),
            Expr::Const(_) | Expr::Array(_) | Expr::Hash(_) => Ok(Expr::Const(Value::Bool(true))),
            _ => Err(self.err(
                "The \"defined\" test only works with simple variables",
                line,
            )),
        }
    }

    fn parse_conditional(&mut self, mut expr: Expr) -> Result<Expr, Error> {
        while self.is_punct('?') {
            self.chain()?;
            self.next();
            if self.is_punct(':') {
                self.next();
                let e3 = self.parse_expression(0)?;
                expr = Expr::Cond(Box::new(expr.clone()), Box::new(expr), Box::new(e3));
            } else {
                let e2 = self.parse_expression(0)?;
                let e3 = if self.is_punct(':') {
                    self.next();
                    self.parse_expression(0)?
                } else {
                    Expr::Const(Value::str(""))
                };
                expr = Expr::Cond(Box::new(expr), Box::new(e2), Box::new(e3));
            }
        }
        Ok(expr)
    }

    fn primary(&mut self) -> Result<Expr, Error> {
        let t = self.cur().clone();
        match &t.tok {
            Tok::Op("not") => {
                self.next();
                let e = self.parse_expression(50)?;
                self.postfix(Expr::Not(Box::new(e)))
            }
            Tok::Op("-") => {
                self.next();
                let e = self.parse_expression(500)?;
                self.postfix(Expr::Neg(Box::new(e), t.line))
            }
            Tok::Op("+") => {
                self.next();
                let e = self.parse_expression(500)?;
                self.postfix(Expr::Pos(Box::new(e), t.line))
            }
            Tok::Punct('(') => {
                self.next();
                let e = self.parse_expression(0)?;
                self.expect_punct(')', "An opened parenthesis is not properly closed")?;
                self.postfix(e)
            }
            _ => {
                let e = self.primary_expression()?;
                self.postfix(e)
            }
        }
    }

    fn primary_expression(&mut self) -> Result<Expr, Error> {
        let t = self.cur().clone();
        match t.tok {
            Tok::Name(n) => {
                self.next();
                match n.as_str() {
                    "true" | "TRUE" => return Ok(Expr::Const(Value::Bool(true))),
                    "false" | "FALSE" => return Ok(Expr::Const(Value::Bool(false))),
                    "none" | "NONE" | "null" | "NULL" => return Ok(Expr::Const(Value::Null)),
                    _ => {}
                }
                if self.is_punct('(') {
                    return self.function_call(&n, t.line);
                }
                if n == "_context" {
                    return Ok(Expr::Context);
                }
                Ok(Expr::Name(Name::from(n.as_str()), t.line))
            }
            Tok::Int(i) => {
                self.next();
                Ok(Expr::Const(Value::Int(i)))
            }
            Tok::Float(f) => {
                self.next();
                Ok(Expr::Const(Value::Float(f)))
            }
            Tok::Str(_) | Tok::InterpStart => self.string_expression(),
            Tok::Punct('[') => self.array_literal(),
            Tok::Punct('{') => self.hash_literal(),
            Tok::Op(op) if op.bytes().all(|c| c.is_ascii_alphabetic()) => {
                // Word operators in operand position are variable names (Twig does the same).
                self.next();
                Ok(Expr::Name(Name::from(op), t.line))
            }
            _ => Err(self.unexpected("")),
        }
    }

    fn string_expression(&mut self) -> Result<Expr, Error> {
        let mut parts: Vec<Expr> = Vec::new();
        let mut next_can_be_string = true;
        loop {
            let t = self.cur().clone();
            match t.tok {
                Tok::Str(s) if next_can_be_string => {
                    self.next();
                    parts.push(Expr::Const(Value::string(s)));
                    next_can_be_string = false;
                }
                Tok::InterpStart => {
                    self.next();
                    parts.push(self.parse_expression(0)?);
                    if !matches!(self.cur().tok, Tok::InterpEnd) {
                        return Err(self.unexpected("\"end of string interpolation\""));
                    }
                    self.next();
                    next_can_be_string = true;
                }
                _ => break,
            }
        }
        let mut it = parts.into_iter();
        let mut e = it.next().unwrap_or(Expr::Const(Value::str("")));
        for p in it {
            self.chain()?;
            let line = p.line();
            e = Expr::Bin(BinOp::Concat, Box::new(e), Box::new(p), line);
        }
        Ok(e)
    }

    fn array_literal(&mut self) -> Result<Expr, Error> {
        self.next();
        let mut items = Vec::new();
        let mut first = true;
        while !self.is_punct(']') {
            if !first {
                self.expect_punct(',', "An array element must be followed by a comma")?;
                if self.is_punct(']') {
                    break;
                }
            }
            first = false;
            items.push(self.parse_expression(0)?);
        }
        self.expect_punct(']', "An opened array is not properly closed")?;
        Ok(Expr::Array(items))
    }

    fn hash_literal(&mut self) -> Result<Expr, Error> {
        self.next();
        let mut items = Vec::new();
        let mut first = true;
        while !self.is_punct('}') {
            if !first {
                self.expect_punct(',', "A hash value must be followed by a comma")?;
                if self.is_punct('}') {
                    break;
                }
            }
            first = false;
            let t = self.cur().clone();
            let key = match t.tok {
                Tok::Name(n) => {
                    self.next();
                    if self.is_punct(',') || self.is_punct('}') {
                        items.push((
                            Expr::Const(Value::str(&n)),
                            Expr::Name(Name::from(n.as_str()), t.line),
                        ));
                        continue;
                    }
                    Expr::Const(Value::string(n))
                }
                Tok::Str(s) => {
                    self.next();
                    Expr::Const(Value::string(s))
                }
                Tok::Int(i) => {
                    self.next();
                    Expr::Const(Value::Int(i))
                }
                Tok::Float(f) => {
                    self.next();
                    Expr::Const(Value::Float(f))
                }
                Tok::Punct('(') => self.primary()?,
                Tok::Op(op) if op.bytes().all(|c| c.is_ascii_alphabetic()) => {
                    self.next();
                    Expr::Const(Value::str(op))
                }
                ref other => {
                    return Err(self.err(
                        format!(
                            "A hash key must be a quoted string, a number, a name, or an expression enclosed in parentheses (unexpected token \"{}\")",
                            other.describe()
                        ),
                        t.line,
                    ));
                }
            };
            self.expect_punct(':', "A hash key must be followed by a colon (:)")?;
            let v = self.parse_expression(0)?;
            items.push((key, v));
        }
        self.expect_punct('}', "An opened hash is not properly closed")?;
        Ok(Expr::Hash(items))
    }

    fn postfix(&mut self, mut e: Expr) -> Result<Expr, Error> {
        loop {
            if self.is_punct('.') || self.is_punct('[') {
                self.chain()?;
                e = self.subscript(e)?;
            } else if self.is_punct('|') {
                e = self.parse_filter_chain(e)?;
            } else {
                return Ok(e);
            }
        }
    }

    fn subscript(&mut self, obj: Expr) -> Result<Expr, Error> {
        let t = self.next();
        let line = t.line;
        if t.tok == Tok::Punct('.') {
            let kt = self.next();
            let key = match kt.tok {
                Tok::Name(n) => Key::normalize(&n),
                Tok::Int(i) => Key::Int(i),
                Tok::Op(op) if op.bytes().all(|c| c.is_ascii_alphabetic()) => Key::normalize(op),
                Tok::Float(f) => Key::Str(Arc::from(crate::value::php_float_to_string(f))),
                other => {
                    return Err(self.err(
                        format!(
                            "Expected name or number, got value \"{}\"",
                            other.describe()
                        ),
                        kt.line,
                    ));
                }
            };
            // `m.macro(…)` on an imported macro namespace.
            if let Expr::Name(ns, _) = &obj
                && self.macro_namespaces.contains(ns)
            {
                let name = match &key {
                    Key::Str(s) => s.clone(),
                    Key::Int(i) => Name::from(i.to_string().as_str()),
                };
                let args = if self.is_punct('(') {
                    self.call_arguments()?
                } else {
                    Vec::new()
                };
                return Ok(Expr::Macro { name, args, line });
            }
            let kind = if self.is_punct('(') {
                let args = self.call_arguments()?;
                AttrKind::Method(args.into_iter().map(|(_, e)| e).collect())
            } else {
                AttrKind::Any
            };
            return Ok(Expr::Attr {
                obj: Box::new(obj),
                key: AttrKey::Const(key),
                kind,
                line,
            });
        }
        // `[`: key or slice.
        let mut slice = false;
        let start = if self.is_punct(':') {
            slice = true;
            None
        } else {
            Some(self.parse_expression(0)?)
        };
        if self.is_punct(':') {
            slice = true;
            self.next();
        }
        if slice {
            let length = if self.is_punct(']') {
                None
            } else {
                Some(self.parse_expression(0)?)
            };
            self.expect_punct(']', "")?;
            let start = start.unwrap_or(Expr::Const(Value::Int(0)));
            return Ok(Expr::Filter(Box::new(FilterCall {
                name: Name::from("slice"),
                imp: FilterImpl::Builtin(BuiltinFilter::Slice),
                input: obj,
                args: vec![Some(start), length],
                line,
            })));
        }
        self.expect_punct(']', "")?;
        let key = match start {
            Some(Expr::Const(v @ (Value::Str(_) | Value::Int(_)))) => AttrKey::Const(match v {
                Value::Int(i) => Key::Int(i),
                Value::Str(s) => Key::normalize(&s),
                _ => Key::Int(0),
            }),
            Some(e) => AttrKey::Dyn(Box::new(e)),
            None => AttrKey::Const(Key::Int(0)),
        };
        Ok(Expr::Attr {
            obj: Box::new(obj),
            key,
            kind: AttrKind::Array,
            line,
        })
    }

    /// `(a, b, name=c, name: d)` → arguments with optional names.
    fn call_arguments(&mut self) -> Result<Vec<(Option<Name>, Expr)>, Error> {
        self.expect_punct('(', "")?;
        let mut args: Vec<(Option<Name>, Expr)> = Vec::new();
        while !self.is_punct(')') {
            if !args.is_empty() {
                self.expect_punct(',', "Arguments must be separated by a comma")?;
                if self.is_punct(')') {
                    break;
                }
            }
            // Arrow functions: `x => …` or `(a, b) => …`.
            if let Some(arrow) = self.try_arrow()? {
                args.push((None, arrow));
                continue;
            }
            let line = self.line();
            let value = self.parse_expression(0)?;
            if self.is_op("=") || self.is_punct(':') {
                let Expr::Name(n, _) = value else {
                    return Err(self.err("A parameter name must be a string", line));
                };
                self.next();
                let v = if let Some(arrow) = self.try_arrow()? {
                    arrow
                } else {
                    self.parse_expression(0)?
                };
                args.push((Some(n), v));
            } else {
                args.push((None, value));
            }
        }
        self.expect_punct(')', "A list of arguments must be closed by a parenthesis")?;
        Ok(args)
    }

    fn try_arrow(&mut self) -> Result<Option<Expr>, Error> {
        let params: Vec<Name>;
        if let (Tok::Name(n), Tok::Arrow) = (self.cur().tok.clone(), self.peek(1).clone()) {
            self.next();
            self.next();
            params = vec![Name::from(n.as_str())];
        } else if self.is_punct('(') {
            // Scan `( name, name ) =>`.
            let mut i = 1;
            let mut names = Vec::new();
            loop {
                match self.peek(i) {
                    Tok::Name(n) => names.push(Name::from(n.as_str())),
                    Tok::Punct(')') if names.is_empty() => break,
                    _ => return Ok(None),
                }
                i += 1;
                match self.peek(i) {
                    Tok::Punct(',') => i += 1,
                    Tok::Punct(')') => break,
                    _ => return Ok(None),
                }
            }
            if !matches!(self.peek(i + 1), Tok::Arrow) {
                return Ok(None);
            }
            for _ in 0..i + 2 {
                self.next();
            }
            params = names;
        } else {
            return Ok(None);
        }
        let body = self.parse_expression(0)?;
        Ok(Some(Expr::Arrow(Arc::new(Arrow { params, body }))))
    }

    /// Map call arguments onto declared parameters (Twig's named-argument rules).
    #[allow(clippy::too_many_arguments)] // one call shape for filters, functions and builtins
    fn bind_args(
        &self,
        kind: &str,
        callee: &str,
        params: &[&str],
        required: usize,
        variadic: bool,
        args: Vec<(Option<Name>, Expr)>,
        line: u32,
    ) -> Result<Vec<Option<Expr>>, Error> {
        let mut out: Vec<Option<Expr>> = Vec::new();
        let mut named_seen = false;
        for (name, e) in args {
            match name {
                None => {
                    if named_seen {
                        return Err(self.err(
                            format!(
                                "Positional arguments cannot be used after named arguments for {kind} \"{callee}\""
                            ),
                            line,
                        ));
                    }
                    if out.len() >= params.len() && !variadic {
                        return Err(self.err(
                            format!(
                                "Too many arguments for {kind} \"{callee}\" (it takes at most {})",
                                params.len()
                            ),
                            line,
                        ));
                    }
                    out.push(Some(e));
                }
                Some(n) => {
                    named_seen = true;
                    let Some(idx) = params.iter().position(|p| **p == *n) else {
                        return Err(self.err(
                            format!(
                                "Unknown argument \"{n}\" for {kind} \"{callee}({})\"",
                                params.join(", ")
                            ),
                            line,
                        ));
                    };
                    if out.len() <= idx {
                        out.resize(idx + 1, None);
                    }
                    if out[idx].is_some() {
                        return Err(self.err(
                            format!("Argument \"{n}\" is defined twice for {kind} \"{callee}\""),
                            line,
                        ));
                    }
                    out[idx] = Some(e);
                }
            }
        }
        for (i, p) in params.iter().enumerate().take(required) {
            if out.get(i).is_none_or(|a| a.is_none()) {
                return Err(self.err(
                    format!("Value for argument \"{p}\" is required for {kind} \"{callee}\""),
                    line,
                ));
            }
        }
        Ok(out)
    }

    /// `|f|g(args)…` applied to `input`.
    fn parse_filter_chain(&mut self, mut input: Expr) -> Result<Expr, Error> {
        loop {
            if self.is_punct('|') {
                self.next();
            }
            let (name, line) = self.expect_name()?;
            let args = if self.is_punct('(') {
                self.call_arguments()?
            } else {
                Vec::new()
            };
            self.chain()?;
            input = self.make_filter(&name, input, args, line)?;
            if !self.is_punct('|') {
                return Ok(input);
            }
        }
    }

    fn make_filter(
        &mut self,
        name: &str,
        input: Expr,
        args: Vec<(Option<Name>, Expr)>,
        line: u32,
    ) -> Result<Expr, Error> {
        if let Some(custom) = self.env.filters.get(name) {
            let params: Vec<&str> = custom.params.iter().map(String::as_str).collect();
            let bound = self.bind_args("filter", name, &params, 0, false, args, line)?;
            return Ok(Expr::Filter(Box::new(FilterCall {
                name: Name::from(name),
                imp: FilterImpl::Custom(custom.clone()),
                input,
                args: bound,
                line,
            })));
        }
        let Some(spec) = builtin_filter(name) else {
            return Err(self.err(format!("Unknown \"{name}\" filter"), line));
        };
        let mut bound = self.bind_args(
            "filter",
            name,
            spec.params,
            spec.required,
            spec.variadic,
            args,
            line,
        )?;
        match spec.filter {
            BuiltinFilter::Default => {
                let lenient = matches!(input, Expr::Name(..) | Expr::Attr { .. });
                let default = bound.drain(..).next().flatten().map(Box::new);
                Ok(Expr::Default {
                    input: Box::new(input),
                    default,
                    lenient,
                    line,
                })
            }
            BuiltinFilter::Escape => {
                let strategy = match bound.first() {
                    None | Some(None) => Strategy::Html,
                    Some(Some(Expr::Const(Value::Str(s)))) => Strategy::from_name(s),
                    Some(Some(_)) => {
                        // A computed strategy: evaluate at render time through the builtin.
                        return Ok(Expr::Filter(Box::new(FilterCall {
                            name: Name::from(name),
                            imp: FilterImpl::Builtin(BuiltinFilter::Escape),
                            input,
                            args: bound,
                            line,
                        })));
                    }
                };
                Ok(Expr::Escape {
                    input: Box::new(input),
                    strategy,
                    auto: false,
                    line,
                })
            }
            f => {
                // Filters that escape their input first (Twig's `pre_escape`), whatever the
                // auto-escape setting: their output is marked safe, so unsafe input must not
                // pass through. `spaceless` joined `nl2br` with the fix for CVE-2026-46628
                // (Debian php-twig 3.5.1-1+deb12u2), which Drupal sites run.
                let input = if matches!(f, BuiltinFilter::Nl2br | BuiltinFilter::Spaceless) {
                    self.escape_if_unsafe(input, &Strategy::Html)
                } else {
                    input
                };
                Ok(Expr::Filter(Box::new(FilterCall {
                    name: Name::from(name),
                    imp: FilterImpl::Builtin(f),
                    input,
                    args: bound,
                    line,
                })))
            }
        }
    }

    fn function_call(&mut self, name: &str, line: u32) -> Result<Expr, Error> {
        let args = self.call_arguments()?;
        if let Some(target) = self.macro_functions.get(name) {
            return Ok(Expr::Macro {
                name: target.clone(),
                args,
                line,
            });
        }
        if name == "attribute" {
            let mut bound = self.bind_args(
                "function",
                name,
                &["object", "item", "arguments"],
                2,
                false,
                args,
                line,
            )?;
            bound.resize(3, None);
            let (Some(obj), Some(item)) = (bound[0].take(), bound[1].take()) else {
                return Err(self.err(
                    "The \"attribute\" function takes at least 2 arguments",
                    line,
                ));
            };
            return Ok(Expr::Attr {
                obj: Box::new(obj),
                key: AttrKey::Dyn(Box::new(item)),
                kind: AttrKind::Any,
                line,
            });
        }
        if let Some(custom) = self.env.functions.get(name) {
            let params: Vec<&str> = custom.params.iter().map(String::as_str).collect();
            let bound = self.bind_args("function", name, &params, 0, false, args, line)?;
            return Ok(Expr::Func(Box::new(FuncCall {
                name: Name::from(name),
                imp: FuncImpl::Custom(custom.clone()),
                args: bound,
                line,
            })));
        }
        let Some(spec) = builtin_function(name) else {
            return Err(self.err(format!("Unknown \"{name}\" function"), line));
        };
        let bound = self.bind_args(
            "function",
            name,
            spec.params,
            spec.required,
            spec.variadic,
            args,
            line,
        )?;
        Ok(Expr::Func(Box::new(FuncCall {
            name: Name::from(name),
            imp: FuncImpl::Builtin(spec.function),
            args: bound,
            line,
        })))
    }

    fn parse_test(&mut self, input: Expr, line: u32) -> Result<Expr, Error> {
        let (name, nline) = self.expect_name()?;
        let (kind, two_word) = match name.as_str() {
            "defined" => (TestKind::Defined, false),
            "null" | "none" => (TestKind::Null, false),
            "empty" => (TestKind::Empty, false),
            "even" => (TestKind::Even, false),
            "odd" => (TestKind::Odd, false),
            "iterable" => (TestKind::Iterable, false),
            "same" if self.is_name("as") => (TestKind::SameAs, true),
            "divisible" if self.is_name("by") => (TestKind::DivisibleBy, true),
            _ => return Err(self.err(format!("Unknown \"{name}\" test"), nline)),
        };
        if two_word {
            self.next();
        }
        let needs_arg = matches!(kind, TestKind::SameAs | TestKind::DivisibleBy);
        let arg = if self.is_punct('(') {
            let args = self.call_arguments()?;
            args.into_iter().next().map(|(_, e)| e)
        } else if needs_arg {
            Some(self.primary_expression()?)
        } else {
            None
        };
        if needs_arg && arg.is_none() {
            return Err(self.err(format!("The \"{name}\" test needs an argument"), line));
        }
        let input = if kind == TestKind::Defined {
            self.defined_operand(input, line)?
        } else {
            input
        };
        Ok(Expr::Test {
            kind,
            input: Box::new(input),
            arg: arg.map(Box::new),
            line,
        })
    }
}

/// PHP Twig compiles `-a ** b` to PHP source where `**` binds tighter than the unary minus, so
/// it means `-(a ** b)`; keep that.
fn pow_node(left: Expr, right: Expr, line: u32) -> Expr {
    match left {
        Expr::Neg(e, l) => Expr::Neg(Box::new(pow_node(*e, right, line)), l),
        Expr::Pos(e, l) => Expr::Pos(Box::new(pow_node(*e, right, line)), l),
        other => Expr::Bin(BinOp::Pow, Box::new(other), Box::new(right), line),
    }
}

fn capture_node(name: Name, body: Vec<Node>) -> Node {
    Node::Capture { name, body }
}

#[allow(dead_code)]
fn _uses(_: BuiltinFunction) {}
