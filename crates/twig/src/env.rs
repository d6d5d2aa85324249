//! The environment (configuration and extensions) and compiled templates.
//!
//! Mirrors PHP Twig's `Environment` as the OS2forms module uses it: strict variables on,
//! auto-escaping with the `html` strategy (Drupal forces it on for every template), and host
//! extensions registered as named filters and functions. A `Template` is compiled once against
//! an environment and rendered many times; it is immutable and `Send + Sync`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::ast::{Macro, Name, Node, Strategy};
use crate::error::Error;
use crate::value::Value;

/// A host filter: `f(input, args)`, args in declared parameter order (missing trailing ones
/// omitted, skipped middle ones `Null`). An `Err(message)` becomes a render error.
pub type FilterFn = dyn Fn(&Value, &[Value]) -> Result<Value, String> + Send + Sync;
/// A host function: `f(args)`, as for filters.
pub type FunctionFn = dyn Fn(&[Value]) -> Result<Value, String> + Send + Sync;

pub(crate) struct CustomFilter {
    pub name: String,
    /// Parameter names after the input, for named arguments (`f(x, langcode='da')`).
    pub params: Vec<String>,
    /// Output is safe HTML/XML (PHP `is_safe => ['html']`): not auto-escaped when it is the
    /// last thing printed.
    pub safe: bool,
    pub f: Arc<FilterFn>,
}

pub(crate) struct CustomFunction {
    pub name: String,
    pub params: Vec<String>,
    pub safe: bool,
    pub f: Arc<FunctionFn>,
}

impl fmt::Debug for CustomFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CustomFilter({})", self.name)
    }
}

impl fmt::Debug for CustomFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CustomFunction({})", self.name)
    }
}

/// The auto-escape setting (PHP Twig's `autoescape` option).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Autoescape {
    /// No auto-escaping (`'autoescape' => false`).
    Off,
    /// Escape every unsafe print with this strategy: `html` (the default, and what Drupal
    /// forces), `js`, `css`, `url` or `html_attr`.
    Strategy(String),
}

/// What templates are compiled and rendered with: the custom filters and functions, the
/// auto-escape strategy, the default time zone and strict variables, as a PHP Twig
/// `Environment` is configured. Set it up once; templates compiled with it render with it.
pub struct Environment {
    pub(crate) filters: HashMap<String, Arc<CustomFilter>>,
    pub(crate) functions: HashMap<String, Arc<CustomFunction>>,
    pub(crate) autoescape: Option<Strategy>,
    pub(crate) timezone: chrono_tz::Tz,
    pub(crate) strict_variables: bool,
}

impl Default for Environment {
    fn default() -> Self {
        Self::new()
    }
}

impl Environment {
    /// Strict variables, `html` auto-escaping, time zone Europe/Copenhagen.
    pub fn new() -> Environment {
        Environment {
            filters: HashMap::new(),
            functions: HashMap::new(),
            autoescape: Some(Strategy::Html),
            timezone: chrono_tz::Europe::Copenhagen,
            strict_variables: true,
        }
    }

    /// Sets the auto-escaping of templates compiled from now on; an unknown strategy name is an
    /// error when a template prints, as in PHP Twig.
    pub fn set_autoescape(&mut self, a: Autoescape) {
        self.autoescape = match a {
            Autoescape::Off => None,
            Autoescape::Strategy(s) => Some(Strategy::from_name(&s)),
        };
    }

    /// The default time zone of the `date` filter (PHP's `date_default_timezone_get()`).
    pub fn set_timezone(&mut self, tz: &str) -> Result<(), String> {
        self.timezone = tz
            .parse()
            .map_err(|_| format!("Unknown time zone \"{tz}\""))?;
        Ok(())
    }

    /// With strict variables off, missing variables and attributes are `null` (as in PHP Twig).
    pub fn set_strict_variables(&mut self, strict: bool) {
        self.strict_variables = strict;
    }

    /// Register a filter. `params` names the arguments after the input.
    pub fn add_filter<F>(&mut self, name: &str, params: &[&str], safe: bool, f: F)
    where
        F: Fn(&Value, &[Value]) -> Result<Value, String> + Send + Sync + 'static,
    {
        self.filters.insert(
            name.to_string(),
            Arc::new(CustomFilter {
                name: name.to_string(),
                params: params.iter().map(|s| s.to_string()).collect(),
                safe,
                f: Arc::new(f),
            }),
        );
    }

    /// Register a function.
    pub fn add_function<F>(&mut self, name: &str, params: &[&str], f: F)
    where
        F: Fn(&[Value]) -> Result<Value, String> + Send + Sync + 'static,
    {
        self.functions.insert(
            name.to_string(),
            Arc::new(CustomFunction {
                name: name.to_string(),
                params: params.iter().map(|s| s.to_string()).collect(),
                safe: false,
                f: Arc::new(f),
            }),
        );
    }

    /// Parse and compile a template. Filters and functions are resolved now, so register
    /// extensions before compiling (an unknown filter is a syntax error, as in Twig).
    pub fn compile(&self, name: &str, source: &str) -> Result<Template, Error> {
        let tokens = crate::lexer::tokenize(name, source)?;
        let (nodes, macros) = crate::parser::parse(self, name, tokens)?;
        Ok(Template {
            name: Arc::from(name),
            nodes,
            macros,
        })
    }
}

/// A compiled template.
#[derive(Debug)]
pub struct Template {
    pub(crate) name: Name,
    pub(crate) nodes: Vec<Node>,
    pub(crate) macros: HashMap<Name, Arc<Macro>>,
}

impl Template {
    /// The name the template was compiled under, as errors name it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Render with a context: a PHP array (hash) of variables.
    pub fn render(&self, env: &Environment, context: &Value) -> Result<String, Error> {
        crate::render::render(self, env, context)
    }

    /// Render with a JSON object as the context.
    pub fn render_json(
        &self,
        env: &Environment,
        context: &serde_json::Value,
    ) -> Result<String, Error> {
        self.render(env, &Value::from_json(context))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_is_send_sync() {
        fn assert<T: Send + Sync>() {}
        assert::<Template>();
        assert::<Environment>();
    }
}
